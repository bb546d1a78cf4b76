export { FakeKubeServer, type FakeKubeOptions } from './server.js';
export { FakeKubelet, type KubeletOptions } from './kubelet.js';
export { loadKubeConfig, writeKubeconfig } from './kubeconfig.js';
export { configMapManifest, deploymentManifest } from './manifests.js';
export { CONFIG_MAPS, DEPLOYMENTS, ENDPOINT_SLICES, LEASES, PODS } from './resources.js';
export { waitFor } from './wait.js';

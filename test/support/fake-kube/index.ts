export { FakeKubeServer, type FakeKubeOptions } from './server.js';
export { FakeKubelet, type KubeletOptions } from './kubelet.js';
export { kubeconfigYaml, loadKubeConfig, writeKubeconfig } from './kubeconfig.js';
export { configMapManifest, deploymentManifest, tlsSecretManifest } from './manifests.js';
export { CONFIG_MAPS, DEPLOYMENTS, ENDPOINT_SLICES, LEASES, PODS, SECRETS, SERVICES } from './resources.js';
export { waitFor } from './wait.js';

export { FakeKubeServer, type FakeKubeOptions, type FailureRule, type RequestRecord } from './server.js';
export { FakeKubelet, type KubeletOptions, type PodView, type Workload } from './kubelet.js';
export { kubeconfigYaml, loadKubeConfig, writeKubeconfig } from './kubeconfig.js';
export { configMapManifest, deploymentManifest } from './manifests.js';
export { CONFIG_MAPS, DEPLOYMENTS, ENDPOINT_SLICES, LEASES, SERVICES, listPath, type ResourceType } from './resources.js';
export { ObjectStore, type KubeObject, type StoreEvent } from './store.js';
export { nextLoopbackHost } from './pod-process.js';
export { waitFor } from './wait.js';

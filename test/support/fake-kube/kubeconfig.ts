/**
 * Kubeconfig for a fake: `server: http://127.0.0.1:PORT`, no credentials unless a `token` is given
 * (sent as a bearer token; the fake records it as the request's `user`, so tests can tell clients
 * apart). client-node refuses a plain http server unless the cluster says
 * `insecure-skip-tls-verify: true`, so it does.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export function kubeconfigYaml(server: string, namespace = 'default', token?: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: ${server}
      insecure-skip-tls-verify: true
users:
  - name: fake
    user: ${token === undefined ? '{}' : `{ token: ${JSON.stringify(token)} }`}
contexts:
  - name: fake
    context:
      cluster: fake
      user: fake
      namespace: ${namespace}
current-context: fake
`;
}

/** Write a kubeconfig file into a fresh temporary directory; returns its path (for KubeConfig.loadFromFile). */
export async function writeKubeconfig(server: string, namespace = 'default', token?: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fake-kube-'));
  const file = path.join(dir, 'kubeconfig');
  await writeFile(file, kubeconfigYaml(server, namespace, token), { mode: 0o600 });
  return file;
}

/** A KubeConfig pointing at `server`, loaded the way a real one is (from a file). */
export async function loadKubeConfig(server: string, namespace = 'default', token?: string): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromFile(await writeKubeconfig(server, namespace, token));
  return kc;
}

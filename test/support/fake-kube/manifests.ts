/** Small manifests for tests: a Deployment of the demo predictor, a ConfigMap and a TLS Secret. */
import type { KubeObject } from './store.js';

export function deploymentManifest(name: string, replicas = 0, labels: Record<string, string> = { app: name }): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'predictor',
              image: 'sluice:dev',
              args: ['predictor', '--model', 'iris'],
              ports: [{ name: 'http', containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
}

export function configMapManifest(name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

/** A `kubernetes.io/tls` Secret: `tls.crt` and `tls.key`, base64 in `data` as the API server keeps them. */
export function tlsSecretManifest(name: string, pem: { cert: Buffer; key: Buffer }): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': pem.cert.toString('base64'), 'tls.key': pem.key.toString('base64') },
  };
}

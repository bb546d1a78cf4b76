/** Small manifests for tests: a Deployment of the demo predictor and a ConfigMap. */
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

/**
 * The Deployment scale subresource: an `autoscaling/v1` Scale view of a Deployment
 * (`spec.replicas` ↔ the Deployment's spec.replicas, `status.replicas` and `status.selector` from it),
 * sharing the Deployment's resourceVersion so a Scale PUT with a stale one gets 409.
 */
import { mergePatch, isPlainObject } from './merge-patch.js';
import { DEPLOYMENTS } from './resources.js';
import { selectorText } from './selectors.js';
import { badRequest, invalid } from './status.js';
import type { KubeObject, ObjectStore } from './store.js';

export function scaleOf(deployment: KubeObject): KubeObject {
  const spec = (deployment.spec ?? {}) as { replicas?: number; selector?: unknown };
  const status = (deployment.status ?? {}) as { replicas?: number };
  const { name, namespace, uid, resourceVersion, creationTimestamp } = deployment.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: selectorText(spec.selector) },
  };
}

export function readScale(store: ObjectStore, namespace: string, name: string): KubeObject {
  return scaleOf(store.get(DEPLOYMENTS, namespace, name));
}

/** PUT a Scale: its metadata.resourceVersion, when set, is a precondition on the Deployment. */
export function replaceScale(store: ObjectStore, namespace: string, name: string, body: unknown): KubeObject {
  if (!isPlainObject(body)) throw badRequest('Scale: want an object');
  const deployment = store.get(DEPLOYMENTS, namespace, name);
  const meta = (isPlainObject(body.metadata) ? body.metadata : {}) as { name?: string; resourceVersion?: string };
  if (meta.name !== undefined && meta.name !== name)
    throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
  const replicas = (isPlainObject(body.spec) ? body.spec.replicas : undefined) ?? 0;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid(DEPLOYMENTS, name, `spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
  }
  const next: KubeObject = {
    ...deployment,
    metadata: { ...deployment.metadata, resourceVersion: meta.resourceVersion || deployment.metadata.resourceVersion },
    spec: { ...(deployment.spec as object), replicas },
  };
  return scaleOf(store.update(DEPLOYMENTS, namespace, name, next));
}

/** PATCH a Scale with a merge patch (`{"spec":{"replicas":3}}`). */
export function patchScale(store: ObjectStore, namespace: string, name: string, patch: unknown): KubeObject {
  const current = readScale(store, namespace, name);
  return replaceScale(store, namespace, name, mergePatch(current, patch));
}

/**
 * The few checks the real API server makes that clients here could get wrong. The one that matters
 * most: Lease times are MicroTime, RFC 3339 with exactly six fractional digits
 * (`2026-11-25T14:00:00.123456Z`); the API server rejects `2026-11-25T14:00:00.123Z` while decoding.
 */
import type { ResourceType } from './resources.js';
import { badRequest, invalid } from './status.js';
import type { KubeObject } from './store.js';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

function checkMicroTime(resource: ResourceType, field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string' || !MICRO_TIME.test(value)) {
    throw badRequest(
      `${resource.kind} in version "${resource.version}" cannot be handled as a ${resource.kind}: ` +
        `${field}: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339Micro`,
    );
  }
}

function checkInteger(resource: ResourceType, name: string, field: string, value: unknown, min: number): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw badRequest(
      `${resource.kind} in version "${resource.version}" cannot be handled as a ${resource.kind}: ${field}: want an integer`,
    );
  }
  if (value < min) throw invalid(resource, name, `${field}: Invalid value: ${value}: must be greater than or equal to ${min}`);
}

/** Throws a KubeError (400 for what would not decode, 422 for what decodes but is out of range). */
export function validateObject(resource: ResourceType, object: KubeObject): void {
  const name = object.metadata.name;
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  if (resource.kind === 'Lease') {
    checkMicroTime(resource, 'spec.acquireTime', spec.acquireTime);
    checkMicroTime(resource, 'spec.renewTime', spec.renewTime);
    checkInteger(resource, name, 'spec.leaseDurationSeconds', spec.leaseDurationSeconds, 1);
    checkInteger(resource, name, 'spec.leaseTransitions', spec.leaseTransitions, 0);
  } else if (resource.kind === 'Deployment') {
    checkInteger(resource, name, 'spec.replicas', spec.replicas, 0);
  } else if (resource.kind === 'Secret') {
    // The API server decodes `data` as base64 and refuses what is not.
    for (const [key, value] of Object.entries((object.data ?? {}) as Record<string, unknown>)) {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
        throw badRequest(`Secret in version "v1" cannot be handled as a Secret: data[${key}]: illegal base64 data`);
    }
  }
}

/**
 * Errors the way the API server sends them: a `Status` object with a `reason` and a `code`, e.g.
 * `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"…","reason":"Conflict","code":409}`.
 */
import type { ResourceType } from './resources.js';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'UnsupportedMediaType'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

/** The reason the API server gives with each code when nothing more specific applies. */
const REASON_BY_CODE: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function reasonFor(code: number): StatusReason {
  return REASON_BY_CODE[code] ?? 'InternalError';
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** A failed request: thrown inside the fake, answered as a Status object with `code`. */
export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'KubeError';
  }

  toStatus(): StatusObject {
    return failureStatus(this.code, this.reason, this.message, this.details);
  }
}

export function failureStatus(code: number, reason: StatusReason, message: string, details?: StatusDetails): StatusObject {
  const status: StatusObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details !== undefined) status.details = details;
  return status;
}

export function successStatus(details: StatusDetails): StatusObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}

/** `deployments.apps "iris"`, as the API server names an object in messages. */
export function qualified(resource: ResourceType, name: string): string {
  return `${resource.plural}${resource.group === '' ? '' : `.${resource.group}`} "${name}"`;
}

function detailsOf(resource: ResourceType, name: string): StatusDetails {
  return { name, group: resource.group, kind: resource.plural };
}

export function notFound(resource: ResourceType, name: string): KubeError {
  return new KubeError(404, 'NotFound', `${qualified(resource, name)} not found`, detailsOf(resource, name));
}

export function alreadyExists(resource: ResourceType, name: string): KubeError {
  return new KubeError(409, 'AlreadyExists', `${qualified(resource, name)} already exists`, detailsOf(resource, name));
}

export function conflict(resource: ResourceType, name: string): KubeError {
  return new KubeError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(resource, name)}: the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(resource, name),
  );
}

/** A watch (or list) from a resourceVersion the fake no longer has history for. */
export function expired(requested: number, oldest: number): KubeError {
  return new KubeError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

export function badRequest(message: string): KubeError {
  return new KubeError(400, 'BadRequest', message);
}

export function invalid(resource: ResourceType, name: string, message: string): KubeError {
  return new KubeError(422, 'Invalid', `${resource.kind} "${name}" is invalid: ${message}`, detailsOf(resource, name));
}

/**
 * What happens after an attempt to send a request to an endpoint failed: whether it is tried
 * again, where, and whether the endpoint is skipped for a moment. Pure; table-tested in
 * test/retry-rule.test.ts.
 *
 * A request is tried again (at most MAX_ATTEMPTS attempts in all) when the endpoint cannot have
 * acted on it, or when acting twice does no harm:
 *  - unsent (the connection never stood, or the request waited in the pool): nothing reached the
 *    endpoint. Tried again anywhere, another endpoint first.
 *  - head (the head went out, none of the body, no response byte): the endpoint has not seen the
 *    content its method needs; the untouched body goes again with the head.
 *  - sent (the request went out, no response byte): only when the method is idempotent (RFC 9110
 *    §9.2.2) and the body can be sent again (none, or held whole).
 *  - answering (a response had begun): never.
 * After head or sent the endpoint may have read the request, so on a fresh connection it never
 * gets the same request twice: another endpoint takes it, or it fails. On a connection that had
 * carried responses before, the failure is most likely the endpoint closing it as the request
 * left (the keep-alive race), and a new connection to the same endpoint is fine.
 *
 * A pool-wait or response timeout is never retried: the deadline is the request's.
 */
import type { Progress } from '../upstream/upstream-connection.js';

export const MAX_ATTEMPTS = 3;

/** Idempotent methods (RFC 9110 §9.2.2): repeating one has the effect of sending it once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Errors meaning no connection could be made: the endpoint is down or unreachable. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UPSTREAM_CONNECT_TIMEOUT']);
/** Errors meaning a standing connection broke before the response (reset, or closed by the endpoint). */
const BROKEN = new Set(['ECONNRESET', 'EPIPE', 'UPSTREAM_CLOSED']);

export interface AttemptFailure {
  progress: Progress;
  /** The connection had carried a response before this request. */
  reused: boolean;
  /** Error code (`ECONNRESET`, `UPSTREAM_CLOSED`, …), '' when none. */
  code: string;
  method: string;
  /** The body can be sent again: none, held whole, or not a byte of it read yet. */
  replayable: boolean;
  /** Attempts made so far, this one included. */
  attempts: number;
}

/** `any`: try again, another endpoint first, the same one allowed; `other`: only another endpoint; `none`: answer with the error. */
export type RetryTarget = 'any' | 'other' | 'none';

export function retryTarget(f: AttemptFailure): RetryTarget {
  if (f.attempts >= MAX_ATTEMPTS || f.code === 'UPSTREAM_TIMEOUT' || f.progress === 'answering') return 'none';
  if (f.progress === 'unsent') return 'any';
  if (!f.replayable) return 'none';
  if (f.progress === 'sent' && !IDEMPOTENT.has(f.method)) return 'none';
  return f.reused ? 'any' : 'other';
}

/**
 * Whether the endpoint should be skipped for a moment (Endpoint.ejectedUntil): it refused or
 * timed out a connection, or it broke a fresh one before answering (a process that just died,
 * before its driver has noticed). A reused connection breaking is the keep-alive race, not a
 * sign of a dead endpoint; a failure after the response began says nothing about new requests.
 */
export function ejectsEndpoint(f: Pick<AttemptFailure, 'progress' | 'reused' | 'code'>): boolean {
  if (f.progress === 'unsent') return CONNECT_FAILURES.has(f.code);
  if (f.progress === 'answering' || f.reused) return false;
  return BROKEN.has(f.code);
}

/** Codes answered 502 upstream_unreachable; other failures of a standing connection are 502 upstream_error. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UPSTREAM_CONNECT_TIMEOUT',
]);

/** Whether the failure is the endpoint being unreachable rather than misbehaving. */
export function isUnreachable(f: Pick<AttemptFailure, 'progress' | 'code'>): boolean {
  return f.progress === 'unsent' || UNREACHABLE.has(f.code);
}

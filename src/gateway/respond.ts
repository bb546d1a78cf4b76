/**
 * Data-path error responses, in one place: `{"error":{"code","message","service","revision"}}`.
 */
import type { RevisionCondition } from '../core/condition.js';
import { SluiceError } from '../errors.js';
import type { DownstreamResponse } from './http-types.js';

/** Seconds a client should wait before retrying a 503 queue_full. */
export const RETRY_AFTER_SECONDS = 1;

/** `announce`: add Sluice-Revision (not behind a queue-proxy, where the gateway in front names the revision). */
export function sendError(res: DownstreamResponse, err: SluiceError, service?: string, revision?: string, announce = true): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: err.code, message: err.message, service, revision } });
  const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))];
  if (err.status === 503) headers.push('retry-after', String(RETRY_AFTER_SECONDS));
  if (revision && announce) headers.push('sluice-revision', revision);
  res.writeHead(err.status, headers);
  res.end(body);
}

/** The same error on a raw socket (an upgrade request that cannot be served). */
export function sendSocketError(socket: import('node:stream').Duplex, err: SluiceError, service?: string, revision?: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { code: err.code, message: err.message, service, revision } });
  const retry = err.status === 503 ? `Retry-After: ${RETRY_AFTER_SECONDS}\r\n` : '';
  socket.end(
    `HTTP/1.1 ${err.status} ${statusText(err.status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return (
    {
      400: 'Bad Request',
      404: 'Not Found',
      501: 'Not Implemented',
      502: 'Bad Gateway',
      503: 'Service Unavailable',
      504: 'Gateway Timeout',
    }[status] ?? 'Error'
  );
}

export const errors = {
  /** `model`: the model a gRPC call's first message names (null: it names none). */
  routeNotFound: (host: string | undefined, path: string, model?: string | null) =>
    new SluiceError(
      'route_not_found',
      404,
      model === undefined
        ? `no service matches host "${host ?? ''}" and path "${path}"`
        : `no service matches host "${host ?? ''}", path "${path}" and model "${model ?? ''}"`,
    ),
  queueFull: (depth: number) => new SluiceError('queue_full', 503, `hold queue is full (${depth} requests held)`),
  /** `condition`: what the revision was doing meanwhile (Activating: why no replica is ready yet). */
  activationTimeout: (ms: number, condition?: RevisionCondition) =>
    new SluiceError(
      'activation_timeout',
      504,
      condition?.status === 'Activating' && condition.reason !== 'Starting'
        ? `no ready endpoint within ${ms} ms (${condition.reason}: ${condition.message})`
        : `no ready endpoint within ${ms} ms`,
    ),
  /** The revision cannot start (core/condition.ts): its reason, its message and the replica's last stderr lines. */
  revisionFailed: (key: string, condition: RevisionCondition) =>
    new SluiceError(
      'revision_failed',
      503,
      `revision ${key} failed (${condition.reason}): ${condition.message}` +
        (condition.output === '' ? '' : `; stderr: ${condition.output}`),
    ),
  requestTimeout: (ms: number) => new SluiceError('request_timeout', 504, `no response within ${ms} ms`),
  /** A gRPC call's own deadline (grpc-timeout) passed, held or in flight. */
  deadlineExceeded: (ms: number) => new SluiceError('request_timeout', 504, `deadline of ${ms} ms (grpc-timeout) exceeded`),
  unreachable: (cause: unknown) =>
    new SluiceError('upstream_unreachable', 502, `endpoint unreachable: ${(cause as Error)?.message ?? cause}`, { cause }),
  upstreamError: (cause: unknown) =>
    new SluiceError('upstream_error', 502, `endpoint failed: ${(cause as Error)?.message ?? cause}`, { cause }),
  tagNotFound: (service: string, tag: string) =>
    new SluiceError('route_not_found', 404, `service "${service}" has no revision tagged "${tag}"`),
  badRequest: (message: string) => new SluiceError('bad_request', 400, message),
  /** The gateway is stopping: its hold queues take nothing more (503 queue_full, with Retry-After). */
  queueClosed: () => new SluiceError('queue_full', 503, 'gateway is shutting down'),
};

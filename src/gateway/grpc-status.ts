/**
 * Gateway errors as gRPC statuses, in one table: a gRPC client reads `grpc-status` and
 * `grpc-message`, never a JSON body, so an error the gateway answers itself is a Trailers-Only
 * response (gRPC over HTTP/2: one HEADERS frame with END_STREAM, `:status 200`, `content-type:
 * application/grpc`, the status and its message). The message names the service and the revision.
 */
import type { ErrorCode, SluiceError } from '../errors.js';
import type { DownstreamResponse } from './http-types.js';

/** gRPC status codes (grpc/doc/statuscodes.md) the gateway answers with. */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * Error code → gRPC status. The choices worth a word:
 *  - queue_full → UNAVAILABLE, not RESOURCE_EXHAUSTED: a full hold queue is a transient state of
 *    the revision (it is waking, or all its replicas are busy), gone once replicas catch up; gRPC
 *    says UNAVAILABLE is "most likely a transient condition, which can be corrected by retrying
 *    with a backoff", the status clients' retry policies retry, and the one gRPC's HTTP mapping
 *    gives the 503 REST clients get. RESOURCE_EXHAUSTED reads as a quota the caller has used up
 *    and is not retried by default. The gateway shutting down (also queue_full) is UNAVAILABLE too.
 *  - upstream_unreachable → UNAVAILABLE (the call never reached the endpoint: safe to retry);
 *    upstream_error → INTERNAL (the endpoint failed after it may have run the call).
 *  - activation_timeout, request_timeout → DEADLINE_EXCEEDED; revision_failed → UNAVAILABLE.
 *  - not_implemented → UNIMPLEMENTED: a revision reached over HTTP/1.1 cannot carry gRPC.
 */
export const GRPC_STATUS: Readonly<Record<ErrorCode, number>> = {
  route_not_found: GrpcStatus.NOT_FOUND,
  not_found: GrpcStatus.NOT_FOUND,
  queue_full: GrpcStatus.UNAVAILABLE,
  unavailable: GrpcStatus.UNAVAILABLE,
  revision_failed: GrpcStatus.UNAVAILABLE,
  upstream_unreachable: GrpcStatus.UNAVAILABLE,
  upstream_error: GrpcStatus.INTERNAL,
  activation_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  request_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  bad_request: GrpcStatus.INVALID_ARGUMENT,
  invalid_config: GrpcStatus.INVALID_ARGUMENT,
  payload_too_large: GrpcStatus.RESOURCE_EXHAUSTED,
  not_implemented: GrpcStatus.UNIMPLEMENTED,
  conflict: GrpcStatus.ABORTED,
  unauthorized: GrpcStatus.UNAUTHENTICATED,
};

/**
 * `grpc-message` as the gRPC spec encodes it: UTF-8, every byte outside 0x20–0x7E and `%` itself
 * as `%XX` (upper-case hex). "no ready endpoint within 100 ms" stays as it is; "é" → "%C3%A9".
 */
export function percentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

/** The message a client reads: the error's, then the service and revision it concerns. */
export function grpcMessage(err: SluiceError, service?: string, revision?: string): string {
  if (service === undefined) return err.message;
  return revision === undefined ? `${err.message} (service ${service})` : `${err.message} (service ${service}, revision ${revision})`;
}

/** The status fields of an error, flat [name, value, …], for a Trailers-Only head or for trailers. */
export function grpcStatusFields(err: SluiceError, service?: string, revision?: string): string[] {
  return ['grpc-status', String(GRPC_STATUS[err.code]), 'grpc-message', percentEncode(grpcMessage(err, service, revision))];
}

/**
 * Answer a gRPC call with a gateway error: Trailers-Only before anything was sent; once the
 * response head went out, the status ends the stream as its trailers (a client that takes
 * trailers — every gRPC client says `TE: trailers`), else the stream is reset.
 * `announce`: add Sluice-Revision, as sendError does.
 */
export function sendGrpcError(res: DownstreamResponse, err: SluiceError, service?: string, revision?: string, announce = true): void {
  const fields = grpcStatusFields(err, service, revision);
  if (res.headersSent) {
    if (res.addTrailers === undefined) return void res.destroy();
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i]!, fields[i + 1]!]);
    res.addTrailers(pairs);
    res.end();
    return;
  }
  const head = ['content-type', 'application/grpc', ...fields];
  if (revision !== undefined && announce) head.push('sluice-revision', revision);
  res.writeHead(200, head);
  res.end();
}

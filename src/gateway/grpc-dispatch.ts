/**
 * A gRPC call on its way into the gateway: refused over HTTP/1.1 (gRPC is HTTP/2 only), its
 * deadline read (`grpc-timeout`), its model read from its first message when the method names
 * one (grpc-first-message.ts), then routed and dispatched like any request — held at zero,
 * counted, split — with its errors answered as gRPC statuses (grpc-status.ts).
 *
 * The first message of a streaming call may come after its head: the wait for it is bounded by
 * the call's deadline, or FIRST_MESSAGE_MS without one.
 */
import { SluiceError } from '../errors.js';
import type { IncomingMessage } from 'node:http';
import { grpcTimeoutMs, namesModel } from './grpc-call.js';
import { readFirstMessage } from './grpc-first-message.js';
import { sendGrpcError } from './grpc-status.js';
import type { RequestHead } from './headers.js';
import type { DownstreamRequest, DownstreamResponse } from './http-types.js';
import { errors, sendError } from './respond.js';
import type { RevisionRuntime } from './revision.js';

/** A gRPC call's deadline: wall-clock ms, and the grpc-timeout it came from; both absent without one. */
export interface GrpcCall {
  deadlineAt?: number;
  timeoutMs?: number;
}

/** Longest wait for a streaming call's first message when the call has no deadline, ms. */
export const FIRST_MESSAGE_MS = 30_000;

/** A route found, as the gateway makes it (gateway.ts). */
interface RoutedCall {
  choice: { revision: RevisionRuntime };
}

/** What a gRPC call needs from the gateway. */
export interface GrpcRouting<R extends RoutedCall> {
  route(req: DownstreamRequest | IncomingMessage, head: RequestHead, model?: string | null): R | SluiceError;
  dispatch(req: DownstreamRequest, res: DownstreamResponse, routed: R, grpc: GrpcCall): void;
  /** A handler threw: answered and logged. */
  failed(res: DownstreamResponse, err: unknown, grpc: boolean): void;
}

/** Route and dispatch a gRPC call (`head.grpc`): by host and path, and by the model its first message names where its method has one. */
export function handleGrpcCall<R extends RoutedCall>(
  gateway: GrpcRouting<R>,
  req: DownstreamRequest,
  res: DownstreamResponse,
  head: RequestHead,
): void {
  if (req.httpVersion !== '2.0')
    return sendError(res, errors.badRequest(`gRPC needs HTTP/2 (h2c or h2): this call came over HTTP/${req.httpVersion}`));
  const timeoutMs = grpcTimeoutMs(req.rawHeaders);
  if (timeoutMs instanceof SluiceError) return sendGrpcError(res, timeoutMs);
  const call: GrpcCall = timeoutMs === undefined ? {} : { deadlineAt: Date.now() + timeoutMs, timeoutMs };
  if (!namesModel(req.url ?? '')) return routeCall(gateway, req, res, head, undefined, call);

  let decided = false;
  let timer: NodeJS.Timeout | undefined = undefined;
  const cancel = readFirstMessage(req, (peek, body) => {
    decided = true;
    clearTimeout(timer);
    try {
      if (peek.kind === 'invalid') return sendGrpcError(res, errors.badRequest(`first message: ${peek.reason}`));
      routeCall(gateway, body, res, head, peek.kind === 'model' ? peek.name : null, call);
    } catch (err) {
      gateway.failed(res, err, true);
    }
  });
  if (decided) return; // a unary call's message came with its head: routed already
  const waitMs = timeoutMs ?? FIRST_MESSAGE_MS;
  timer = setTimeout(() => {
    decided = true;
    cancel();
    const why = timeoutMs === undefined ? errors.requestTimeout(waitMs) : errors.deadlineExceeded(waitMs);
    sendGrpcError(res, new SluiceError(why.code, why.status, `${why.message}: the first message, which names the model, did not come`));
  }, waitMs);
  res.on('close', () => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    cancel();
  });
}

function routeCall<R extends RoutedCall>(
  gateway: GrpcRouting<R>,
  req: DownstreamRequest,
  res: DownstreamResponse,
  head: RequestHead,
  model: string | null | undefined,
  call: GrpcCall,
): void {
  const routed = gateway.route(req, head, model);
  if (routed instanceof SluiceError) return sendGrpcError(res, routed);
  const rev = routed.choice.revision;
  const http1 = overHttp1(rev.spec);
  if (http1 !== undefined) {
    const err = new SluiceError(
      'not_implemented',
      501,
      `revision ${rev.name} is reached over HTTP/1.1 (${http1}), which cannot carry gRPC: set its protocol to h2c or h2`,
    );
    return sendGrpcError(res, err, rev.service, rev.name);
  }
  gateway.dispatch(req, res, routed, call);
}

/**
 * Why a revision's endpoints are reached over HTTP/1.1 whatever they speak, or undefined when they
 * may be reached over HTTP/2: `protocol: http1`, or `auto` without TLS (cleartext auto is HTTP/1.1:
 * upstream/transport-choice.ts).
 */
function overHttp1(spec: RoutedCall['choice']['revision']['spec']): string | undefined {
  const protocol = spec.protocol ?? 'http1';
  if (protocol === 'http1') return 'protocol: http1';
  if (protocol !== 'auto' || spec.tls !== undefined) return undefined;
  if (spec.backend === 'static' && spec.urls.every((url) => url.startsWith('https:'))) return undefined;
  return 'protocol: auto without TLS is HTTP/1.1';
}

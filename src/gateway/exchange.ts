/**
 * One client request on its way to an endpoint: held (maybe), sent, answered. The Exchange is the
 * held request the activator releases and the upstream handler that streams the response back, so
 * a request costs one object of ours plus what Node allocates anyway.
 *
 * Response bytes go straight from the upstream parser to `res.write`, with backpressure both ways
 * (a slow client pauses the upstream socket). A failed attempt is tried again as retry-rule.ts
 * says: on another endpoint, or held again (at the head of the queue) when none has room.
 * A gRPC call (grpc-dispatch.ts) is answered with gRPC statuses, and its grpc-timeout is a
 * deadline of its own, held or in flight.
 */
import { SluiceError } from '../errors.js';
import type { Endpoint } from '../core/endpoint.js';
import type { Progress, UpstreamCall, UpstreamHandler, UpstreamRequest } from '../upstream/upstream-connection.js';
import type { Activator } from './activator.js';
import { pickEndpoint, pickEndpointExcept } from './balancer.js';
import type { DownstreamRequest, DownstreamResponse, UpstreamTransport } from './http-types.js';
import type { HoldNode } from './hold-queue.js';
import { downstreamResponseHeaders, hasHeader, headInput, upstreamRequestHeaders, type RequestHead } from './headers.js';
import { errors, sendError } from './respond.js';
import { remainingTimeout } from './grpc-call.js';
import type { GrpcCall } from './grpc-dispatch.js';
import { sendGrpcError } from './grpc-status.js';
import { ejectsEndpoint, isUnreachable, retryTarget, type AttemptFailure, type RetryTarget } from './retry-rule.js';
import type { RequestTrace, RequestTracer } from './request-trace.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';
import { announcedHeaders, leaveEndpoint, recordOutcome } from './request-end.js';

/** What an exchange needs from the gateway around it. */
export interface ExchangeContext {
  readonly activator: Activator;
  /** Responses carry Sluice-Revision (and Sluice-Cold-Start); false behind a queue-proxy, where the gateway in front names the revision. */
  readonly announceRevision: boolean;
  /** The tracer, decided at start; undefined when tracing is off (the request path then does no tracing work). */
  readonly tracer: RequestTracer | undefined;
  pool(endpoint: Endpoint, rev: RevisionRuntime): UpstreamTransport;
  /** Called after each request leaves an endpoint (capacity freed). */
  released(rev: RevisionRuntime, now: number): void;
  /** A connection to `endpoint` failed: skip it for a moment, then release held requests again. */
  eject(rev: RevisionRuntime, endpoint: Endpoint): void;
  /** An attempt failed; `next` is what the request does now (logged at debug: rare, and worth a line). */
  attemptFailed(rev: RevisionRuntime, endpoint: Endpoint, failure: AttemptFailure & { path: string; next: RetryTarget }): void;
}

export const EJECTION_MS = 250;

export class Exchange implements HeldRequest, UpstreamHandler {
  private endpoint: Endpoint | undefined;
  private node: HoldNode<Held> | undefined;
  private upstream: UpstreamCall | undefined;
  private status = 0;
  private attempts = 0;
  private coldStartMs = -1;
  private clientGone = false;
  private finished = false;
  /** The whole body once taken from the request, kept so another attempt can send it again. */
  private body: Buffer | undefined;
  /** HeldRequest: endpoints that may have read this request and failed; it never goes to them again. */
  avoid: Endpoint[] | undefined;
  /** Set-Cookie to add to the response (sticky cookie issued by the traffic policy). */
  setCookie: string | undefined;
  /** A gRPC call: errors are gRPC statuses, and its deadline (grpc-timeout) bounds the hold and the call. */
  grpc: GrpcCall | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /**
   * The endpoint's request headers (headers.ts). A held request lets go of them and builds them
   * again when it is sent: a burst of 10,000 held requests then holds no header lists.
   */
  private headers: string[] | undefined;
  private readonly hasHost: boolean;
  private readonly contentLength: number;
  private readonly teTrailers: boolean;
  /** This request's trace; undefined, and never looked at further, when tracing is off. */
  private readonly trace: RequestTrace | undefined;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly rev: RevisionRuntime,
    private readonly req: DownstreamRequest,
    private readonly res: DownstreamResponse,
    head: RequestHead,
    /** The normalised request target (request-target.ts). */
    private readonly path: string,
    private readonly startedAt: number,
  ) {
    this.headers = head.headers;
    this.hasHost = head.hasHost;
    this.contentLength = head.contentLength;
    this.teTrailers = head.teTrailers;
    const tracer = ctx.tracer;
    this.trace =
      tracer === undefined
        ? undefined
        : tracer.begin({ method: req.method!, path, service: rev.service, revision: rev.name, startedAt, rawHeaders: req.rawHeaders });
    // 'on', not 'once': the response says 'close' at most once, and once() wraps every listener.
    res.on('close', this.onClientClose);
  }

  /** Route to an endpoint with room now, or hold (behind the requests already held: first come, first served). */
  start(now: number): void {
    const deadlineAt = this.grpc?.deadlineAt;
    if (deadlineAt !== undefined) this.deadlineTimer = setTimeout(this.onDeadline, Math.max(0, deadlineAt - now));
    const endpoint = this.rev.queue.length === 0 ? pickEndpoint(this.rev.endpoints, this.rev.spec.containerConcurrency) : undefined;
    if (endpoint !== undefined) this.send(endpoint, -1);
    else this.hold(now, false);
  }

  private hold(now: number, front: boolean): void {
    // A request held while the revision has no ready endpoint waited for a cold start.
    if (this.rev.endpoints.length === 0 && this.coldStartMs < 0) this.coldStartMs = 0;
    this.headers = undefined;
    this.node = this.ctx.activator.hold(this.rev, this, now, front);
  }

  /** HeldRequest: the activator found room (waitedMs ≥ 0), or start() did (−1). */
  send(endpoint: Endpoint, waitedMs: number): void {
    this.node = undefined;
    if (this.clientGone) return;
    const now = Date.now();
    const coldStart = this.coldStartMs === 0 && waitedMs >= 0;
    if (coldStart) {
      this.coldStartMs = waitedMs;
      this.rev.stats.coldStart(waitedMs / 1000);
    }
    this.endpoint = endpoint;
    this.attempts++;
    endpoint.inflight++;
    this.rev.stats.begin();
    const headers = (this.headers ??= this.rebuildHeaders());
    if (this.grpc?.deadlineAt !== undefined) this.passDeadline(headers, this.grpc.deadlineAt, now);
    if (this.trace !== undefined) {
      if (waitedMs >= 0) this.trace.held(waitedMs, now, coldStart);
      this.trace.sending(endpoint.id, headers);
    }
    const request: UpstreamRequest = {
      method: this.req.method!,
      path: this.path,
      // HTTP/1.0 without Host: the endpoint's own authority, as nginx sends.
      headers: this.hasHost ? headers : headers.concat('host', endpoint.id),
      body: this.contentLength === 0 ? null : this.requestBody(),
      contentLength: this.contentLength,
      timeoutMs: this.rev.spec.timeoutSeconds * 1000,
      teTrailers: this.teTrailers,
    };
    try {
      this.upstream = this.ctx.pool(endpoint, this.rev).request(request, this, now);
    } catch (err) {
      // The pool was closed under us (the endpoint left): nothing was sent.
      queueMicrotask(() => this.onUpstreamError(err as Error, 'unsent', false));
    }
  }

  /** HeldRequest: refused or expired while held. */
  fail(err: SluiceError): void {
    this.node = undefined;
    if (this.clientGone) return;
    this.answerError(err);
    this.record(err.status);
  }

  // --- UpstreamHandler ---

  onResponseHead(statusCode: number, rawHeaders: string[]): void {
    this.status = statusCode;
    const extra = announcedHeaders(this.ctx.announceRevision, this.rev.name, this.coldStartMs, this.setCookie);
    const headers = downstreamResponseHeaders(rawHeaders, extra);
    this.res.writeHead(statusCode, headers);
    // A body of unknown length may be a stream (SSE, long poll): send the head now, not with the
    // first chunk. With a Content-Length the head rides along with the body in one write; a gRPC
    // Trailers-Only response (its status in the head) ends with it, in one HEADERS frame.
    if (!hasHeader(headers, 'content-length') && !(this.grpc !== undefined && hasHeader(headers, 'grpc-status'))) this.res.flushHeaders();
  }

  onResponseData(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', this.onClientDrain);
    return ok;
  }

  /** Trailers (HTTP/2 endpoints) go to a response that can carry them; others drop them. */
  onResponseTrailers(trailers: string[]): void {
    if (this.res.addTrailers === undefined) return;
    const fields = downstreamResponseHeaders(trailers, []);
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < fields.length; i += 2) if (fields[i]!.toLowerCase() !== 'content-length') pairs.push([fields[i]!, fields[i + 1]!]);
    this.res.addTrailers(pairs);
  }

  onResponseEnd(tail: Buffer | undefined): void {
    if (tail === undefined) this.res.end();
    else this.res.end(tail);
    this.leaveEndpoint();
    this.record(this.status);
  }

  onUpstreamError(err: Error, progress: Progress, reused: boolean): void {
    const failed = this.endpoint!;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!this.clientGone && ejectsEndpoint({ progress, reused, code })) this.ctx.eject(this.rev, failed);
    this.leaveEndpoint();
    if (this.clientGone) return this.record(0);
    if (this.res.headersSent) {
      // A gRPC response under way ends with a status in its trailers; others are cut.
      if (this.grpc !== undefined)
        this.answerError(
          code === 'UPSTREAM_TIMEOUT' ? errors.requestTimeout(this.rev.spec.timeoutSeconds * 1000) : errors.upstreamError(err),
        );
      else this.res.destroy(err);
      return this.record(this.status);
    }
    const replayable = this.contentLength === 0 || this.body !== undefined || progress === 'unsent' || progress === 'head';
    const failure = { progress, reused, code, method: this.req.method!, replayable, attempts: this.attempts };
    const target = retryTarget(failure);
    this.ctx.attemptFailed(this.rev, failed, { ...failure, path: this.path, next: target });
    if (this.trace !== undefined) this.trace.attemptFailed(failed.id, code || progress, target);
    if (target === 'any') return this.retry(failed, false);
    if (target === 'other') return this.retry(failed, true);
    const answer =
      code === 'UPSTREAM_TIMEOUT'
        ? errors.requestTimeout(this.rev.spec.timeoutSeconds * 1000)
        : isUnreachable({ progress, code })
          ? errors.unreachable(err)
          : errors.upstreamError(err);
    this.answerError(answer);
    this.record(answer.status);
  }

  // --- internals ---

  /** The same headers the route made (a request that was valid then is valid now). */
  private rebuildHeaders(): string[] {
    const head = upstreamRequestHeaders(headInput(this.req));
    if (head instanceof SluiceError) throw head; // cannot happen: the route already accepted this head
    return head.headers;
  }

  /** The body to send: whole when it has all arrived (and kept for another attempt), else the stream. */
  private requestBody(): Buffer | DownstreamRequest {
    if (this.body === undefined) this.body = this.req.readAll?.();
    return this.body ?? this.req;
  }

  /**
   * Try again: another endpoint with room now, or held at the head of the queue until one has
   * room. With `avoidFailed` the failed endpoint may have read the request: it never gets it
   * again, and with no other endpoint to go to the request fails now.
   */
  private retry(failed: Endpoint, avoidFailed: boolean): void {
    const endpoints = this.rev.endpoints;
    const cc = this.rev.spec.containerConcurrency;
    if (avoidFailed) {
      const avoid = (this.avoid ??= []);
      avoid.push(failed);
      if (endpoints.every((ep) => avoid.includes(ep))) {
        const answer = errors.unreachable(new Error(`${failed.id} failed before answering, and the revision has no other endpoint`));
        this.answerError(answer);
        return this.record(answer.status);
      }
      const next = pickEndpointExcept(endpoints, cc, ...avoid);
      if (next !== undefined) return this.send(next, -1);
    } else {
      const next = pickEndpointExcept(endpoints, cc, failed);
      if (next !== undefined) return this.send(next, -1);
    }
    this.hold(Date.now(), true);
  }

  private leaveEndpoint(): void {
    const endpoint = this.endpoint;
    if (endpoint === undefined) return;
    this.endpoint = undefined;
    this.upstream = undefined;
    leaveEndpoint(this.ctx, this.rev, endpoint);
  }

  private answerError(err: SluiceError): void {
    if (this.trace !== undefined) this.trace.failed(err.code, err.message);
    if (this.grpc !== undefined) sendGrpcError(this.res, err, this.rev.service, this.rev.name, this.ctx.announceRevision);
    else sendError(this.res, err, this.rev.service, this.rev.name, this.ctx.announceRevision);
  }

  /** The endpoint gets what is left of the call's deadline as its grpc-timeout (held 400 ms of `1S` → `600m`). */
  private passDeadline(headers: string[], deadlineAt: number, now: number): void {
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.length === 12 && headers[i]!.toLowerCase() === 'grpc-timeout') headers[i + 1] = remainingTimeout(deadlineAt, now);
    }
  }

  /** The call's deadline passed: it leaves the queue or its endpoint, and is answered DEADLINE_EXCEEDED. */
  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    if (this.finished || this.clientGone) return;
    // Nobody is waiting for the endpoint's answer any more: what it sends is not read.
    this.clientGone = true;
    if (this.node !== undefined) {
      this.ctx.activator.leave(this.rev, this.node);
      this.node = undefined;
    } else if (this.upstream !== undefined) {
      this.upstream.abort();
      this.leaveEndpoint();
    }
    const err = errors.deadlineExceeded(this.grpc!.timeoutMs!);
    this.answerError(err);
    this.record(err.status);
  };

  private record(status: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    recordOutcome(this.rev, status, this.startedAt);
    if (this.trace !== undefined) this.trace.end(status, this.coldStartMs);
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    if (this.node !== undefined) {
      this.ctx.activator.leave(this.rev, this.node);
      this.node = undefined;
      this.record(0);
    } else if (this.upstream !== undefined) {
      this.upstream.abort();
      this.leaveEndpoint();
      this.record(0);
    }
  };

  private readonly onClientDrain = (): void => {
    this.upstream?.resume();
  };
}

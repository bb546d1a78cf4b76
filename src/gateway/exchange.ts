/**
 * One client request on its way to an endpoint: held (maybe), sent, answered. The Exchange is the
 * held request the activator releases and the upstream handler that streams the response back, so
 * a request costs one object of ours plus what Node allocates anyway.
 *
 * Response bytes go straight from the upstream parser to `res.write`, with backpressure both ways
 * (a slow client pauses the upstream socket). A request whose connection failed before any byte
 * was sent is tried on another endpoint, or held again when there is none.
 */
import type { SluiceError } from '../errors.js';
import type { Endpoint } from '../scaler/endpoint.js';
import type { UpstreamConnection, UpstreamHandler } from '../upstream/upstream-connection.js';
import type { UpstreamPool } from '../upstream/upstream-pool.js';
import type { Activator } from './activator.js';
import { pickEndpoint, pickEndpointExcept } from './balancer.js';
import type { GatewayRequest, GatewayResponse } from './client.js';
import type { HoldNode } from './hold-queue.js';
import { downstreamResponseHeaders, hasHeader, upstreamRequestHeaders } from './headers.js';
import { errors, sendError } from './respond.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';

/** What an exchange needs from the gateway around it. */
export interface ExchangeContext {
  readonly activator: Activator;
  pool(endpoint: Endpoint): UpstreamPool;
  /** Called after each request leaves an endpoint (capacity freed). */
  released(rev: RevisionRuntime, now: number): void;
  /** A connection to `endpoint` failed: skip it for a moment, then release held requests again. */
  eject(rev: RevisionRuntime, endpoint: Endpoint): void;
}

/** Failures that mean the endpoint itself is probably gone: skip it briefly (see Endpoint.ejectedUntil). */
const CONNECTION_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UPSTREAM_CONNECT_TIMEOUT']);
export const EJECTION_MS = 250;
const MAX_ATTEMPTS = 3;

export class Exchange implements HeldRequest, UpstreamHandler {
  private endpoint: Endpoint | undefined;
  private node: HoldNode<Held> | undefined;
  private upstream: UpstreamConnection | undefined;
  private status = 0;
  private attempts = 0;
  private coldStartMs = -1;
  private clientGone = false;
  private finished = false;
  /** Set-Cookie to add to the response (sticky cookie issued by the traffic policy). */
  setCookie: string | undefined;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly rev: RevisionRuntime,
    private readonly req: GatewayRequest,
    private readonly res: GatewayResponse,
    private readonly startedAt: number,
  ) {
    res.once('close', this.onClientClose);
  }

  /** Route to an endpoint with room now, or hold. */
  start(now: number): void {
    const endpoint = pickEndpoint(this.rev.endpoints, this.rev.spec.containerConcurrency);
    if (endpoint !== undefined) this.send(endpoint, -1);
    else this.hold(now);
  }

  private hold(now: number): void {
    // A request held while the revision has no ready endpoint waited for a cold start.
    if (this.rev.endpoints.length === 0) this.coldStartMs = 0;
    this.node = this.ctx.activator.hold(this.rev, this, now);
  }

  /** HeldRequest: the activator found room (waitedMs ≥ 0), or start() did (−1). */
  send(endpoint: Endpoint, waitedMs: number): void {
    this.node = undefined;
    if (this.clientGone) return;
    const now = Date.now();
    if (this.coldStartMs === 0 && waitedMs >= 0) {
      this.coldStartMs = waitedMs;
      this.rev.stats.coldStarts++;
      this.rev.stats.coldStartSeconds += waitedMs / 1000;
    }
    this.endpoint = endpoint;
    this.attempts++;
    endpoint.inflight++;
    this.rev.stats.begin();
    const { headers, hasBody, chunked } = upstreamRequestHeaders(this.req, 'http');
    const request = {
      method: this.req.method!,
      path: this.req.url!,
      headers,
      body: hasBody ? this.req : null,
      chunked,
      timeoutMs: this.rev.spec.timeoutSeconds * 1000,
    };
    try {
      this.upstream = this.ctx.pool(endpoint).request(request, this, now);
    } catch (err) {
      // The pool was closed under us (the endpoint left): nothing was sent.
      queueMicrotask(() => this.onUpstreamError(err as Error, false));
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
    const extra = this.coldStartMs >= 0
      ? ['sluice-revision', this.rev.name, 'sluice-cold-start', String(this.coldStartMs)]
      : ['sluice-revision', this.rev.name];
    if (this.setCookie !== undefined) extra.push('set-cookie', this.setCookie);
    const headers = downstreamResponseHeaders(rawHeaders, extra);
    this.res.writeHead(statusCode, headers);
    // A body of unknown length may be a stream (SSE, long poll): send the head now, not with the
    // first chunk. With a Content-Length the head rides along with the body in one write.
    if (!hasHeader(headers, 'content-length')) this.res.flushHeaders();
  }

  onResponseData(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', this.onClientDrain);
    return ok;
  }

  onResponseEnd(tail: Buffer | undefined): void {
    if (tail === undefined) this.res.end();
    else this.res.end(tail);
    this.leaveEndpoint();
    this.record(this.status);
  }

  onUpstreamError(err: Error, sent: boolean): void {
    const failed = this.endpoint!;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const endpointFailed = !sent || CONNECTION_FAILURES.has(code);
    if (!this.clientGone && endpointFailed) this.ctx.eject(this.rev, failed);
    this.leaveEndpoint();
    if (this.clientGone) return this.record(0);
    if (!sent && !this.res.headersSent && this.attempts < MAX_ATTEMPTS) return this.retry(failed);
    if (this.res.headersSent) {
      this.res.destroy(err);
      return this.record(this.status);
    }
    const answer = code === 'UPSTREAM_TIMEOUT'
      ? errors.requestTimeout(this.rev.spec.timeoutSeconds * 1000)
      : endpointFailed ? errors.unreachable(err) : errors.upstreamError(err);
    this.answerError(answer);
    this.record(answer.status);
  }

  // --- internals ---

  /** The connection was refused: try another endpoint, or wait for one. */
  private retry(failed: Endpoint): void {
    const next = pickEndpointExcept(this.rev.endpoints, this.rev.spec.containerConcurrency, failed);
    if (next !== undefined) this.send(next, -1);
    else this.hold(Date.now());
  }

  private leaveEndpoint(): void {
    const endpoint = this.endpoint;
    if (endpoint === undefined) return;
    this.endpoint = undefined;
    this.upstream = undefined;
    endpoint.inflight--;
    this.rev.stats.end();
    this.ctx.released(this.rev, Date.now());
  }

  private answerError(err: SluiceError): void {
    sendError(this.res, err, this.rev.service, this.rev.name);
  }

  private record(status: number): void {
    if (this.finished) return;
    this.finished = true;
    const now = Date.now();
    this.rev.stats.record(status, (now - this.startedAt) / 1000, now);
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

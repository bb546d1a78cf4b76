/**
 * A WebSocket opened over an HTTP/2 stream (RFC 8441 extended CONNECT), to an HTTP/1.1 endpoint:
 * routed and held like any request, then sent as the GET of an HTTP/1.1 upgrade with a key of the
 * gateway's own (websocket-handshake.ts). The endpoint's 101 becomes the client's 200 and the
 * bytes flow both ways between the stream's DATA frames and the endpoint's socket, each side
 * paused while the other cannot take more; any other answer reaches the client as it is. A side
 * that ends (END_STREAM, FIN) ends the other; one that is cut (RST_STREAM, a reset socket) cuts
 * the other. The tunnel counts as one request in flight while open, as an HTTP/1.1 upgrade does.
 *
 * Endpoints reached over HTTP/2 (`protocol: h2c | h2`) are refused with 502: the tunnel is HTTP/1.1.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SluiceError } from '../errors.js';
import type { Endpoint } from '../core/endpoint.js';
import { connectTls, tlsTarget } from '../upstream/tls-connect.js';
import { chooseTransport } from '../upstream/transport-choice.js';
import { pickEndpoint } from './balancer.js';
import type { ExchangeContext } from './exchange.js';
import type { HoldNode } from './hold-queue.js';
import type { RequestHead } from './headers.js';
import { downstreamResponseHeaders } from './headers.js';
import type { DownstreamResponse } from './http-types.js';
import { errors, sendError } from './respond.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';
import { clientTunnelHeaders, endpointHandshakeHeaders, handshakeProblem, webSocketKey } from './websocket-handshake.js';
import { announcedHeaders, leaveEndpoint, recordOutcome } from './request-end.js';

export class WebSocketTunnel implements HeldRequest {
  private node: HoldNode<Held> | undefined;
  private endpoint: Endpoint | undefined;
  private upstream: ClientRequest | undefined;
  /** The endpoint's socket once it answered 101. */
  private socket: Socket | undefined;
  /** The endpoint's answer when it did not upgrade, while its body goes to the client. */
  private answer: IncomingMessage | undefined;
  /** A sticky session's new cookie, for the client's head. */
  setCookie: string | undefined;
  private coldStartMs = -1;
  private done = false;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly rev: RevisionRuntime,
    private readonly res: DownstreamResponse,
    /** The client's stream: its bytes in; its writes go through `res`. */
    private readonly tunnel: Duplex,
    private readonly head: RequestHead,
    private readonly path: string,
    private readonly startedAt: number,
  ) {
    tunnel.once('close', this.onTunnelClose);
  }

  start(now: number): void {
    const protocol = this.rev.spec.protocol ?? 'http1';
    if (protocol === 'h2' || protocol === 'h2c') {
      const why = `WebSockets over HTTP/2 reach HTTP/1.1 endpoints only; revision ${this.rev.name} has protocol ${protocol}`;
      return this.fail(new SluiceError('upstream_error', 502, why));
    }
    const endpoint = this.rev.queue.length === 0 ? pickEndpoint(this.rev.endpoints, this.rev.spec.containerConcurrency) : undefined;
    if (endpoint !== undefined) return this.send(endpoint, -1);
    if (this.rev.endpoints.length === 0) this.coldStartMs = 0;
    this.node = this.ctx.activator.hold(this.rev, this, now);
  }

  /** HeldRequest: the activator found room (waitedMs ≥ 0), or start() did (−1). */
  send(endpoint: Endpoint, waitedMs: number): void {
    this.node = undefined;
    if (this.done || this.tunnel.destroyed) return this.finish(0);
    if (this.coldStartMs === 0 && waitedMs >= 0) {
      this.coldStartMs = waitedMs;
      this.rev.stats.coldStart(waitedMs / 1000);
    }
    this.endpoint = endpoint;
    endpoint.inflight++;
    this.rev.stats.begin();
    const key = webSocketKey();
    const upstream = request({
      method: 'GET',
      path: this.path,
      headers: endpointHandshakeHeaders(this.head.headers, key),
      setHost: false,
      createConnection: () => this.connect(endpoint),
    });
    this.upstream = upstream;
    upstream.on('upgrade', (answer: IncomingMessage, socket: Socket, early: Buffer) => this.onUpgrade(answer, socket, early, key));
    upstream.on('response', this.onRefused);
    upstream.on('error', this.onUpstreamError);
    // The handshake is bounded as a request is; an open tunnel is not.
    upstream.setTimeout(this.rev.spec.timeoutSeconds * 1000, this.onHandshakeTimeout);
    upstream.end();
  }

  fail(err: SluiceError): void {
    this.node = undefined;
    sendError(this.res, err, this.rev.service, this.rev.name, this.ctx.announceRevision);
    this.finish(err.status);
  }

  /** The endpoint's socket: cleartext, or TLS (ALPN http/1.1) verified as the revision's requests are. */
  private connect(endpoint: Endpoint): Socket {
    const spec = this.rev.spec;
    const tls = chooseTransport(endpoint.origin, spec.protocol, spec.upstreamTls).tls;
    const url = new URL(endpoint.origin);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? (tls === undefined ? 80 : 443) : Number(url.port);
    return tls === undefined ? netConnect(port, host) : connectTls(tlsTarget(host, port, tls), ['http/1.1']);
  }

  private onUpgrade(answer: IncomingMessage, socket: Socket, early: Buffer, key: string): void {
    this.upstream = undefined;
    socket.setTimeout(0);
    socket.on('error', ignore); // a reset ends in 'close'
    const problem = handshakeProblem(answer.rawHeaders, key);
    if (problem !== undefined || this.tunnel.destroyed) {
      socket.destroy();
      if (problem !== undefined) this.fail(new SluiceError('upstream_error', 502, problem));
      return this.leaveEndpoint();
    }
    this.socket = socket;
    const res = this.res;
    res.writeHead(200, clientTunnelHeaders(answer.rawHeaders, this.announced()));
    res.flushHeaders();
    if (early.length > 0) res.write(early);
    // Client → endpoint: the stream pauses (its window stops the client) while the socket is full.
    const tunnel = this.tunnel;
    tunnel.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk)) tunnel.pause();
    });
    socket.on('drain', () => tunnel.resume());
    tunnel.on('end', () => socket.end());
    // Endpoint → client: the socket pauses while the stream's buffer is full.
    const resume = (): void => void socket.resume();
    socket.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        socket.pause();
        res.once('drain', resume);
      }
    });
    socket.on('end', () => res.end());
    socket.once('close', () => {
      // Cut before it ended: the stream is reset (its 'close' then ends the tunnel's count).
      if (!res.writableFinished) return res.destroy();
      // Ended, and nobody reads what the client might still send: once the END_STREAM is out,
      // RST_STREAM NO_ERROR tells it to stop (RFC 9113 §8.1), and the stream closes.
      if (tunnel.readableEnded) return;
      if (tunnel.writableFinished) tunnel.destroy();
      else tunnel.once('finish', () => tunnel.destroy());
    });
    this.finish(101);
  }

  /** The endpoint answered without upgrading: its status and body go to the client as they are. */
  private readonly onRefused = (answer: IncomingMessage): void => {
    this.upstream = undefined;
    const res = this.res;
    if (this.tunnel.destroyed) {
      answer.destroy();
      return this.leaveEndpoint();
    }
    this.answer = answer;
    const status = answer.statusCode ?? 502;
    res.writeHead(status, downstreamResponseHeaders(answer.rawHeaders, this.announced()));
    const resume = (): void => void answer.resume();
    answer.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        answer.pause();
        res.once('drain', resume);
      }
    });
    answer.on('end', () => {
      res.end();
      this.leaveEndpoint();
    });
    answer.on('error', ignore);
    answer.on('close', () => {
      if (!answer.complete && !res.writableFinished) res.destroy();
      this.leaveEndpoint();
    });
    this.finish(status);
  };

  private readonly onUpstreamError = (err: Error): void => {
    if (this.upstream === undefined) return; // after the answer: its own listeners deal with it
    this.upstream = undefined;
    const timedOut = (err as { code?: string }).code === 'SLUICE_HANDSHAKE_TIMEOUT';
    this.fail(timedOut ? errors.requestTimeout(this.rev.spec.timeoutSeconds * 1000) : errors.unreachable(err));
    this.leaveEndpoint();
  };

  private readonly onHandshakeTimeout = (): void => {
    const err = Object.assign(new Error('no answer to the WebSocket handshake'), { code: 'SLUICE_HANDSHAKE_TIMEOUT' });
    this.upstream?.destroy(err);
  };

  /** The client's stream closed: held, it leaves the queue; handshaking, the request is abandoned; open, the socket is cut unless both sides ended. */
  private readonly onTunnelClose = (): void => {
    if (this.node !== undefined) {
      this.ctx.activator.leave(this.rev, this.node);
      this.node = undefined;
      return this.finish(0);
    }
    const upstream = this.upstream;
    if (upstream !== undefined) {
      this.upstream = undefined;
      upstream.destroy();
      this.finish(0);
    }
    this.answer?.destroy();
    const socket = this.socket;
    if (socket !== undefined && !(this.tunnel.readableEnded && this.res.writableFinished)) socket.destroy();
    this.leaveEndpoint();
  };

  /** Sluice-Revision (and Sluice-Cold-Start after a cold start), a sticky cookie, for the client's head. */
  private announced(): string[] {
    return announcedHeaders(this.ctx.announceRevision, this.rev.name, this.coldStartMs, this.setCookie);
  }

  /** The endpoint's in-flight count and the revision's, once: the tunnel or its refusal is over. */
  private leaveEndpoint(): void {
    const endpoint = this.endpoint;
    if (endpoint === undefined) return;
    this.endpoint = undefined;
    leaveEndpoint(this.ctx, this.rev, endpoint);
  }

  /** Recorded once, when the handshake's outcome is known (0: the client left first). */
  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    recordOutcome(this.rev, status, this.startedAt);
  }
}

function ignore(): void {}

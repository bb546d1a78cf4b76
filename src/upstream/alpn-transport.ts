/**
 * `protocol: auto` over TLS: the first connection offers ALPN `h2` and `http/1.1`, and the
 * endpoint's choice picks the client for good — the HTTP/2 transport, whose first session runs on
 * that very connection (and which opens more sessions within the same connection limits), or the HTTP/1.1 pool (the probe connection is closed: one extra handshake
 * per endpoint). Requests that arrive before the handshake ends wait for it; if it fails, they fail
 * unsent with its error and the next request tries again.
 */
import type { TLSSocket } from 'node:tls';
import type { UpstreamTls } from '../config/upstream-tls.js';
import { Http2Transport } from './http2-transport.js';
import { connectTls, tlsTarget } from './tls-connect.js';
import type { UpstreamCall, UpstreamHandler, UpstreamRequest } from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';
import { UpstreamPool, type UpstreamPoolOptions } from './upstream-pool.js';

export interface AlpnTransportOptions extends UpstreamPoolOptions {
  tls: UpstreamTls;
}

/** What both clients offer. */
interface Client {
  request(req: UpstreamRequest, handler: UpstreamHandler, now: number): UpstreamCall;
  close(): void;
  destroy(): void;
}

/** A request waiting for the handshake: its call until the chosen client has it. */
class Deferred implements UpstreamCall {
  inner: UpstreamCall | undefined;
  aborted = false;

  constructor(
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  resume(): void {
    this.inner?.resume();
  }

  abort(): void {
    if (this.inner !== undefined) return this.inner.abort();
    this.aborted = true;
  }
}

export class AlpnTransport {
  private client: Client | undefined;
  private probe: TLSSocket | undefined;
  private waiting: Deferred[] = [];
  private closed = false;

  constructor(
    private readonly origin: string,
    private readonly options: AlpnTransportOptions,
  ) {}

  /** The protocol the endpoint chose (`h2`, `http/1.1`), once its handshake is done. */
  get chosen(): 'h2' | 'http/1.1' | undefined {
    return this.client === undefined ? undefined : this.client instanceof Http2Transport ? 'h2' : 'http/1.1';
  }

  request(req: UpstreamRequest, handler: UpstreamHandler, now: number): UpstreamCall {
    if (this.closed) throw new UpstreamError('UPSTREAM_ABORTED', 'connection pool is closed');
    if (this.client !== undefined) return this.client.request(req, handler, now);
    const deferred = new Deferred(req, handler);
    this.waiting.push(deferred);
    if (this.probe === undefined) this.startProbe();
    return deferred;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.probe?.destroy();
    this.client?.close();
    this.failWaiting(new UpstreamError('UPSTREAM_ABORTED', 'connection pool closed'));
  }

  destroy(): void {
    this.close();
    this.client?.destroy();
  }

  private startProbe(): void {
    const url = new URL(this.origin);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? 443 : Number(url.port);
    const socket = connectTls(tlsTarget(host, port, this.options.tls), ['h2', 'http/1.1']);
    this.probe = socket;
    const ms = this.options.connectTimeoutMs ?? 5_000;
    const onTimeout = (): void => {
      socket.destroy(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `no connection within ${ms} ms`));
    };
    const onError = (err: Error): void => {
      this.probe = undefined;
      this.failWaiting(err);
    };
    socket.setTimeout(ms);
    socket.once('timeout', onTimeout);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      socket.off('timeout', onTimeout);
      socket.setTimeout(0);
      this.probe = undefined;
      if (this.closed) return socket.destroy();
      if (socket.alpnProtocol === 'h2') {
        const { maxConnections, maxNewConnections, tls } = this.options;
        this.client = new Http2Transport(this.origin, { connectTimeoutMs: ms, maxConnections, maxNewConnections, tls, socket });
      } else {
        socket.destroy();
        this.client = new UpstreamPool(this.origin, this.options);
      }
      const now = Date.now();
      for (const d of this.waiting.splice(0)) if (!d.aborted) d.inner = this.client.request(d.req, d.handler, now);
    });
  }

  /** Fail every waiting request as unsent, on the next tick. */
  private failWaiting(err: Error): void {
    for (const d of this.waiting.splice(0)) {
      if (!d.aborted) process.nextTick(() => d.handler.onUpstreamError(err, 'unsent', false));
    }
  }
}

/**
 * WebSocket (HTTP Upgrade) requests: routed and held like any request, then handed to http-proxy,
 * which pipes the two sockets. The connection counts as one request in flight for its lifetime.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type HttpProxy from 'http-proxy';
import type { SluiceError } from '../errors.js';
import type { Endpoint } from '../core/endpoint.js';
import { pickEndpoint } from './balancer.js';
import type { ExchangeContext } from './exchange.js';
import type { HoldNode } from './hold-queue.js';
import { PROXIED_HEADER } from './headers.js';
import { sendSocketError, errors } from './respond.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';

let proxy: HttpProxy | undefined;

/** http-proxy, loaded with the first upgrade: a gateway that never sees a WebSocket never holds it. */
function wsProxy(): HttpProxy {
  if (proxy !== undefined) return proxy;
  const httpProxy = createRequire(import.meta.url)('http-proxy') as typeof HttpProxy;
  proxy = httpProxy.createProxyServer({ xfwd: true, ws: true });
  // Errors are reported per call (the callback in send); this keeps an unexpected one from crashing.
  proxy.on('error', () => {});
  proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader(PROXIED_HEADER, '1'));
  return proxy;
}

export class UpgradeExchange implements HeldRequest {
  private node: HoldNode<Held> | undefined;
  private endpoint: Endpoint | undefined;
  private done = false;

  constructor(
    private readonly ctx: ExchangeContext,
    private readonly rev: RevisionRuntime,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    private readonly startedAt: number,
  ) {
    socket.once('close', this.onClose);
    socket.on('error', () => {}); // a reset client socket ends up in onClose
  }

  start(now: number): void {
    const endpoint = pickEndpoint(this.rev.endpoints, this.rev.spec.containerConcurrency);
    if (endpoint !== undefined) this.send(endpoint);
    else this.node = this.ctx.activator.hold(this.rev, this, now);
  }

  send(endpoint: Endpoint): void {
    this.node = undefined;
    if (this.socket.destroyed) return this.finish(0);
    this.endpoint = endpoint;
    endpoint.inflight++;
    this.rev.stats.begin();
    wsProxy().ws(this.req, this.socket, this.head, { target: endpoint.origin }, (err) => {
      sendSocketError(this.socket, errors.unreachable(err), this.rev.service, this.rev.name);
    });
  }

  fail(err: SluiceError): void {
    this.node = undefined;
    sendSocketError(this.socket, err, this.rev.service, this.rev.name);
    this.finish(err.status);
  }

  private readonly onClose = (): void => {
    if (this.node !== undefined) {
      this.ctx.activator.leave(this.rev, this.node);
      this.node = undefined;
      return this.finish(0);
    }
    if (this.endpoint !== undefined) {
      const endpoint = this.endpoint;
      this.endpoint = undefined;
      endpoint.inflight--;
      this.rev.stats.end();
      this.finish(101);
      this.ctx.released(this.rev, Date.now());
    }
  };

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    const now = Date.now();
    this.rev.stats.record(status, (now - this.startedAt) / 1000, now);
  }
}

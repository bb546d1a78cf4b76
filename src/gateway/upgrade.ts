/**
 * WebSocket (HTTP Upgrade) requests: routed and held like any request, then handed to http-proxy,
 * which pipes the two sockets. The connection counts as one request in flight for its lifetime.
 * An endpoint reached over TLS (transport-choice.ts) gets the upgrade over TLS too, verified as
 * its requests are; the upgrade itself is HTTP/1.1 whatever the revision's protocol.
 */
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type HttpProxy from 'http-proxy';
import type { UpstreamTls } from '../config/upstream-tls.js';
import type { SluiceError } from '../errors.js';
import { chooseTransport } from '../upstream/transport-choice.js';
import type { Endpoint } from '../core/endpoint.js';
import { pickEndpoint } from './balancer.js';
import type { ExchangeContext } from './exchange.js';
import type { HoldNode } from './hold-queue.js';
import { PROXIED_HEADER } from './headers.js';
import { sendSocketError, errors } from './respond.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';
import { leaveEndpoint, recordOutcome } from './request-end.js';

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
    const spec = this.rev.spec;
    const tls = chooseTransport(endpoint.origin, spec.protocol, spec.upstreamTls).tls;
    const target = tls === undefined ? { target: endpoint.origin } : secureTarget(endpoint.origin, tls);
    wsProxy().ws(this.req, this.socket, this.head, target, (err) => {
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
      this.finish(101);
      leaveEndpoint(this.ctx, this.rev, endpoint);
    }
  };

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    recordOutcome(this.rev, status, this.startedAt);
  }
}

/**
 * http-proxy options for an upgrade over TLS: the CA, client certificate and name to verify go in
 * an agent (http-proxy passes no server name, and would take the client's Host for one).
 */
function secureTarget(origin: string, tls: UpstreamTls): HttpProxy.ServerOptions {
  const url = new URL(origin);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  // '' sends no SNI and verifies the certificate against the host (an IP's IP names).
  const servername = tls.serverName ?? (isIP(host) === 0 ? host : '');
  return {
    target: { protocol: 'https:', host, port: url.port === '' ? 443 : Number(url.port) },
    agent: new HttpsAgent({ ca: tls.ca, cert: tls.cert, key: tls.key, servername }),
  };
}

/**
 * The data port: counts a request as proxied when it came through a Sluice gateway, then hands it
 * to the gateway's own listener (breaker, forwarder, errors). It also keeps the set of open
 * responses, so that stopping can tell each in-flight one to close its connection when done.
 *
 * Per request: one pass over the raw header names, one Set add and delete, one 'close' listener
 * (shared, no closure); a proxied request adds two O(1) RevisionStats updates.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Gateway } from '../gateway/gateway.js';
import type { RevisionStats } from '../stats/revision-stats.js';
import { QueueProxyResponse } from './response.js';
import { isProxied } from './stats.js';

export class DataPort {
  readonly server: Server<typeof IncomingMessage, typeof QueueProxyResponse>;
  private readonly open = new Set<QueueProxyResponse>();
  private readonly onResponseClose: (this: QueueProxyResponse) => void;
  private stopping = false;

  constructor(
    private readonly gateway: Gateway,
    private readonly proxied: RevisionStats,
  ) {
    const open = this.open;
    this.onResponseClose = function (this: QueueProxyResponse) {
      open.delete(this);
      if (this.proxiedAt !== 0) {
        const now = Date.now();
        proxied.record(this.writableFinished ? this.statusCode : 0, (now - this.proxiedAt) / 1000, now);
      }
    };
    // requestTimeout 0: a request may wait for a slot as long as its deadline allows (the gateway enforces it).
    this.server = createServer(
      { ServerResponse: QueueProxyResponse, requestTimeout: 0, keepAliveTimeout: 65_000 },
      this.onRequest,
    );
    this.server.on('upgrade', this.onUpgrade);
  }

  /** Responses not yet closed (waiting for a slot, at the app, or still flushing to the client). */
  get openResponses(): number {
    return this.open.size;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /**
   * No new connections; idle keep-alive connections close now, and every open response closes its
   * connection once sent (`Connection: close`), so no client reuses a connection about to go away.
   */
  stopAccepting(): void {
    this.stopping = true;
    this.server.close();
    for (const res of this.open) if (!res.headersSent) res.shouldKeepAlive = false;
    this.server.closeIdleConnections();
  }

  /**
   * Resolves once every open response has closed, or at `deadline` (ms); true when all closed.
   * Connections that go idle meanwhile (a streamed response whose head went out before the port
   * stopped accepting keeps its keep-alive) are closed as they appear.
   */
  async settled(deadline: number): Promise<boolean> {
    for (;;) {
      this.server.closeIdleConnections();
      if (this.open.size === 0 || Date.now() >= deadline) return this.open.size === 0;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Cut whatever is left (after the drain timeout). */
  closeAllConnections(): void {
    this.server.closeAllConnections();
  }

  private readonly onRequest = (req: IncomingMessage, res: QueueProxyResponse): void => {
    // Arrived on a connection that was busy when the port stopped accepting (a client that has not
    // caught up yet): served like any other, and its connection closes after the answer.
    if (this.stopping) res.shouldKeepAlive = false;
    this.open.add(res);
    res.on('close', this.onResponseClose);
    if (isProxied(req.rawHeaders)) {
      const now = Date.now();
      res.proxiedAt = now;
      this.proxied.arrive(now);
    }
    this.gateway.handle(req, res);
  };

  /** A WebSocket counts as one request for its lifetime, as in the gateway's stats. */
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (isProxied(req.rawHeaders)) {
      const proxied = this.proxied;
      const at = Date.now();
      proxied.arrive(at);
      socket.once('close', () => {
        const now = Date.now();
        proxied.record(101, (now - at) / 1000, now);
      });
    }
    this.gateway.handleUpgrade(req, socket, head);
  };
}

/**
 * The data port: counts a request as proxied when it came through a Sluice gateway, then hands it
 * to the gateway's own listener (breaker, forwarder, errors). It also keeps the set of open
 * responses, so that stopping can wait for them. The same server as the gateway's data port
 * (src/downstream: its own HTTP/1.1 server, or node:http when that is chosen).
 *
 * Per request: one pass over the raw header names, one Map set and delete; a proxied request adds
 * two O(1) RevisionStats updates.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  createDataPortServer,
  type DataPortKind,
  type DataPortRequest,
  type DataPortResponse,
  type DataPortServer,
} from '../downstream/data-port-server.js';
import type { Gateway } from '../gateway/gateway.js';
import type { RevisionStats } from '../stats/revision-stats.js';
import { isProxied } from './stats.js';

export class DataPort {
  readonly server: DataPortServer;
  /** Open responses, each with the arrival (ms) of a request that carried `sluice-proxied`, 0 for one that did not. */
  private readonly open = new Map<DataPortResponse, number>();

  constructor(
    private readonly gateway: Gateway,
    private readonly proxied: RevisionStats,
    kind: DataPortKind,
  ) {
    this.server = createDataPortServer(kind, { request: this.onRequest, upgrade: this.onUpgrade, closed: this.onResponseClosed });
  }

  /** Responses not yet closed (waiting for a slot, at the app, or still flushing to the client). */
  get openResponses(): number {
    return this.open.size;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return this.server.listen(port, host);
  }

  /**
   * No new connections; idle keep-alive connections close now, and every open response closes its
   * connection once sent (`Connection: close` when its head is still to go), so no client reuses a
   * connection about to go away.
   */
  stopAccepting(): void {
    void this.server.close();
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

  /** A request that arrives on a busy connection after the port stopped accepting is served, and its connection closes after it. */
  private readonly onRequest = (req: DataPortRequest, res: DataPortResponse): void => {
    let proxiedAt = 0;
    if (isProxied(req.rawHeaders)) {
      proxiedAt = Date.now();
      this.proxied.arrive(proxiedAt);
    }
    this.open.set(res, proxiedAt);
    this.gateway.handle(req, res);
  };

  private readonly onResponseClosed = (res: DataPortResponse): void => {
    const proxiedAt = this.open.get(res);
    this.open.delete(res);
    if (proxiedAt !== undefined && proxiedAt !== 0) {
      const now = Date.now();
      this.proxied.record(res.writableFinished ? res.statusCode : 0, (now - proxiedAt) / 1000, now);
    }
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

/**
 * Kept-alive HTTP/1.1 connections to one endpoint origin (`http://host:port`, or `https://`).
 *
 * Idle connections are a stack, so the warmest is reused first and the rest age out: one that sat
 * idle past its keep-alive allowance is closed when it is reached rather than risk a request on a
 * socket the endpoint is closing. There is no cap on connections: the balancer already bounds what
 * is in flight per endpoint (containerConcurrency) and a request never waits for a socket.
 * Cost of `request` on a warm pool: one pop, one comparison, then UpstreamConnection.send.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { UpstreamConnection, type ConnectionOwner, type UpstreamHandler, type UpstreamRequest } from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';

/** Where every plain-TCP upstream socket reads into; its bytes are parsed or copied before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface UpstreamPoolOptions {
  /** Give up on a connection attempt after this long, ms. Default 5000. */
  connectTimeoutMs?: number;
}

export class UpstreamPool implements ConnectionOwner {
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly connectTimeoutMs: number;
  private closed = false;

  constructor(origin: string, options: UpstreamPoolOptions = {}) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`upstream origin must be http or https, got "${origin}"`);
    this.tls = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? (this.tls ? 443 : 80) : Number(url.port);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  /** Connections open now (idle or busy). */
  get size(): number {
    return this.open.size;
  }

  /**
   * Sends `req` on an idle connection or a new one; returns the connection so the caller can
   * `resume()` or `abort()` it. Outcomes arrive on `handler`, never synchronously.
   */
  request(req: UpstreamRequest, handler: UpstreamHandler, now: number): UpstreamConnection {
    if (this.closed) throw new UpstreamError('UPSTREAM_ABORTED', 'connection pool is closed');
    let conn: UpstreamConnection | undefined;
    while ((conn = this.idle.pop()) !== undefined) {
      if (now - conn.idleSince < conn.keepAliveMs && conn.usable) break;
      conn.destroy(new UpstreamError('UPSTREAM_ABORTED', 'idle past its keep-alive'));
    }
    conn ??= this.connect();
    conn.send(req, handler);
    return conn;
  }

  /** Stop reusing connections: idle ones close now, busy ones when their response ends. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.destroy(new UpstreamError('UPSTREAM_ABORTED', 'connection pool closed'));
  }

  /** Close every connection now; requests on them fail with UPSTREAM_ABORTED. */
  destroy(): void {
    this.close();
    for (const conn of [...this.open]) conn.destroy(new UpstreamError('UPSTREAM_ABORTED', 'connection pool destroyed'));
  }

  // --- ConnectionOwner ---

  release(conn: UpstreamConnection): void {
    if (this.closed || conn.keepAliveMs === 0) return conn.destroy(new UpstreamError('UPSTREAM_ABORTED', 'not reusable'));
    conn.idleSince = Date.now();
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    if (!this.open.delete(conn)) return;
    const i = this.idle.lastIndexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private connect(): UpstreamConnection {
    let socket: Socket;
    let conn: UpstreamConnection;
    if (this.tls) {
      socket = tlsConnect({
        host: this.host,
        port: this.port,
        servername: isIP(this.host) === 0 ? this.host : undefined,
        ALPNProtocols: ['http/1.1'],
      });
      socket.setNoDelay(true);
      conn = new UpstreamConnection(socket, this, this.connectTimeoutMs, 'secureConnect', false);
    } else {
      // Reads land in one shared buffer and go straight to the parser: no Buffer per read and no
      // stream machinery ('data' events) between the socket and the parser.
      socket = netConnect({ host: this.host, port: this.port, onread: { buffer: READ_BUFFER, callback: (n) => conn.received(n, READ_BUFFER) } });
      socket.setNoDelay(true);
      conn = new UpstreamConnection(socket, this, this.connectTimeoutMs, 'connect', true);
    }
    this.open.add(conn);
    return conn;
  }
}

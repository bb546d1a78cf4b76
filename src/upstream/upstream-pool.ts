/**
 * Kept-alive HTTP/1.1 connections to one endpoint origin (`http://host:port`, or over TLS: an
 * `https://` origin or `tls` settings), bounded two ways:
 *
 *  - at most `maxConnections` open at once, idle and busy;
 *  - at most `maxNewConnections` not yet answered on. A connection the endpoint has never answered
 *    on may still sit in its listen backlog, unaccepted; a burst released at a cold start that
 *    opened thousands at once would overflow that backlog (Node's is 511) and the kernel would
 *    reset the overflow. Once the endpoint answers on a connection it has accepted it.
 *
 * A request beyond either bound waits, in arrival order, for a connection to come free or for room
 * to open one; it never fails for want of a socket. Idle connections are a stack, so the warmest
 * is reused first and the rest age out: one that sat idle past its keep-alive allowance is closed
 * when it is reached rather than risk a request on a socket the endpoint is closing.
 *
 * Cost of `request` on a warm pool: one pop, one comparison, then UpstreamConnection.send.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { UpstreamTls } from '../config/upstream-tls.js';
import { connectTls, tlsTarget, type TlsTarget } from './tls-connect.js';
import {
  UpstreamConnection,
  type ConnectionOwner,
  type UpstreamCall,
  type UpstreamHandler,
  type UpstreamRequest,
} from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';
import { WaitingLine } from './waiting-line.js';

/** Where every plain-TCP upstream socket reads into; its bytes are parsed or copied before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface UpstreamPoolOptions {
  /** Give up on a connection attempt after this long, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Connections open at once, idle and busy. Default 1000. */
  maxConnections?: number;
  /** Connections opened and not yet answered on. Default 100, a fifth of Node's listen backlog. */
  maxNewConnections?: number;
  /** TLS to the endpoint (CA, name to verify, client certificate), whatever the origin's scheme. An https origin without it: system CAs. */
  tls?: UpstreamTls | undefined;
}

export const DEFAULT_MAX_CONNECTIONS = 1000;
export const DEFAULT_MAX_NEW_CONNECTIONS = 100;

/** A request waiting for a connection: the call its handler holds until it is sent. */
class Waiter implements UpstreamCall {
  conn: UpstreamConnection | undefined;
  done = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  resume(): void {
    this.conn?.resume();
  }

  abort(): void {
    if (this.conn !== undefined) return this.conn.abort();
    this.done = true;
    clearTimeout(this.timer);
  }
}

export class UpstreamPool implements ConnectionOwner {
  private readonly idle: UpstreamConnection[] = [];
  private readonly open = new Set<UpstreamConnection>();
  /** Open connections not yet answered on. */
  private fresh = 0;
  /** Requests waiting for a connection, oldest first; done ones are skipped. */
  private readonly waiting = new WaitingLine<Waiter>();
  private readonly host: string;
  private readonly port: number;
  /** Set when connections are TLS. */
  private readonly tls: TlsTarget | undefined;
  private readonly connectTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxNewConnections: number;
  private closed = false;

  constructor(origin: string, options: UpstreamPoolOptions = {}) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`upstream origin must be http or https, got "${origin}"`);
    const https = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
    const tls = options.tls ?? (https ? {} : undefined);
    this.tls = tls === undefined ? undefined : tlsTarget(this.host, this.port, tls);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxNewConnections = Math.min(options.maxNewConnections ?? DEFAULT_MAX_NEW_CONNECTIONS, this.maxConnections);
  }

  /** Connections open now (idle or busy). */
  get size(): number {
    return this.open.size;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.waiting.count((waiter) => !waiter.done);
  }

  /**
   * Sends `req` on an idle connection or a new one, or queues it until one is free; returns the
   * call so the caller can `resume()` or `abort()` it. Outcomes arrive on `handler`, never
   * synchronously.
   */
  request(req: UpstreamRequest, handler: UpstreamHandler, now: number): UpstreamCall {
    if (this.closed) throw new UpstreamError('UPSTREAM_ABORTED', 'connection pool is closed');
    while (this.waiting.peek()?.done === true) this.waiting.shift();
    if (this.waiting.empty) {
      const conn = this.idleConnection(now) ?? this.newConnection();
      if (conn !== undefined) {
        conn.send(req, handler);
        return conn;
      }
    }
    const waiter = new Waiter(req, handler);
    this.waiting.push(waiter);
    waiter.timer = setTimeout(() => this.expire(waiter), req.timeoutMs);
    waiter.timer.unref();
    return waiter;
  }

  /** Stop reusing connections: idle ones close now, busy ones when their response ends; waiting requests fail unsent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.destroy(new UpstreamError('UPSTREAM_ABORTED', 'connection pool closed'));
    this.failWaiting(new UpstreamError('UPSTREAM_ABORTED', 'connection pool closed'));
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
    if (!this.waiting.empty) this.dispatch();
  }

  answered(conn: UpstreamConnection): void {
    if (!this.open.has(conn)) return;
    this.fresh--;
    if (!this.waiting.empty) this.dispatch();
  }

  forget(conn: UpstreamConnection, connectError?: Error): void {
    if (!this.open.delete(conn)) return;
    if (!conn.answeredOnce) this.fresh--;
    const i = this.idle.lastIndexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.waiting.empty) return;
    // The endpoint refuses connections and none is left to wait for: nothing will come free.
    if (connectError !== undefined && this.open.size === 0) this.failWaiting(connectError);
    else this.dispatch();
  }

  // --- internals ---

  /** The warmest idle connection still within its keep-alive allowance. */
  private idleConnection(now: number): UpstreamConnection | undefined {
    let conn: UpstreamConnection | undefined;
    while ((conn = this.idle.pop()) !== undefined) {
      if (now - conn.idleSince < conn.keepAliveMs && conn.usable) return conn;
      conn.destroy(new UpstreamError('UPSTREAM_ABORTED', 'idle past its keep-alive'));
    }
    return undefined;
  }

  /** A new connection when both bounds allow one. */
  private newConnection(): UpstreamConnection | undefined {
    if (this.open.size >= this.maxConnections || this.fresh >= this.maxNewConnections) return undefined;
    return this.connect();
  }

  /** Send waiting requests, oldest first, while connections are free or may be opened. */
  private dispatch(): void {
    if (this.closed) return;
    const now = Date.now();
    for (let waiter = this.waiting.peek(); waiter !== undefined; waiter = this.waiting.peek()) {
      if (waiter.done) {
        this.waiting.shift();
        continue;
      }
      const conn = this.idleConnection(now) ?? this.newConnection();
      if (conn === undefined) return;
      this.waiting.shift();
      waiter.done = true;
      clearTimeout(waiter.timer);
      waiter.conn = conn;
      conn.send(waiter.req, waiter.handler);
    }
  }

  /** Fail every waiting request as unsent (they may go to another endpoint), on the next tick. */
  private failWaiting(err: Error): void {
    for (const waiter of this.waiting.takeAll()) {
      if (waiter.done) continue;
      waiter.done = true;
      clearTimeout(waiter.timer);
      process.nextTick(() => waiter.handler.onUpstreamError(err, 'unsent', false));
    }
  }

  private readonly expire = (waiter: Waiter): void => {
    if (waiter.done) return;
    waiter.done = true;
    waiter.handler.onUpstreamError(
      new UpstreamError('UPSTREAM_TIMEOUT', `no connection to the endpoint came free within ${waiter.req.timeoutMs} ms`),
      'unsent',
      false,
    );
  };

  private connect(): UpstreamConnection {
    let socket: Socket;
    let conn: UpstreamConnection;
    if (this.tls !== undefined) {
      socket = connectTls(this.tls, ['http/1.1']);
      socket.setNoDelay(true);
      conn = new UpstreamConnection(socket, this, this.connectTimeoutMs, 'secureConnect', false);
    } else {
      // Reads land in one shared buffer and go straight to the parser: no Buffer per read and no
      // stream machinery ('data' events) between the socket and the parser.
      socket = netConnect({
        host: this.host,
        port: this.port,
        onread: { buffer: READ_BUFFER, callback: (n) => conn.received(n, READ_BUFFER) },
      });
      socket.setNoDelay(true);
      conn = new UpstreamConnection(socket, this, this.connectTimeoutMs, 'connect', true);
    }
    this.open.add(conn);
    this.fresh++;
    return conn;
  }
}

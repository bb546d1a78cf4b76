/**
 * HTTP/2 to one endpoint — h2c (cleartext, prior knowledge) or h2 (TLS, ALPN "h2"): one session
 * carrying many streams. Streams start once the endpoint's SETTINGS have arrived, and at most as
 * many are open as its SETTINGS_MAX_CONCURRENT_STREAMS allows; requests beyond wait, in arrival
 * order, each for at most its timeout. A session that goes away (GOAWAY, or its connection closed)
 * takes no new stream; its open streams finish or fail on their own (http2-call.ts), and requests
 * still waiting get a new session — unless it went away before serving anything (refused, not
 * HTTP/2, closed at once), when they fail unsent and the gateway sends them elsewhere.
 *
 * Cost of `request` with a standing session: one header block, one `session.request`.
 */
import { connect as netConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { UpstreamTls } from '../config/upstream-tls.js';
import { Http2Call } from './http2-call.js';
import { EndpointSession, type SessionOwner } from './http2-session.js';
import { connectTls, tlsTarget, type TlsTarget } from './tls-connect.js';
import type { UpstreamCall, UpstreamHandler, UpstreamRequest } from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';
import { WaitingLine } from './waiting-line.js';

export interface Http2TransportOptions {
  /** Give up on a session that has not stood (connected, SETTINGS received) after this long, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Over TLS (h2); without it, h2c. */
  tls?: UpstreamTls | undefined;
  /** A TLS socket that already agreed on h2 by ALPN (protocol auto): the first session runs on it. */
  socket?: TLSSocket;
}

export class Http2Transport implements SessionOwner {
  /** The session new streams go to (none until the first request, or after one went away). */
  private session: EndpointSession | undefined;
  /** Every session not yet closed, the one going away included. */
  private readonly sessions = new Set<EndpointSession>();
  /** Requests waiting for room, oldest first; done ones are skipped. */
  private readonly waiting = new WaitingLine<Http2Call>();
  private readonly host: string;
  private readonly port: number;
  private readonly authority: string;
  private readonly scheme: 'http' | 'https';
  private readonly tls: TlsTarget | undefined;
  private readonly connectTimeoutMs: number;
  private socket: TLSSocket | undefined;
  private closed = false;

  constructor(origin: string, options: Http2TransportOptions = {}) {
    const url = new URL(origin);
    const https = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
    this.authority = url.host;
    const tls = options.tls ?? (https ? {} : undefined);
    this.tls = tls === undefined ? undefined : tlsTarget(this.host, this.port, tls);
    this.scheme = tls === undefined ? 'http' : 'https';
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.socket = options.socket;
  }

  /** Sessions not yet closed (one, or two while one goes away). */
  get size(): number {
    return this.sessions.size;
  }

  /** Sends `req` on a stream now or when there is room; outcomes arrive on `handler`, never synchronously. */
  request(req: UpstreamRequest, handler: UpstreamHandler): UpstreamCall {
    if (this.closed) throw new UpstreamError('UPSTREAM_ABORTED', 'connection pool is closed');
    const call = new Http2Call(req, handler, this);
    const session = this.session ?? this.open();
    if (this.waiting.empty && session.room) {
      call.start(session, this.scheme);
    } else {
      this.waiting.push(call);
      call.timer = setTimeout(() => this.expire(call), req.timeoutMs);
      call.timer.unref();
    }
    return call;
  }

  /** Stop taking requests: waiting ones fail unsent, open streams finish, then the sessions close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session = undefined;
    this.socket?.destroy();
    this.failWaiting(new UpstreamError('UPSTREAM_ABORTED', 'connection pool closed'));
    for (const session of this.sessions) session.h2.close();
  }

  /** Close every session now; requests on them fail with UPSTREAM_ABORTED. */
  destroy(): void {
    this.close();
    for (const session of [...this.sessions]) session.h2.destroy(new UpstreamError('UPSTREAM_ABORTED', 'connection pool destroyed'));
  }

  // --- SessionOwner, StreamOwner ---

  sessionReady(session: EndpointSession): void {
    if (session === this.session) this.dispatch(session);
  }

  sessionGone(session: EndpointSession, connectError: Error | undefined): void {
    if (session !== this.session) return;
    this.session = undefined;
    if (this.closed || this.waiting.empty) return;
    if (connectError !== undefined) return this.failWaiting(connectError);
    if (session.served === 0) {
      const why = session.error === undefined ? '' : ` (${session.error.message})`;
      return this.failWaiting(new UpstreamError('UPSTREAM_CLOSED', `endpoint closed the HTTP/2 session before answering on it${why}`));
    }
    this.open();
  }

  sessionClosed(session: EndpointSession): void {
    this.sessions.delete(session);
  }

  streamClosed(session: EndpointSession): void {
    session.active--;
    if (session === this.session && !this.waiting.empty) this.dispatch(session);
  }

  // --- internals ---

  private open(): EndpointSession {
    let socket = this.socket;
    this.socket = undefined;
    if (socket === undefined && this.tls !== undefined) socket = connectTls(this.tls, ['h2']);
    const session = new EndpointSession(
      this,
      this.authority,
      socket ?? netConnect({ host: this.host, port: this.port }),
      this.connectTimeoutMs,
    );
    this.session = session;
    this.sessions.add(session);
    return session;
  }

  /** Start waiting requests, oldest first, while the session has room. */
  private dispatch(session: EndpointSession): void {
    while (!this.waiting.empty && session.room) {
      const call = this.waiting.shift()!;
      if (!call.done) call.start(session, this.scheme);
    }
  }

  /** Fail every waiting request as unsent (they may go to another endpoint), on the next tick. */
  private failWaiting(err: Error): void {
    for (const call of this.waiting.takeAll()) {
      if (call.done) continue;
      call.done = true;
      process.nextTick(() => call.failUnsent(err));
    }
  }

  private expire(call: Http2Call): void {
    if (call.done) return;
    call.failUnsent(new UpstreamError('UPSTREAM_TIMEOUT', `no room on the endpoint's HTTP/2 session within ${call.req.timeoutMs} ms`));
  }
}

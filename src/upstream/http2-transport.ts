/**
 * HTTP/2 to one endpoint — h2c (cleartext, prior knowledge) or h2 (TLS, ALPN "h2"): sessions carrying
 * many streams each, as Go's and Envoy's HTTP/2 pools keep them. Streams start once a session's
 * SETTINGS have arrived, at most as many on it as the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS;
 * requests beyond wait, in arrival order, each for at most its timeout. When every standing session
 * is full and requests wait, another session is opened, up to `maxConnections` standing and
 * `maxNewConnections` connecting at once; an extra session idle for the pool's keep-alive allowance
 * is closed, so a burst's sessions go once it has passed and one stays.
 *
 * A session that goes away (GOAWAY, or its connection closed) takes no new stream; its open streams
 * finish or fail on their own (http2-call.ts), and requests still waiting go to the other sessions
 * or a new one — unless it went away before serving anything (refused, not HTTP/2, closed at once)
 * and no other session stands, when they fail unsent and the gateway sends them elsewhere.
 *
 * Cost of `request` when the oldest standing session has room: one array read, one header block,
 * one `session.request`.
 */
import { connect as netConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { UpstreamTls } from '../config/upstream-tls.js';
import { Http2Call } from './http2-call.js';
import { EndpointSession, type SessionOwner } from './http2-session.js';
import { connectTls, tlsTarget, type TlsTarget } from './tls-connect.js';
import { DEFAULT_KEEP_ALIVE_MS, type UpstreamCall, type UpstreamHandler, type UpstreamRequest } from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';
import { WaitingLine } from './waiting-line.js';

export interface Http2TransportOptions {
  /** Give up on a session that has not stood (connected, SETTINGS received) after this long, ms. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Sessions that take new streams, at most; one going away finishes its streams outside the count.
   * Default 1: one session, requests beyond its streams wait.
   */
  maxConnections?: number;
  /** Sessions opened and not yet standing (no SETTINGS yet), at most. Default 100, capped at maxConnections. */
  maxNewConnections?: number;
  /** An extra session with no stream for this long is closed, ms. Default the HTTP/1.1 pool's keep-alive allowance, 4000. */
  idleMs?: number;
  /** Over TLS (h2); without it, h2c. */
  tls?: UpstreamTls | undefined;
  /** A TLS socket that already agreed on h2 by ALPN (protocol auto): the first session runs on it. */
  socket?: TLSSocket;
}

/**
 * Streams a session is counted on before its SETTINGS say, when no session of the endpoint has
 * stood yet: RFC 9113 §6.5.2 recommends no less than 100, and Go's transport assumes 100 too.
 */
const ASSUMED_STREAMS = 100;

export class Http2Transport implements SessionOwner {
  /**
   * Sessions that take new streams (connecting or standing), oldest first. New streams go to the
   * oldest with room: load gathers on the first sessions, so extra ones fall idle and close after a
   * burst, as the HTTP/1.1 pool's warmest-first stack lets its extra connections age out — and the
   * usual case looks at one session only.
   */
  private readonly standing: EndpointSession[] = [];
  /** Sessions opened whose SETTINGS have not arrived. */
  private readonly connecting = new Set<EndpointSession>();
  /** Every session not yet closed, those going away included. */
  private readonly sessions = new Set<EndpointSession>();
  /** Idle timers of extra sessions, one each, re-armed (refresh) rather than made anew. */
  private readonly idleTimers = new Map<EndpointSession, NodeJS.Timeout>();
  /** Requests waiting for room, oldest first; done ones are skipped. */
  private readonly waiting = new WaitingLine<Http2Call>();
  /** The endpoint's SETTINGS_MAX_CONCURRENT_STREAMS as its last standing session said. */
  private peerStreams = ASSUMED_STREAMS;
  private readonly host: string;
  private readonly port: number;
  private readonly authority: string;
  private readonly scheme: 'http' | 'https';
  private readonly tls: TlsTarget | undefined;
  private readonly connectTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxNewConnections: number;
  private readonly idleMs: number;
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
    this.maxConnections = Math.max(1, options.maxConnections ?? 1);
    this.maxNewConnections = Math.max(1, Math.min(options.maxNewConnections ?? 100, this.maxConnections));
    this.idleMs = options.idleMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.socket = options.socket;
  }

  /** Sessions not yet closed (those going away included). */
  get size(): number {
    return this.sessions.size;
  }

  /** Sends `req` on a stream now or when there is room; outcomes arrive on `handler`, never synchronously. */
  request(req: UpstreamRequest, handler: UpstreamHandler): UpstreamCall {
    if (this.closed) throw new UpstreamError('UPSTREAM_ABORTED', 'connection pool is closed');
    const call = new Http2Call(req, handler, this);
    const oldest = this.standing[0] ?? this.open();
    if (this.waiting.empty) {
      const session = oldest.room ? oldest : this.withRoom();
      if (session !== undefined) {
        call.start(session, this.scheme);
        return call;
      }
    }
    this.waiting.push(call);
    call.timer = setTimeout(() => this.expire(call), req.timeoutMs);
    call.timer.unref();
    this.grow();
    return call;
  }

  /** Stop taking requests: waiting ones fail unsent, open streams finish, then the sessions close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.standing.length = 0;
    this.connecting.clear();
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
    if (session.gone || this.closed) return;
    this.connecting.delete(session);
    this.peerStreams = session.h2.remoteSettings.maxConcurrentStreams ?? ASSUMED_STREAMS;
    if (!this.waiting.empty) this.dispatch();
    // Opened for requests others took meanwhile: idle from the start.
    if (session.active === 0 && this.standing.length > 1) this.idleFor(session);
  }

  sessionGone(session: EndpointSession, connectError: Error | undefined): void {
    this.connecting.delete(session);
    const i = this.standing.indexOf(session);
    if (i < 0) return;
    this.standing.splice(i, 1);
    if (this.closed || this.waiting.empty) return;
    if (connectError !== undefined || session.served === 0) {
      // Another session may still take them; without one, the endpoint cannot, for now.
      if (this.standing.length > 0) return;
      if (connectError !== undefined) return this.failWaiting(connectError);
      const why = session.error === undefined ? '' : ` (${session.error.message})`;
      return this.failWaiting(new UpstreamError('UPSTREAM_CLOSED', `endpoint closed the HTTP/2 session before answering on it${why}`));
    }
    this.dispatch();
  }

  sessionClosed(session: EndpointSession): void {
    this.sessions.delete(session);
    clearTimeout(this.idleTimers.get(session));
    this.idleTimers.delete(session);
  }

  streamClosed(session: EndpointSession): void {
    session.active--;
    if (session.gone || this.closed) return;
    if (!this.waiting.empty) this.fill(session);
    else if (session.active === 0 && this.standing.length > 1) this.idleFor(session);
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
    this.standing.push(session);
    this.connecting.add(session);
    this.sessions.add(session);
    return session;
  }

  /** The oldest standing session with room past the first, or undefined. O(sessions). */
  private withRoom(): EndpointSession | undefined {
    for (let i = 1; i < this.standing.length; i++) if (this.standing[i]!.room) return this.standing[i];
    return undefined;
  }

  /**
   * Open sessions while more requests wait than the connecting ones are expected to take (the
   * endpoint's stream limit each), within both bounds. Limit 2, 6 waiting, none connecting → opens
   * until 3 connect (6 ≤ 3 × 2), or maxConnections is reached. A waiting request given up on still
   * counts until it reaches the head of the line: at worst one session too many, which idles out.
   */
  private grow(): void {
    if (this.closed) return;
    const waiting = this.waiting.length;
    while (
      waiting > this.connecting.size * this.peerStreams &&
      this.standing.length < this.maxConnections &&
      this.connecting.size < this.maxNewConnections
    ) {
      this.open();
    }
  }

  /** Start waiting requests, oldest first, on the oldest sessions with room; open more if some still wait. */
  private dispatch(): void {
    for (const session of this.standing) {
      this.fill(session);
      if (this.waiting.empty) return;
    }
    this.grow();
  }

  /** Start waiting requests, oldest first, while `session` has room. */
  private fill(session: EndpointSession): void {
    while (!this.waiting.empty && session.room) {
      const call = this.waiting.shift()!;
      if (!call.done) call.start(session, this.scheme);
    }
  }

  /**
   * An extra session fell idle: closed once it has had no stream for `idleMs`, if another still
   * stands by then. Re-arming one timer per session (refresh) allocates nothing per request; when
   * it fires the session has had no stream since the last time it fell idle, which was `idleMs` ago.
   */
  private idleFor(session: EndpointSession): void {
    const timer = this.idleTimers.get(session);
    if (timer !== undefined) {
      timer.refresh();
      return;
    }
    const created = setTimeout(() => this.closeIfIdle(session), this.idleMs);
    created.unref();
    this.idleTimers.set(session, created);
  }

  private closeIfIdle(session: EndpointSession): void {
    if (session.active > 0 || session.gone || this.closed || this.standing.length < 2) return;
    const i = this.standing.indexOf(session);
    if (i < 0) return;
    this.standing.splice(i, 1);
    session.h2.close();
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
    call.failUnsent(new UpstreamError('UPSTREAM_TIMEOUT', `no room on the endpoint's HTTP/2 sessions within ${call.req.timeoutMs} ms`));
  }
}

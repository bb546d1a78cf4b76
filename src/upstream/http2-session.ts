/**
 * One HTTP/2 session to an endpoint, as its transport sees it: ready once the endpoint's first
 * SETTINGS frame arrives (the preface answered, so it speaks HTTP/2), with room for a stream while
 * fewer are open than its SETTINGS_MAX_CONCURRENT_STREAMS; gone once a GOAWAY arrives or the
 * connection closes. A GOAWAY's last stream id is kept: a stream above it was never processed.
 */
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { UpstreamError } from './upstream-error.js';

/** What a session tells its transport. */
export interface SessionOwner {
  /** The endpoint's SETTINGS arrived (first or changed): streams may start. */
  sessionReady(session: EndpointSession): void;
  /** The session takes no new stream (GOAWAY, or closed); `connectError` when it never stood. */
  sessionGone(session: EndpointSession, connectError: Error | undefined): void;
  /** The session has closed: nothing of it is left. */
  sessionClosed(session: EndpointSession): void;
}

export class EndpointSession {
  readonly h2: ClientHttp2Session;
  /** The endpoint's first SETTINGS arrived. */
  ready = false;
  /** No new stream: a GOAWAY arrived, or the session closed. */
  gone = false;
  /** Streams open now, and responses completed on this session. */
  active = 0;
  served = 0;
  /** From a GOAWAY: streams with a higher id were not processed. */
  lastStreamId = Infinity;
  /** The session's error, when it failed with one. */
  error: Error | undefined;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param socket connecting (or, from an ALPN probe, already connected and agreed on h2); a TLS
   *   socket must agree on h2 by ALPN, else the session fails with UPSTREAM_PROTOCOL.
   */
  constructor(
    private readonly owner: SessionOwner,
    readonly authority: string,
    socket: Socket | TLSSocket,
    connectTimeoutMs: number,
  ) {
    const tls = 'encrypted' in socket;
    this.h2 = http2Connect(`${tls ? 'https' : 'http'}://${authority}`, {
      createConnection: () => socket,
      settings: { enablePush: false },
    });
    this.h2.on('remoteSettings', this.onSettings);
    this.h2.on('goaway', this.onGoaway);
    this.h2.on('error', this.onError);
    this.h2.on('close', this.onClose);
    // A TLS socket that fails after its handshake (TLS 1.3: the endpoint refused our certificate)
    // errors without closing, and the session would wait for its close forever.
    socket.on('error', () => socket.destroy());
    this.timer = setTimeout(() => this.connectTimedOut(connectTimeoutMs), connectTimeoutMs);
    this.timer.unref();
    if (tls) {
      const secure = socket;
      // null until the handshake is done; a probe's socket arrives done.
      if (secure.alpnProtocol === null || secure.alpnProtocol === undefined) secure.once('secureConnect', () => this.checkAlpn(secure));
      else this.checkAlpn(secure);
    }
  }

  /** Whether a stream may start now. */
  get room(): boolean {
    const h2 = this.h2;
    return this.ready && !this.gone && !h2.closed && !h2.destroyed && this.active < (h2.remoteSettings.maxConcurrentStreams ?? Infinity);
  }

  private checkAlpn(socket: TLSSocket): void {
    if (socket.alpnProtocol === 'h2') return;
    const agreed = socket.alpnProtocol === false ? 'none' : String(socket.alpnProtocol);
    this.h2.destroy(new UpstreamError('UPSTREAM_PROTOCOL', `endpoint did not agree to HTTP/2 over TLS (ALPN: ${agreed})`));
  }

  private leave(): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.timer);
    this.owner.sessionGone(this, this.ready ? undefined : (this.error ?? closedBeforeSettings()));
  }

  private readonly onSettings = (): void => {
    if (!this.ready) {
      this.ready = true;
      clearTimeout(this.timer);
    }
    if (!this.gone) this.owner.sessionReady(this);
  };

  private readonly onGoaway = (_code: number, lastStreamId: number): void => {
    this.lastStreamId = lastStreamId;
    this.leave();
  };

  private readonly onError = (err: Error): void => {
    this.error = this.ready ? err : connectFailure(err);
  };

  private readonly onClose = (): void => {
    this.leave();
    this.owner.sessionClosed(this);
  };

  private connectTimedOut(ms: number): void {
    this.h2.destroy(new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `no HTTP/2 session within ${ms} ms`));
  }
}

/**
 * An error before the session stood. Socket errors (ECONNREFUSED, a certificate refused) keep
 * their codes; an HTTP/2 protocol error this early means the endpoint does not speak HTTP/2.
 */
function connectFailure(err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (!code.startsWith('ERR_HTTP2')) return err;
  return new UpstreamError('UPSTREAM_PROTOCOL', `endpoint did not answer as HTTP/2 (${err.message}); is its protocol h2c or h2?`);
}

function closedBeforeSettings(): UpstreamError {
  return new UpstreamError('UPSTREAM_PROTOCOL', 'endpoint closed the connection before its HTTP/2 SETTINGS; is its protocol h2c or h2?');
}

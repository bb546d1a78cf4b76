/**
 * The data port's HTTP/2: node:http2 serves the sessions (framing, HPACK, flow control, SETTINGS),
 * and each stream goes to the gateway as a request (Http2StreamRequest) with its response
 * (Http2StreamResponse), through the same handler as an HTTP/1.1 request. Sockets arrive two ways,
 * served the same: an h2c connection handed over by a cleartext server (`serve`, H2cHandoff), and
 * a TLS socket whose ALPN is h2 (`serveSecure`, for the TLS listener). The node:http2 server here
 * never listens: it is the session factory (`emit('connection', socket)`).
 *
 * Limits (the config's `http2:` block): streams open at once per session (SETTINGS_MAX_CONCURRENT_
 * STREAMS: nghttp2 refuses more with REFUSED_STREAM), the header list size (SETTINGS_MAX_HEADER_
 * LIST_SIZE: a larger head gets RST_STREAM ENHANCE_YOUR_CALM), the idle timeout and the rapid-reset
 * rule (http2-session.ts). Every session and stream has an 'error' listener: a client's protocol
 * error ends its stream or session, never the process.
 *
 * WebSockets (RFC 8441): given a WebSocket handler, the sessions advertise
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, and a stream opened with an extended CONNECT for `websocket`
 * goes to that handler with the stream itself as the tunnel. Without one, nghttp2 answers a
 * `:protocol` with RST_STREAM PROTOCOL_ERROR.
 */
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { destroyWhenWritten } from './http2-late-destroy.js';
import { ClientSession, type SessionOwner } from './http2-session.js';
import { Http2StreamRequest, readBody, translateHead } from './http2-stream-request.js';
import { Http2StreamResponse } from './http2-stream-response.js';
import type { H2cHandoff } from './preface.js';
import { refusal } from './refusal.js';

/** Limits of every session; the composition root fills them from the config's `http2:` block. */
export interface Http2Limits {
  /** Streams a client may have open at once on one connection. */
  maxConcurrentStreams: number;
  /** Largest request header list, bytes as HTTP/2 counts them (name + value + 32 per field). */
  maxHeaderListSize: number;
  /** A session with no open stream for this long is closed with GOAWAY, ms. */
  idleTimeoutMs: number;
  /** Streams a client may reset within any second before its session is closed with GOAWAY ENHANCE_YOUR_CALM. */
  maxResetsPerSecond: number;
}

export type StreamHandler = (req: Http2StreamRequest, res: Http2StreamResponse) => void;

/**
 * A WebSocket opening (extended CONNECT): `req` reads as its GET (no body), `res` answers it (200
 * opens the tunnel), `tunnel` is the stream, whose DATA frames are the WebSocket's bytes both ways.
 */
export type WebSocketHandler = (req: Http2StreamRequest, res: Http2StreamResponse, tunnel: Duplex) => void;

/** Called when a client's session is closed for resetting too many streams (for the log). */
export type FloodListener = (remoteAddress: string | undefined, limit: number) => void;

const EMPTY = Buffer.alloc(0);

export class Http2Sessions implements H2cHandoff, SessionOwner {
  private readonly server: Http2Server;
  private readonly clients = new Set<ClientSession>();
  private closing = false;
  /** Resolves close() once the last session is gone. */
  private drained: (() => void) | undefined;
  /** The socket being handed to node:http2, for its 'session' event (which runs inside `emit('connection')`). */
  private arriving: Socket | undefined;

  constructor(
    private readonly handler: StreamHandler,
    private readonly limits: Http2Limits,
    private readonly onFlood?: FloodListener,
    /** Where WebSocket openings go; none: extended CONNECT is not advertised. */
    private readonly onWebSocket?: WebSocketHandler,
  ) {
    this.server = createServer({
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderListSize,
        enableConnectProtocol: onWebSocket !== undefined,
      },
    });
    this.server.on('session', this.onSession);
  }

  /** Open sessions. */
  get sessionCount(): number {
    return this.clients.size;
  }

  /**
   * Serve HTTP/2 on a connected socket; `head`: bytes already read from it (an h2c preface and what
   * followed), which the session reads first.
   */
  serve(socket: Socket, head: Buffer = EMPTY): void {
    if (this.closing) return void socket.destroy();
    // Nothing is emitted until node:http2 reads the socket itself.
    socket.pause();
    if (head.length > 0) socket.unshift(head);
    this.arriving = socket;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.arriving = undefined;
    }
  }

  /** The TLS listener's hand-off: a connected TLS socket whose ALPN is `h2`, served as an h2c one is. */
  readonly serveSecure = (socket: TLSSocket): void => {
    this.serve(socket);
  };

  /** GOAWAY to every session; resolves once all have closed (open streams finish first). No new session is served. */
  close(): Promise<void> {
    this.closing = true;
    for (const client of this.clients) client.close();
    return new Promise((resolve) => (this.clients.size === 0 ? resolve() : (this.drained = resolve)));
  }

  closeIdleSessions(): void {
    for (const client of this.clients) client.close();
  }

  closeAllSessions(): void {
    for (const client of this.clients) client.destroy();
  }

  // --- SessionOwner ---

  forget(client: ClientSession): void {
    this.clients.delete(client);
    if (this.clients.size === 0 && this.drained !== undefined) {
      this.drained();
      this.drained = undefined;
    }
  }

  flooded(client: ClientSession): void {
    this.onFlood?.(client.socket.remoteAddress, this.limits.maxResetsPerSecond);
  }

  // --- node:http2 ---

  private readonly onSession = (session: ServerHttp2Session): void => {
    const socket = this.arriving;
    if (socket === undefined) return void session.destroy(); // not from serve(): never expected
    const client = new ClientSession(session, socket, this.limits.idleTimeoutMs, this.limits.maxResetsPerSecond, this);
    this.clients.add(client);
    // node:http2's server already forwards session errors to its 'sessionError' (never thrown);
    // streams have none until one is added here.
    session.on('stream', (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) =>
      this.onStream(client, stream, rawHeaders),
    );
    if (this.closing) client.close();
  };

  /**
   * node:http2 emits a stream on the tick after its HEADERS: one the client has reset by then
   * (HEADERS and RST_STREAM in one read, the rapid-reset pattern) never reaches the gateway, and
   * counts as a reset.
   */
  private onStream(client: ClientSession, stream: ServerHttp2Stream, rawHeaders: string[]): void {
    stream.on('error', ignore);
    if (stream.closed || stream.destroyed) {
      client.resetBeforeServed(stream);
      return void stream.destroy();
    }
    client.streamOpened();
    destroyWhenWritten(stream);
    const head = translateHead(rawHeaders, stream.endAfterHeaders);
    const res = new Http2StreamResponse(stream, typeof head !== 'string' && head.method === 'HEAD', client);
    if (typeof head !== 'string' && head.acceptsTrailers) res.acceptTrailers();
    if (typeof head === 'string') return refuse(res, head);
    const req = new Http2StreamRequest(head, client.socket, res);
    if (head.webSocket) return this.openWebSocket(req, res, stream);
    if (stream.endAfterHeaders) {
      req.finish();
      return this.handler(req, res);
    }
    res.request = req;
    readBody(stream, req);
    if (head.expectsContinue) {
      // The client sends the body once told to.
      stream.additionalHeaders({ ':status': 100 });
      return this.handler(req, res);
    }
    // As on HTTP/1.1, handed over once the read that carried the head is in: node:http2 delivers
    // a body that came with it before the next macrotask, so it is then complete and leaves with
    // the endpoint's request head in one write (and can be sent again on a retry).
    setImmediate(dispatchLater, this.handler, req, res);
  }

  /** An extended CONNECT: its stream is read by the tunnel once open, never as a body. */
  private openWebSocket(req: Http2StreamRequest, res: Http2StreamResponse, stream: ServerHttp2Stream): void {
    req.finish();
    if (this.onWebSocket === undefined) return refuse(res, 'WebSockets over HTTP/2 are off here (http2.websockets)');
    this.onWebSocket(req, res, stream);
  }
}

function dispatchLater(handler: StreamHandler, req: Http2StreamRequest, res: Http2StreamResponse): void {
  if (!res.cutShort) handler(req, res);
}

/** A request head refused before the gateway sees it: 400 with the data port's JSON error. */
function refuse(res: Http2StreamResponse, message: string): void {
  const { status, code } = refusal(new Error(message));
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))]);
  res.end(body);
}

/** A stream's errors end the stream; its response hears 'close'. */
function ignore(): void {}

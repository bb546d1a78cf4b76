/**
 * One kept-alive HTTP/1.1 connection to an endpoint, carrying one request at a time.
 *
 * The request head is one pre-joined string and leaves with the first body bytes in a single
 * write; response bytes go through the ResponseParser straight to the request's handler. Cost per
 * request on a reused connection: one string join, one or two socket writes, one parse of the
 * response head; no header objects, no promises, no per-request timers (the socket's own idle
 * timeout is set once per connection and only changed when a request wants a different one).
 *
 * The body's framing is decided here, from what the gateway knows, never copied from the client:
 * `content-length` for a body held whole or of a known length, `transfer-encoding: chunked` for a
 * stream of unknown length, `content-length: 0` for a POST, PUT or PATCH without one.
 */
import type { Socket } from 'node:net';
import { ResponseParser, type ResponseHead, type ResponseSink } from './response-parser.js';
import { UpstreamError } from './upstream-error.js';

/** A request body as the connection reads it: a Readable, or the data port's Http1Request. */
export interface RequestBody {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'end', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  /** The whole body at once, when the source has it all and none was read (see Http1Request). */
  readAll?(): Buffer | undefined;
}

/** One request as the forwarder hands it over. */
export interface UpstreamRequest {
  method: string;
  /** Origin-form target ("/v2/models/iris/infer?x=1"), already checked by the router. */
  path: string;
  /** Flat [name, value, …] for this hop, without framing headers (the connection writes those). */
  headers: string[];
  /** The body: whole, as a stream, or null for none. */
  body: Buffer | RequestBody | null;
  /** A streamed body's length (sent as Content-Length), or -1 to send it chunked. */
  contentLength: number;
  /** Longest silence allowed from the endpoint while the request is out, ms. */
  timeoutMs: number;
  /**
   * The client sent `TE: trailers` (it accepts trailer fields). TE is hop-by-hop: HTTP/2 streams
   * carry it on (gRPC needs it); HTTP/1.1 connections do not, as their trailers are dropped.
   */
  teTrailers?: boolean;
}

/**
 * How far a failed request got, which decides whether it may be sent again:
 *  - unsent: no byte can have reached the endpoint (the connection never stood, or the request
 *    was still waiting for one);
 *  - head: the head went out, but no byte of its streamed body, and no response byte came back;
 *  - sent: the request (or part of its body) went out, no response byte came back;
 *  - answering: the endpoint had started to answer.
 */
export type Progress = 'unsent' | 'head' | 'sent' | 'answering';

/** Receives one response. Exactly one of onResponseEnd / onUpstreamError ends an exchange. */
export interface UpstreamHandler {
  onResponseHead(status: number, headers: string[]): void;
  /** Return false when the client cannot take more yet; call `resume()` on the connection later. */
  onResponseData(chunk: Buffer): boolean;
  /** The response ended; `tail` is its last body bytes when they arrived with the end. */
  onResponseEnd(tail: Buffer | undefined): void;
  /**
   * Trailer fields (flat [name, value, …]) after the body, just before onResponseEnd. HTTP/2
   * streams deliver them; the HTTP/1.1 connection reads and drops a chunked body's trailers.
   */
  onResponseTrailers?(trailers: string[]): void;
  /**
   * The request failed; `reused` is true when the connection had carried a response before (a
   * failure then may be the endpoint closing an idle connection as the request left).
   */
  onUpstreamError(err: Error, progress: Progress, reused: boolean): void;
}

/** A request handed to a pool: on a connection now, or waiting for one. */
export interface UpstreamCall {
  /** The client can take more response bytes. */
  resume(): void;
  /** Cancel the request (the client went away): the handler hears nothing more. */
  abort(): void;
}

/** What a connection needs from its pool. */
export interface ConnectionOwner {
  /** The response ended and the connection may be reused. */
  release(conn: UpstreamConnection): void;
  /** The endpoint sent its first bytes on this connection: it has accepted it. */
  answered(conn: UpstreamConnection): void;
  /** The connection is gone (closed, failed or not reusable); `connectError` when it never stood. */
  forget(conn: UpstreamConnection, connectError?: Error): void;
}

/** Methods whose requests carry content by definition: sent with `content-length: 0` when they have none (RFC 9110 §8.6). */
const CONTENT_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export class UpstreamConnection implements ResponseSink, UpstreamCall {
  private readonly parser = new ResponseParser(this);
  private handler: UpstreamHandler | undefined;
  /** The streamed body being sent (null when the request has none, or it went whole). */
  private body: RequestBody | null = null;
  private chunked = false;
  /** For the request on the connection now: a byte of its streamed body went out; a response byte came back. */
  private bodyStarted = false;
  private answering = false;
  /** The endpoint has answered on this connection at least once (it accepted it). */
  private proven = false;
  /** Responses completed on this connection. */
  private served = 0;
  /** Set when the response ended inside the current parse; finished once the parse returns. */
  private ended = false;
  private tail: Buffer | undefined;
  private paused = false;
  private connected = false;
  /** The socket's idle timeout now, and the one the current request asked for. */
  private timeoutMs: number;
  private wantTimeoutMs = 0;
  /** When the connection last went idle (ms), and how long it may stay idle and still be used. */
  idleSince = 0;
  keepAliveMs = 0;

  /**
   * @param borrowedReads the socket reads into a buffer shared by every connection (net's
   *   `onread`) and calls `received`; body bytes are then copied before they leave this object,
   *   since the next read overwrites them. Otherwise the socket emits 'data' with its own buffers.
   */
  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner,
    connectTimeoutMs: number,
    connectEvent: 'connect' | 'secureConnect',
    private readonly borrowedReads: boolean,
  ) {
    this.timeoutMs = connectTimeoutMs;
    socket.setTimeout(connectTimeoutMs);
    socket.once(connectEvent, this.onConnect);
    if (!borrowedReads) socket.on('data', this.onData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  /** The endpoint has answered on this connection (so it is not waiting in the endpoint's listen backlog). */
  get answeredOnce(): boolean {
    return this.proven;
  }

  /** Whether the socket is still usable for another request. */
  get usable(): boolean {
    return this.handler === undefined && !this.socket.destroyed && this.socket.readable;
  }

  /** Sends one request; its handler hears the outcome. */
  send(req: UpstreamRequest, handler: UpstreamHandler): void {
    this.handler = handler;
    this.bodyStarted = false;
    this.answering = false;
    this.parser.expect(req.method === 'HEAD');
    this.wantTimeoutMs = req.timeoutMs;
    if (this.connected && this.timeoutMs !== req.timeoutMs) this.setTimeout(req.timeoutMs);

    let head = req.method + ' ' + req.path + ' HTTP/1.1\r\n';
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) head += h[i] + ': ' + h[i + 1] + '\r\n';
    const body = req.body;
    if (body === null) {
      if (CONTENT_METHODS.has(req.method)) head += 'content-length: 0\r\n';
      this.socket.write(head + '\r\n', 'latin1');
      return;
    }
    if (Buffer.isBuffer(body)) {
      // Head and body leave in one write (or wait in the socket for it to connect).
      return this.writeWhole(head + 'content-length: ' + body.length + '\r\n\r\n', body);
    }
    this.chunked = req.contentLength < 0;
    head += this.chunked ? 'transfer-encoding: chunked\r\n' : 'content-length: ' + req.contentLength + '\r\n';
    this.body = body;
    if (!this.connected) {
      // The body is read only once the connection stands: a refused connection leaves it
      // unread, so the request can be retried elsewhere body and all. The head waits in the
      // socket and goes out first on 'connect'.
      this.socket.write(head + '\r\n', 'latin1');
      return;
    }
    this.socket.cork();
    this.socket.write(head + '\r\n', 'latin1');
    this.readBody();
  }

  /** Head and a body known in full: one string for a small body, a corked pair of writes for a large one. */
  private writeWhole(head: string, body: Buffer): void {
    const socket = this.socket;
    if (body.length <= JOIN_LIMIT) {
      socket.write(head + body.toString('latin1'), 'latin1');
      return;
    }
    socket.cork();
    socket.write(head, 'latin1');
    socket.write(body);
    socket.uncork();
  }

  /**
   * Stream the body after the head. The head and the body bytes already read leave in one write:
   * the body's first 'data' events run on the next tick (when it starts flowing), before the uncork.
   */
  private readBody(): void {
    const body = this.body!;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    // A body left paused by an earlier attempt that failed before sending any of it.
    if (body.isPaused()) body.resume();
    process.nextTick(uncork, this.socket);
  }

  /** UpstreamCall: the client can take more response bytes. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** UpstreamCall: cancel the request (the client went away); the connection is closed. */
  abort(): void {
    if (this.handler === undefined) return;
    this.handler = undefined;
    this.close();
  }

  /** Close the connection; a request still on it fails with `err`. */
  destroy(err: Error): void {
    this.fail(err);
  }

  // --- ResponseSink (called by the parser, inside onData) ---

  onHead(head: ResponseHead): void {
    this.handler?.onResponseHead(head.status, head.headers);
  }

  onBody(chunk: Buffer): void {
    const handler = this.handler;
    if (handler === undefined) return;
    if (!handler.onResponseData(this.borrowedReads ? Buffer.from(chunk) : chunk) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  onEnd(tail: Buffer | undefined): void {
    this.ended = true;
    this.tail = tail !== undefined && this.borrowedReads ? Buffer.from(tail) : tail;
  }

  /** `onread` callback of a socket with borrowed reads: `n` bytes arrived at the start of `buffer`. */
  readonly received = (n: number, buffer: Buffer): boolean => {
    this.onData(buffer.subarray(0, n));
    return true;
  };

  // --- internals ---

  private setTimeout(ms: number): void {
    this.timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  /** The response is complete: back to the pool (first, so a held request can take it), then tell the handler. */
  private finishResponse(): void {
    this.ended = false;
    const tail = this.tail;
    this.tail = undefined;
    const handler = this.handler;
    if (handler === undefined) return; // aborted while the parser was still delivering this read
    this.handler = undefined;
    const bodySent = this.body === null;
    if (!bodySent) this.detachBody(true);
    this.served++;
    if (this.parser.keepAlive && bodySent) {
      this.keepAliveMs = keepAliveFor(this.parser.keepAliveHintMs);
      if (this.paused) this.resume();
      this.owner.release(this);
    } else {
      // The endpoint answered before the whole request body was sent, or asked to close.
      this.close();
    }
    handler.onResponseEnd(tail);
  }

  private fail(err: Error): void {
    const handler = this.handler;
    this.handler = undefined;
    const progress: Progress = !this.connected
      ? 'unsent'
      : this.answering
        ? 'answering'
        : this.body !== null && !this.bodyStarted
          ? 'head'
          : 'sent';
    // A body none of which was sent stays paused with its bytes, for another attempt.
    if (this.body !== null) this.detachBody(progress !== 'head');
    this.close(this.connected ? undefined : err);
    handler?.onUpstreamError(err, progress, this.served > 0);
  }

  private close(connectError?: Error): void {
    this.ended = false;
    this.tail = undefined;
    if (this.body !== null) this.detachBody(true);
    this.socket.destroy();
    this.owner.forget(this, connectError);
  }

  /** Stop reading the body; `flow` lets what is left of it flow on (to be dropped by the data port). */
  private detachBody(flow: boolean): void {
    const body = this.body!;
    this.body = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    this.socket.off('drain', this.onDrain);
    if (flow) {
      if (body.isPaused()) body.resume();
    } else {
      body.pause();
    }
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    if (this.handler === undefined) return;
    this.setTimeout(this.wantTimeoutMs);
    if (this.body !== null) {
      // The head written while connecting is flushed by a later 'connect' listener, inside this cork.
      this.socket.cork();
      this.readBody();
    }
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.handler !== undefined) {
      this.answering = true;
      if (!this.proven) {
        this.proven = true;
        this.owner.answered(this);
      }
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      if (this.handler === undefined) return this.close(); // bytes on an idle connection
      return this.fail(err as Error);
    }
    if (this.ended) this.finishResponse();
  };

  private readonly onSocketEnd = (): void => {
    try {
      this.parser.finish();
    } catch (err) {
      return this.fail(err as Error);
    }
    if (this.ended) this.finishResponse();
    else if (this.handler !== undefined) this.fail(closedEarly());
    else this.close();
  };

  private readonly onError = (err: Error): void => {
    this.fail(err);
  };

  private readonly onClose = (): void => {
    if (this.handler !== undefined) this.fail(closedEarly());
    else this.owner.forget(this);
  };

  private readonly onTimeout = (): void => {
    if (this.handler === undefined) return this.close(); // idle for a whole timeout: let it go
    this.fail(
      this.connected
        ? new UpstreamError('UPSTREAM_TIMEOUT', `no response byte within ${this.timeoutMs} ms`)
        : new UpstreamError('UPSTREAM_CONNECT_TIMEOUT', `no connection within ${this.timeoutMs} ms`),
    );
  };

  private readonly onBodyData = (data: Buffer | string): void => {
    // A stream with an encoding set emits strings: chunk sizes count bytes, not characters.
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    const socket = this.socket;
    this.bodyStarted = true;
    let ok: boolean;
    if (this.chunked) {
      if (chunk.length === 0) return; // a zero-size chunk would end the body
      socket.write(chunk.length.toString(16) + '\r\n');
      socket.write(chunk);
      ok = socket.write('\r\n');
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.body!.pause();
      socket.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    this.body?.resume();
  };

  private readonly onBodyEnd = (): void => {
    if (this.chunked) this.socket.write('0\r\n\r\n');
    const body = this.body!;
    this.body = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    this.socket.off('drain', this.onDrain);
  };
}

/** Bodies up to this size are joined to the head in one string (one copy, one write). */
const JOIN_LIMIT = 16 * 1024;

/** Idle connections are reused only while the endpoint will surely keep them open. */
export const DEFAULT_KEEP_ALIVE_MS = 4_000;
/** Margin under an endpoint's advertised keep-alive timeout, for the request in flight when it expires. */
const KEEP_ALIVE_MARGIN_MS = 1_000;

/**
 * How long an idle connection may be reused: the endpoint's `Keep-Alive: timeout=N` less a
 * second (Node's default 5 s → 4 s), or 4 s when it says nothing (uvicorn's default is 5 s and
 * silent). 0 means do not reuse.
 */
export function keepAliveFor(hintMs: number): number {
  if (hintMs < 0) return DEFAULT_KEEP_ALIVE_MS;
  const ms = hintMs - KEEP_ALIVE_MARGIN_MS;
  return ms >= KEEP_ALIVE_MARGIN_MS ? ms : 0;
}

function closedEarly(): UpstreamError {
  return new UpstreamError('UPSTREAM_CLOSED', 'endpoint closed the connection before the response ended');
}

function uncork(socket: Socket): void {
  socket.uncork();
}

/**
 * The response to one Http1Request, written straight to the client's socket.
 *
 * The head is one string built by `writeHead` and leaves with the first body bytes (or with the
 * whole body at `end`) in one write; `flushHeaders` sends it alone, for streams. Framing follows
 * RFC 9112 §6: a Content-Length is kept as given; otherwise HTTP/1.1 clients get chunked transfer
 * coding and HTTP/1.0 clients a body ended by closing the connection. HEAD, 1xx, 204 and 304
 * responses carry no body.
 *
 * Header names and values are written as given (latin1): they come from the upstream response
 * parser, which refuses control characters, or from the gateway itself.
 *
 * Events: 'drain' after `write` returned false, 'close' when the connection closes before `end`.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Http1Request } from './http1-request.js';

/** What the response needs from its connection. */
export interface ResponseOwner {
  /** Whether the connection stays open after this response (no close asked for, not stopping). */
  keepAlive(req: Http1Request): boolean;
  /** The last byte of the response was handed to the socket. */
  responseEnded(res: Http1Response, keepAlive: boolean): void;
  /** The response cannot be finished: drop the connection. */
  destroy(err?: Error): void;
}

/** Bodies up to this size leave with the head in one string; larger ones in a corked pair of writes. */
const JOIN_LIMIT = 16 * 1024;
/** A field name (RFC 9110 §5.1: a token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `Keep-Alive: timeout=N` tells clients how long an idle connection stays open. */
export function keepAliveHeader(keepAliveTimeoutMs: number): string {
  return `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`;
}

export class Http1Response extends EventEmitter {
  headersSent = false;
  writableFinished = false;
  statusCode = 200;
  /** The head, built and not yet written. */
  private head: string | undefined;
  private chunked = false;
  /** Trailer fields for the last chunk ('' when none), `name: value\r\n` each. */
  private trailers = '';
  private noBody = false;
  private keepAlive = true;
  private waitingDrain = false;

  constructor(
    readonly req: Http1Request,
    private readonly owner: ResponseOwner,
    private readonly keepAliveLine: string,
  ) {
    super();
  }

  /** Status and flat [name, value, …] headers; hop-by-hop framing headers are the response's own. */
  writeHead(statusCode: number, headers: string[]): this {
    if (this.headersSent) throw new Error('response head already written');
    this.headersSent = true;
    this.statusCode = statusCode;
    let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Unknown'}\r\n`;
    let length = false;
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      head += name + ': ' + headers[i + 1] + '\r\n';
    }
    if (!date) head += 'date: ' + httpDate() + '\r\n';
    this.noBody = this.req.method === 'HEAD' || statusCode === 204 || statusCode === 304 || statusCode < 200;
    this.keepAlive = this.owner.keepAlive(this.req);
    if (!this.noBody && !length) {
      if (this.req.httpVersion === '1.1') {
        this.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else {
        this.keepAlive = false; // HTTP/1.0: the end of the body is the end of the connection
      }
    }
    this.head = head + (this.keepAlive ? this.keepAliveLine : 'connection: close\r\n') + '\r\n';
    return this;
  }

  /** Send the head now (a stream's first event should not wait for its first chunk). */
  flushHeaders(): void {
    const head = this.head;
    if (head === undefined) return;
    this.head = undefined;
    this.req.socket.write(head, 'latin1');
  }

  /** Body bytes; false when the socket's buffer is full (wait for 'drain'). */
  write(chunk: Buffer): boolean {
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    const socket = this.req.socket;
    if (this.noBody || chunk.length === 0) {
      this.flushHeaders();
      return !socket.writableNeedDrain;
    }
    let ok: boolean;
    if (this.chunked) {
      socket.cork();
      this.flushHeaders();
      socket.write(chunk.length.toString(16) + '\r\n', 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else if (this.head !== undefined) {
      ok = this.writeWithHead(chunk);
    } else {
      ok = socket.write(chunk);
    }
    if (!ok && !this.waitingDrain) {
      this.waitingDrain = true;
      socket.once('drain', this.onDrain);
    }
    return ok;
  }

  /**
   * Trailer fields sent after the last chunk (RFC 9112 §7.1.2), e.g. an HTTP/2 endpoint's
   * `grpc-status`. Only a chunked response has room for them: with a Content-Length they are
   * dropped, as are fields whose name or value could break the framing.
   */
  addTrailers(fields: ReadonlyArray<[string, string]>): void {
    if (!this.chunked || this.writableFinished) return;
    for (const [name, value] of fields) {
      if (!TOKEN.test(name) || /[\r\n\0]/.test(value)) continue;
      this.trailers += `${name}: ${value}\r\n`;
    }
  }

  /** The last body bytes, if any, and the end of the response. */
  end(chunk?: Buffer | string): void {
    if (this.writableFinished) return;
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    const socket = this.req.socket;
    const body = chunk === undefined || this.noBody ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.chunked) {
      socket.cork();
      this.flushHeaders();
      if (body !== undefined && body.length > 0) {
        socket.write(body.length.toString(16) + '\r\n', 'latin1');
        socket.write(body);
        socket.write(`\r\n0\r\n${this.trailers}\r\n`, 'latin1');
      } else {
        socket.write(`0\r\n${this.trailers}\r\n`, 'latin1');
      }
      socket.uncork();
    } else if (body !== undefined && body.length > 0) {
      if (this.head !== undefined) this.writeWithHead(body);
      else socket.write(body);
    } else {
      this.flushHeaders();
    }
    this.writableFinished = true;
    if (this.waitingDrain) {
      this.waitingDrain = false;
      socket.off('drain', this.onDrain);
    }
    this.owner.responseEnded(this, this.keepAlive);
  }

  /** Abandon the response: the connection closes (the client sees a cut-short body). */
  destroy(err?: Error): void {
    this.owner.destroy(err);
  }

  /** The connection closed before the response ended. */
  aborted(): void {
    if (!this.writableFinished) this.emit('close');
  }

  private writeWithHead(body: Buffer): boolean {
    const head = this.head!;
    this.head = undefined;
    const socket = this.req.socket;
    if (body.length <= JOIN_LIMIT) return socket.write(head + body.toString('latin1'), 'latin1');
    socket.cork();
    socket.write(head, 'latin1');
    const ok = socket.write(body);
    socket.uncork();
    return ok;
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.emit('drain');
  };
}

let dateSecond = 0;
let dateText = '';

/** The Date header value, rebuilt once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

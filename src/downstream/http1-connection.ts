/**
 * One client connection on the data port: socket bytes → native parser → Http1Request, one
 * request answered at a time, in order.
 *
 * A request is handed to the server's handler once the read that carried its head is parsed: a
 * body that came with the head is then complete, and a longer one streams after. Requests
 * pipelined behind it wait in `pending` and the socket is not read further until they are
 * answered, so a pipelining client cannot queue more than one read's worth. The connection is
 * busy from a request's head until both its response has ended and its body has been read (a body
 * the endpoint did not read is read and dropped, so the next request parses).
 *
 * Timeouts: the socket's idle timeout (the keep-alive timeout) closes a connection with no
 * response in progress; while one is, the gateway's own deadlines apply and the timeout is
 * ignored. A head still incomplete after the server's headers timeout is answered with 408.
 */
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Http1Request, type BodyFlowControl } from './http1-request.js';
import type { Http1Response, ResponseOwner } from './http1-response.js';
import { isParseError, type NativeParser, type NativeParserModule, type ParseError } from './native-parser.js';
import { prefaceAtStart, type H2cHandoff } from './preface.js';
import { isWebSocketUpgrade } from './upgrade-request.js';

/** The response class a server makes (Http1Response, or a subclass such as the queue-proxy's). */
export type ResponseClass = new (req: Http1Request, owner: ResponseOwner, keepAliveLine: string) => Http1Response;

/** What a connection needs from its server. */
export interface ConnectionHost {
  /** Node's parser, past the fence. */
  readonly native: NativeParserModule;
  readonly keepAliveLine: string;
  readonly Response: ResponseClass;
  /** The server is stopping: answer what is in progress with `Connection: close`. */
  readonly closing: boolean;
  /** Where a connection that begins with the HTTP/2 preface goes (preface.ts); none: refused like any bad head. */
  readonly h2c: H2cHandoff | undefined;
  request(req: Http1Request, res: Http1Response): void;
  /** A response is over: ended (`writableFinished`) or cut short with its connection. Once per response. */
  responseClosed(res: Http1Response): void;
  /** An Upgrade request; the socket and the bytes read after the head now belong to the handler. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** A request the parser refused, or a method the gateway does not serve: answered and closed. */
  clientError(err: ParseError | Error, socket: Socket): void;
  forget(conn: Http1Connection): void;
}

export class Http1Connection implements BodyFlowControl, ResponseOwner {
  private readonly parser: NativeParser;
  /** The request being answered, and its response. */
  private req: Http1Request | undefined;
  private res: Http1Response | undefined;
  /** The request whose body the parser is reading (the current one, or a pipelined one). */
  private reading: Http1Request | undefined;
  private readonly pending: Http1Request[] = [];
  private upgradeRequest: IncomingMessage | undefined;
  /** Headers and target of a head too long for one read, kept between parser callbacks. */
  private partialHeaders: string[] = [];
  private partialUrl = '';
  private bodyPaused = false;
  private pipelinePaused = false;
  private closeAfterResponse = false;
  /** The current request's response has ended; the rest of its body is read and dropped. */
  private dropping = false;
  /** A request whose head this read parsed: handed to the handler once the read is parsed. */
  private deferred: Http1Request | undefined;
  /** When the first bytes of a head not yet complete arrived (ms), 0 when no head is under way. */
  headStartedAt = 0;
  private gone = false;
  /** No more bytes are parsed from this socket (refused, closing, or handed over). */
  private detached = false;
  /** Why the parser was stopped from a callback (returned -1), for the answer. */
  private refusal: Error | undefined;

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    keepAliveTimeoutMs: number,
  ) {
    const { HTTPParser } = host.native;
    const parser = (this.parser = new HTTPParser());
    parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
    // Callbacks and listeners are functions shared by every connection, which each finds its
    // connection on the parser or the socket: none made per connection (a burst holds thousands).
    (parser as Owned<NativeParser>)[CONNECTION] = this;
    (socket as Owned<Socket>)[CONNECTION] = this;
    parser[HTTPParser.kOnHeaders] = parserOnHeaders;
    parser[HTTPParser.kOnHeadersComplete] = parserOnHeadersComplete;
    parser[HTTPParser.kOnBody] = parserOnBody;
    parser[HTTPParser.kOnMessageComplete] = parserOnMessageComplete;
    socket.setTimeout(keepAliveTimeoutMs);
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('timeout', socketOnTimeout);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
  }

  /** No request in progress (closing it now loses nothing). */
  get idle(): boolean {
    return this.req === undefined && this.reading === undefined;
  }

  /** Close the connection once the response in progress has ended (now, when there is none). */
  closeWhenIdle(): void {
    if (this.res === undefined) this.socket.destroy();
    else this.closeAfterResponse = true;
  }

  /**
   * Called by the server's sweep when a head has been arriving for too long (a client trickling
   * header bytes would otherwise hold the connection for as long as it keeps sending).
   */
  headersTimedOut(timeoutMs: number): void {
    if (this.res !== undefined) return; // a response is still going out; the head waits behind it
    const err = Object.assign(new Error(`request head not complete within ${timeoutMs} ms`), { code: 'HEADERS_TIMEOUT' });
    this.refuse(err);
  }

  // --- ResponseOwner ---

  keepAlive(req: Http1Request): boolean {
    return req.shouldKeepAlive && !this.closeAfterResponse && !this.host.closing;
  }

  responseEnded(res: Http1Response, keepAlive: boolean): void {
    if (res !== this.res) return;
    this.res = undefined;
    this.host.responseClosed(res);
    if (!keepAlive) {
      this.closeAfterResponse = true;
      this.detach();
      this.socket.end();
      return;
    }
    if (this.reading !== this.req) return this.next(); // its body is all read
    this.dropping = true;
    res.req.dump();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- BodyFlowControl ---

  pauseBody(): void {
    this.bodyPaused = true;
    this.socket.pause();
  }

  resumeBody(): void {
    this.bodyPaused = false;
    if (!this.pipelinePaused) this.socket.resume();
  }

  // --- internals ---

  /** The current request is done both ways: start the next pipelined one, or wait for one. */
  private next(): void {
    this.req = undefined;
    this.dropping = false;
    const req = this.pending.shift();
    if (this.pending.length === 0 && this.pipelinePaused) {
      // The last pipelined request may still be sending its body.
      this.pipelinePaused = false;
      if (!this.bodyPaused) this.socket.resume();
    }
    if (req !== undefined) this.dispatch(req);
    else if (this.closeAfterResponse || this.host.closing) this.socket.end();
  }

  private dispatch(req: Http1Request): void {
    this.req = req;
    const res = new this.host.Response(req, this, this.host.keepAliveLine);
    this.res = res;
    if (this.expectsContinue(req)) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
    this.host.request(req, res);
  }

  /** RFC 9110 §10.1.1: an HTTP/1.1 client waiting for 100 Continue before sending the body. */
  private expectsContinue(req: Http1Request): boolean {
    if (req.httpVersion !== '1.1' || req.complete) return false;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === 6 && raw[i]!.toLowerCase() === 'expect') return raw[i + 1]!.trim().toLowerCase() === '100-continue';
    }
    return false;
  }

  private onHeaders(headers: string[], url: string): void {
    for (let i = 0; i < headers.length; i++) this.partialHeaders.push(headers[i]!);
    this.partialUrl += url;
  }

  private onHeadersComplete(
    major: number,
    minor: number,
    rawHeaders: string[] | undefined,
    method: number,
    url: string | undefined,
    _statusCode: unknown,
    _statusMessage: unknown,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    this.headStartedAt = 0;
    if (rawHeaders === undefined) {
      rawHeaders = this.partialHeaders;
      this.partialHeaders = [];
    }
    if (url === undefined) {
      url = this.partialUrl;
      this.partialUrl = '';
    }
    const methodName = this.host.native.METHODS[method] ?? 'GET';
    if (major !== 1 || minor > 1) {
      // HTTP/0.9 has no status line to answer with; other versions are told what is served.
      this.refusal =
        major === 0
          ? HTTP_09
          : Object.assign(new Error(`HTTP/${major}.${minor} is not served here; use HTTP/1.1`), { code: 'HTTP_VERSION' });
      return -1; // the parser stops: execute() returns HPE_CB_HEADERS_COMPLETE
    }
    if (upgrade) {
      // A WebSocket GET is handed over, and CONNECT too (to be refused there: the parser takes
      // what follows its head as tunnel bytes). Any other Upgrade (h2c from `curl --http2`, …)
      // is declined: the request is served as HTTP/1.1 (RFC 9110 §7.8).
      if (methodName === 'CONNECT' || (methodName === 'GET' && isWebSocketUpgrade(rawHeaders))) {
        const req = new IncomingMessage(this.socket);
        req.method = methodName;
        req.url = url;
        req.rawHeaders = rawHeaders;
        req.headers = headerObject(rawHeaders);
        req.httpVersionMajor = major;
        req.httpVersionMinor = minor;
        req.httpVersion = `${major}.${minor}`;
        (req as { upgrade?: boolean }).upgrade = true;
        req.complete = true;
        this.upgradeRequest = req;
        return 0;
      }
    }
    const req = new Http1Request(methodName, url, rawHeaders, `${major}.${minor}`, keepAlive, this.socket, this);
    this.reading = req;
    if (this.req === undefined) {
      // Handed over once this read is parsed: a body that came with the head is then complete,
      // and the forwarder can send it with the request head in one write.
      this.req = req;
      this.deferred = req;
    } else {
      this.pending.push(req);
      if (!this.pipelinePaused) {
        this.pipelinePaused = true;
        this.socket.pause();
      }
    }
    return 0;
  }

  private onBody(chunk: Buffer): void {
    const req = this.reading;
    // A body nobody will read any more (its response has ended) is dropped.
    if (req !== undefined && !(req === this.req && this.dropping)) req.push(chunk);
  }

  private onMessageComplete(): void {
    const req = this.reading;
    if (req === undefined) return;
    this.reading = undefined;
    req.finish();
    // The response ended before the body was all read: now the next request may start.
    if (req === this.req && this.dropping) this.next();
  }

  private onData(data: Buffer): void {
    // A head that has not completed by the end of this read is timed (headersTimedOut).
    const headBegins = this.headStartedAt === 0 && this.reading === undefined;
    if (headBegins) this.headStartedAt = Date.now();
    let chunk = data;
    let result = this.parser.execute(chunk);
    // The parser stops after the head of an Upgrade request; a declined one goes on as HTTP/1.1.
    while (!isParseError(result) && this.upgradeRequest === undefined && result < chunk.length && !this.detached) {
      chunk = chunk.subarray(result);
      result = this.parser.execute(chunk);
    }
    if (isParseError(result)) {
      const refusal = this.refusal;
      this.refusal = undefined;
      if (refusal === HTTP_09) return this.drop();
      if (refusal !== undefined) return this.refuse(refusal);
      // llhttp stops at an HTTP/2 preface: h2c with prior knowledge, when it opens the connection.
      if (result.code === 'HPE_PAUSED_H2_UPGRADE' && this.host.h2c !== undefined) {
        const head = prefaceAtStart(this.socket, chunk, result.bytesParsed);
        if (head !== undefined) return this.handOverH2c(this.host.h2c, head);
      }
      // RFC 9112 §9.6: requests after one that asked to close are ignored, not refused.
      if (result.code !== 'HPE_CLOSED_CONNECTION' || this.req === undefined) return this.refuse(result);
      this.detach();
    } else if (this.upgradeRequest !== undefined) {
      return this.handOver(this.upgradeRequest, chunk.subarray(result));
    } else if (headBegins && this.headStartedAt !== 0 && isHttp09Line(data)) {
      // "GET /\r\n" and nothing more: an HTTP/0.9 request, which the parser would wait on.
      return this.drop();
    }
    const req = this.deferred;
    if (req !== undefined) {
      this.deferred = undefined;
      this.dispatch(req);
    }
  }

  /** Close at once, without an answer (HTTP/0.9 has no status line to give one in). */
  private drop(): void {
    this.detach();
    this.socket.destroy();
  }

  /** Hand the socket to the upgrade handler: the data port reads no more from it. */
  private handOver(req: IncomingMessage, head: Buffer): void {
    this.upgradeRequest = undefined;
    if (this.req !== undefined || this.pending.length > 0 || req.method === 'CONNECT') {
      // CONNECT is a forward proxy's method; an upgrade behind a pipelined request is not served.
      return this.refuse(new Error(`${req.method} ${req.url} cannot be served here`));
    }
    this.detach();
    this.socket.setTimeout(0);
    this.socket.off('error', socketOnError);
    this.socket.off('close', socketOnClose);
    this.host.forget(this);
    this.parser.close();
    // Bytes after the head wait in the socket until the upgrade handler reads (as http.Server does).
    (this.socket as { readableFlowing: boolean | null }).readableFlowing = null;
    this.host.upgrade(req, this.socket, head);
  }

  /** The connection speaks HTTP/2: the sessions take the socket and the bytes read from it; the data port reads no more. */
  private handOverH2c(h2c: H2cHandoff, head: Buffer): void {
    this.detach();
    this.gone = true;
    const socket = this.socket;
    socket.setTimeout(0);
    socket.off('timeout', socketOnTimeout);
    socket.off('error', socketOnError);
    socket.off('close', socketOnClose);
    this.host.forget(this);
    this.parser.close();
    h2c.serve(socket, head);
  }

  /**
   * Answer a request the parser refused and close. A bad body after a good head ends the request
   * in progress: its response hears 'close', and the client gets the 400 unless bytes of the
   * response already went out.
   */
  private refuse(err: ParseError | Error): void {
    this.detach();
    const res = this.res;
    if (res !== undefined && res.headersSent) return void this.socket.destroy();
    this.deferred = undefined;
    this.req = undefined;
    this.res = undefined;
    this.reading = undefined;
    if (res !== undefined) this.abort(res);
    this.host.clientError(err, this.socket);
  }

  /** Stop parsing: no more requests are read from this socket. */
  private detach(): void {
    this.detached = true;
    this.socket.off('data', socketOnData);
    this.socket.off('end', socketOnEnd);
    this.pending.length = 0;
    if (this.reading !== undefined && this.reading !== this.req) this.reading = undefined;
  }

  /**
   * The client closed its side. As with `http.Server` (without httpAllowHalfOpen), a request in
   * progress counts as abandoned: the connection closes, and its response hears 'close'.
   */
  private onEnd(): void {
    const result = this.parser.finish();
    if (isParseError(result) && this.idle) return this.refuse(result);
    this.detach();
    this.socket.end();
  }

  /** Idle, or only waiting for the rest of a body whose response has ended: close. */
  private onTimeout(): void {
    if (this.res === undefined) this.socket.destroy();
  }

  private onError(): void {
    // 'close' follows and does the cleanup.
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.host.forget(this);
    this.parser.close();
    const res = this.res;
    this.res = undefined;
    this.req = undefined;
    this.pending.length = 0;
    if (res !== undefined) this.abort(res);
  }

  /** A response that will not end: it hears 'close', the server hears it is over. */
  private abort(res: Http1Response): void {
    res.aborted();
    this.host.responseClosed(res);
  }

  /** The shared callbacks: `this` is the parser or the socket, which holds its connection. */
  static readonly trampolines = {
    parserOnHeaders(this: Owned<NativeParser>, headers: string[], url: string): void {
      this[CONNECTION].onHeaders(headers, url);
    },
    parserOnHeadersComplete(
      this: Owned<NativeParser>,
      major: number,
      minor: number,
      rawHeaders: string[] | undefined,
      method: number,
      url: string | undefined,
      statusCode: unknown,
      statusMessage: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ): number {
      return this[CONNECTION].onHeadersComplete(major, minor, rawHeaders, method, url, statusCode, statusMessage, upgrade, keepAlive);
    },
    parserOnBody(this: Owned<NativeParser>, chunk: Buffer): void {
      this[CONNECTION].onBody(chunk);
    },
    parserOnMessageComplete(this: Owned<NativeParser>): void {
      this[CONNECTION].onMessageComplete();
    },
    socketOnData(this: Owned<Socket>, data: Buffer): void {
      this[CONNECTION].onData(data);
    },
    socketOnEnd(this: Owned<Socket>): void {
      this[CONNECTION].onEnd();
    },
    socketOnTimeout(this: Owned<Socket>): void {
      this[CONNECTION].onTimeout();
    },
    socketOnError(this: Owned<Socket>): void {
      this[CONNECTION].onError();
    },
    socketOnClose(this: Owned<Socket>): void {
      this[CONNECTION].onClose();
    },
  };
}

const CONNECTION = Symbol('sluice.clientConnection');
/** A parser or socket that knows its connection. */
type Owned<T> = T & { [CONNECTION]: Http1Connection };

/* eslint-disable @typescript-eslint/unbound-method -- unbound on purpose: the parser or socket calling them is their `this` (typed Owned<…>) */
const {
  parserOnHeaders,
  parserOnHeadersComplete,
  parserOnBody,
  parserOnMessageComplete,
  socketOnData,
  socketOnEnd,
  socketOnTimeout,
  socketOnError,
  socketOnClose,
} = Http1Connection.trampolines;
/* eslint-enable @typescript-eslint/unbound-method */

/** Marks a refusal that gets no answer at all. */
const HTTP_09 = new Error('HTTP/0.9 request');

/**
 * Whether a read that began a head holds a request line without an HTTP version ("GET /\r\n"):
 * the first line ends before any " HTTP/". Only called for a head still incomplete after its first read.
 */
function isHttp09Line(data: Buffer): boolean {
  let start = 0;
  while (start < data.length && (data[start] === 13 || data[start] === 10)) start++; // empty lines before a request are allowed
  const end = data.indexOf(10, start);
  if (end === -1) return false;
  const version = data.lastIndexOf(' HTTP/', end, 'latin1');
  return version < start;
}

/** The headers object an IncomingMessage would have: names lowercased, repeats joined (cookies with "; "). */
function headerObject(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const seen = out[name];
    out[name] = seen === undefined ? value : seen + (name === 'cookie' ? '; ' : ', ') + value;
  }
  return out;
}

/**
 * One request on an HTTP/2 stream, driving the same UpstreamHandler callbacks as the HTTP/1.1
 * connection: the response head without pseudo-headers, body chunks with backpressure both ways
 * (a client that cannot take more pauses the stream, whose unread data holds back the endpoint's
 * flow-control window; a stream that cannot take more pauses the client's body), trailers, the
 * end, or one error with how far the request got.
 *
 * Progress is judged as HTTP/1.1 judges it, with what HTTP/2 adds (RFC 9113 §8.7): a stream the
 * endpoint refused (REFUSED_STREAM) or left unprocessed (above a GOAWAY's last stream id) is
 * `unsent` — unless a byte of its streamed body had been read, which cannot be sent again.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { h1Fields, h2RequestHeaders } from './h2-headers.js';
import type { EndpointSession } from './http2-session.js';
import type { Progress, RequestBody, UpstreamCall, UpstreamHandler, UpstreamRequest } from './upstream-connection.js';
import { UpstreamError } from './upstream-error.js';

/** RFC 9113 §7 error codes by number, for messages. */
const ERROR_CODES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** What a call tells its transport. */
export interface StreamOwner {
  /** A stream of `session` closed: room for another. */
  streamClosed(session: EndpointSession): void;
}

export class Http2Call implements UpstreamCall {
  /** Started, aborted or expired: a waiting call with `done` set is skipped. */
  done = false;
  /** The wait for room on a session (only while waiting). */
  timer: NodeJS.Timeout | undefined;
  private handler: UpstreamHandler | undefined;
  private session: EndpointSession | undefined;
  private stream: ClientHttp2Stream | undefined;
  /** The streamed body being sent (null when none, sent whole, or finished). */
  private body: RequestBody | null = null;
  private bodyStarted = false;
  private answering = false;
  private paused = false;
  private reused = false;
  private error: Error | undefined;

  constructor(
    readonly req: UpstreamRequest,
    handler: UpstreamHandler,
    private readonly owner: StreamOwner,
  ) {
    this.handler = handler;
  }

  /** Open the stream on `session` (which has room) and send the request. */
  start(session: EndpointSession, scheme: 'http' | 'https'): void {
    this.done = true;
    clearTimeout(this.timer);
    this.session = session;
    this.reused = session.served > 0;
    const req = this.req;
    let stream: ClientHttp2Stream;
    try {
      stream = session.h2.request(h2RequestHeaders(req, scheme, session.authority), { endStream: req.body === null });
    } catch (err) {
      // A header block Node refuses (a repeated single-value field): nothing was sent.
      process.nextTick(() => this.fail(err as Error));
      return;
    }
    session.active++;
    this.stream = stream;
    // 'data' is listened to from the head on: Node emits 'response' on the next tick but the body
    // bytes of the same read at once, so a stream flowing from the start would hand over body first.
    stream.on('response', this.onResponse);
    stream.on('trailers', this.onTrailers);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
    stream.setTimeout(req.timeoutMs, this.onTimeout);
    const body = req.body;
    if (body === null) return;
    if (Buffer.isBuffer(body)) {
      stream.end(body);
      return;
    }
    this.body = body;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    // A body left paused by an earlier attempt that failed before sending any of it.
    if (body.isPaused()) body.resume();
  }

  /** UpstreamCall: the client can take more response bytes. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.stream?.resume();
  }

  /** UpstreamCall: cancel (the client went away); the stream is reset with CANCEL. */
  abort(): void {
    if (this.handler === undefined) return;
    this.handler = undefined;
    this.done = true;
    clearTimeout(this.timer);
    this.detachBody(true);
    this.closeStream(constants.NGHTTP2_CANCEL);
  }

  /** Fail before a stream was opened (the session never stood, the wait ran out): unsent. */
  failUnsent(err: Error): void {
    this.done = true;
    clearTimeout(this.timer);
    const handler = this.handler;
    this.handler = undefined;
    handler?.onUpstreamError(err, 'unsent', false);
  }

  // --- internals ---

  /** How far the request got, for a failure now. */
  private progress(): Progress {
    const stream = this.stream;
    if (stream?.id === undefined) return 'unsent';
    if (this.answering) return 'answering';
    if (this.unprocessed()) return this.bodyStarted ? 'sent' : 'unsent';
    return this.req.body !== null && !Buffer.isBuffer(this.req.body) && !this.bodyStarted ? 'head' : 'sent';
  }

  /** The endpoint says it did not process the stream (RFC 9113 §8.7). */
  private unprocessed(): boolean {
    const stream = this.stream!;
    return stream.rstCode === constants.NGHTTP2_REFUSED_STREAM || stream.id! > this.session!.lastStreamId;
  }

  /** The error to report, with a code the retry rule knows. */
  private failure(): Error {
    const stream = this.stream;
    const session = this.session;
    if (stream?.id !== undefined && !this.answering && this.unprocessed()) {
      return new UpstreamError(
        'UPSTREAM_REFUSED',
        stream.rstCode === constants.NGHTTP2_REFUSED_STREAM
          ? 'endpoint refused the stream (REFUSED_STREAM)'
          : `endpoint went away (GOAWAY after stream ${session!.lastStreamId}) before processing the stream`,
      );
    }
    const err = this.error ?? session?.error;
    const code = err === undefined ? '' : ((err as NodeJS.ErrnoException).code ?? '');
    if (code === 'ERR_HTTP2_STREAM_ERROR' && stream !== undefined) {
      return new UpstreamError('UPSTREAM_RESET', `endpoint reset the stream (${ERROR_CODES[stream.rstCode] ?? stream.rstCode})`);
    }
    if (err !== undefined && !code.startsWith('ERR_HTTP2')) return err;
    const why = err === undefined ? '' : ` (${err.message})`;
    return new UpstreamError('UPSTREAM_CLOSED', `endpoint closed the HTTP/2 session before the response ended${why}`);
  }

  private fail(err: Error): void {
    const handler = this.handler;
    if (handler === undefined) return;
    this.handler = undefined;
    const progress = this.progress();
    // A body none of which was read stays paused with its bytes, for another attempt.
    this.detachBody(progress !== 'unsent' && progress !== 'head');
    this.closeStream(constants.NGHTTP2_CANCEL);
    handler.onUpstreamError(err, progress, this.reused);
  }

  private closeStream(code: number): void {
    const stream = this.stream;
    if (stream !== undefined && !stream.closed && !stream.destroyed) stream.close(code);
  }

  /** Stop reading the body; `flow` lets what is left of it flow on (to be dropped by the data port). */
  private detachBody(flow: boolean): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    this.stream?.off('drain', this.onDrain);
    if (flow) {
      if (body.isPaused()) body.resume();
    } else {
      body.pause();
    }
  }

  private readonly onResponse = (headers: IncomingHttpHeaders, _flags: number, raw?: string[]): void => {
    const handler = this.handler;
    if (handler === undefined) return;
    this.answering = true;
    handler.onResponseHead(Number(headers[':status']), h1Fields(raw ?? flatten(headers)));
    if (this.handler !== undefined) this.stream!.on('data', this.onData);
  };

  private readonly onData = (chunk: Buffer): void => {
    const handler = this.handler;
    if (handler === undefined) return;
    if (!handler.onResponseData(chunk) && !this.paused) {
      this.paused = true;
      this.stream!.pause();
    }
  };

  private readonly onTrailers = (headers: IncomingHttpHeaders, _flags: number, raw?: string[]): void => {
    this.handler?.onResponseTrailers?.(h1Fields(raw ?? flatten(headers)));
  };

  private readonly onEnd = (): void => {
    const handler = this.handler;
    // Node ends the readable side of a reset stream too: without a head, or reset (the connection
    // closed: CANCEL), the response is not complete, and 'close' reports the failure.
    if (handler === undefined || !this.answering || this.stream!.rstCode !== constants.NGHTTP2_NO_ERROR) return;
    this.handler = undefined;
    this.session!.served++;
    // The endpoint answered before the whole request body was sent (RFC 9113 §8.1): stop sending it.
    if (this.body !== null) {
      this.detachBody(true);
      this.closeStream(constants.NGHTTP2_NO_ERROR);
    }
    handler.onResponseEnd(undefined);
  };

  private readonly onError = (err: Error): void => {
    this.error = err;
  };

  private readonly onClose = (): void => {
    this.owner.streamClosed(this.session!);
    if (this.handler !== undefined) this.fail(this.failure());
  };

  private readonly onTimeout = (): void => {
    if (this.handler === undefined) return;
    this.fail(new UpstreamError('UPSTREAM_TIMEOUT', `no response byte within ${this.req.timeoutMs} ms`));
  };

  private readonly onBodyData = (data: Buffer | string): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    this.bodyStarted = true;
    if (!this.stream!.write(chunk)) {
      this.body!.pause();
      this.stream!.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    this.body?.resume();
  };

  private readonly onBodyEnd = (): void => {
    const body = this.body!;
    this.body = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    this.stream!.off('drain', this.onDrain);
    this.stream!.end();
  };
}

/** A header object as a flat list (Node versions whose events do not pass the raw list). */
function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else if (value !== undefined) out.push(name, String(value));
  }
  return out;
}

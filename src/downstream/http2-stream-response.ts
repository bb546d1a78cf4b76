/**
 * The response to one HTTP/2 stream, with the interface of the data port's HTTP/1.1 response: a
 * head of flat headers (`writeHead`, sent by `flushHeaders` or with the first body bytes), body
 * writes that return false when the stream's buffer is full ('drain' follows), `end`, and 'close'
 * when the stream closes before the response ended (the client reset it, or its connection went).
 *
 * The headers arrive without hop-by-hop fields (the gateway's header rules remove them), so what
 * node:http2 refuses in a response (RFC 9113 §8.2.2) never reaches it; a head it refuses anyway
 * (a repeated single-value field) resets the stream, as a response the data port cannot send.
 * HEAD, 1xx, 204 and 304 responses carry no body. node:http2 adds `date`.
 */
import { EventEmitter } from 'node:events';
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { BodyFlowControl } from './http1-request.js';
import { dropBody, type Http2StreamRequest } from './http2-stream-request.js';

/** What the response tells its connection. */
export interface StreamOwner {
  /** The stream closed; `resetHere`: by this side (destroy, or a head node:http2 refused). */
  streamClosed(stream: ServerHttp2Stream, resetHere: boolean): void;
}

export class Http2StreamResponse extends EventEmitter implements BodyFlowControl {
  headersSent = false;
  writableFinished = false;
  statusCode = 200;
  /** The request whose body is read from the stream, if one is. */
  request: Http2StreamRequest | undefined;
  /** The stream closed before the response ended. */
  cutShort = false;
  /** The head, built and not yet sent. */
  private head: OutgoingHttpHeaders | undefined;
  private noBody = false;
  private waitingDrain = false;
  private resetHere = false;
  /** The client sent `TE: trailers`: the stream ends with a trailers frame (empty: an empty DATA frame with END_STREAM). */
  private trailersWanted = false;
  private trailerFields: OutgoingHttpHeaders = {};
  private hasTrailerFields = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly isHead: boolean,
    private readonly owner: StreamOwner,
  ) {
    super();
    stream.once('close', this.onStreamClose);
  }

  /** Status and flat [name, value, …] headers; names are sent in lower case, a repeated name as one field per value. */
  writeHead(statusCode: number, headers: string[]): this {
    if (this.headersSent) throw new Error('response head already written');
    this.headersSent = true;
    this.statusCode = statusCode;
    const head: OutgoingHttpHeaders = { ':status': statusCode };
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      const value = headers[i + 1]!;
      const seen = head[name];
      if (seen === undefined) head[name] = value;
      else if (Array.isArray(seen)) seen.push(value);
      else head[name] = [String(seen), value];
    }
    this.noBody = this.isHead || statusCode === 204 || statusCode === 304 || statusCode < 200;
    this.head = head;
    return this;
  }

  /** The client takes trailers: the response's end waits for them (addTrailers), so an endpoint's `grpc-status` reaches it. */
  acceptTrailers(): void {
    this.trailersWanted = true;
  }

  /** Trailer fields for the end of the stream; dropped unless the client sent `TE: trailers`. */
  addTrailers(fields: ReadonlyArray<[string, string]>): void {
    if (!this.trailersWanted || this.writableFinished) return;
    for (const [name, value] of fields) this.trailerFields[name.toLowerCase()] = value;
    if (fields.length > 0) this.hasTrailerFields = true;
  }

  /** Send the head now (a stream's first event should not wait for its first chunk). */
  flushHeaders(): void {
    if (this.head !== undefined) this.respond(false);
  }

  /** Body bytes; false when the stream's buffer is full (wait for 'drain'). */
  write(chunk: Buffer): boolean {
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    if (this.head !== undefined && !this.respond(false)) return true; // reset: 'close' follows
    if (this.noBody || chunk.length === 0) return true;
    const ok = this.stream.write(chunk);
    if (!ok && !this.waitingDrain) {
      this.waitingDrain = true;
      this.stream.once('drain', this.onDrain);
    }
    return ok;
  }

  /** The last body bytes, if any, and the end of the response. */
  end(chunk?: Buffer | string): void {
    if (this.writableFinished) return;
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    this.writableFinished = true;
    const stream = this.stream;
    const body = chunk === undefined || this.noBody ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const empty = body === undefined || body.length === 0;
    if (this.head !== undefined) {
      if (this.respond(empty) && !empty) stream.end(body);
    } else if (!stream.writableEnded) {
      if (empty) stream.end();
      else stream.end(body);
    }
    if (this.waitingDrain) {
      this.waitingDrain = false;
      stream.off('drain', this.onDrain);
    }
    // A request body still arriving that nobody reads any more is read and dropped, so the
    // client can finish sending it and the stream can close.
    const req = this.request;
    if (req !== undefined) {
      if (!req.complete) {
        req.dump();
        dropBody(stream);
      }
    } else if (!stream.endAfterHeaders && stream.readableFlowing === null) {
      // Nobody reads the stream (a refused head, a WebSocket answered without a tunnel); one
      // paused on purpose (a WebSocket tunnel's backpressure) stays so.
      stream.resume();
    }
  }

  // --- BodyFlowControl: the request's unread body is over its limit, or read down again ---

  pauseBody(): void {
    this.stream.pause();
  }

  resumeBody(): void {
    this.stream.resume();
  }

  /** Abandon the response: the stream is reset (RST_STREAM INTERNAL_ERROR); 'close' follows. */
  destroy(): void {
    this.reset();
  }

  /** The head goes out (with END_STREAM when nothing follows); false when node:http2 refused it and the stream was reset. */
  private respond(endStream: boolean): boolean {
    const head = this.head!;
    this.head = undefined;
    const stream = this.stream;
    if (stream.destroyed) return false;
    try {
      // Nothing after the head (no body, no trailer fields): it ends the stream itself, as a
      // gRPC Trailers-Only response must (its status is in the head).
      if (!this.trailersWanted || (endStream && !this.hasTrailerFields)) {
        stream.respond(head, { endStream });
        return true;
      }
      stream.respond(head, { waitForTrailers: true });
      stream.once('wantTrailers', this.onWantTrailers);
      if (endStream) stream.end();
      return true;
    } catch {
      this.reset();
      return false;
    }
  }

  private reset(): void {
    if (this.stream.destroyed) return;
    this.resetHere = true;
    this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  private readonly onStreamClose = (): void => {
    this.owner.streamClosed(this.stream, this.resetHere);
    if (this.writableFinished) return;
    this.cutShort = true;
    this.emit('close');
  };

  private readonly onWantTrailers = (): void => {
    try {
      this.stream.sendTrailers(this.trailerFields);
    } catch {
      this.reset(); // a field node:http2 refuses
    }
  };

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.emit('drain');
  };
}

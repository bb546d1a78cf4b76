/**
 * HTTP/1.1 response parser for upstream connections: bytes in, head / body slices / end out.
 * Pure (no I/O, no timers), one instance per connection, reset for each response.
 *
 * Strict where a lenient reading could desynchronise a kept-alive connection (RFC 9112): CRLF
 * line ends, no obs-fold, token header names, no control characters in values, one Content-Length
 * value, a Transfer-Encoding that does not end in chunked reads until close. Anything else is an
 * `UpstreamError` with code `UPSTREAM_BAD_RESPONSE` and the connection is not reused.
 *
 * Cost for a typical response that arrives in one read: one indexOf for the head's end, one latin1
 * slice, one split into lines, one indexOf per header line; body bytes are passed on as subarrays,
 * never copied.
 */
import { UpstreamError } from './upstream-error.js';

/** A response head larger than this is refused (Node's own limit is 16 KiB; nginx's 4–8 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line (hex size plus extensions) longer than this is refused. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;

export interface ResponseHead {
  status: number;
  /** Flat [name, value, …] in arrival order; names keep their case, values are trimmed. */
  headers: string[];
}

/** Where the parser's results go (the connection, which hands them to the request's handler). */
export interface ResponseSink {
  /** The final (non-1xx) head. */
  onHead(head: ResponseHead): void;
  onBody(chunk: Buffer): void;
  /** The response ended; `tail` is its last body bytes when they came in the read that ended it (Content-Length bodies). */
  onEnd(tail: Buffer | undefined): void;
}

const enum State {
  /** No response expected: any byte is an error. */
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
}

const CRLF_CRLF = '\r\n\r\n';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, space and tab (RFC 9110 §5.5). */
// eslint-disable-next-line no-control-regex -- finding control characters in a field value is this pattern's job
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
const HEX_SIZE = /^[0-9A-Fa-f]{1,12}$/;

export class ResponseParser {
  private state = State.Idle;
  /** HEAD request: the response has no body whatever it says. */
  private noBody = false;
  /** Bytes of a head, chunk line or trailer section that spans reads. */
  private partial: Buffer | undefined;
  /** Body bytes left: Content-Length remainder, or of the current chunk. */
  private remaining = 0;
  /** Whether the connection may carry the next request once this response ends. */
  keepAlive = true;
  /** `Keep-Alive: timeout=N` from the last response, in ms (−1 when absent). */
  keepAliveHintMs = -1;
  /** Whether any byte of the current response has arrived. */
  started = false;

  constructor(private readonly sink: ResponseSink) {}

  /** Expect the response to a request just sent (`noBody` for HEAD). */
  expect(noBody: boolean): void {
    this.state = State.Head;
    this.noBody = noBody;
    this.partial = undefined;
    this.keepAlive = true;
    this.keepAliveHintMs = -1;
    this.started = false;
  }

  /** Whether a response is under way (expected and not yet ended). */
  get busy(): boolean {
    return this.state !== State.Idle;
  }

  /**
   * Feed bytes read from the connection. Throws UpstreamError on a malformed or unsolicited
   * response. Bytes after the end of the response are dropped and clear `keepAlive`.
   */
  execute(data: Buffer): void {
    let at = 0;
    const end = data.length;
    if (end === 0) return;
    if (this.state === State.Idle) {
      this.keepAlive = false;
      throw bad(`${end} bytes arrived with no request outstanding`);
    }
    this.started = true;
    while (at < end && (this.state as State) !== State.Idle) {
      switch (this.state) {
        case State.Head:
          at = this.head(data, at);
          break;
        case State.Length: {
          const n = Math.min(this.remaining, end - at);
          this.remaining -= n;
          const chunk = data.subarray(at, at + n);
          at += n;
          // The last bytes go with the end, so the client gets body and end in one call.
          if (this.remaining === 0) this.done(chunk);
          else this.sink.onBody(chunk);
          break;
        }
        case State.ChunkSize:
          at = this.chunkSize(data, at);
          break;
        case State.ChunkData: {
          const n = Math.min(this.remaining, end - at);
          this.remaining -= n;
          const chunk = data.subarray(at, at + n);
          at += n;
          this.sink.onBody(chunk);
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd:
          at = this.chunkDataEnd(data, at);
          break;
        case State.Trailers:
          at = this.trailers(data, at);
          break;
        case State.UntilClose:
          this.sink.onBody(at === 0 ? data : data.subarray(at));
          at = end;
          break;
      }
    }
    // Bytes after a complete response: nothing was pipelined, so the connection is out of step.
    if (at < end) this.keepAlive = false;
  }

  /** The upstream closed its side: ends a read-until-close body; throws if a response was cut short. */
  finish(): void {
    if (this.state === State.UntilClose) {
      this.keepAlive = false;
      this.done();
      return;
    }
    if (this.state === State.Idle) return;
    this.keepAlive = false;
    this.state = State.Idle;
    throw new UpstreamError('UPSTREAM_CLOSED', 'endpoint closed the connection before the response ended');
  }

  // --- head ---

  private head(data: Buffer, at: number): number {
    let buf = data;
    let from = at;
    let searchFrom = at;
    if (this.partial !== undefined) {
      // Look for CRLFCRLF across the seam: restart the search three bytes before the old end.
      searchFrom = Math.max(0, this.partial.length - 3);
      buf = Buffer.concat([this.partial, data.subarray(at)]);
      from = 0;
    }
    const crlf2 = buf.indexOf(CRLF_CRLF, searchFrom, 'latin1');
    if (crlf2 < 0) {
      // Up to three bytes of the CRLFCRLF may be here already: they do not count against the head.
      if (buf.length - from > MAX_HEAD_BYTES + 3) throw bad(`response head larger than ${MAX_HEAD_BYTES} bytes`);
      this.partial = Buffer.from(buf.subarray(from));
      return data.length;
    }
    if (crlf2 - from > MAX_HEAD_BYTES) throw bad(`response head larger than ${MAX_HEAD_BYTES} bytes`);
    const consumedOfData = this.partial !== undefined ? crlf2 + 4 - this.partial.length + at : crlf2 + 4;
    this.partial = undefined;
    this.parseHead(buf.toString('latin1', from, crlf2));
    return consumedOfData;
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const status = statusOf(lines[0]!);
    const http10 = lines[0]!.charCodeAt(7) === 48; /* HTTP/1.0 */
    const headers: string[] = [];
    let contentLength = -1;
    let transferEncoding: string | undefined;
    let close = http10;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw bad(`malformed header line "${printable(line)}"`);
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) throw bad(`malformed header name "${printable(name)}"`);
      const value = trimOws(line, colon + 1);
      if (BAD_VALUE_CHAR.test(value)) throw bad(`control character in header "${name}"`);
      headers.push(name, value);
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') contentLength = lengthOf(value, contentLength);
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding')
            transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
          break;
        case 10: {
          const lower = name.toLowerCase();
          if (lower === 'connection') {
            const tokens = value.toLowerCase();
            if (tokens.includes('close')) close = true;
            else if (http10 && tokens.includes('keep-alive')) close = false;
          } else if (lower === 'keep-alive') {
            const m = /(?:^|[\s,;])timeout\s*=\s*(\d+)/i.exec(value);
            if (m !== null) this.keepAliveHintMs = Number(m[1]) * 1000;
          }
          break;
        }
      }
    }

    if (status < 200) {
      // 1xx informational (100 Continue, 103 Early Hints): dropped; the final head follows.
      // 101 would switch protocols, which this path never asks for.
      if (status === 101) throw bad('101 Switching Protocols on a request that asked for no upgrade');
      this.keepAliveHintMs = -1;
      return;
    }

    this.keepAlive = !close;
    this.sink.onHead({ status, headers });
    if (this.noBody || status === 204 || status === 304) {
      this.done();
    } else if (transferEncoding !== undefined) {
      // RFC 9112 §6.1: Transfer-Encoding overrides Content-Length; a sender that sends both
      // is suspect, so the connection is not reused. A final coding other than chunked means
      // the body ends when the connection does.
      if (contentLength >= 0 || http10) this.keepAlive = false;
      if (/(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) this.state = State.ChunkSize;
      else {
        this.keepAlive = false;
        this.state = State.UntilClose;
      }
    } else if (contentLength >= 0) {
      this.remaining = contentLength;
      if (contentLength === 0) this.done();
      else this.state = State.Length;
    } else {
      this.keepAlive = false;
      this.state = State.UntilClose;
    }
  }

  // --- chunked body ---

  private chunkSize(data: Buffer, at: number): number {
    const line = this.line(data, at, MAX_CHUNK_LINE_BYTES, 'chunk-size line');
    if (line === undefined) return data.length;
    const semi = line.text.indexOf(';');
    const hex = (semi < 0 ? line.text : line.text.slice(0, semi)).trimEnd();
    if (!HEX_SIZE.test(hex)) throw bad(`malformed chunk size "${printable(line.text)}"`);
    const size = parseInt(hex, 16);
    if (size === 0) this.state = State.Trailers;
    else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return line.next;
  }

  private chunkDataEnd(data: Buffer, at: number): number {
    const line = this.line(data, at, 2, 'CRLF after chunk data');
    if (line === undefined) return data.length;
    if (line.text !== '') throw bad('missing CRLF after chunk data');
    this.state = State.ChunkSize;
    return line.next;
  }

  /** Trailer fields after the last chunk: read and dropped (nothing downstream asked for them). */
  private trailers(data: Buffer, at: number): number {
    let next = at;
    for (;;) {
      const line = this.line(data, next, MAX_HEAD_BYTES, 'trailer section');
      if (line === undefined) return data.length;
      next = line.next;
      if (line.text === '') {
        this.done();
        return next;
      }
      if (line.text.indexOf(':') <= 0) throw bad(`malformed trailer line "${printable(line.text)}"`);
    }
  }

  /**
   * One CRLF-terminated line starting at `at`, joined with any partial line from earlier reads;
   * undefined (and the bytes kept) when the line does not end in `data`.
   */
  private line(data: Buffer, at: number, max: number, what: string): { text: string; next: number } | undefined {
    const lf = data.indexOf(10, at);
    if (lf < 0) {
      const kept = this.partial === undefined ? data.subarray(at) : Buffer.concat([this.partial, data.subarray(at)]);
      if (kept.length > max + 1) throw bad(`${what} longer than ${max} bytes`);
      this.partial = Buffer.from(kept);
      return undefined;
    }
    let text = data.toString('latin1', at, lf);
    if (this.partial !== undefined) {
      text = this.partial.toString('latin1') + text;
      this.partial = undefined;
    }
    if (text.length > max + 1 || text.charCodeAt(text.length - 1) !== 13) throw bad(`${what}: line not ended by CRLF`);
    return { text: text.slice(0, -1), next: lf + 1 };
  }

  private done(tail?: Buffer): void {
    this.state = State.Idle;
    this.sink.onEnd(tail);
  }
}

/** The field value after `from`, without the optional whitespace around it (SP and HTAB only, RFC 9110 §5.6.3). */
function trimOws(line: string, from: number): string {
  let start = from;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === 32 || line.charCodeAt(start) === 9)) start++;
  while (end > start && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--;
  return line.slice(start, end);
}

function statusOf(line: string): number {
  // "HTTP/1.1 200 OK": version, one space, three digits, then the end or a space.
  if (!line.startsWith('HTTP/1.') || (line.charCodeAt(7) !== 48 && line.charCodeAt(7) !== 49) || line.charCodeAt(8) !== 32) {
    throw bad(`malformed status line "${printable(line)}"`);
  }
  const code = line.slice(9, 12);
  if (!/^[1-9]\d\d$/.test(code) || (line.length > 12 && line.charCodeAt(12) !== 32))
    throw bad(`malformed status line "${printable(line)}"`);
  return Number(code);
}

/** Content-Length: digits only; a repeated header (or "5, 5") must agree with itself. */
function lengthOf(value: string, before: number): number {
  let length = -1;
  for (const part of value.split(',')) {
    const p = part.trim();
    if (!/^\d{1,15}$/.test(p)) throw bad(`malformed Content-Length "${printable(value)}"`);
    const n = Number(p);
    if (length >= 0 && n !== length) throw bad(`conflicting Content-Length values "${printable(value)}"`);
    length = n;
  }
  if (before >= 0 && before !== length) throw bad('conflicting Content-Length headers');
  return length;
}

function bad(message: string): UpstreamError {
  return new UpstreamError('UPSTREAM_BAD_RESPONSE', `malformed response from endpoint: ${message}`);
}

/** A header fragment fit for an error message: at most 80 characters, control characters escaped. */
function printable(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(short).slice(1, -1);
}

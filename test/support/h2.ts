/**
 * HTTP/2 clients for the tests: node:http2's (h2c with prior knowledge, or h2 over TLS), and a raw
 * one that writes frames by hand, for what node:http2 refuses to send (connection-specific headers,
 * a preface split over writes, a flood of resets). Its HPACK is literal fields without indexing and
 * without Huffman coding (RFC 7541 §6.2.2), which every decoder must take.
 */
import {
  connect as h2connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type Settings,
} from 'node:http2';
import { connect, type Socket } from 'node:net';

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Each session's first SETTINGS from the server, as h2Session saw them arrive. */
const SERVER_SETTINGS = new WeakMap<ClientHttp2Session, Promise<Settings>>();

/** A session to `url` (`http://` for h2c with prior knowledge), connected. */
export function h2Session(url: string, options: Parameters<typeof h2connect>[1] = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(url, options);
    SERVER_SETTINGS.set(session, new Promise((settings) => session.once('remoteSettings', settings)));
    session.once('connect', () => {
      session.off('error', reject);
      session.on('error', () => {}); // a test that expects the session to fail looks at its streams
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** The server's SETTINGS on a session from h2Session, once they have arrived (`remoteSettings` holds defaults until then). */
export function serverSettings(session: ClientHttp2Session): Promise<Settings> {
  return SERVER_SETTINGS.get(session)!;
}

/** One request on `session`; resolves with the whole response, rejects on a stream error. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders | undefined;
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (head !== undefined) resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) });
    });
    stream.on('error', reject);
    stream.on('close', () => reject(new Error(`stream closed without a response (code ${stream.rstCode})`)));
    if (body !== undefined) stream.end(body);
  });
}

// --- raw frames (RFC 9113 §4) ---

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
export const PREFACE_BYTES = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix. */
function hpackInt(n: number, prefixBits: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [n];
  const out = [max];
  for (n -= max; n >= 128; n >>= 7) out.push((n & 127) | 128);
  out.push(n);
  return out;
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7)), bytes]);
}

/** A HEADERS frame with END_HEADERS (and END_STREAM unless `endStream` is false). */
export function headersFrame(stream: number, fields: [string, string][], endStream = true): Buffer {
  const block = Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), stream, block);
}

export function dataFrame(stream: number, data: Buffer | string, endStream = true): Buffer {
  return frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream, Buffer.from(data));
}

export function rstFrame(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

export const SETTINGS_FRAME = frame(FRAME.SETTINGS, 0, 0);

/** A request's fields: GET `path` on `authority`, then `extra`. */
export function getFields(path: string, authority: string, extra: [string, string][] = []): [string, string][] {
  return [[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', authority], ...extra];
}

/**
 * A raw HTTP/2 client connection: frames out as written, frames in as parsed (SETTINGS acknowledged).
 * Nothing is sent on connect: the test writes the preface, whole or in pieces.
 */
export class RawH2 {
  readonly frames: Frame[] = [];
  closed = false;
  private buffered = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static open(port: number): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new RawH2(socket));
      });
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  /** The preface and an empty SETTINGS frame, then `more`. */
  start(...more: Buffer[]): void {
    this.socket.write(Buffer.concat([PREFACE_BYTES, SETTINGS_FRAME, ...more]));
  }

  write(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** Frames received on `stream` of `type`. */
  on(stream: number, type: number): Frame[] {
    return this.frames.filter((f) => f.stream === stream && f.type === type);
  }

  /** The GOAWAY frame's error code, if one came. */
  goawayCode(): number | undefined {
    const goaway = this.frames.find((f) => f.type === FRAME.GOAWAY);
    return goaway?.payload.readUInt32BE(4);
  }

  /** The RST_STREAM code `stream` got, if any. */
  resetCode(stream: number): number | undefined {
    return this.on(stream, FRAME.RST_STREAM)[0]?.payload.readUInt32BE(0);
  }

  /** Whether a response head came on `stream`. */
  answered(stream: number): boolean {
    return this.on(stream, FRAME.HEADERS).length > 0;
  }

  /** Body bytes received on `stream`. */
  data(stream: number): Buffer {
    return Buffer.concat(this.on(stream, FRAME.DATA).map((f) => f.payload));
  }

  private onData(d: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, d]);
    let i = 0;
    while (i + 9 <= this.buffered.length) {
      const length = this.buffered.readUIntBE(i, 3);
      if (i + 9 + length > this.buffered.length) break;
      const f: Frame = {
        type: this.buffered[i + 3]!,
        flags: this.buffered[i + 4]!,
        stream: this.buffered.readUInt32BE(i + 5) & 0x7fffffff,
        payload: Buffer.from(this.buffered.subarray(i + 9, i + 9 + length)),
      };
      this.frames.push(f);
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && !this.socket.destroyed)
        this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      i += 9 + length;
    }
    this.buffered = this.buffered.subarray(i);
  }
}

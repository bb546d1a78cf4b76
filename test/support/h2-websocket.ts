/**
 * A WebSocket client over HTTP/2 for the tests (RFC 8441): an extended CONNECT on a node:http2
 * session, and the WebSocket frames on its stream encoded and decoded here (RFC 6455 §5: client
 * frames masked, server frames not; no fragmentation sent, continuation frames joined on receipt).
 */
import { randomBytes } from 'node:crypto';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

export const OPCODE = { TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export interface WsFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** One frame, FIN set; masked (a client's) unless `mask` is false. */
export function encodeFrame(opcode: number, payload: Buffer | string, mask = true): Buffer {
  const data = Buffer.from(payload);
  const n = data.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126) {
    head[0] = 0x80 | opcode;
    head[1] = n < 65_536 ? 126 : 127;
    if (n < 65_536) head.writeUInt16BE(n, 2);
    else head.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!mask) return Buffer.concat([head, data]);
  head[1]! |= 0x80;
  const key = randomBytes(4);
  const masked = Buffer.alloc(n);
  for (let i = 0; i < n; i++) masked[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([head, key, masked]);
}

/** Frames out of a byte stream, as they complete. */
export class FrameReader {
  private buffered = Buffer.alloc(0);

  push(chunk: Buffer): WsFrame[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const out: WsFrame[] = [];
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) break;
      let length = b[1]! & 0x7f;
      const masked = (b[1]! & 0x80) !== 0;
      let at = 2;
      if (length === 126) {
        if (b.length < 4) break;
        length = b.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (b.length < 10) break;
        length = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const key = masked ? b.subarray(at, at + 4) : undefined;
      if (masked) at += 4;
      if (b.length < at + length) break;
      const payload = Buffer.from(b.subarray(at, at + length));
      if (key !== undefined) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
      out.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload });
      this.buffered = b.subarray(at + length);
    }
    return out;
  }
}

/** A WebSocket on an HTTP/2 stream that was answered 200: messages (continuations joined) in order. */
export class H2WebSocket {
  /** Resolves when the stream has closed. */
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader();
  private readonly messages: WsFrame[] = [];
  private readonly waiters: Array<(m: WsFrame) => void> = [];
  private partial: WsFrame | undefined;

  constructor(
    readonly stream: ClientHttp2Stream,
    readonly headers: IncomingHttpHeaders,
  ) {
    this.closed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('data', (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) this.onFrame(f);
    });
  }

  send(opcode: number, payload: Buffer | string): boolean {
    return this.stream.write(encodeFrame(opcode, payload));
  }

  /** The next whole message (a close frame is one). */
  next(): Promise<WsFrame> {
    const m = this.messages.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A close frame with `code`, then END_STREAM (nothing is sent after a close; the stream closes once the server ends too). */
  close(code = 1000): void {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.stream.end(encodeFrame(OPCODE.CLOSE, payload));
  }

  private onFrame(f: WsFrame): void {
    if (f.opcode === 0 && this.partial !== undefined) {
      this.partial.payload = Buffer.concat([this.partial.payload, f.payload]);
      if (!f.fin) return;
      f = { fin: true, opcode: this.partial.opcode, payload: this.partial.payload };
      this.partial = undefined;
    } else if (!f.fin) {
      this.partial = f;
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(f);
    else this.messages.push(f);
  }
}

export interface ConnectAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** On 200. */
  ws?: H2WebSocket;
  /** Otherwise: the whole body. */
  body: Buffer;
}

/**
 * An extended CONNECT for `path` on `session` (`:protocol` websocket unless given, `:scheme`
 * http unless given), with `headers` beside; resolves once answered (a refusal's body read whole),
 * rejects when the stream closes unanswered.
 */
export function connectWebSocket(session: ClientHttp2Session, path: string, headers: OutgoingHttpHeaders = {}): Promise<ConnectAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path, ...headers },
      { endStream: false },
    );
    stream.on('error', () => {}); // 'close' says it
    const onClose = (): void => reject(new Error(`stream closed without an answer (code ${stream.rstCode})`));
    stream.once('close', onClose);
    stream.once('response', (head) => {
      const status = Number(head[':status']);
      if (status === 200) {
        stream.off('close', onClose);
        return resolve({ status, headers: head, ws: new H2WebSocket(stream, head), body: Buffer.alloc(0) });
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => {
        stream.off('close', onClose);
        resolve({ status, headers: head, body: Buffer.concat(chunks) });
      });
    });
  });
}

/**
 * h2c with prior knowledge on the cleartext data port: a client that knows the port speaks HTTP/2
 * opens with the connection preface (RFC 9113 §3.4) instead of an HTTP/1.1 request. The HTTP/1.1
 * servers spot it on a connection's first bytes and hand the socket, with the bytes read so far,
 * to the HTTP/2 sessions (http2-sessions.ts), which serve it from there.
 *
 * The data port's own server learns it from llhttp, which stops at a preface with
 * HPE_PAUSED_H2_UPGRADE: nothing is checked on the HTTP/1.1 path. The node:http adapter reads a
 * connection's first bytes itself (prefaceOf).
 */
import type { Socket } from 'node:net';

/** `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, 24 bytes. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Where a cleartext server hands a connection that began with the preface; it owns the connection from then on. */
export interface H2cHandoff {
  /** `head`: every byte read from the socket so far, the preface first; the session reads them before the socket's next. */
  serve(socket: Socket, head: Buffer): void;
  /** Open sessions. */
  readonly sessionCount: number;
  /** GOAWAY to every session; resolves once all have closed (their open streams finish first). */
  close(): Promise<void>;
  /** Sessions with no open stream close now; the others after their last stream (GOAWAY first). */
  closeIdleSessions(): void;
  /** Every session closes now. */
  closeAllSessions(): void;
}

/**
 * What a connection's first bytes say: the preface ('h2'), a beginning of it that needs more bytes
 * to tell ('more'), or anything else ('http1').
 *
 * @example prefaceOf(Buffer.from('PRI * HTTP/2.0\r\n'))   // 'more'
 * @example prefaceOf(Buffer.from('POST /v2/models/iris')) // 'http1' (decided at the second byte)
 */
export function prefaceOf(head: Buffer): 'h2' | 'more' | 'http1' {
  const n = Math.min(head.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== PREFACE[i]) return 'http1';
  return n === PREFACE.length ? 'h2' : 'more';
}

/**
 * Whether llhttp's HPE_PAUSED_H2_UPGRADE on `chunk` (stopped at `bytesParsed`) is a preface at the
 * very start of the connection: the socket has read exactly the preface's 24 bytes before what is
 * left of the chunk. llhttp also takes a preface after empty lines or after an earlier request,
 * which the count refuses, and with another one-character target, which a comparison of the bytes
 * refuses when the whole preface came in this chunk (as clients send it: in one write). A preface
 * split over reads is taken on llhttp's word. Returns the bytes for the session (the preface and
 * the rest of the chunk), or undefined.
 */
export function prefaceAtStart(socket: Socket, chunk: Buffer, bytesParsed: number): Buffer | undefined {
  if (socket.bytesRead - (chunk.length - bytesParsed) !== PREFACE.length) return undefined;
  if (bytesParsed < PREFACE.length) return Buffer.concat([PREFACE, chunk.subarray(bytesParsed)]);
  return chunk.compare(PREFACE, 0, PREFACE.length, 0, PREFACE.length) === 0 ? chunk : undefined;
}

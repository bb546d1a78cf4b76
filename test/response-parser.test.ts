import { describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES, ResponseParser, type ResponseHead } from '../src/upstream/response-parser.js';
import { UpstreamError, type UpstreamErrorCode } from '../src/upstream/upstream-error.js';

/** Everything the parser said about one response. */
interface Outcome {
  heads: ResponseHead[];
  /** Each onBody slice, latin1. */
  onBody: string[];
  /** onEnd's tail: null when onEnd had none, undefined when onEnd was not called. */
  tail: string | null | undefined;
  ends: number;
  /** Sink calls in order: 'head' | 'body' | 'end'. */
  calls: string[];
  keepAlive: boolean;
  hintMs: number;
  busy: boolean;
  error: { code: string; message: string } | undefined;
}

interface RunOptions {
  /** The request was HEAD. */
  noBody?: boolean;
  /** No request outstanding: expect() is not called. */
  idle?: boolean;
  /** The endpoint closes its side after the input (finish()). */
  close?: boolean;
  /**
   * Every read lands in one buffer, overwritten by the next (as with a socket's `onread`): the
   * parser must not keep views of an earlier read.
   */
  reuse?: boolean;
}

/** Feeds `pieces` as separate reads; stops at the first error. */
function run(pieces: Buffer[], { noBody = false, idle = false, close = false, reuse = false }: RunOptions = {}): Outcome {
  const out: Outcome = {
    heads: [],
    onBody: [],
    tail: undefined,
    ends: 0,
    calls: [],
    keepAlive: true,
    hintMs: -1,
    busy: false,
    error: undefined,
  };
  const parser = new ResponseParser({
    onHead(head) {
      out.heads.push(head);
      out.calls.push('head');
    },
    onBody(chunk) {
      out.onBody.push(chunk.toString('latin1'));
      out.calls.push('body');
    },
    onEnd(tail) {
      out.ends++;
      out.tail = tail === undefined ? null : tail.toString('latin1');
      out.calls.push('end');
    },
  });
  if (!idle) parser.expect(noBody);
  try {
    const shared = Buffer.alloc(Math.max(0, ...pieces.map((p) => p.length)));
    for (const piece of pieces) {
      if (!reuse) {
        parser.execute(piece);
        continue;
      }
      piece.copy(shared);
      parser.execute(shared.subarray(0, piece.length));
      shared.fill(0xee);
    }
    if (close) parser.finish();
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    out.error = { code: err.code, message: err.message };
  }
  out.keepAlive = parser.keepAlive;
  out.hintMs = parser.keepAliveHintMs;
  out.busy = parser.busy;
  return out;
}

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** All body bytes, however they were delivered (onBody slices, then the tail). */
function bodyOf(o: Outcome): string {
  return o.onBody.join('') + (o.tail ?? '');
}

interface Row extends RunOptions {
  label: string;
  /** Response bytes (latin1): one read, or several. */
  input: string | string[];
  wantStatus?: number;
  wantHeaders?: string[];
  wantBody?: string;
  /** The exact onBody slices. */
  wantOnBody?: string[];
  /** onEnd's tail; null: none. */
  wantTail?: string | null;
  /** Whether the response ended; default: true unless an error is wanted. */
  wantEnd?: boolean;
  wantKeepAlive?: boolean;
  wantHintMs?: number;
  wantCode?: UpstreamErrorCode;
  wantMessage?: RegExp;
  /** Splitting changes the meaning (bytes after the end would arrive as a read of their own). */
  wholeOnly?: true;
}

function assertRow(row: Row, got: Outcome): void {
  if (row.wantCode !== undefined) {
    expect(got.error, 'error').toBeDefined();
    expect(got.error!.code).toBe(row.wantCode);
    if (row.wantMessage !== undefined) expect(got.error!.message).toMatch(row.wantMessage);
  } else {
    expect(got.error, 'error').toBeUndefined();
  }
  // Whatever happened, the sink heard at most one head, then body, then at most one end.
  expect(got.calls.join(' ')).toMatch(/^(head( body)*( end)?)?$/);

  const wantEnd = row.wantEnd ?? row.wantCode === undefined;
  expect(got.ends, 'onEnd calls').toBe(wantEnd ? 1 : 0);
  if (wantEnd) expect(got.busy, 'busy after the end').toBe(false);
  if (row.wantCode === undefined && !wantEnd) expect(got.busy, 'busy before the end').toBe(!row.idle);

  if (row.wantStatus !== undefined) {
    expect(got.heads.map((h) => h.status)).toEqual([row.wantStatus]);
  }
  if (row.wantHeaders !== undefined) expect(got.heads[0]?.headers).toEqual(row.wantHeaders);
  if (row.wantBody !== undefined) expect(bodyOf(got), 'body').toBe(row.wantBody);
  if (row.wantOnBody !== undefined) expect(got.onBody, 'onBody slices').toEqual(row.wantOnBody);
  if (row.wantTail !== undefined) expect(got.tail, 'tail').toBe(row.wantTail);
  if (row.wantKeepAlive !== undefined) expect(got.keepAlive, 'keepAlive').toBe(row.wantKeepAlive);
  if (row.wantHintMs !== undefined) expect(got.hintMs, 'keepAliveHintMs').toBe(row.wantHintMs);
}

function piecesOf(row: Row): Buffer[] {
  return (typeof row.input === 'string' ? [row.input] : row.input).map(bytes);
}

const OK_HEAD = 'HTTP/1.1 200 OK\r\n';
const CHUNKED = `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n`;

const rows: Row[] = [
  // --- Content-Length ---
  {
    label: 'Content-Length body, one read: the whole body is the tail',
    input: `${OK_HEAD}Content-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world`,
    wantStatus: 200,
    wantHeaders: ['Content-Type', 'text/plain', 'Content-Length', '11'],
    wantBody: 'hello world',
    wantOnBody: [],
    wantTail: 'hello world',
    wantKeepAlive: true,
    wantHintMs: -1,
  },
  {
    label: 'Content-Length body over three reads: the last read is the tail, not onBody',
    input: [`${OK_HEAD}Content-Length: 11\r\n\r\nhello`, ' wor', 'ld'],
    wantBody: 'hello world',
    wantOnBody: ['hello', ' wor'],
    wantTail: 'ld',
    wantKeepAlive: true,
  },
  {
    label: 'Content-Length body whose head and body arrive apart',
    input: [`${OK_HEAD}Content-Length: 5\r\n\r\n`, 'hello'],
    wantOnBody: [],
    wantTail: 'hello',
    wantKeepAlive: true,
  },
  {
    label: 'Content-Length 0: ends at the head, no tail',
    input: `${OK_HEAD}Content-Length: 0\r\n\r\n`,
    wantStatus: 200,
    wantBody: '',
    wantOnBody: [],
    wantTail: null,
    wantKeepAlive: true,
  },
  {
    label: 'Content-Length body not yet complete: no end',
    input: `${OK_HEAD}Content-Length: 10\r\n\r\nhello`,
    wantEnd: false,
    wantOnBody: ['hello'],
    wantTail: undefined,
  },
  {
    label: 'Content-Length repeated with the same value',
    input: `${OK_HEAD}Content-Length: 2\r\nContent-Length: 2\r\n\r\nok`,
    wantBody: 'ok',
    wantKeepAlive: true,
  },
  {
    label: 'Content-Length list of one value repeated ("2, 2")',
    input: `${OK_HEAD}Content-Length: 2, 2\r\n\r\nok`,
    wantBody: 'ok',
    wantKeepAlive: true,
  },
  {
    label: 'body bytes are not parsed (CRLFs and a status line inside the body)',
    input: `${OK_HEAD}Content-Length: 25\r\n\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\nxx`,
    wantBody: '\r\n\r\nHTTP/1.1 200 OK\r\n\r\nxx',
    wantKeepAlive: true,
  },

  // --- headers ---
  {
    label: 'header names keep their case, values are trimmed, order and repeats kept',
    input: `${OK_HEAD}X-Upper: 1\r\nx-lower:\t 2 \t\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\nX-Tab: a\tb\r\nContent-Length: 0\r\n\r\n`,
    wantHeaders: [
      'X-Upper',
      '1',
      'x-lower',
      '2',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X-Empty',
      '',
      'X-Tab',
      'a\tb',
      'Content-Length',
      '0',
    ],
  },
  {
    label: 'obs-text (latin1) bytes in a value are kept',
    input: `${OK_HEAD}X-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n`,
    wantHeaders: ['X-Name', 'caf\u00e9', 'Content-Length', '0'],
  },
  {
    // RFC 9112 §5: only OWS (SP / HTAB) surrounds a field value; 0xA0 is obs-text, part of the value.
    label: 'obs-text at the ends of a value is part of the value (only SP and HTAB are trimmed)',
    input: `${OK_HEAD}X-Name: \xa0caf\xe9\xa0\r\nContent-Length: 0\r\n\r\n`,
    wantHeaders: ['X-Name', '\u00a0caf\u00e9\u00a0', 'Content-Length', '0'],
  },
  {
    label: 'status line without a reason phrase',
    input: 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n',
    wantStatus: 404,
  },
  {
    label: 'status line with an empty reason phrase',
    input: 'HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n',
    wantStatus: 503,
  },
  {
    label: 'head split inside its final CRLFCRLF',
    input: [`${OK_HEAD}Content-Length: 2\r\n\r`, '\nok'],
    wantStatus: 200,
    wantBody: 'ok',
  },

  // --- chunked ---
  {
    label: 'chunked with chunk extensions and trailers',
    input:
      `${OK_HEAD}Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n` +
      '5;name=value\r\nhello\r\n' +
      '6 ;a=1;b="x;y"\r\n world\r\n' +
      '0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n',
    wantStatus: 200,
    wantHeaders: ['Transfer-Encoding', 'chunked', 'Trailer', 'X-Checksum'],
    wantBody: 'hello world',
    wantOnBody: ['hello', ' world'],
    wantTail: null,
    wantKeepAlive: true,
  },
  {
    label: 'chunked with upper- and lower-case hex sizes and leading zeros',
    input: `${CHUNKED}A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0003\r\nxyz\r\n0\r\n\r\n`,
    wantBody: '0123456789abcdefghijkxyz',
    wantKeepAlive: true,
  },
  {
    label: 'chunked with no data chunks',
    input: `${CHUNKED}0\r\n\r\n`,
    wantBody: '',
    wantOnBody: [],
    wantTail: null,
    wantKeepAlive: true,
  },
  {
    label: 'chunked not yet complete: no end',
    input: `${CHUNKED}5\r\nhello\r\n`,
    wantEnd: false,
    wantOnBody: ['hello'],
  },
  {
    label: 'chunked: data chunk split over reads',
    input: [`${CHUNKED}B\r\nhello`, ' world\r\n0\r\n', '\r\n'],
    wantOnBody: ['hello', ' world'],
    wantKeepAlive: true,
  },
  {
    label: 'Transfer-Encoding "gzip, chunked": chunked',
    input: `${OK_HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    wantBody: 'abc',
    wantKeepAlive: true,
  },
  {
    label: 'Transfer-Encoding over two lines ending in chunked: chunked',
    input: `${OK_HEAD}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    wantBody: 'abc',
    wantKeepAlive: true,
  },
  {
    // RFC 9112 §6.1: Transfer-Encoding overrides Content-Length; the connection is not reused.
    label: 'Transfer-Encoding and Content-Length: chunked wins, keepAlive false',
    input: `${OK_HEAD}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    wantBody: 'hello',
    wantKeepAlive: false,
  },
  {
    // RFC 9112 §6.3: a final coding other than chunked: the body ends when the connection does.
    label: 'Transfer-Encoding gzip: read until close',
    input: `${OK_HEAD}Transfer-Encoding: gzip\r\n\r\n\x1f\x8bdata`,
    close: true,
    wantBody: '\x1f\x8bdata',
    wantKeepAlive: false,
  },
  {
    label: 'Transfer-Encoding "chunked, gzip": read until close',
    input: `${OK_HEAD}Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    close: true,
    wantBody: '5\r\nhello\r\n0\r\n\r\n',
    wantKeepAlive: false,
  },
  {
    label: 'Transfer-Encoding gzip before the close: no end yet',
    input: `${OK_HEAD}Transfer-Encoding: gzip\r\n\r\nxyz`,
    wantEnd: false,
    wantOnBody: ['xyz'],
  },

  // --- read until close ---
  {
    label: 'no length: read until close, ended by finish()',
    input: [`${OK_HEAD}Content-Type: text/plain\r\n\r\nhello`, ' world'],
    close: true,
    wantBody: 'hello world',
    wantOnBody: ['hello', ' world'],
    wantTail: null,
    wantKeepAlive: false,
  },
  {
    label: 'no length and an empty body: finish() ends it',
    input: `${OK_HEAD}\r\n`,
    close: true,
    wantStatus: 200,
    wantHeaders: [],
    wantBody: '',
    wantKeepAlive: false,
  },
  {
    label: 'no length before the close: no end yet',
    input: `${OK_HEAD}\r\nhello`,
    wantEnd: false,
    wantOnBody: ['hello'],
  },

  // --- responses without a body ---
  {
    label: 'HEAD: Content-Length is ignored, ends at the head',
    input: `${OK_HEAD}Content-Length: 5\r\n\r\n`,
    noBody: true,
    wantStatus: 200,
    wantHeaders: ['Content-Length', '5'],
    wantBody: '',
    wantTail: null,
    wantKeepAlive: true,
  },
  {
    label: 'HEAD: Transfer-Encoding chunked is ignored, ends at the head',
    input: `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n`,
    noBody: true,
    wantBody: '',
    wantKeepAlive: true,
  },
  {
    label: 'HEAD: no length at all still ends at the head (no read until close)',
    input: `${OK_HEAD}\r\n`,
    noBody: true,
    wantBody: '',
    wantKeepAlive: true,
  },
  {
    label: '204 without a length ends at the head',
    input: 'HTTP/1.1 204 No Content\r\n\r\n',
    wantStatus: 204,
    wantBody: '',
    wantTail: null,
    wantKeepAlive: true,
  },
  {
    label: '304 with a Content-Length ends at the head',
    input: 'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nContent-Length: 1234\r\n\r\n',
    wantStatus: 304,
    wantBody: '',
    wantKeepAlive: true,
  },

  // --- 1xx ---
  {
    label: '100 Continue then a final 200: the 1xx is dropped',
    input: `HTTP/1.1 100 Continue\r\n\r\n${OK_HEAD}Content-Length: 2\r\n\r\nok`,
    wantStatus: 200,
    wantHeaders: ['Content-Length', '2'],
    wantBody: 'ok',
    wantKeepAlive: true,
  },
  {
    label: '100 Continue and 103 Early Hints then a final 200: both dropped',
    input:
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n' +
      `${OK_HEAD}Content-Length: 2\r\n\r\nok`,
    wantStatus: 200,
    wantHeaders: ['Content-Length', '2'],
    wantBody: 'ok',
  },
  {
    label: '1xx and the final head in separate reads',
    input: ['HTTP/1.1 103 Early Hints\r\nLink: </a.js>\r\n\r\n', `${OK_HEAD}Content-Length: 2\r\n\r\nok`],
    wantStatus: 200,
    wantBody: 'ok',
  },
  {
    label: 'a 1xx alone: no head, no end yet',
    input: 'HTTP/1.1 100 Continue\r\n\r\n',
    wantEnd: false,
    wantOnBody: [],
  },
  {
    label: "a 1xx's Keep-Alive and Connection do not carry over to the final response",
    input: 'HTTP/1.1 103 Early Hints\r\nKeep-Alive: timeout=9\r\nConnection: close\r\n\r\n' + `${OK_HEAD}Content-Length: 0\r\n\r\n`,
    wantHintMs: -1,
    wantKeepAlive: true,
  },
  {
    label: '101 Switching Protocols is an error',
    input: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /101 Switching Protocols/,
  },

  // --- connection reuse ---
  {
    label: 'HTTP/1.1 keeps the connection by default',
    input: `${OK_HEAD}Content-Length: 0\r\n\r\n`,
    wantKeepAlive: true,
    wantHintMs: -1,
  },
  {
    label: 'HTTP/1.1 Connection: close: keepAlive false',
    input: `${OK_HEAD}Connection: close\r\nContent-Length: 2\r\n\r\nok`,
    wantBody: 'ok',
    wantKeepAlive: false,
  },
  {
    label: 'Connection: Close (any case, in a list): keepAlive false',
    input: `${OK_HEAD}Connection: X-Foo, Close\r\nContent-Length: 0\r\n\r\n`,
    wantKeepAlive: false,
  },
  {
    label: 'HTTP/1.0: closes by default',
    input: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
    wantBody: 'ok',
    wantKeepAlive: false,
  },
  {
    label: 'HTTP/1.0 with Connection: keep-alive: kept',
    input: 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok',
    wantBody: 'ok',
    wantKeepAlive: true,
  },
  {
    label: 'HTTP/1.0 without a length: read until close',
    input: 'HTTP/1.0 200 OK\r\n\r\nlegacy',
    close: true,
    wantBody: 'legacy',
    wantKeepAlive: false,
  },
  {
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; close after it.
    label: 'HTTP/1.0 with Transfer-Encoding: not reused even with Connection: keep-alive',
    input: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    wantKeepAlive: false,
  },
  {
    label: 'Keep-Alive: timeout=5 → hint 5000 ms',
    input: `${OK_HEAD}Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n`,
    wantHintMs: 5000,
    wantKeepAlive: true,
  },
  {
    label: 'Keep-Alive: max=100, timeout=30 → hint 30000 ms',
    input: `${OK_HEAD}Keep-Alive: max=100, timeout=30\r\nContent-Length: 0\r\n\r\n`,
    wantHintMs: 30_000,
  },
  {
    label: 'Keep-Alive without a timeout → no hint',
    input: `${OK_HEAD}Keep-Alive: max=100\r\nContent-Length: 0\r\n\r\n`,
    wantHintMs: -1,
  },
  {
    label: 'bytes after a complete Content-Length response: dropped, keepAlive false',
    input: `${OK_HEAD}Content-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n`,
    wholeOnly: true,
    wantBody: 'ok',
    wantOnBody: [],
    wantTail: 'ok',
    wantKeepAlive: false,
  },
  {
    label: 'bytes after a complete chunked response: dropped, keepAlive false',
    input: `${CHUNKED}2\r\nok\r\n0\r\n\r\nextra`,
    wholeOnly: true,
    wantBody: 'ok',
    wantKeepAlive: false,
  },
  {
    label: 'bytes after a 204: dropped, keepAlive false',
    input: 'HTTP/1.1 204 No Content\r\n\r\nstray body',
    wholeOnly: true,
    wantBody: '',
    wantKeepAlive: false,
  },
  {
    label: 'bytes with no request outstanding: error',
    input: `${OK_HEAD}Content-Length: 0\r\n\r\n`,
    idle: true,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /no request outstanding/,
    wantKeepAlive: false,
  },
  {
    label: 'a read after the response ended: error',
    input: [`${OK_HEAD}Content-Length: 2\r\n\r\nok`, 'X'],
    wholeOnly: true,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /1 bytes arrived with no request outstanding/,
    wantEnd: true,
    wantKeepAlive: false,
  },

  // --- cut short ---
  {
    label: 'finish() mid Content-Length body',
    input: `${OK_HEAD}Content-Length: 10\r\n\r\nhello`,
    close: true,
    wantCode: 'UPSTREAM_CLOSED',
    wantMessage: /closed the connection before the response ended/,
    wantKeepAlive: false,
  },
  {
    label: 'finish() mid chunked body',
    input: `${CHUNKED}5\r\nhel`,
    close: true,
    wantCode: 'UPSTREAM_CLOSED',
    wantKeepAlive: false,
  },
  {
    label: 'finish() in the trailers',
    input: `${CHUNKED}0\r\nX-Checksum: 1\r\n`,
    close: true,
    wantCode: 'UPSTREAM_CLOSED',
  },
  {
    label: 'finish() mid head',
    input: 'HTTP/1.1 200 OK\r\nContent-Le',
    close: true,
    wantCode: 'UPSTREAM_CLOSED',
  },
  {
    label: 'finish() before any byte',
    input: [],
    close: true,
    wantCode: 'UPSTREAM_CLOSED',
  },
  {
    label: 'finish() with no request outstanding: nothing',
    input: [],
    idle: true,
    close: true,
    wantEnd: false,
  },

  // --- malformed ---
  {
    label: 'status code of two digits',
    input: 'HTTP/1.1 20 OK\r\n\r\n',
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed status line "HTTP\/1\.1 20 OK"/,
  },
  {
    label: 'status code of four digits',
    input: 'HTTP/1.1 2000 OK\r\n\r\n',
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed status line/,
  },
  {
    label: 'no space after the status code',
    input: 'HTTP/1.1 200OK\r\n\r\n',
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed status line/,
  },
  { label: 'HTTP/2 status line', input: 'HTTP/2 200 OK\r\n\r\n', wantCode: 'UPSTREAM_BAD_RESPONSE', wantMessage: /malformed status line/ },
  {
    label: 'lower-case protocol name',
    input: 'http/1.1 200 OK\r\n\r\n',
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed status line/,
  },
  {
    label: 'not HTTP at all',
    input: 'SSH-2.0-OpenSSH_9.6\r\n\r\n',
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed status line "SSH-2\.0-OpenSSH_9\.6"/,
  },
  {
    label: 'empty line before the status line',
    input: `\r\n${OK_HEAD}Content-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed status line/,
  },
  {
    label: 'LF-only chunk-size line',
    input: `${CHUNKED}5\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /chunk-size line: line not ended by CRLF/,
  },
  {
    label: 'LF-only line end after chunk data',
    input: `${CHUNKED}5\r\nhello\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /CRLF after chunk data: line not ended by CRLF/,
  },
  {
    label: 'LF-only last-chunk line',
    input: `${CHUNKED}0\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /chunk-size line: line not ended by CRLF/,
  },
  {
    label: 'LF-only end of the trailer section',
    input: `${CHUNKED}0\r\n\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /trailer section: line not ended by CRLF/,
  },
  {
    label: 'obs-fold header line (continuation starting with a space)',
    input: `${OK_HEAD}X-Long: one\r\n two\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed header line " two"/,
  },
  {
    label: 'obs-fold header line (continuation starting with a tab, holding a colon)',
    input: `${OK_HEAD}X-Long: one\r\n\tContent-Length: 5\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed header name "\\tContent-Length"/,
  },
  {
    label: 'header name with a space',
    input: `${OK_HEAD}Bad Name: x\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed header name "Bad Name"/,
  },
  {
    // RFC 9112 §5.1: no whitespace between a field name and the colon.
    label: 'space between a header name and its colon',
    input: `${OK_HEAD}Content-Length : 5\r\n\r\nhello`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed header name "Content-Length "/,
  },
  {
    label: 'header line without a colon',
    input: `${OK_HEAD}NoColonHere\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed header line "NoColonHere"/,
  },
  {
    label: 'header line with an empty name',
    input: `${OK_HEAD}: value\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed header line/,
  },
  {
    label: 'control character (SOH) in a value',
    input: `${OK_HEAD}X-A: a\x01b\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /control character in header "X-A"/,
  },
  {
    label: 'NUL in a value',
    input: `${OK_HEAD}X-A: a\x00b\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /control character in header "X-A"/,
  },
  {
    label: 'DEL in a value',
    input: `${OK_HEAD}X-A: a\x7fb\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /control character in header "X-A"/,
  },
  {
    label: 'bare CR in a value',
    input: `${OK_HEAD}X-A: a\rb\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /control character in header "X-A"/,
  },
  {
    label: 'bare LF in a value',
    input: `${OK_HEAD}X-A: a\nb\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /control character in header "X-A"/,
  },
  {
    // RFC 9110 §5.5: a field value holds no control characters but HTAB, at its ends included.
    label: 'control character (VT) at the end of a value',
    input: `${OK_HEAD}X-A: ab\x0b\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /control character in header "X-A"/,
  },
  {
    label: 'two Content-Length headers with different values',
    input: `${OK_HEAD}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /conflicting Content-Length headers/,
  },
  {
    label: 'one Content-Length header with two different values',
    input: `${OK_HEAD}Content-Length: 5, 6\r\n\r\nhello!`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /conflicting Content-Length values "5, 6"/,
  },
  {
    label: 'non-numeric Content-Length',
    input: `${OK_HEAD}Content-Length: abc\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed Content-Length "abc"/,
  },
  {
    label: 'negative Content-Length',
    input: `${OK_HEAD}Content-Length: -1\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed Content-Length "-1"/,
  },
  {
    label: 'Content-Length with a sign',
    input: `${OK_HEAD}Content-Length: +5\r\n\r\nhello`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed Content-Length "\+5"/,
  },
  {
    label: 'hex Content-Length',
    input: `${OK_HEAD}Content-Length: 0x10\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed Content-Length "0x10"/,
  },
  {
    label: 'Content-Length with trailing garbage',
    input: `${OK_HEAD}Content-Length: 5x\r\n\r\nhello`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed Content-Length "5x"/,
  },
  {
    label: 'empty Content-Length',
    input: `${OK_HEAD}Content-Length:\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed Content-Length ""/,
  },
  {
    label: 'chunk size not hex',
    input: `${CHUNKED}zz\r\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed chunk size "zz"/,
  },
  {
    label: 'chunk size empty',
    input: `${CHUNKED}\r\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed chunk size ""/,
  },
  {
    label: 'chunk size with a 0x prefix',
    input: `${CHUNKED}0x5\r\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed chunk size "0x5"/,
  },
  {
    label: 'negative chunk size',
    input: `${CHUNKED}-5\r\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed chunk size "-5"/,
  },
  {
    label: 'chunk size with leading space',
    input: `${CHUNKED} 5\r\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed chunk size " 5"/,
  },
  {
    label: 'chunk size of 13 hex digits',
    input: `${CHUNKED}1000000000000\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed chunk size "1000000000000"/,
  },
  {
    label: 'chunk-size line too long',
    input: `${CHUNKED}5;${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /chunk-size line/,
  },
  {
    label: 'chunk data longer than its size: missing CRLF after chunk data',
    input: `${CHUNKED}5\r\nhelloXX\r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /missing CRLF after chunk data/,
  },
  {
    label: 'chunk data followed by a space before CRLF',
    input: `${CHUNKED}5\r\nhello \r\n0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /missing CRLF after chunk data/,
  },
  {
    label: 'malformed trailer line',
    input: `${CHUNKED}0\r\nno colon\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: /malformed trailer line "no colon"/,
  },
  {
    label: 'head larger than MAX_HEAD_BYTES, complete',
    input: `${OK_HEAD}X-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: 0\r\n\r\n`,
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: new RegExp(`response head larger than ${MAX_HEAD_BYTES} bytes`),
  },
  {
    label: 'head larger than MAX_HEAD_BYTES, its end not yet seen',
    input: [`${OK_HEAD}X-Big: ${'a'.repeat(MAX_HEAD_BYTES / 2)}`, 'a'.repeat(MAX_HEAD_BYTES / 2)],
    wantCode: 'UPSTREAM_BAD_RESPONSE',
    wantMessage: new RegExp(`response head larger than ${MAX_HEAD_BYTES} bytes`),
  },
];

describe('ResponseParser', () => {
  it.each(rows)('$label', (row) => {
    assertRow(row, run(piecesOf(row), row));
  });

  // The same bytes must mean the same thing however the network cuts them.
  const splittable = rows.filter((row) => row.wholeOnly === undefined && piecesOf(row).reduce((n, b) => n + b.length, 0) <= 2048);

  /** What must not depend on read boundaries: errors by code only (messages may name the partial line). */
  function summary(o: Outcome): unknown {
    if (o.error !== undefined) return { error: o.error.code };
    return { heads: o.heads, body: bodyOf(o), ends: o.ends, keepAlive: o.keepAlive, hintMs: o.hintMs, busy: o.busy };
  }

  it.each(splittable)('$label: same outcome split at every byte, and a byte at a time', (row) => {
    const all = Buffer.concat(piecesOf(row));
    const whole = run([all], row);
    const want = summary(whole);
    expect(summary(run(piecesOf(row), row)), 'as the row gives it').toEqual(want);
    for (let i = 1; i < all.length; i++) {
      const got = run([all.subarray(0, i), all.subarray(i)], row);
      expect(summary(got), `split at ${i}`).toEqual(want);
      // The body's last bytes still come with the end when it was cut in two.
      if (got.error === undefined && got.ends === 1 && whole.tail !== null) expect(got.tail).not.toBeNull();
      expect(summary(run([all.subarray(0, i), all.subarray(i)], { ...row, reuse: true })), `split at ${i}, one read buffer`).toEqual(want);
    }
    const oneByOne = [...all].map((b) => Buffer.from([b]));
    expect(summary(run(oneByOne, row)), 'a byte at a time').toEqual(want);
    expect(summary(run(oneByOne, { ...row, reuse: true })), 'a byte at a time, one read buffer').toEqual(want);
  });

  it('a head of exactly MAX_HEAD_BYTES is accepted however it is split', () => {
    const prefix = `${OK_HEAD}Content-Length: 2\r\nX-Pad: `;
    const head = prefix + 'a'.repeat(MAX_HEAD_BYTES - prefix.length);
    expect(head.length).toBe(MAX_HEAD_BYTES);
    const all = bytes(`${head}\r\n\r\nok`);
    const failures: string[] = [];
    // Splits in the padding, at the head's end, and inside its final CRLFCRLF.
    for (const at of [
      100,
      MAX_HEAD_BYTES - 1,
      MAX_HEAD_BYTES,
      MAX_HEAD_BYTES + 1,
      MAX_HEAD_BYTES + 2,
      MAX_HEAD_BYTES + 3,
      MAX_HEAD_BYTES + 4,
    ]) {
      const got = run([all.subarray(0, at), all.subarray(at)]);
      if (got.error !== undefined || bodyOf(got) !== 'ok') failures.push(`split at ${at}: ${got.error?.message ?? bodyOf(got)}`);
    }
    expect(failures).toEqual([]);
  });

  it('a head one byte over MAX_HEAD_BYTES is refused however it is split', () => {
    const prefix = `${OK_HEAD}Content-Length: 2\r\nX-Pad: `;
    const head = prefix + 'a'.repeat(MAX_HEAD_BYTES + 1 - prefix.length);
    const all = bytes(`${head}\r\n\r\nok`);
    for (const at of [0, 100, MAX_HEAD_BYTES, MAX_HEAD_BYTES + 1, MAX_HEAD_BYTES + 3, MAX_HEAD_BYTES + 4]) {
      const got = run(at === 0 ? [all] : [all.subarray(0, at), all.subarray(at)]);
      expect(got.error?.code, `split at ${at}`).toBe('UPSTREAM_BAD_RESPONSE');
      expect(got.heads).toEqual([]);
    }
  });

  it('busy and started follow the exchange; expect() resets for the next response', () => {
    const parser = new ResponseParser({ onHead() {}, onBody() {}, onEnd() {} });
    expect(parser.busy).toBe(false);

    parser.expect(false);
    expect(parser.busy).toBe(true);
    expect(parser.started).toBe(false);
    parser.execute(Buffer.alloc(0));
    expect(parser.started).toBe(false);
    parser.execute(bytes('HTTP/1.1 2'));
    expect(parser.started).toBe(true);
    parser.execute(bytes('00 OK\r\nConnection: close\r\nKeep-Alive: timeout=7\r\nContent-Length: 1\r\n\r\nx'));
    expect(parser.busy).toBe(false);
    expect(parser.keepAlive).toBe(false);
    expect(parser.keepAliveHintMs).toBe(7000);

    parser.expect(false);
    expect(parser.busy).toBe(true);
    expect(parser.started).toBe(false);
    expect(parser.keepAlive).toBe(true);
    expect(parser.keepAliveHintMs).toBe(-1);
  });

  it('one parser carries consecutive responses on a kept-alive connection', () => {
    const got: string[] = [];
    const parser = new ResponseParser({
      onHead: (h) => got.push(`head ${h.status}`),
      onBody: (c) => got.push(`body ${c.toString('latin1')}`),
      onEnd: (t) => got.push(`end ${t?.toString('latin1') ?? '-'}`),
    });
    parser.expect(false);
    parser.execute(bytes(`${CHUNKED}3\r\nabc\r\n0\r\n\r\n`));
    parser.expect(true);
    parser.execute(bytes(`${OK_HEAD}Content-Length: 9\r\n\r\n`));
    parser.expect(false);
    parser.execute(bytes(`${OK_HEAD}Content-Length: 3\r\n\r\nxyz`));
    parser.expect(false);
    parser.execute(bytes('HTTP/1.1 204 No Content\r\n\r\n'));
    expect(got).toEqual(['head 200', 'body abc', 'end -', 'head 200', 'end -', 'head 200', 'end xyz', 'head 204', 'end -']);
    expect(parser.keepAlive).toBe(true);
  });

  it('body slices are views of the bytes read, not copies', () => {
    const slices: Buffer[] = [];
    const parser = new ResponseParser({ onHead() {}, onBody: (c) => slices.push(c), onEnd: (t) => t && slices.push(t) });
    const read = bytes(`${OK_HEAD}Content-Length: 5\r\n\r\nhello`);
    parser.expect(false);
    parser.execute(read);
    expect(slices).toHaveLength(1);
    expect(slices[0]!.buffer).toBe(read.buffer);
  });
});

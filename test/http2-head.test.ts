/**
 * HTTP/2 → HTTP/1.1 head translation (src/downstream/http2-stream-request.ts) and the preface test
 * (src/downstream/preface.ts), as tables: raw headers as node:http2 reports them in, the head the
 * gateway reads (or the refusal) out.
 */
import { describe, expect, it } from 'vitest';
import { translateHead, type TranslatedHead } from '../src/downstream/http2-stream-request.js';
import { PREFACE, prefaceOf } from '../src/downstream/preface.js';

const GET = [':method', 'GET', ':scheme', 'http', ':path', '/v2/models/iris'];

interface Row {
  label: string;
  raw: string[];
  /** The HEADERS frame ended the stream (no body). */
  endStream?: boolean;
  want?: Partial<TranslatedHead>;
  /** A refusal containing this. */
  wantRefused?: string;
}

const ROWS: Row[] = [
  {
    label: ':authority becomes the Host, first; pseudo-headers go',
    raw: [...GET, ':authority', 'iris.example.com', 'accept', '*/*'],
    want: { method: 'GET', url: '/v2/models/iris', rawHeaders: ['host', 'iris.example.com', 'accept', '*/*'], expectsContinue: false },
  },
  {
    label: 'a Host header naming the same as :authority is dropped (one Host)',
    raw: [...GET, ':authority', 'Iris.Example.com', 'host', 'iris.example.COM'],
    want: { rawHeaders: ['host', 'Iris.Example.com'] },
  },
  {
    label: 'a Host header that differs from :authority is refused',
    raw: [...GET, ':authority', 'iris.example.com', 'host', 'admin.internal'],
    wantRefused: 'Host "admin.internal" differs from :authority "iris.example.com"',
  },
  {
    label: 'without :authority, the Host header is the Host',
    raw: [...GET, 'host', 'iris.example.com'],
    want: { rawHeaders: ['host', 'iris.example.com'] },
  },
  { label: 'neither :authority nor Host is refused', raw: [...GET, 'accept', '*/*'], wantRefused: 'without :authority or Host' },
  {
    label: 'two Host headers are refused, even when equal',
    raw: [...GET, 'host', 'a.example', 'host', 'a.example'],
    wantRefused: 'request has 2 Host headers',
  },
  {
    label: 'Cookie crumbs are joined with "; " into one field (RFC 9113 §8.2.3)',
    raw: [...GET, ':authority', 'a.example', 'cookie', 'a=1', 'accept', '*/*', 'cookie', 'b=2'],
    want: { rawHeaders: ['host', 'a.example', 'accept', '*/*', 'cookie', 'a=1; b=2'] },
  },
  {
    label: 'a body with Content-Length keeps it',
    raw: [':method', 'POST', ':scheme', 'http', ':path', '/infer', ':authority', 'a.example', 'content-length', '12'],
    endStream: false,
    want: { method: 'POST', rawHeaders: ['host', 'a.example', 'content-length', '12'] },
  },
  {
    label: 'a body without Content-Length is framed as chunked for the endpoint',
    raw: [':method', 'POST', ':scheme', 'http', ':path', '/infer', ':authority', 'a.example'],
    endStream: false,
    want: { rawHeaders: ['host', 'a.example', 'transfer-encoding', 'chunked'] },
  },
  {
    label: 'no body (END_STREAM on HEADERS): no framing header',
    raw: [':method', 'POST', ':scheme', 'http', ':path', '/infer', ':authority', 'a.example'],
    want: { rawHeaders: ['host', 'a.example'] },
  },
  {
    label: 'Expect: 100-continue with a body to come',
    raw: [':method', 'PUT', ':scheme', 'http', ':path', '/up', ':authority', 'a.example', 'expect', '100-Continue'],
    endStream: false,
    want: { expectsContinue: true, rawHeaders: ['host', 'a.example', 'expect', '100-Continue', 'transfer-encoding', 'chunked'] },
  },
  {
    label: 'Expect: 100-continue without a body: nothing to wait for',
    raw: [...GET, ':authority', 'a.example', 'expect', '100-continue'],
    want: { expectsContinue: false },
  },
  {
    label: 'TE: trailers passes (the gateway drops it as hop-by-hop)',
    raw: [...GET, ':authority', 'a.example', 'te', 'trailers'],
    want: { rawHeaders: ['host', 'a.example', 'te', 'trailers'] },
  },
  {
    label: 'the target is :path as sent (the gateway normalises it)',
    raw: [':method', 'GET', ':scheme', 'http', ':path', '/a/../b?x=%20', ':authority', 'a.example'],
    want: { url: '/a/../b?x=%20' },
  },
  {
    label: 'an extended CONNECT for websocket reads as the upgrade GET, with no body framing',
    raw: [
      ':method',
      'CONNECT',
      ':protocol',
      'websocket',
      ':scheme',
      'https',
      ':path',
      '/ws',
      ':authority',
      'a.example',
      'sec-websocket-version',
      '13',
    ],
    endStream: false,
    want: { method: 'GET', url: '/ws', webSocket: true, rawHeaders: ['host', 'a.example', 'sec-websocket-version', '13'] },
  },
  {
    label: 'a request without :protocol is no WebSocket',
    raw: [...GET, ':authority', 'a.example'],
    want: { webSocket: false },
  },
  {
    label: 'an extended CONNECT for another protocol is refused, naming it',
    raw: [':method', 'CONNECT', ':protocol', 'connect-udp', ':scheme', 'https', ':path', '/x', ':authority', 'a.example'],
    endStream: false,
    wantRefused: 'extended CONNECT for protocol "connect-udp" is not served here: only websocket',
  },
  {
    label: ':protocol on another method is refused',
    raw: [...GET, ':protocol', 'websocket', ':authority', 'a.example'],
    wantRefused: ':protocol on a GET request, want CONNECT',
  },
  {
    label: 'CONNECT (no :path) is refused',
    raw: [':method', 'CONNECT', ':authority', 'internal:22'],
    wantRefused: 'CONNECT without :path cannot be served here',
  },
];

describe('translateHead', () => {
  it.each(ROWS)('$label', ({ raw, endStream, want, wantRefused }) => {
    const got = translateHead(raw, endStream ?? true);
    if (wantRefused !== undefined) {
      expect(typeof got).toBe('string');
      expect(got).toContain(wantRefused);
    } else {
      expect(typeof got).toBe('object');
      expect(got).toMatchObject(want!);
    }
  });
});

describe('prefaceOf', () => {
  const rows: { label: string; head: Buffer; want: ReturnType<typeof prefaceOf> }[] = [
    { label: 'the preface', head: PREFACE, want: 'h2' },
    { label: 'the preface and a SETTINGS frame', head: Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]), want: 'h2' },
    { label: 'its first 16 bytes', head: PREFACE.subarray(0, 16), want: 'more' },
    { label: 'one byte of it', head: Buffer.from('P'), want: 'more' },
    { label: 'an HTTP/1.1 POST', head: Buffer.from('POST /v2/models/iris/infer HTTP/1.1\r\n'), want: 'http1' },
    { label: 'an HTTP/1.1 GET', head: Buffer.from('GET / HTTP/1.1\r\n\r\n'), want: 'http1' },
    { label: 'PRI as an HTTP/1.1 request', head: Buffer.from('PRI * HTTP/1.1\r\nHost: x\r\n\r\n'), want: 'http1' },
    { label: 'the preface with a wrong last line', head: Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), want: 'http1' },
  ];
  it.each(rows)('$label → $want', ({ head, want }) => {
    expect(prefaceOf(head)).toBe(want);
  });
});

/**
 * An HTTP/1.1 request head as an HTTP/2 header block and back (src/upstream/h2-headers.ts), and
 * the TE rule of src/gateway/headers.ts that feeds it, as tables.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { upstreamRequestHeaders, type RequestHead } from '../src/gateway/headers.js';
import { h1Fields, h2RequestHeaders } from '../src/upstream/h2-headers.js';
import type { UpstreamRequest } from '../src/upstream/upstream-connection.js';

function request(extra: Partial<UpstreamRequest>): UpstreamRequest {
  return { method: 'GET', path: '/', headers: [], body: null, contentLength: 0, timeoutMs: 1000, ...extra };
}

const rows: Array<{ label: string; req: Partial<UpstreamRequest>; scheme?: 'http' | 'https'; want: Record<string, string | string[]> }> = [
  {
    label: 'pseudo-headers from method, target, scheme and Host',
    req: { method: 'DELETE', path: '/v2/models/iris?x=1', headers: ['Host', 'iris.example.com:8080'] },
    scheme: 'https',
    want: { ':method': 'DELETE', ':scheme': 'https', ':path': '/v2/models/iris?x=1', ':authority': 'iris.example.com:8080' },
  },
  {
    label: "no Host: the endpoint's authority",
    req: { headers: ['X-A', '1'] },
    want: { ':method': 'GET', ':scheme': 'http', ':path': '/', ':authority': '10.0.0.7:8080', 'x-a': '1' },
  },
  {
    label: 'connection-specific fields removed (RFC 9113 §8.2.2)',
    req: {
      headers: [
        'host',
        'h',
        'Connection',
        'close',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Connection',
        'x',
        'Transfer-Encoding',
        'chunked',
        'Upgrade',
        'websocket',
        'HTTP2-Settings',
        'AAMAAABkAAQAAP__',
      ],
    },
    want: { ':method': 'GET', ':scheme': 'http', ':path': '/', ':authority': 'h' },
  },
  {
    label: 'TE other than trailers removed',
    req: { headers: ['host', 'h', 'TE', 'gzip'] },
    want: { ':method': 'GET', ':scheme': 'http', ':path': '/', ':authority': 'h' },
  },
  {
    label: 'TE listing trailers kept as trailers',
    req: { headers: ['host', 'h', 'TE', 'gzip, Trailers'] },
    want: { ':method': 'GET', ':scheme': 'http', ':path': '/', ':authority': 'h', te: 'trailers' },
  },
  {
    label: 'the client accepted trailers (TE stripped as hop-by-hop before): te: trailers',
    req: { headers: ['host', 'h'], teTrailers: true },
    want: { ':method': 'GET', ':scheme': 'http', ':path': '/', ':authority': 'h', te: 'trailers' },
  },
  {
    label: 'names lower-cased, repeated fields kept in order',
    req: { headers: ['host', 'h', 'Cookie', 'a=1', 'X-Trace', 't', 'cookie', 'b=2', 'COOKIE', 'c=3'] },
    want: { ':method': 'GET', ':scheme': 'http', ':path': '/', ':authority': 'h', cookie: ['a=1', 'b=2', 'c=3'], 'x-trace': 't' },
  },
  {
    label: 'a body held whole: content-length from its size; a client Content-Length never copied',
    req: { method: 'POST', headers: ['host', 'h', 'Content-Length', '99'], body: Buffer.from('abc'), contentLength: 3 },
    want: { ':method': 'POST', ':scheme': 'http', ':path': '/', ':authority': 'h', 'content-length': '3' },
  },
  {
    label: 'a streamed body of known length: content-length',
    req: { method: 'PUT', headers: ['host', 'h'], body: new PassThrough(), contentLength: 1024 },
    want: { ':method': 'PUT', ':scheme': 'http', ':path': '/', ':authority': 'h', 'content-length': '1024' },
  },
  {
    label: 'a streamed body of unknown length: no content-length (DATA frames end it)',
    req: { method: 'PUT', headers: ['host', 'h'], body: new PassThrough(), contentLength: -1 },
    want: { ':method': 'PUT', ':scheme': 'http', ':path': '/', ':authority': 'h' },
  },
  {
    label: 'a POST without a body: content-length 0',
    req: { method: 'POST', headers: ['host', 'h'] },
    want: { ':method': 'POST', ':scheme': 'http', ':path': '/', ':authority': 'h', 'content-length': '0' },
  },
];

describe('h2RequestHeaders', () => {
  it.each(rows)('$label', ({ req, scheme, want }) => {
    expect({ ...h2RequestHeaders(request(req), scheme ?? 'http', '10.0.0.7:8080') }).toEqual(want);
  });
});

describe('h1Fields', () => {
  it('drops pseudo-headers and keeps fields in order, repeated ones too', () => {
    expect(h1Fields([':status', '200', 'content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2'])).toEqual([
      'content-type',
      'text/plain',
      'set-cookie',
      'a=1',
      'set-cookie',
      'b=2',
    ]);
  });
});

describe('upstreamRequestHeaders: TE', () => {
  it.each([
    { label: 'no TE', raw: ['Host', 'h'], want: false },
    { label: 'TE: trailers', raw: ['Host', 'h', 'TE', 'trailers'], want: true },
    { label: 'TE listing trailers among codings', raw: ['Host', 'h', 'te', 'deflate;q=0.5, Trailers'], want: true },
    { label: 'TE without trailers', raw: ['Host', 'h', 'TE', 'gzip'], want: false },
  ])('$label: teTrailers $want, and TE itself never forwarded', ({ raw, want }) => {
    const head = upstreamRequestHeaders({ rawHeaders: raw, httpVersion: '1.1', remoteAddress: '10.0.0.1', proto: 'http' }) as RequestHead;
    expect(head.teTrailers).toBe(want);
    expect(head.headers.some((_, i) => i % 2 === 0 && head.headers[i]!.toLowerCase() === 'te')).toBe(false);
  });
});

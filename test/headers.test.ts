import { describe, expect, it } from 'vitest';
import { SluiceError } from '../src/errors.js';
import {
  downstreamResponseHeaders,
  hasHeader,
  headerRule,
  PROXIED_HEADER,
  upstreamRequestHeaders,
  type RequestHead,
  type RequestHeadInput,
} from '../src/gateway/headers.js';

/** What upstreamRequestHeaders reads from a request. */
function request(
  rawHeaders: string[],
  remoteAddress: string | undefined = '10.0.0.1',
  proto = 'http',
  httpVersion = '1.1',
): RequestHeadInput {
  return { rawHeaders, remoteAddress, proto, httpVersion };
}

/** The head, failing the test on a refusal. */
function head(input: RequestHeadInput): RequestHead {
  const got = upstreamRequestHeaders(input);
  if (got instanceof SluiceError) throw new Error(`refused: ${got.status} ${got.message}`);
  return got;
}

/** Every value of `name` (any case) in a flat header array, in order. */
function values(flat: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) out.push(flat[i + 1]!);
  return out;
}

const HOP_BY_HOP_REQUEST = [
  'Connection',
  'keep-alive',
  'Keep-Alive',
  'timeout=5',
  'Transfer-Encoding',
  'chunked',
  'TE',
  'trailers',
  'Trailer',
  'X-Checksum',
  'Upgrade',
  'h2c',
  'Proxy-Authorization',
  'Basic c2VjcmV0',
  'Expect',
  '100-continue',
  'Proxy-Connection',
  'keep-alive',
];

interface UpstreamRow {
  label: string;
  raw: string[];
  /** Client address; default 10.0.0.1. */
  remote?: string;
  /** Scheme the client used; default http. */
  proto?: string;
  /** Lowercase name → every value wanted upstream, in order ([] = absent). */
  want: Record<string, string[]>;
  /** The body's framing the gateway decided: -1 chunked, else its Content-Length (0 none). */
  wantContentLength?: number;
  /** The host routing matches. */
  wantHost?: string;
  httpVersion?: string;
}

const upstreamRows: UpstreamRow[] = [
  {
    label: 'hop-by-hop headers removed, others kept',
    raw: ['Host', 'iris.example.com', 'Content-Type', 'application/json', ...HOP_BY_HOP_REQUEST],
    want: {
      connection: [],
      'keep-alive': [],
      'transfer-encoding': [],
      te: [],
      trailer: [],
      upgrade: [],
      'proxy-authorization': [],
      expect: [],
      'proxy-connection': [],
      host: ['iris.example.com'],
      'content-type': ['application/json'],
    },
    wantContentLength: -1,
  },
  {
    label: 'headers named in Connection removed',
    raw: ['Host', 'h', 'Connection', 'close, X-Foo', 'X-Foo', '1', 'X-Bar', '2'],
    want: { connection: [], 'x-foo': [], 'x-bar': ['2'] },
  },
  {
    label: 'Connection tokens match any case and spacing',
    raw: ['Host', 'h', 'X-Foo', '1', 'x-baz', '3', 'Connection', ' x-FOO ,X-Baz', 'X-Bar', '2'],
    want: { 'x-foo': [], 'x-baz': [], 'x-bar': ['2'] },
  },
  {
    label: 'a header named in Connection removed every time it appears',
    raw: ['Host', 'h', 'Connection', 'x-foo', 'X-Foo', '1', 'X-Foo', '2'],
    want: { 'x-foo': [] },
  },
  {
    // RFC 9110 §5.3: several Connection lines are one comma-separated list.
    label: 'headers named in each of several Connection lines removed',
    raw: ['Host', 'h', 'Connection', 'x-foo', 'Connection', 'x-bar', 'X-Foo', '1', 'X-Bar', '2', 'X-Baz', '3'],
    want: { connection: [], 'x-foo': [], 'x-bar': [], 'x-baz': ['3'] },
  },
  {
    label: 'X-Forwarded-For filled with the client address',
    raw: ['Host', 'h'],
    want: { 'x-forwarded-for': ['10.0.0.1'] },
  },
  {
    label: 'X-Forwarded-For appended to an existing value',
    raw: ['Host', 'h', 'X-Forwarded-For', '203.0.113.7'],
    want: { 'x-forwarded-for': ['203.0.113.7, 10.0.0.1'] },
  },
  {
    label: 'X-Forwarded-For lines joined, then appended',
    raw: ['Host', 'h', 'X-Forwarded-For', '203.0.113.7', 'x-forwarded-for', '198.51.100.2, 192.0.2.1'],
    want: { 'x-forwarded-for': ['203.0.113.7, 198.51.100.2, 192.0.2.1, 10.0.0.1'] },
  },
  {
    label: 'X-Forwarded-For with an IPv6 client',
    raw: ['Host', 'h'],
    remote: '2001:db8::7',
    want: { 'x-forwarded-for': ['2001:db8::7'] },
  },
  {
    label: 'X-Forwarded-Proto filled from the scheme',
    raw: ['Host', 'h'],
    proto: 'https',
    want: { 'x-forwarded-proto': ['https'] },
  },
  {
    label: 'X-Forwarded-Proto kept when present',
    raw: ['Host', 'h', 'X-Forwarded-Proto', 'https'],
    proto: 'http',
    want: { 'x-forwarded-proto': ['https'] },
  },
  {
    label: 'X-Forwarded-Host filled from Host',
    raw: ['Host', 'iris.example.com:8080'],
    want: { 'x-forwarded-host': ['iris.example.com:8080'], host: ['iris.example.com:8080'] },
  },
  {
    label: 'X-Forwarded-Host kept when present',
    raw: ['Host', 'gateway.internal', 'X-Forwarded-Host', 'iris.example.com'],
    want: { 'x-forwarded-host': ['iris.example.com'], host: ['gateway.internal'] },
  },
  {
    label: 'HTTP/1.0 without Host: none added (the endpoint gets its own authority), routed as the empty host',
    raw: ['Accept', '*/*'],
    httpVersion: '1.0',
    want: { 'x-forwarded-host': [], host: [] },
    wantHost: '',
  },
  {
    label: 'Forwarded filled',
    raw: ['Host', 'iris.example.com'],
    want: { forwarded: ['for=10.0.0.1;host="iris.example.com";proto=http'] },
  },
  {
    label: 'Forwarded without Host',
    raw: [],
    httpVersion: '1.0',
    proto: 'https',
    want: { forwarded: ['for=10.0.0.1;proto=https'] },
  },
  {
    label: 'Forwarded appended to an existing value',
    raw: ['Host', 'iris.example.com', 'Forwarded', 'for=203.0.113.7;proto=https'],
    want: { forwarded: ['for=203.0.113.7;proto=https, for=10.0.0.1;host="iris.example.com";proto=http'] },
  },
  {
    label: 'Forwarded quotes an IPv6 client with brackets',
    raw: ['Host', 'iris.example.com'],
    remote: '::1',
    want: { forwarded: ['for="[::1]";host="iris.example.com";proto=http'] },
  },
  {
    label: 'Forwarded quotes an IPv4-mapped IPv6 client',
    raw: ['Host', 'h'],
    remote: '::ffff:10.0.0.9',
    want: { forwarded: ['for="[::ffff:10.0.0.9]";host="h";proto=http'] },
  },
  {
    label: 'traceparent, tracestate and authorization preserved',
    raw: [
      'Host',
      'h',
      'traceparent',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'tracestate',
      'congo=t61rcWkgMzE',
      'Authorization',
      'Bearer abc.def.ghi',
    ],
    want: {
      traceparent: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
      tracestate: ['congo=t61rcWkgMzE'],
      authorization: ['Bearer abc.def.ghi'],
    },
  },
  {
    label: 'repeated end-to-end headers kept in order',
    raw: ['Host', 'h', 'Accept', 'text/plain', 'Cookie', 'a=1', 'Cookie', 'b=2'],
    want: { cookie: ['a=1', 'b=2'], accept: ['text/plain'] },
  },
  // Framing is the gateway's: the client's framing headers are read, never forwarded.
  {
    label: 'Content-Length > 0 has a body of that length',
    raw: ['Host', 'h', 'Content-Length', '12'],
    want: { 'content-length': [] },
    wantContentLength: 12,
  },
  {
    label: 'Content-Length 0 has no body',
    raw: ['Host', 'h', 'Content-Length', '0'],
    want: { 'content-length': [] },
    wantContentLength: 0,
  },
  {
    label: 'Transfer-Encoding chunked has a body, sent chunked',
    raw: ['Host', 'h', 'Transfer-Encoding', 'chunked'],
    want: { 'transfer-encoding': [] },
    wantContentLength: -1,
  },
  {
    label: 'Transfer-Encoding matched in any case and spacing',
    raw: ['Host', 'h', 'Transfer-Encoding', ' Chunked '],
    want: { 'transfer-encoding': [] },
    wantContentLength: -1,
  },
  { label: 'no length and no encoding has no body', raw: ['Host', 'h', 'Accept', '*/*'], want: {}, wantContentLength: 0 },
  { label: 'sluice-proxied added', raw: ['Host', 'h'], want: { [PROXIED_HEADER]: ['1'] } },
  {
    label: "a client's sluice-proxied replaced by the gateway's own",
    raw: ['Host', 'h', 'Sluice-Proxied', 'yes'],
    want: { [PROXIED_HEADER]: ['1'] },
  },
  // Connection may name only connection options and extension headers (RFC 9110 §7.6.1).
  {
    label: 'Connection naming Content-Length: the body keeps its length, no header is removed',
    raw: ['Host', 'h', 'Connection', 'content-length', 'Content-Length', '5'],
    want: { host: ['h'], 'content-length': [] },
    wantContentLength: 5,
  },
  {
    label: 'Connection naming Transfer-Encoding: still chunked',
    raw: ['Host', 'h', 'Connection', 'Transfer-Encoding', 'Transfer-Encoding', 'chunked'],
    want: { host: ['h'] },
    wantContentLength: -1,
  },
  {
    label: 'Connection naming Host: Host kept',
    raw: ['Host', 'iris.example.com', 'Connection', 'host'],
    want: { host: ['iris.example.com'] },
    wantHost: 'iris.example.com',
  },
  {
    label: 'Connection naming the forwarding headers: the gateway writes them anyway',
    raw: [
      'Host',
      'h',
      'Connection',
      'x-forwarded-for, forwarded, x-forwarded-proto, x-forwarded-host, sluice-proxied',
      'X-Forwarded-For',
      '203.0.113.7',
    ],
    want: {
      'x-forwarded-for': ['203.0.113.7, 10.0.0.1'],
      'x-forwarded-proto': ['http'],
      'x-forwarded-host': ['h'],
      [PROXIED_HEADER]: ['1'],
    },
  },
  {
    label: 'Connection naming end-to-end fields: they stay',
    raw: [
      'Host',
      'h',
      'Connection',
      'authorization, cookie, content-type, traceparent, sluice-tag',
      'Authorization',
      'Bearer t',
      'Cookie',
      'a=1',
      'Content-Type',
      'text/plain',
      'traceparent',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'Sluice-Tag',
      'canary',
    ],
    want: {
      authorization: ['Bearer t'],
      cookie: ['a=1'],
      'content-type': ['text/plain'],
      traceparent: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
      'sluice-tag': ['canary'],
    },
  },
  {
    label: 'HTTP2-Settings is connection-specific',
    raw: ['Host', 'h', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
    want: { 'http2-settings': [], upgrade: [] },
  },
  // The host routing matches.
  {
    label: 'Host normalised for routing, forwarded as sent',
    raw: ['Host', 'IRIS.Example.com.:8080'],
    want: { host: ['IRIS.Example.com.:8080'] },
    wantHost: 'iris.example.com',
  },
  { label: 'empty Host is the empty host', raw: ['Host', ''], want: { host: [''] }, wantHost: '' },
];

describe('upstreamRequestHeaders', () => {
  it.each(upstreamRows)('$label', ({ raw, remote, proto = 'http', httpVersion = '1.1', want, wantContentLength, wantHost }) => {
    const got = head(request(raw, remote, proto, httpVersion));
    expect(got.headers.length % 2).toBe(0);
    for (const [name, wantValues] of Object.entries(want)) expect(values(got.headers, name), name).toEqual(wantValues);
    // Whatever else happens, the gateway's own headers are there exactly once, and no framing header is.
    for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'forwarded', PROXIED_HEADER]) {
      expect(values(got.headers, name), name).toHaveLength(1);
    }
    expect(values(got.headers, 'content-length')).toEqual([]);
    expect(values(got.headers, 'transfer-encoding')).toEqual([]);
    if (wantContentLength !== undefined) expect(got.contentLength).toBe(wantContentLength);
    if (wantHost !== undefined) expect(got.host).toBe(wantHost);
    expect(got.hasHost).toBe(values(raw, 'host').length === 1);
  });

  it('leaves the request headers untouched', () => {
    const raw = ['Host', 'h', 'Connection', 'close, X-Foo', 'X-Foo', '1'];
    upstreamRequestHeaders(request(raw));
    expect(raw).toEqual(['Host', 'h', 'Connection', 'close, X-Foo', 'X-Foo', '1']);
  });

  it('reads Sluice-Tag for routing, trimmed and lower case', () => {
    expect(head(request(['Host', 'h', 'Sluice-Tag', ' Canary '])).tag).toBe('canary');
    expect(head(request(['Host', 'h'])).tag).toBeUndefined();
  });
});

interface RefusalRow {
  label: string;
  raw: string[];
  httpVersion?: string;
  wantStatus: number;
  /** A part of the message. */
  wantMessage: string;
}

const refusalRows: RefusalRow[] = [
  {
    label: 'two Host headers (RFC 9112 §3.2)',
    raw: ['Host', 'a.example.com', 'Host', 'b.example.com'],
    wantStatus: 400,
    wantMessage: '2 Host headers',
  },
  { label: 'two Host headers with the same value', raw: ['Host', 'a', 'host', 'a'], wantStatus: 400, wantMessage: '2 Host headers' },
  { label: 'HTTP/1.1 without Host', raw: ['Accept', '*/*'], wantStatus: 400, wantMessage: 'without a Host' },
  {
    label: 'two Host headers on HTTP/1.0',
    raw: ['Host', 'a', 'Host', 'b'],
    httpVersion: '1.0',
    wantStatus: 400,
    wantMessage: '2 Host headers',
  },
  { label: 'a Host with a space', raw: ['Host', 'a b'], wantStatus: 400, wantMessage: 'not a valid host' },
  { label: 'a Host with a path', raw: ['Host', 'a.example.com/x'], wantStatus: 400, wantMessage: 'not a valid host' },
  { label: 'a Host with userinfo', raw: ['Host', 'user@a.example.com'], wantStatus: 400, wantMessage: 'not a valid host' },
  { label: 'a Host with a port out of range', raw: ['Host', 'a.example.com:65536'], wantStatus: 400, wantMessage: 'not a valid host' },
  { label: 'a Host with a non-numeric port', raw: ['Host', 'a.example.com:80x'], wantStatus: 400, wantMessage: 'not a valid host' },
  {
    label: 'a transfer coding other than chunked (RFC 9112 §6.1)',
    raw: ['Host', 'h', 'Transfer-Encoding', 'gzip, chunked'],
    wantStatus: 501,
    wantMessage: 'transfer coding "gzip, chunked"',
  },
  {
    label: 'Transfer-Encoding given twice',
    raw: ['Host', 'h', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'],
    wantStatus: 501,
    wantMessage: 'transfer coding',
  },
];

describe('upstreamRequestHeaders refuses', () => {
  it.each(refusalRows)('$label', ({ raw, httpVersion = '1.1', wantStatus, wantMessage }) => {
    const got = upstreamRequestHeaders(request(raw, '10.0.0.1', 'http', httpVersion));
    expect(got).toBeInstanceOf(SluiceError);
    expect((got as SluiceError).status).toBe(wantStatus);
    expect((got as SluiceError).message).toContain(wantMessage);
  });

  it('never echoes a long value in full', () => {
    const got = upstreamRequestHeaders(request(['Host', 'h', 'Transfer-Encoding', 'x'.repeat(10_000)])) as SluiceError;
    expect(got.status).toBe(501);
    expect(got.message.length).toBeLessThan(200);
  });
});

describe('headerRule: what Connection may remove', () => {
  it.each([
    { name: 'content-length', want: 'framing' },
    { name: 'transfer-encoding', want: 'framing' },
    { name: 'host', want: 'host' },
    { name: 'keep-alive', want: 'hop' },
    { name: 'x-forwarded-for', want: 'forwarding' },
    { name: 'authorization', want: 'end-to-end' },
    { name: 'x-custom', want: 'extension' },
  ])('$name is $want', ({ name, want }) => {
    expect(headerRule(name)).toBe(want);
  });
});

interface DownstreamRow {
  label: string;
  raw: string[];
  extra: string[];
  want: string[];
}

const downstreamRows: DownstreamRow[] = [
  {
    label: 'hop-by-hop removed, order and case kept',
    raw: [
      'Content-Type',
      'application/json',
      'Connection',
      'keep-alive',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'X-Model',
      'iris',
      'Trailer',
      'X-Checksum',
      'Upgrade',
      'h2c',
      'Proxy-Authenticate',
      'Basic',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
    ],
    extra: [],
    want: ['Content-Type', 'application/json', 'X-Model', 'iris', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
  },
  {
    label: 'extra pairs appended',
    raw: ['Content-Length', '2', 'connection', 'close'],
    extra: ['Sluice-Revision', 'iris-blue', 'Sluice-Cold-Start', '1234'],
    want: ['Content-Length', '2', 'Sluice-Revision', 'iris-blue', 'Sluice-Cold-Start', '1234'],
  },
  { label: 'nothing at all', raw: [], extra: [], want: [] },
  { label: 'only extra', raw: [], extra: ['Sluice-Revision', 'r1'], want: ['Sluice-Revision', 'r1'] },
  {
    label: 'latin1 bytes survive',
    raw: ['X-Name', 'caf\u00e9'],
    extra: [],
    want: ['X-Name', 'caf\u00e9'],
  },
  {
    // RFC 9110 §7.6.1: an intermediary removes the fields a Connection header names, both ways.
    label: 'headers named in Connection removed',
    raw: ['Connection', 'close, X-Upstream-Only', 'X-Upstream-Only', '1', 'Content-Type', 'text/plain'],
    extra: [],
    want: ['Content-Type', 'text/plain'],
  },
  {
    label: 'Connection cannot remove Content-Length or Content-Type from a response',
    raw: ['Connection', 'content-length, content-type', 'Content-Length', '2', 'Content-Type', 'text/plain'],
    extra: [],
    want: ['Content-Length', '2', 'Content-Type', 'text/plain'],
  },
];

describe('downstreamResponseHeaders', () => {
  it.each(downstreamRows)('$label', ({ raw, extra, want }) => {
    expect(downstreamResponseHeaders(raw, extra)).toEqual(want);
  });
});

describe('hasHeader', () => {
  it.each([
    { label: 'same case', flat: ['content-type', 'x'], name: 'content-type', want: true },
    { label: 'different case', flat: ['Host', 'h', 'Content-Type', 'x'], name: 'content-type', want: true },
    { label: 'absent', flat: ['Host', 'h'], name: 'content-type', want: false },
    { label: 'empty', flat: [], name: 'host', want: false },
    { label: 'a value is not a name', flat: ['X-Name', 'host'], name: 'host', want: false },
    { label: 'a longer name is not the name', flat: ['Hostname', 'h'], name: 'host', want: false },
    { label: 'the added proxied marker', flat: ['Sluice-Proxied', '1'], name: PROXIED_HEADER, want: true },
  ])('$label', ({ flat, name, want }) => {
    expect(hasHeader(flat, name)).toBe(want);
  });
});

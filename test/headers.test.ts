import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, hasHeader, PROXIED_HEADER, upstreamRequestHeaders } from '../src/gateway/headers.js';

/** Just what upstreamRequestHeaders reads from a request: raw headers and the client address. */
function request(rawHeaders: string[], remoteAddress: string | undefined = '10.0.0.1'): IncomingMessage {
  return { rawHeaders, socket: { remoteAddress } } as unknown as IncomingMessage;
}

/** Every value of `name` (any case) in a flat header array, in order. */
function values(flat: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) out.push(flat[i + 1]!);
  return out;
}

const HOP_BY_HOP_REQUEST = [
  'Connection', 'keep-alive',
  'Keep-Alive', 'timeout=5',
  'Transfer-Encoding', 'chunked',
  'TE', 'trailers',
  'Trailer', 'X-Checksum',
  'Upgrade', 'h2c',
  'Proxy-Authorization', 'Basic c2VjcmV0',
  'Expect', '100-continue',
  'Proxy-Connection', 'keep-alive',
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
  wantHasBody?: boolean;
  wantChunked?: boolean;
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
    wantHasBody: true,
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
    label: 'no Host and no X-Forwarded-Host: none added',
    raw: ['Accept', '*/*'],
    want: { 'x-forwarded-host': [], host: [] },
  },
  {
    label: 'Forwarded filled',
    raw: ['Host', 'iris.example.com'],
    want: { forwarded: ['for=10.0.0.1;host="iris.example.com";proto=http'] },
  },
  {
    label: 'Forwarded without Host',
    raw: [],
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
      'Host', 'h',
      'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'tracestate', 'congo=t61rcWkgMzE',
      'Authorization', 'Bearer abc.def.ghi',
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
  { label: 'Content-Length > 0 has a body', raw: ['Host', 'h', 'Content-Length', '12'], want: { 'content-length': ['12'] }, wantHasBody: true, wantChunked: false },
  { label: 'Content-Length 0 has no body', raw: ['Host', 'h', 'Content-Length', '0'], want: { 'content-length': ['0'] }, wantHasBody: false, wantChunked: false },
  { label: 'Transfer-Encoding has a body, sent on chunked', raw: ['Host', 'h', 'Transfer-Encoding', 'chunked'], want: { 'transfer-encoding': [] }, wantHasBody: true, wantChunked: true },
  { label: 'no length and no encoding has no body', raw: ['Host', 'h', 'Accept', '*/*'], want: {}, wantHasBody: false, wantChunked: false },
  { label: 'sluice-proxied added', raw: ['Host', 'h'], want: { [PROXIED_HEADER]: ['1'] } },
];

describe('upstreamRequestHeaders', () => {
  it.each(upstreamRows)('$label', ({ raw, remote, proto = 'http', want, wantHasBody, wantChunked }) => {
    const got = upstreamRequestHeaders(request(raw, remote), proto);
    expect(got.headers.length % 2).toBe(0);
    for (const [name, wantValues] of Object.entries(want)) expect(values(got.headers, name), name).toEqual(wantValues);
    // Whatever else happens, the gateway's own headers are there exactly once.
    for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'forwarded', PROXIED_HEADER]) {
      expect(values(got.headers, name), name).toHaveLength(1);
    }
    if (wantHasBody !== undefined) expect(got.hasBody).toBe(wantHasBody);
    if (wantChunked !== undefined) expect(got.chunked).toBe(wantChunked);
  });

  it('leaves the request headers untouched', () => {
    const raw = ['Host', 'h', 'Connection', 'close, X-Foo', 'X-Foo', '1'];
    upstreamRequestHeaders(request(raw), 'http');
    expect(raw).toEqual(['Host', 'h', 'Connection', 'close, X-Foo', 'X-Foo', '1']);
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
      'Content-Type', 'application/json',
      'Connection', 'keep-alive',
      'Keep-Alive', 'timeout=5',
      'Transfer-Encoding', 'chunked',
      'X-Model', 'iris',
      'Trailer', 'X-Checksum',
      'Upgrade', 'h2c',
      'Proxy-Authenticate', 'Basic',
      'Set-Cookie', 'a=1',
      'Set-Cookie', 'b=2',
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

/**
 * Header rules for one hop, in one table: what happens to each request header on its way to an
 * endpoint and to each response header on its way back (RFC 9110 §7.6.1, RFC 9112 §3.2 and §6).
 * Headers are flat [name, value, name, value, …] arrays (the data port's rawHeaders and the
 * upstream response parser's headers), so nothing builds a header object per request.
 *
 * The body's framing is the gateway's own: Content-Length and Transfer-Encoding are read to learn
 * the body's length and never forwarded as sent; the connection to the endpoint writes its own.
 * A `Connection` header removes only connection options and extension headers: a name in the
 * table (framing, Host, the forwarding headers, the end-to-end fields below) stays whatever it
 * says, so `Connection: content-length` cannot turn a body into a second request.
 *
 * Cost: one pass over the headers, one toLowerCase and one Map lookup per name.
 */
import { SluiceError } from '../errors.js';
import { isGrpcContentType } from './grpc-call.js';
import { normalizeHost } from './host.js';
import { TAG_HEADER } from './traffic-policy.js';

/** Marks requests that came through a Sluice gateway (a queue-proxy counts them as proxied). */
export const PROXIED_HEADER = 'sluice-proxied';

/**
 * What a header is, by lowercase name; a name not in the table is an extension header:
 * forwarded, unless a Connection header names it.
 *  - framing: read for the body's length, written anew by the gateway.
 *  - host: exactly one on HTTP/1.1; forwarded as sent.
 *  - hop: connection-specific (RFC 9110 §7.6.1; Expect because the data port answers 100-continue
 *    itself, HTTP2-Settings by RFC 9113 §3.2.1): never forwarded.
 *  - forwarding: the gateway's own (X-Forwarded-*, Forwarded, Sluice-Proxied): read, then written anew.
 *  - end-to-end: forwarded; a Connection option naming it is ignored (RFC 9110 §7.6.1 forbids
 *    sending one, and the gateway relies on several of them for routing and tracing).
 */
type Rule = 'framing' | 'host' | 'hop' | 'forwarding' | 'end-to-end';

const RULES = new Map<string, Rule>([
  ['content-length', 'framing'],
  ['transfer-encoding', 'framing'],
  ['host', 'host'],
  ['connection', 'hop'],
  ['keep-alive', 'hop'],
  ['proxy-connection', 'hop'],
  ['proxy-authenticate', 'hop'],
  ['proxy-authorization', 'hop'],
  ['te', 'hop'],
  ['trailer', 'hop'],
  ['upgrade', 'hop'],
  ['expect', 'hop'],
  ['http2-settings', 'hop'],
  ['x-forwarded-for', 'forwarding'],
  ['x-forwarded-host', 'forwarding'],
  ['x-forwarded-proto', 'forwarding'],
  ['forwarded', 'forwarding'],
  [PROXIED_HEADER, 'forwarding'],
  ...[
    'accept',
    'accept-encoding',
    'accept-language',
    'authorization',
    'baggage',
    'cache-control',
    'content-encoding',
    'content-language',
    'content-location',
    'content-range',
    'content-type',
    'cookie',
    'date',
    'etag',
    'if-match',
    'if-modified-since',
    'if-none-match',
    'if-range',
    'if-unmodified-since',
    'last-modified',
    'location',
    'origin',
    'range',
    'referer',
    'set-cookie',
    'traceparent',
    'tracestate',
    'user-agent',
    'via',
    'www-authenticate',
    TAG_HEADER,
  ].map((name): [string, Rule] => [name, 'end-to-end']),
]);

/** The rule for a lowercase header name (for tests and for the response side). */
export function headerRule(lower: string): Rule | 'extension' {
  return RULES.get(lower) ?? 'extension';
}

/** A request as the header rules read it. */
export interface RequestHeadInput {
  rawHeaders: readonly string[];
  /** "1.1" or "1.0" (the data port refuses every other version). */
  httpVersion: string;
  /** The client's address, or undefined once its socket is gone. */
  remoteAddress: string | undefined;
  /** Scheme the client used: "http" or "https". */
  proto: string;
}

/** What the header rules read of a data-port request; a TLS socket says `encrypted` (proto https). */
export function headInput(req: {
  readonly rawHeaders: readonly string[];
  readonly httpVersion: string;
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean | undefined };
}): RequestHeadInput {
  const proto = req.socket.encrypted === true ? 'https' : 'http';
  return { rawHeaders: req.rawHeaders, httpVersion: req.httpVersion, remoteAddress: req.socket.remoteAddress, proto };
}

/** The request head as routing and the endpoint see it. */
export interface RequestHead {
  /** For the endpoint: framing, hop-by-hop and forwarding headers removed, X-Forwarded-*, Forwarded and Sluice-Proxied added. */
  headers: string[];
  /** The Host routing matches: lower case, no port, no trailing dot; '' without one. */
  host: string;
  /** False for an HTTP/1.0 request without Host: the endpoint gets its own authority as Host. */
  hasHost: boolean;
  /** Sluice-Tag, trimmed and lower case. */
  tag: string | undefined;
  /** The body's length from Content-Length; -1 for a chunked body; 0 for none. */
  contentLength: number;
  /** The client sent `TE: trailers`: it accepts trailer fields (passed on where the endpoint's protocol carries TE, HTTP/2). */
  teTrailers: boolean;
  /** Content-Type says gRPC (grpc-call.ts): errors are answered as gRPC statuses. */
  grpc: boolean;
}

/**
 * The endpoint's request headers and what routing needs, or the error to answer with: a second
 * Host (RFC 9112 §3.2: 400), no Host on HTTP/1.1 (400), a Host that is not a host (400), a
 * transfer coding other than chunked (RFC 9112 §6.1: 501). An HTTP/1.0 request without Host is
 * served: routed as the empty host (services without `hosts`) and sent with the endpoint's
 * authority as Host, as nginx does.
 *
 * X-Forwarded-For gets the client address appended; X-Forwarded-Proto and -Host are kept when a
 * hop before set them, else filled in; Forwarded (RFC 7239) gets this hop appended. Everything
 * else (traceparent, tracestate, authorization, content-*) passes unchanged, in order.
 */
export function upstreamRequestHeaders(req: RequestHeadInput): RequestHead | SluiceError {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let contentLength = 0;
  let chunked = false;
  let xff: string | undefined;
  let xfh: string | undefined;
  let xfp: string | undefined;
  let forwarded: string | undefined;
  let host: string | undefined;
  let hosts = 0;
  let tag: string | undefined;
  let options: Set<string> | undefined;
  let teTrailers = false;
  let grpc = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    const rule = RULES.get(lower);
    if (rule === undefined || rule === 'end-to-end') {
      if (rule !== undefined) {
        if (lower === TAG_HEADER) tag = value.trim().toLowerCase();
        else if (lower === 'content-type') grpc = isGrpcContentType(value);
      }
      out.push(name, value);
    } else if (rule === 'host') {
      hosts++;
      host = value;
      out.push(name, value);
    } else if (rule === 'hop') {
      if (lower === 'connection') options = connectionOptions(value, options);
      else if (lower === 'te') teTrailers ||= hasTrailers(value);
    } else if (rule === 'framing') {
      // The data port's parser has already refused a second Content-Length, a malformed one,
      // and Content-Length beside Transfer-Encoding (RFC 9112 §6.3).
      if (lower === 'content-length') contentLength = Number(value);
      else if (chunked || value.trim().toLowerCase() !== 'chunked') return notImplemented(value);
      else chunked = true;
    } else if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
    else if (lower === 'x-forwarded-host') xfh ??= value;
    else if (lower === 'x-forwarded-proto') xfp ??= value;
    else if (lower === 'forwarded') forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
    // Sluice-Proxied: written anew below.
  }
  if (hosts > 1) return new SluiceError('bad_request', 400, `request has ${hosts} Host headers, want exactly one`);
  if (hosts === 0 && req.httpVersion !== '1.0') return new SluiceError('bad_request', 400, 'HTTP/1.1 request without a Host header');
  const routeHost = normalizeHost(host);
  if (routeHost === undefined) return new SluiceError('bad_request', 400, 'Host header is not a valid host[:port]');
  if (options !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (options.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  // RFC 7239 §6.3: an address no longer known (the socket already closed) is "unknown".
  const client = req.remoteAddress ?? 'unknown';
  const proto = req.proto;
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  out.push('x-forwarded-proto', xfp ?? proto);
  if (host !== undefined || xfh !== undefined) out.push('x-forwarded-host', xfh ?? host!);
  const forNode = client.includes(':') ? `"[${client}]"` : client;
  const hop = host === undefined ? `for=${forNode};proto=${proto}` : `for=${forNode};host="${host}";proto=${proto}`;
  out.push('forwarded', forwarded === undefined ? hop : `${forwarded}, ${hop}`);
  out.push(PROXIED_HEADER, '1');
  return { headers: out, host: routeHost, hasHost: hosts === 1, tag, contentLength: chunked ? -1 : contentLength, teTrailers, grpc };
}

/** Whether a TE value lists `trailers` (RFC 9110 §10.1.4: `TE: trailers, deflate;q=0.5`). */
function hasTrailers(value: string): boolean {
  for (const token of value.split(',')) if (token.trim().toLowerCase() === 'trailers') return true;
  return false;
}

/**
 * Extension headers a Connection header names ("Connection: close, x-foo" → x-foo), added to
 * `into`. Names in the table are not options: they stay (see the file's comment).
 */
function connectionOptions(value: string, into: Set<string> | undefined): Set<string> | undefined {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && !RULES.has(t) && t !== 'close') (into ??= new Set()).add(t);
  }
  return into;
}

function notImplemented(value: string): SluiceError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new SluiceError(
    'not_implemented',
    501,
    `transfer coding "${shown}" is not supported: send the body with Content-Length or chunked`,
  );
}

/**
 * Client response headers from the endpoint's: hop-by-hop and Transfer-Encoding removed (the data
 * port frames the body itself; a Content-Length the response parser checked is kept), extension
 * headers named by Connection removed, `extra` pairs appended.
 */
export function downstreamResponseHeaders(raw: string[], extra: string[]): string[] {
  const out: string[] = [];
  let options: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const rule = RULES.get(lower);
    if (rule === 'hop' || lower === 'transfer-encoding') {
      if (lower === 'connection') options = connectionOptions(raw[i + 1]!, options);
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (options !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (options.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
  return out;
}

/** Whether a flat header array has `name` (lowercase), case-insensitively. */
export function hasHeader(flat: string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i]!;
    if (n.length === name.length && n.toLowerCase() === name) return true;
  }
  return false;
}

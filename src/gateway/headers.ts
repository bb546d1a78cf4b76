/**
 * Header rewriting for one hop, on flat [name, value, name, value, …] arrays (Node's rawHeaders
 * and the upstream response parser's headers), so nothing builds a header object per request.
 * Cost: one pass over the headers, one toLowerCase per name.
 */
import type { GatewayRequest } from './client.js';

/** RFC 9110 §7.6.1 connection-specific headers, plus Expect (Node answers 100-continue itself). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** Headers the gateway writes itself on the way in. */
const REWRITTEN = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded']);

/** Extra hop-by-hop names listed in a Connection header ("Connection: close, x-foo"), added to `extra`. */
function connectionTokens(value: string, extra: Set<string> | undefined): Set<string> | undefined {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t && t !== 'close' && t !== 'keep-alive' && !HOP_BY_HOP.has(t)) (extra ??= new Set()).add(t);
  }
  return extra;
}

/** Marks requests that came through a Sluice gateway (a queue-proxy counts them as proxied). */
export const PROXIED_HEADER = 'sluice-proxied';

export interface UpstreamHeaders {
  headers: string[];
  /** The request has a body to stream (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  /** The body has no Content-Length (the client sent it chunked): it goes upstream chunked too. */
  chunked: boolean;
}

/**
 * Upstream request headers: hop-by-hop removed, X-Forwarded-For appended with the client address,
 * X-Forwarded-Proto/Host kept when a trusted hop set them or filled in, Forwarded appended.
 * Everything else (traceparent, tracestate, authorization, content-*) passes unchanged.
 */
export function upstreamRequestHeaders(req: Pick<GatewayRequest, 'rawHeaders' | 'socket'>, proto: string): UpstreamHeaders {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let hasBody = false;
  let chunked = false;
  let xff: string | undefined;
  let xfh: string | undefined;
  let xfp: string | undefined;
  let forwarded: string | undefined;
  let host: string | undefined;
  let extra: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (lower === 'connection') {
      extra = connectionTokens(value, extra);
      continue;
    }
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') hasBody = chunked = true;
      continue;
    }
    if (REWRITTEN.has(lower)) {
      if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
      else if (lower === 'x-forwarded-host') xfh ??= value;
      else if (lower === 'x-forwarded-proto') xfp ??= value;
      else forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
      continue;
    }
    if (lower === 'host') host = value;
    else if (lower === 'content-length' && value !== '0') hasBody = true;
    out.push(name, value);
  }
  if (extra !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (extra.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  // RFC 7239 §6.3: an address no longer known (the socket already closed) is "unknown".
  const client = req.socket.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  out.push('x-forwarded-proto', xfp ?? proto);
  if (host !== undefined || xfh !== undefined) out.push('x-forwarded-host', xfh ?? host!);
  const forNode = client.includes(':') ? `"[${client}]"` : client;
  const hop = host === undefined ? `for=${forNode};proto=${proto}` : `for=${forNode};host="${host}";proto=${proto}`;
  out.push('forwarded', forwarded === undefined ? hop : `${forwarded}, ${hop}`);
  out.push(PROXIED_HEADER, '1');
  return { headers: out, hasBody, chunked };
}

/**
 * Client response headers from the endpoint's: hop-by-hop removed (Node frames the body itself),
 * `extra` pairs appended.
 */
export function downstreamResponseHeaders(raw: string[], extra: string[]): string[] {
  const out: string[] = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') named = connectionTokens(raw[i + 1]!, named);
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (named !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.has(out[i]!.toLowerCase())) out.splice(i, 2);
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

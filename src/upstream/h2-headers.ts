/**
 * An HTTP/1.1 request head as an HTTP/2 header block, and an HTTP/2 response's fields as the flat
 * list the gateway reads (RFC 9113 §8.2.2, §8.3). Pure; table-tested in test/h2-headers.test.ts.
 *
 * The request's pseudo-headers come from its method and target, `:authority` from Host (the
 * gateway's header rules have already made it exactly one) and `:scheme` from the connection.
 * Connection-specific fields are never put on a stream: Connection, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade, HTTP2-Settings, and TE unless it is `trailers`. Content-Length is
 * written from what the gateway knows of the body, as the HTTP/1.1 connection writes it.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { UpstreamRequest } from './upstream-connection.js';

/** What happens to a request field on its way onto a stream, by lowercase name. */
const REQUEST_RULES = new Map<string, 'drop' | 'authority' | 'te' | 'framing'>([
  ['connection', 'drop'],
  ['keep-alive', 'drop'],
  ['proxy-connection', 'drop'],
  ['transfer-encoding', 'drop'],
  ['upgrade', 'drop'],
  ['http2-settings', 'drop'],
  ['host', 'authority'],
  ['te', 'te'],
  ['content-length', 'framing'],
]);

/** Methods whose requests carry content by definition: `content-length: 0` when they have none (RFC 9110 §8.6). */
const CONTENT_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The header block for `req` on a stream. `authority`: the endpoint's `host:port`, for a request
 * without Host. Field names are lower-cased (RFC 9113 §8.2.1); repeated fields stay repeated.
 *
 * @example h2RequestHeaders({ method: 'GET', path: '/a?b', headers: ['Host', 'iris', 'Connection', 'x'], … }, 'http', '10.0.0.7:8080')
 *   // { ':method': 'GET', ':scheme': 'http', ':path': '/a?b', ':authority': 'iris' }
 */
export function h2RequestHeaders(req: UpstreamRequest, scheme: 'http' | 'https', authority: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders;
  out[':method'] = req.method;
  out[':scheme'] = scheme;
  out[':path'] = req.path;
  let host: string | undefined;
  let trailers = req.teTrailers === true;
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!.toLowerCase();
    const value = h[i + 1]!;
    const rule = REQUEST_RULES.get(name);
    if (rule === undefined) {
      const had = out[name];
      out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [String(had), value];
    } else if (rule === 'authority') {
      host ??= value;
    } else if (rule === 'te') {
      trailers ||= value.split(',').some((t) => t.trim().toLowerCase() === 'trailers');
    }
    // drop, framing: connection-specific, or written below from what the gateway knows.
  }
  out[':authority'] = host ?? authority;
  if (trailers) out.te = 'trailers';
  const body = req.body;
  if (body === null) {
    if (CONTENT_METHODS.has(req.method)) out['content-length'] = '0';
  } else if (Buffer.isBuffer(body)) {
    out['content-length'] = String(body.length);
  } else if (req.contentLength >= 0) {
    out['content-length'] = String(req.contentLength);
  }
  return out;
}

/**
 * Fields of a response head or trailer block from the flat [name, value, …] list the endpoint
 * sent, pseudo-headers (`:status`) left out.
 */
export function h1Fields(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) !== 0x3a /* : */) out.push(name, raw[i + 1]!);
  }
  return out;
}

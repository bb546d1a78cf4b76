/**
 * An HTTP/2 stream as the gateway reads a request: method, target, the HTTP/1.1 head it stands for,
 * and its body. Flow control bounds that body: past 64 KiB unread (a held request) the stream is
 * paused, and its window stops the client.
 *
 * The head is translated once, as an HTTP/2-to-HTTP/1.1 intermediary must (RFC 9113 §8.3.1,
 * §8.2.3): `:method` and `:path` become the method and target; `:authority` becomes the one Host
 * (a Host header beside it must name the same, or the request is refused); Cookie crumbs are joined
 * with "; "; a body without Content-Length gets `Transfer-Encoding: chunked`, which no HTTP/2
 * client can send itself, so the gateway frames it as a stream for the endpoint. What RFC 9113
 * §8.2.2 forbids (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE other
 * than "trailers"), upper-case names and malformed pseudo-headers never get here: node:http2's
 * nghttp2 answers them with a stream error (PROTOCOL_ERROR).
 *
 * An extended CONNECT (RFC 8441: `:method CONNECT`, `:protocol websocket`) is a WebSocket opening:
 * it reads as the GET of an HTTP/1.1 upgrade (`webSocket` says so; its stream's bytes are the
 * WebSocket's, never a body). Another `:protocol` is refused, and so is a plain CONNECT (no
 * `:path`): the data port never tunnels to an address a client names.
 *
 * Cost: one pass over the raw headers, a few string comparisons per name.
 */
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { Http1Request, type BodyFlowControl } from './http1-request.js';

/** The HTTP/1.1 head of an HTTP/2 request. */
export interface TranslatedHead {
  method: string;
  url: string;
  /** Flat [name, value, …]: Host first, no pseudo-headers. */
  rawHeaders: string[];
  /** `Expect: 100-continue` with a body to come: the client waits for a 100 before sending it. */
  expectsContinue: boolean;
  /** `TE: trailers` (the only TE HTTP/2 allows): the client takes trailer fields, so the response waits for the endpoint's. */
  acceptsTrailers: boolean;
  /** An extended CONNECT with `:protocol websocket` (RFC 8441): `method` is GET, the stream is the WebSocket's. */
  webSocket: boolean;
}

/**
 * node:http2's raw headers of a request (pseudo-headers first, names in lower case) → its HTTP/1.1
 * head, or why it is refused (answered 400). `endStream`: the HEADERS frame ended the stream (no body).
 *
 * @example translateHead([':method', 'GET', ':path', '/x', ':scheme', 'http', ':authority', 'a.example'], true)
 *   // { method: 'GET', url: '/x', rawHeaders: ['host', 'a.example'], expectsContinue: false, acceptsTrailers: false, webSocket: false }
 */
export function translateHead(raw: readonly string[], endStream: boolean): TranslatedHead | string {
  let method = '';
  let protocol: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let hosts = 0;
  let cookie: string | undefined;
  let length = false;
  let expects = false;
  let trailers = false;
  const out: string[] = ['host', ''];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === COLON) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name === ':protocol') protocol = value;
      continue; // :scheme (the connection says it)
    }
    if (name === 'host') {
      hosts++;
      host = value;
      continue;
    }
    if (name === 'cookie') {
      cookie = cookie === undefined ? value : cookie + '; ' + value;
      continue;
    }
    if (name === 'content-length') length = true;
    else if (name === 'expect') expects = value.trim().toLowerCase() === '100-continue';
    else if (name === 'te') trailers = value === 'trailers';
    out.push(name, value);
  }
  if (path === undefined) return `${method} without :path cannot be served here`;
  // nghttp2 lets :protocol through only on a CONNECT, and only when the data port enabled it.
  const webSocket = protocol !== undefined;
  if (protocol !== undefined) {
    if (method !== 'CONNECT') return `:protocol on a ${method} request, want CONNECT`;
    if (protocol !== 'websocket') return `extended CONNECT for protocol "${clip(protocol)}" is not served here: only websocket (RFC 8441)`;
    method = 'GET';
  }
  if (hosts > 1) return `request has ${hosts} Host headers, want at most one`;
  if (authority !== undefined) {
    if (host !== undefined && host.toLowerCase() !== authority.toLowerCase())
      return `Host "${clip(host)}" differs from :authority "${clip(authority)}"`;
    out[1] = authority;
  } else if (host !== undefined) {
    out[1] = host;
  } else {
    return 'HTTP/2 request without :authority or Host';
  }
  if (cookie !== undefined) out.push('cookie', cookie);
  if (!endStream && !length && !webSocket) out.push('transfer-encoding', 'chunked');
  return { method, url: path, rawHeaders: out, expectsContinue: expects && !endStream, acceptsTrailers: trailers, webSocket };
}

const COLON = 58;

function clip(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}…` : value;
}

/**
 * What the gateway reads of a request: the translated head, and the body as the data port's
 * HTTP/1.1 requests give it (Http1Request): chunks buffered until read, past 64 KiB the stream
 * paused (its window then stops the client), `readAll` for a body that has all arrived.
 */
export class Http2StreamRequest extends Http1Request {
  constructor(head: TranslatedHead, socket: Socket, flow: BodyFlowControl) {
    super(head.method, head.url, head.rawHeaders, '2.0', true, socket, flow);
  }
}

const REQUEST = Symbol('sluice.http2Request');
type Owned = ServerHttp2Stream & { [REQUEST]: Http2StreamRequest };

/** Read the stream's body into `req` from now on. The listeners are functions shared by every stream. */
export function readBody(stream: ServerHttp2Stream, req: Http2StreamRequest): void {
  (stream as Owned)[REQUEST] = req;
  stream.on('data', streamOnData);
  stream.on('end', streamOnEnd);
}

/** Stop reading into the request (its response has ended): what else arrives is dropped. */
export function dropBody(stream: ServerHttp2Stream): void {
  stream.off('data', streamOnData);
  stream.off('end', streamOnEnd);
  stream.resume();
}

function streamOnData(this: Owned, chunk: Buffer): void {
  this[REQUEST].push(chunk);
}

function streamOnEnd(this: Owned): void {
  this[REQUEST].finish();
}

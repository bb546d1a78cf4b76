/**
 * An HTTP/2 stream as the gateway reads a request: method, target, the HTTP/1.1 head it stands for,
 * and its body, the stream's readable side. Flow control bounds that body: a stream nobody reads
 * (a held request) gets no more window than its first 64 KiB.
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
 * Cost: one pass over the raw headers, a few string comparisons per name.
 */
import type { ServerHttp2Stream } from 'node:http2';

/** The HTTP/1.1 head of an HTTP/2 request. */
export interface TranslatedHead {
  method: string;
  url: string;
  /** Flat [name, value, …]: Host first, no pseudo-headers. */
  rawHeaders: string[];
  /** `Expect: 100-continue` with a body to come: the client waits for a 100 before sending it. */
  expectsContinue: boolean;
}

/**
 * node:http2's raw headers of a request (pseudo-headers first, names in lower case) → its HTTP/1.1
 * head, or why it is refused (answered 400). `endStream`: the HEADERS frame ended the stream (no body).
 *
 * @example translateHead([':method', 'GET', ':path', '/x', ':scheme', 'http', ':authority', 'a.example'], true)
 *   // { method: 'GET', url: '/x', rawHeaders: ['host', 'a.example'], expectsContinue: false }
 */
export function translateHead(raw: readonly string[], endStream: boolean): TranslatedHead | string {
  let method = '';
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let hosts = 0;
  let cookie: string | undefined;
  let length = false;
  let expects = false;
  const out: string[] = ['host', ''];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === COLON) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue; // :scheme (the connection says it), :protocol (never enabled)
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
    out.push(name, value);
  }
  if (path === undefined) return `${method} without :path cannot be served here`;
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
  if (!endStream && !length) out.push('transfer-encoding', 'chunked');
  return { method, url: path, rawHeaders: out, expectsContinue: expects && !endStream };
}

const COLON = 58;

function clip(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}…` : value;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the body's listeners, as a Readable takes them
type Listener = (...args: any[]) => void;

/** What the gateway reads of a request; the body is the stream's, read as a Readable. */
export class Http2StreamRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];

  constructor(
    head: TranslatedHead,
    /** The connection's socket (its remoteAddress, and `encrypted` over TLS). */
    readonly socket: { readonly remoteAddress?: string | undefined },
    private readonly stream: ServerHttp2Stream,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.rawHeaders = head.rawHeaders;
  }

  get httpVersion(): string {
    return '2.0';
  }

  on(event: 'data' | 'end', listener: Listener): this {
    this.stream.on(event, listener);
    return this;
  }

  off(event: 'data' | 'end', listener: Listener): this {
    this.stream.off(event, listener);
    return this;
  }

  pause(): this {
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.stream.resume();
    return this;
  }

  isPaused(): boolean {
    return this.stream.isPaused();
  }
}

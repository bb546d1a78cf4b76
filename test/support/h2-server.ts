/**
 * HTTP/2 endpoints made by a test on 127.0.0.1:0 with node:http2: cleartext (h2c, prior knowledge)
 * or, given TLS options, over TLS (h2, and HTTP/1.1 too with `allowHTTP1`). Each records the
 * sessions it accepted and the streams it saw; close() destroys every session, then the server.
 */
import {
  createSecureServer,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type SecureServerOptions,
  type ServerHttp2Stream,
  type Settings,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';

export interface SeenStream {
  headers: IncomingHttpHeaders;
  /** Flat [name, value, …] as received, pseudo-headers included. */
  raw: string[];
  /** The HTTP/2 session it came on (its index in `sessions`). */
  session: number;
}

export interface H2Server {
  port: number;
  /** `http://127.0.0.1:PORT`, or `https://` over TLS. */
  origin: string;
  sessions: Http2Session[];
  streams: SeenStream[];
  close(): Promise<void>;
}

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, seen: SeenStream) => void;

/** Answers every stream with JSON: the request's headers, its raw list and its body. */
export const echo: StreamHandler = (stream, headers, seen) => {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    if (stream.closed) return;
    const text = JSON.stringify({ headers, raw: seen.raw, body: Buffer.concat(chunks).toString(), session: seen.session });
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    stream.end(text);
  });
};

export interface H2ServerOptions {
  /** TLS (h2): key, cert, and for mTLS ca / requestCert. */
  tls?: SecureServerOptions;
  settings?: Settings;
}

export async function h2Server(handler: StreamHandler = echo, options: H2ServerOptions = {}): Promise<H2Server> {
  const server: Http2Server =
    options.tls === undefined
      ? createServer({ settings: options.settings })
      : createSecureServer({ ...options.tls, settings: options.settings });
  const sessions: Http2Session[] = [];
  const streams: SeenStream[] = [];
  server.on('session', (session: Http2Session) => {
    sessions.push(session);
    session.on('error', () => {});
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    stream.on('error', () => {});
    const seen = { headers, raw, session: sessions.indexOf(stream.session!) };
    streams.push(seen);
    handler(stream, headers, seen);
  });
  server.on('secureConnection', (socket: TLSSocket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    origin: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    sessions,
    streams,
    close: () => {
      for (const session of sessions) session.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

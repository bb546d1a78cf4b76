/**
 * The gateway's seams to the protocols on either side, as small interfaces: what a data-port
 * listener hands the gateway (a DownstreamRequest with its DownstreamResponse, or an upgrade) and
 * what an upstream transport offers it (requests to one endpoint). The composition root (src/app/)
 * chooses the implementations — today the data port's own HTTP/1.1 server or its node:http
 * adapter (src/downstream/), and the HTTP/1.1 connection pool (src/upstream/) — so another
 * server or client (HTTP/2, TLS) plugs in without the gateway changing.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpstreamTls } from '../config/upstream-tls.js';
import type { UpstreamProtocol } from '../upstream/transport-choice.js';
import type { RequestBody, UpstreamCall, UpstreamHandler, UpstreamRequest } from '../upstream/upstream-connection.js';

export interface DownstreamRequest extends RequestBody {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  /** "1.1" or "1.0". */
  readonly httpVersion: string;
  /** Flat [name, value, …] as received. */
  readonly rawHeaders: string[];
  /** `encrypted`: the request came over TLS (node:tls's TLSSocket says so). */
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean | undefined };
}

export interface DownstreamResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  /** Flat [name, value, …] headers. */
  writeHead(statusCode: number, headers: string[]): unknown;
  flushHeaders(): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): unknown;
  /**
   * Trailer fields to send after the body, before `end` (node:http's ServerResponse has it, and
   * sends them on a chunked response). Optional: a response that cannot carry trailers leaves it
   * out, and they are dropped.
   */
  addTrailers?(trailers: ReadonlyArray<[string, string]>): void;
  destroy(err?: Error): unknown;
  /**
   * 'close' (at most once): the response or its connection is over; with `writableFinished` false,
   * the client left before the response ended (the data port's own server says only that).
   */
  on(event: 'close', listener: () => void): unknown;
  /** 'drain': `write` may go on. */
  once(event: 'drain', listener: () => void): unknown;
}

/** Where a listener sends what it receives. */
export interface ListenerHandlers {
  request(req: DownstreamRequest, res: DownstreamResponse): void;
  /** A WebSocket upgrade: the socket and the bytes read after the head now belong to the gateway. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * A WebSocket over an HTTP/2 stream (RFC 8441 extended CONNECT): `req` reads as the upgrade's GET
   * (no body), `res` answers it (an error as any response; 200 opens the tunnel), and `tunnel`
   * carries the WebSocket's bytes from the client (its writes go through `res`). Optional: a
   * listener whose owner has none does not offer WebSockets over HTTP/2.
   */
  webSocket?(req: DownstreamRequest, res: DownstreamResponse, tunnel: Duplex): void;
}

/** A data-port listener as the gateway drives it. */
export interface Listener {
  /** Resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stop accepting; responses in progress close their connections after them. Resolves once every connection has closed. */
  close(): Promise<void>;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

export type ListenerFactory = (handlers: ListenerHandlers) => Listener;

/** Requests to one endpoint, as the gateway sends them. */
export interface UpstreamTransport {
  /** Sends `req` now or when a connection is free; outcomes arrive on `handler`, never synchronously. */
  request(req: UpstreamRequest, handler: UpstreamHandler, now: number): UpstreamCall;
  /** Stop reusing connections; requests in flight finish. */
  close(): void;
  /** Close every connection now. */
  destroy(): void;
}

/** Per endpoint, from the revision that first sends to it. */
export interface TransportLimits {
  connectTimeoutMs: number;
  maxConnections: number;
  maxNewConnections: number;
  /** The revision's `protocol`; default http1. */
  protocol?: UpstreamProtocol;
  /** The revision's tls block, its files read; absent without one. */
  tls?: UpstreamTls | undefined;
}

export type TransportFactory = (origin: string, limits: TransportLimits) => UpstreamTransport;

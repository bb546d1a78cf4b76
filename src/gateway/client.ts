/**
 * What the gateway's request handler reads and writes: the data port's own ClientRequest and
 * ClientResponse, or Node's IncomingMessage and ServerResponse (the queue-proxy's port). Both
 * satisfy these shapes, so the Exchange is the same code behind either server.
 */
import type { RequestBody } from '../upstream/upstream-connection.js';

export interface GatewayRequest extends RequestBody {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  /** "1.1" or "1.0". */
  readonly httpVersion: string;
  /** Flat [name, value, …] as received. */
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress?: string | undefined };
}

export interface GatewayResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  /** Flat [name, value, …] headers. */
  writeHead(statusCode: number, headers: string[]): unknown;
  flushHeaders(): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): unknown;
  destroy(err?: Error): unknown;
  /** 'close' (at most once): the client left before the response ended. */
  on(event: 'close', listener: () => void): unknown;
  /** 'drain': `write` may go on. */
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * Which server the data port runs on: its own HTTP/1.1 server on Node's parser (Http1Server), or
 * the node:http adapter (NodeHttpServer) when SLUICE_HTTP_SERVER=node asks for it or when the
 * parser fence (native-parser.ts) found Node's parser unusable. Both serve the same contract; the
 * first costs about 13 µs less per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Http1Request } from './http1-request.js';
import type { Http1Response } from './http1-response.js';
import { Http1Server } from './http1-server.js';
import { nativeParser, type ParserFence } from './native-parser.js';
import { NodeHttpServer } from './node-http-server.js';
import type { H2cHandoff } from './preface.js';

export type DataPortKind = 'http1' | 'node';

/** The choice, and why the fallback was taken (for a warning in the log). */
export interface DataPortChoice {
  kind: DataPortKind;
  reason?: string;
}

/**
 * @example chooseDataPort({ SLUICE_HTTP_SERVER: 'node' })  // { kind: 'node', reason: 'SLUICE_HTTP_SERVER=node' }
 */
export function chooseDataPort(env: Record<string, string | undefined> = process.env, fence: ParserFence = nativeParser): DataPortChoice {
  const asked = env.SLUICE_HTTP_SERVER;
  if (asked === 'node') return { kind: 'node', reason: 'SLUICE_HTTP_SERVER=node' };
  if (!fence.ok) return { kind: 'node', reason: `Node's HTTP parser is not usable: ${fence.problem}` };
  if (asked !== undefined && asked !== '' && asked !== 'http1')
    return { kind: 'http1', reason: `SLUICE_HTTP_SERVER=${asked} is not "http1" or "node"; using http1` };
  return { kind: 'http1' };
}

/** What either server hands its handlers. */
export type DataPortRequest = Http1Request | IncomingMessage;
export type DataPortResponse = Http1Response | ServerResponse;

export interface DataPortHandlers {
  request(req: DataPortRequest, res: DataPortResponse): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** A response is over, ended or cut short (`res.writableFinished` tells which); once per response. */
  closed?(res: DataPortResponse): void;
}

export interface DataPortServer {
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Serve a connection accepted elsewhere (a TLS listener's) as if accepted here. */
  acceptConnection(socket: Socket): void;
  address(): AddressInfo | null;
  readonly connectionCount: number;
  close(): Promise<void>;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

export interface DataPortOptions {
  keepAliveTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** h2c with prior knowledge: where a connection that opens with the HTTP/2 preface goes (http2-sessions.ts). */
  h2c?: H2cHandoff;
}

/** A data-port server of the kind chosen. */
export function createDataPortServer(kind: DataPortKind, handlers: DataPortHandlers, options: DataPortOptions = {}): DataPortServer {
  return kind === 'node' ? new NodeHttpServer(handlers, options) : new Http1Server(handlers, options);
}

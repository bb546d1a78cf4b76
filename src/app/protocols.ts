/**
 * The protocol implementations the gateway is given: the data port's listener and the transport
 * to endpoints. Today one of each speaks HTTP/1.1 (src/downstream, src/upstream); the gateway
 * sees only the interfaces of src/gateway/http-types.ts.
 */
import { chooseDataPort, createDataPortServer, type DataPortServer } from '../downstream/data-port-server.js';
import type { ListenerHandlers, TransportFactory } from '../gateway/http-types.js';
import type { Logger } from '../log.js';
import { UpstreamPool } from '../upstream/upstream-pool.js';

/** Kept-alive HTTP/1.1 connections to each endpoint, bounded as the revision says. */
export const http1Transport: TransportFactory = (origin, limits) => new UpstreamPool(origin, limits);

/**
 * The data port's server: its own HTTP/1.1 server, or node:http when that is asked for or Node's
 * parser is unusable (said in the log). A gateway's ListenerFactory; TLS (tls-termination.ts) feeds it too.
 */
export function dataPortListener(logger: Logger): (handlers: ListenerHandlers) => DataPortServer {
  const choice = chooseDataPort();
  if (choice.reason !== undefined)
    logger.warn(
      { server: choice.kind, reason: choice.reason },
      `data port on ${choice.kind === 'node' ? 'node:http' : 'its own HTTP/1.1 server'}: ${choice.reason}`,
    );
  return (handlers) => createDataPortServer(choice.kind, handlers);
}

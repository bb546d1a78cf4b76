/**
 * The protocol implementations the gateway is given: the data port's listener and the transport
 * to endpoints. Today one of each speaks HTTP/1.1 (src/downstream, src/upstream); the gateway
 * sees only the interfaces of src/gateway/http-types.ts.
 */
import { Http1Server } from '../downstream/http1-server.js';
import type { ListenerFactory, TransportFactory } from '../gateway/http-types.js';
import type { Logger } from '../log.js';
import { UpstreamPool } from '../upstream/upstream-pool.js';

/** Kept-alive HTTP/1.1 connections to each endpoint, bounded as the revision says. */
export const http1Transport: TransportFactory = (origin, limits) => new UpstreamPool(origin, limits);

/** The data port's server. */
export function dataPortListener(_logger: Logger): ListenerFactory {
  return (handlers) => new Http1Server(handlers);
}

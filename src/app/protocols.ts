/**
 * The protocol implementations the gateway is given: the data port's listener and the transport
 * to endpoints — HTTP/1.1 (cleartext or TLS), HTTP/2 (h2c or h2) or whichever ALPN picks, as the
 * revision's protocol and tls block say (src/upstream/transport-choice.ts). The gateway sees only
 * the interfaces of src/gateway/http-types.ts.
 */
import { chooseDataPort, createDataPortServer } from '../downstream/data-port-server.js';
import type { ListenerFactory, TransportFactory } from '../gateway/http-types.js';
import type { Logger } from '../log.js';
import { AlpnTransport } from '../upstream/alpn-transport.js';
import { Http2Transport } from '../upstream/http2-transport.js';
import { chooseTransport } from '../upstream/transport-choice.js';
import { UpstreamPool } from '../upstream/upstream-pool.js';

/** Kept-alive HTTP/1.1 connections to each endpoint, bounded as the revision says. */
export const http1Transport: TransportFactory = (origin, limits) => new UpstreamPool(origin, limits);

/** The client each endpoint's revision asks for: the HTTP/1.1 pool, one HTTP/2 session, or the one ALPN agrees on. */
export const upstreamTransport: TransportFactory = (origin, limits) => {
  const { client, tls } = chooseTransport(origin, limits.protocol, limits.tls);
  const { connectTimeoutMs, maxConnections, maxNewConnections } = limits;
  if (client === 'h2') return new Http2Transport(origin, { connectTimeoutMs, tls });
  if (client === 'alpn') return new AlpnTransport(origin, { connectTimeoutMs, maxConnections, maxNewConnections, tls: tls! });
  return new UpstreamPool(origin, { connectTimeoutMs, maxConnections, maxNewConnections, tls });
};

/** The data port's server: its own HTTP/1.1 server, or node:http when that is asked for or Node's parser is unusable (said in the log). */
export function dataPortListener(logger: Logger): ListenerFactory {
  const choice = chooseDataPort();
  if (choice.reason !== undefined)
    logger.warn(
      { server: choice.kind, reason: choice.reason },
      `data port on ${choice.kind === 'node' ? 'node:http' : 'its own HTTP/1.1 server'}: ${choice.reason}`,
    );
  return (handlers) => createDataPortServer(choice.kind, handlers);
}

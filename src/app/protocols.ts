/**
 * The protocol implementations the gateway is given: the data port's listener and the transport
 * to endpoints. Today the listener speaks HTTP/1.1 and h2c with prior knowledge on one port
 * (src/downstream), the transport HTTP/1.1 (src/upstream); the gateway sees only the interfaces of
 * src/gateway/http-types.ts.
 */
import type { Http2Settings } from '../config/schema.js';
import { chooseDataPort, createDataPortServer } from '../downstream/data-port-server.js';
import { Http2Sessions } from '../downstream/http2-sessions.js';
import type { ListenerFactory, ListenerHandlers, TransportFactory } from '../gateway/http-types.js';
import type { Logger } from '../log.js';
import { UpstreamPool } from '../upstream/upstream-pool.js';

/** Kept-alive HTTP/1.1 connections to each endpoint, bounded as the revision says. */
export const http1Transport: TransportFactory = (origin, limits) => new UpstreamPool(origin, limits);

/**
 * The data port's server: its own HTTP/1.1 server, or node:http when that is asked for or Node's
 * parser is unusable (said in the log); with `http2.h2c`, connections that open with the HTTP/2
 * preface are served as HTTP/2 on the same port.
 */
export function dataPortListener(logger: Logger, http2: Http2Settings): ListenerFactory {
  const choice = chooseDataPort();
  if (choice.reason !== undefined)
    logger.warn(
      { server: choice.kind, reason: choice.reason },
      `data port on ${choice.kind === 'node' ? 'node:http' : 'its own HTTP/1.1 server'}: ${choice.reason}`,
    );
  return (handlers) => createDataPortServer(choice.kind, handlers, http2.h2c ? { h2c: http2Sessions(handlers, http2, logger) } : {});
}

/**
 * HTTP/2 sessions whose streams go to the gateway's request handler, with the config's limits: the
 * cleartext data port's h2c hand-off, and what a TLS listener gives its ALPN-h2 sockets to
 * (`serveSecure`). The data port that is handed it stops it with its own close.
 */
export function http2Sessions(handlers: ListenerHandlers, http2: Http2Settings, logger: Logger): Http2Sessions {
  const limits = {
    maxConcurrentStreams: http2.maxConcurrentStreams,
    maxHeaderListSize: http2.maxHeaderListSize,
    idleTimeoutMs: http2.idleTimeoutSeconds * 1000,
    maxResetsPerSecond: http2.maxResetsPerSecond,
  };
  return new Http2Sessions(
    (req, res) => handlers.request(req, res),
    limits,
    (client, limit) =>
      logger.warn(
        { client, limit },
        `HTTP/2 client reset more than ${limit} streams within a second: closed with GOAWAY ENHANCE_YOUR_CALM`,
      ),
  );
}

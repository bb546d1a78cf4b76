/**
 * The protocol implementations the gateway is given: the data port's listener and the transport
 * to endpoints. The listener speaks HTTP/1.1 and h2c with prior knowledge on one port (and h2
 * and HTTP/1.1 over TLS, src/downstream); the transport HTTP/1.1 (cleartext or TLS), HTTP/2 (h2c or
 * h2) or whichever ALPN picks, as the revision's protocol and tls block say
 * (src/upstream/transport-choice.ts). The gateway sees only the interfaces of src/gateway/http-types.ts.
 */
import type { TLSSocket } from 'node:tls';
import type { Http2Settings } from '../config/schema.js';
import { chooseDataPort, createDataPortServer, type DataPortServer } from '../downstream/data-port-server.js';
import { Http2Sessions } from '../downstream/http2-sessions.js';
import type { ListenerHandlers, TransportFactory } from '../gateway/http-types.js';
import type { Logger } from '../log.js';
import { formatHostPort } from '../net-address.js';
import type { ReplicaLinker } from '../scaler/replica-link.js';
import { AlpnTransport } from '../upstream/alpn-transport.js';
import { Http2Transport } from '../upstream/http2-transport.js';
import { connectTls, tlsTarget } from '../upstream/tls-connect.js';
import { chooseTransport } from '../upstream/transport-choice.js';
import { UpstreamPool } from '../upstream/upstream-pool.js';

/** Kept-alive HTTP/1.1 connections to each endpoint, bounded as the revision says. */
export const http1Transport: TransportFactory = (origin, limits) => new UpstreamPool(origin, limits);

/**
 * The client each endpoint's revision asks for: the HTTP/1.1 pool, the HTTP/2 sessions, or the one
 * ALPN agrees on; `maxConnectionsPerEndpoint` and `maxNewConnectionsPerEndpoint` bound connections
 * and HTTP/2 sessions alike.
 */
export const upstreamTransport: TransportFactory = (origin, limits) => {
  const { client, tls } = chooseTransport(origin, limits.protocol, limits.tls);
  const { connectTimeoutMs, maxConnections, maxNewConnections } = limits;
  if (client === 'h2') return new Http2Transport(origin, { connectTimeoutMs, maxConnections, maxNewConnections, tls });
  if (client === 'alpn') return new AlpnTransport(origin, { connectTimeoutMs, maxConnections, maxNewConnections, tls: tls! });
  return new UpstreamPool(origin, { connectTimeoutMs, maxConnections, maxNewConnections, tls });
};

/**
 * How a local replica's probes reach it: the client upstreamTransport picks for its endpoint
 * (`http://host:port`) and, over TLS, connections verified as the upstream client verifies them —
 * one secure context per replica, built from the tls block read when the config was loaded.
 */
export const replicaLink: ReplicaLinker = (host, port, protocol, tls) => {
  const choice = chooseTransport(`http://${formatHostPort(host, port)}`, protocol, tls);
  if (choice.tls === undefined) return { client: choice.client, connectTls: undefined };
  const target = tlsTarget(host, port, choice.tls);
  return { client: choice.client, connectTls: (alpn) => connectTls(target, alpn) };
};

/** The data port's server (a gateway's ListenerFactory, which TLS (tls-termination.ts) wraps), and where TLS sends ALPN-h2 connections. */
export interface DataPort {
  readonly listener: (handlers: ListenerHandlers) => DataPortServer;
  /** Serve a TLS connection that chose h2 with the same HTTP/2 sessions as h2c (once `listener` was called). */
  readonly serveH2: (socket: TLSSocket) => void;
}

/**
 * The data port's server: its own HTTP/1.1 server, or node:http when that is asked for or Node's
 * parser is unusable (said in the log); with `http2.h2c`, connections that open with the HTTP/2
 * preface are served as HTTP/2 on the same port. The HTTP/2 sessions also serve TLS's h2
 * connections, and stop with the server.
 */
export function dataPort(logger: Logger, http2: Http2Settings): DataPort {
  const choice = chooseDataPort();
  if (choice.reason !== undefined)
    logger.warn(
      { server: choice.kind, reason: choice.reason },
      `data port on ${choice.kind === 'node' ? 'node:http' : 'its own HTTP/1.1 server'}: ${choice.reason}`,
    );
  let sessions: Http2Sessions | undefined;
  return {
    listener: (handlers) => {
      sessions = http2Sessions(handlers, http2, logger);
      if (http2.h2c) return createDataPortServer(choice.kind, handlers, { h2c: sessions });
      return withSessions(createDataPortServer(choice.kind, handlers), sessions);
    },
    serveH2: (socket) => {
      if (sessions === undefined) socket.destroy();
      else sessions.serveSecure(socket);
    },
  };
}

/** A server without h2c whose HTTP/2 sessions (TLS's h2 connections) still count and close with it. */
function withSessions(server: DataPortServer, sessions: Http2Sessions): DataPortServer {
  return {
    listen: (port, host) => server.listen(port, host),
    acceptConnection: (socket) => server.acceptConnection(socket),
    address: () => server.address(),
    get connectionCount() {
      return server.connectionCount + sessions.sessionCount;
    },
    close: () => Promise.all([server.close(), sessions.close()]).then(() => undefined),
    closeIdleConnections() {
      server.closeIdleConnections();
      sessions.closeIdleSessions();
    },
    closeAllConnections() {
      server.closeAllConnections();
      sessions.closeAllSessions();
    },
  };
}

/**
 * HTTP/2 sessions whose streams go to the gateway's request handler (and WebSocket openings to its
 * WebSocket handler, with `http2.websockets`), with the config's limits: the
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
    http2.websockets && handlers.webSocket !== undefined ? (req, res, tunnel) => handlers.webSocket!(req, res, tunnel) : undefined,
  );
}

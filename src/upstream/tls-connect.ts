/**
 * TLS sockets to endpoints, verified: against the tls block's CA when it has one, else the system's
 * CAs; for the tls block's serverName, else the endpoint's host (an IP address is checked against
 * the certificate's IP names and gets no SNI). A client certificate is offered when configured.
 * The secure context is built once per endpoint, so a new connection does not parse PEM again.
 */
import { isIP } from 'node:net';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { UpstreamTls } from '../config/upstream-tls.js';

export interface TlsTarget {
  host: string;
  port: number;
  servername: string | undefined;
  context: SecureContext;
}

/** What every connection to one endpoint over TLS shares. */
export function tlsTarget(host: string, port: number, tls: UpstreamTls): TlsTarget {
  return {
    host,
    port,
    servername: tls.serverName ?? (isIP(host) === 0 ? host : undefined),
    context: createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key }),
  };
}

/** A TLS connection offering `alpn` (["h2"], ["http/1.1"], or both, h2 first). */
export function connectTls(target: TlsTarget, alpn: string[]): TLSSocket {
  return connect({
    host: target.host,
    port: target.port,
    servername: target.servername,
    secureContext: target.context,
    ALPNProtocols: alpn,
  });
}

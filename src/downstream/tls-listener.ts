/**
 * The data port's TLS listener: a node:tls server that picks each handshake's certificate by SNI
 * from the certificate store (the default one without SNI), offers ALPN `http/1.1` and `h2` (only
 * when given an HTTP/2 handler), and hands each established connection to the HTTP/1.1 data-port
 * server (or the HTTP/2 handler) as if it had been accepted there. A handshake has a deadline; a
 * client error (a refused version, no common protocol, a reset) closes that socket and nothing else.
 */
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { contextOptions } from './certificate-pair.js';
import type { CertificateSet, CertificateStore } from './certificate-store.js';

/** A server that takes connections already accepted elsewhere (Http1Server, NodeHttpServer). */
export interface ConnectionAcceptor {
  acceptConnection(socket: Socket): void;
}

export type AlpnProtocol = 'h2' | 'http/1.1';

export interface TlsListenerOptions {
  certificates: CertificateStore;
  /** Where HTTP/1.1 connections go. */
  http1: ConnectionAcceptor;
  /** Where connections that chose h2 go; without it, h2 is not offered. */
  http2?: ((socket: TLSSocket) => void) | undefined;
  /** Offered in this order of preference (h2 dropped without an HTTP/2 handler). Default h2, http/1.1. */
  alpn?: readonly AlpnProtocol[];
  /** A handshake not done in this time is cut. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** A handshake that failed (for a debug log and counts); the socket is already being closed. */
  onClientError?: (err: Error & { code?: string }, socket: TLSSocket) => void;
}

/** Asked of listen(), as the cleartext servers do; the kernel caps it at net.core.somaxconn. */
const LISTEN_BACKLOG = 65_535;

export class TlsListener {
  /** The protocols offered, h2 only with a handler for it. */
  readonly alpn: readonly AlpnProtocol[];
  private readonly server: Server;
  private readonly http1: ConnectionAcceptor;
  private readonly http2: ((socket: TLSSocket) => void) | undefined;
  /** Every TCP connection, in a handshake or not, cut by closeAllConnections. */
  private readonly sockets = new Set<Socket>();
  private readonly unsubscribe: () => void;

  constructor(options: TlsListenerOptions) {
    this.http1 = options.http1;
    this.http2 = options.http2;
    this.alpn = (options.alpn ?? ['h2', 'http/1.1']).filter((p) => p !== 'h2' || this.http2 !== undefined);
    if (this.alpn.length === 0) throw new Error('tls.alpn: h2 only, and this gateway serves no HTTP/2 over TLS: add http/1.1');
    const store = options.certificates;
    this.server = createServer({
      ...contextOptions(store.current.fallback.pem, store.current.settings),
      // A client offering none of these gets a no_application_protocol alert (RFC 7301 §3.2), not a hang.
      ALPNProtocols: [...this.alpn],
      // Cost per handshake: one Map lookup or two (SniTable.pick).
      SNICallback: (serverName, done) => done(null, store.current.table.pick(serverName)),
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      noDelay: true,
    });
    this.unsubscribe = store.onReplace(this.replace);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('secureConnection', this.onSecure);
    const onClientError = options.onClientError;
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      socket.destroy();
      onClientError?.(err, socket);
    });
  }

  /** Resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Stop accepting. Resolves once every connection it accepted has closed (the servers it handed them to close them). */
  close(): Promise<void> {
    this.unsubscribe();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Cut every connection, in a handshake or handed over. */
  closeAllConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** New handshakes get the new set; connections already up keep what they negotiated. */
  private readonly replace = (set: CertificateSet): void => {
    this.server.setSecureContext(contextOptions(set.fallback.pem, set.settings));
  };

  private readonly onSecure = (socket: TLSSocket): void => {
    if (socket.alpnProtocol === 'h2' && this.http2 !== undefined) return this.http2(socket);
    this.http1.acceptConnection(socket);
  };
}

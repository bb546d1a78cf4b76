/**
 * How requests reach a replica, so that its probes go the same way: the client the gateway's upstream
 * transport uses for it and, over TLS, a connect function with the revision's CA, server name and
 * client certificate. It is a port: the upstream client (src/upstream/transport-choice.ts and
 * tls-connect.ts) decides both, and the composition root (src/app/protocols.ts `replicaLink`) hands
 * that decision to the local driver, so the rule "when is TLS used" lives in one place.
 */
import type { TLSSocket } from 'node:tls';
import type { LocalRevision } from '../config/schema.js';
import type { UpstreamTls } from '../config/upstream-tls.js';

export interface ReplicaLink {
  /** http1: HTTP/1.1; h2: HTTP/2 (h2c in cleartext, h2 over TLS); alpn: over TLS, whichever ALPN agrees on. */
  client: 'http1' | 'h2' | 'alpn';
  /** Over TLS: a new verified connection to the replica offering `alpn`; undefined in cleartext. */
  connectTls: ((alpn: string[]) => TLSSocket) | undefined;
}

/**
 * The link to the replica at host:port of a revision with this protocol and tls block (its files
 * already read). Called once per replica: whatever it builds (a TLS context) serves every probe.
 */
export type ReplicaLinker = (host: string, port: number, protocol: LocalRevision['protocol'], tls: UpstreamTls | undefined) => ReplicaLink;

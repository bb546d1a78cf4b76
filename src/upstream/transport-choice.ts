/**
 * Which client speaks to an endpoint, from the revision's `protocol`, its tls block and the
 * endpoint's origin. Pure; table-tested in test/transport-choice.test.ts.
 *
 * TLS is used when the origin is `https:`, the protocol is h2, or a tls block is given (Kubernetes
 * endpoints are `http://pod-ip:port` whatever the protocol). Then:
 *
 * | protocol | cleartext              | over TLS                                   |
 * | -------- | ---------------------- | ------------------------------------------ |
 * | http1    | HTTP/1.1               | HTTP/1.1 (ALPN http/1.1)                   |
 * | h2c      | HTTP/2, prior knowledge | refused (the config refuses it first)      |
 * | h2       | —                      | HTTP/2 (ALPN h2)                           |
 * | auto     | HTTP/1.1               | ALPN h2 or http/1.1, the endpoint's choice |
 *
 * Cleartext `auto` is HTTP/1.1: nothing in a cleartext connection says whether the endpoint speaks
 * HTTP/2 without sending it bytes it may not understand (an HTTP/2 preface to an HTTP/1.1 server,
 * or an `Upgrade: h2c` most servers ignore), so there is no exact, cheap test.
 */
import type { UpstreamTls } from '../config/upstream-tls.js';

export type UpstreamProtocol = 'http1' | 'h2c' | 'h2' | 'auto';

export interface TransportChoice {
  /** http1: the HTTP/1.1 pool; h2: one HTTP/2 session; alpn: whichever the TLS handshake agrees on. */
  client: 'http1' | 'h2' | 'alpn';
  /** TLS settings when the endpoint is reached over TLS (an empty object: system CAs, the host's name). */
  tls: UpstreamTls | undefined;
}

export function chooseTransport(origin: string, protocol: UpstreamProtocol = 'http1', tls?: UpstreamTls): TransportChoice {
  const https = origin.startsWith('https:');
  if (protocol === 'h2c') {
    if (https || tls !== undefined) throw new Error(`protocol h2c is cleartext, but ${origin} is to be reached over TLS`);
    return { client: 'h2', tls: undefined };
  }
  const over = https || protocol === 'h2' || tls !== undefined ? (tls ?? {}) : undefined;
  if (protocol === 'h2') return { client: 'h2', tls: over };
  if (protocol === 'auto' && over !== undefined) return { client: 'alpn', tls: over };
  return { client: 'http1', tls: over };
}

/**
 * The WebSocket opening handshake as the gateway translates it between an HTTP/2 client (RFC 8441
 * extended CONNECT, which carries no key) and an HTTP/1.1 endpoint (RFC 6455 §4.1 GET with
 * `Upgrade: websocket`): the key the gateway makes for the endpoint, the accept value the
 * endpoint's 101 must carry for it, the endpoint's request head and the client's 200 head. Pure,
 * apart from the key's random bytes; tested as tables in test/websocket-handshake.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { downstreamResponseHeaders } from './headers.js';

/** RFC 6455 §1.3: appended to the key before hashing. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1). */
export function webSocketKey(): string {
  return randomBytes(16).toString('base64');
}

/**
 * The Sec-WebSocket-Accept an endpoint must answer `key` with: base64(SHA-1(key + GUID)).
 *
 * @example acceptFor('dGhlIHNhbXBsZSBub25jZQ==') // 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' (RFC 6455 §1.3)
 */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** Names the translation writes itself: whatever the client sent under them is dropped. */
const OWN = new Set(['sec-websocket-key', 'sec-websocket-accept', 'connection', 'upgrade']);

/**
 * The endpoint's request headers: `forwarded` (the gateway's header rules already applied: Host,
 * X-Forwarded-*, Sec-WebSocket-Version, -Protocol, -Extensions, Origin, Cookie…) without any key
 * or accept the client sent, then `Connection: Upgrade`, `Upgrade: websocket` and `key`.
 */
export function endpointHandshakeHeaders(forwarded: readonly string[], key: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < forwarded.length; i += 2) {
    if (!OWN.has(forwarded[i]!.toLowerCase())) out.push(forwarded[i]!, forwarded[i + 1]!);
  }
  out.push('connection', 'Upgrade', 'upgrade', 'websocket', 'sec-websocket-key', key);
  return out;
}

/**
 * Why an endpoint's answer to `key` does not open a WebSocket (`undefined`: it does): a 101 must
 * say `Upgrade: websocket` and carry the accept value for the key (RFC 6455 §4.2.2).
 */
export function handshakeProblem(raw: readonly string[], key: string): string | undefined {
  let upgrade: string | undefined;
  let accept: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'upgrade') upgrade = raw[i + 1]!;
    else if (name === 'sec-websocket-accept') accept = raw[i + 1]!;
  }
  if (upgrade?.trim().toLowerCase() !== 'websocket') return `the endpoint's 101 upgrades to "${upgrade ?? ''}", want websocket`;
  if (accept === undefined) return "the endpoint's 101 carries no Sec-WebSocket-Accept";
  if (accept.trim() !== acceptFor(key)) return "the endpoint's Sec-WebSocket-Accept does not match the key sent";
  return undefined;
}

/**
 * The client's 200 head from the endpoint's 101: hop-by-hop fields (Connection, Upgrade) and the
 * accept value go (an HTTP/2 client has no key to check it against); the chosen subprotocol and
 * extensions, cookies and the rest pass; `extra` pairs (Sluice-Revision) are appended.
 */
export function clientTunnelHeaders(raw: string[], extra: string[]): string[] {
  const out = downstreamResponseHeaders(raw, extra);
  for (let i = out.length - 2; i >= 0; i -= 2) if (out[i]!.toLowerCase() === 'sec-websocket-accept') out.splice(i, 2);
  return out;
}

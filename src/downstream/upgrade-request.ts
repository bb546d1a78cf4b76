/** Which Upgrade requests the data port hands over: a WebSocket GET; every other one is declined. */

/** RFC 6455 §4.1: an Upgrade header listing the websocket protocol (token match, any case). */
export function isWebSocketUpgrade(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 7 || raw[i]!.toLowerCase() !== 'upgrade') continue;
    for (const token of raw[i + 1]!.split(',')) if (token.trim().toLowerCase() === 'websocket') return true;
  }
  return false;
}

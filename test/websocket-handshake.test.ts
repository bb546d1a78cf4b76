/** The WebSocket handshake's translation between HTTP/2 and HTTP/1.1 (src/gateway/websocket-handshake.ts), as tables. */
import { describe, expect, it } from 'vitest';
import {
  acceptFor,
  clientTunnelHeaders,
  endpointHandshakeHeaders,
  handshakeProblem,
  webSocketKey,
} from '../src/gateway/websocket-handshake.js';

// RFC 6455 §1.3's worked example.
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

describe('acceptFor and webSocketKey', () => {
  it("matches RFC 6455's example", () => {
    expect(acceptFor(KEY)).toBe(ACCEPT);
  });

  it('makes 16 random bytes, base64, different each time', () => {
    const a = webSocketKey();
    expect(Buffer.from(a, 'base64')).toHaveLength(16);
    expect(a).not.toBe(webSocketKey());
  });
});

describe('endpointHandshakeHeaders', () => {
  const rows: { label: string; forwarded: string[]; want: string[] }[] = [
    {
      label: 'the forwarded headers, then Connection, Upgrade and the key',
      forwarded: ['host', 'chat.test', 'sec-websocket-version', '13', 'sec-websocket-protocol', 'a, b', 'origin', 'https://x'],
      want: [
        'host',
        'chat.test',
        'sec-websocket-version',
        '13',
        'sec-websocket-protocol',
        'a, b',
        'origin',
        'https://x',
        'connection',
        'Upgrade',
        'upgrade',
        'websocket',
        'sec-websocket-key',
        'K',
      ],
    },
    {
      label: "a client's own key and accept are dropped, whatever their case",
      forwarded: ['host', 'chat.test', 'Sec-WebSocket-Key', KEY, 'sec-websocket-accept', ACCEPT],
      want: ['host', 'chat.test', 'connection', 'Upgrade', 'upgrade', 'websocket', 'sec-websocket-key', 'K'],
    },
  ];
  it.each(rows)('$label', ({ forwarded, want }) => {
    expect(endpointHandshakeHeaders(forwarded, 'K')).toEqual(want);
  });
});

describe('handshakeProblem', () => {
  const rows: { label: string; raw: string[]; want: string | undefined }[] = [
    { label: 'the right accept', raw: ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', ACCEPT], want: undefined },
    { label: 'Upgrade in any case', raw: ['upgrade', 'WebSocket', 'sec-websocket-accept', ACCEPT], want: undefined },
    { label: 'a wrong accept', raw: ['Upgrade', 'websocket', 'Sec-WebSocket-Accept', acceptFor('other')], want: 'does not match' },
    { label: 'no accept', raw: ['Upgrade', 'websocket'], want: 'no Sec-WebSocket-Accept' },
    { label: 'an upgrade to something else', raw: ['Upgrade', 'h2c', 'Sec-WebSocket-Accept', ACCEPT], want: 'upgrades to "h2c"' },
  ];
  it.each(rows)('$label', ({ raw, want }) => {
    const got = handshakeProblem(raw, KEY);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(want);
  });
});

describe('clientTunnelHeaders', () => {
  it('keeps the subprotocol, extensions and cookies; drops Connection, Upgrade and the accept; appends extra', () => {
    const raw = [
      'Upgrade',
      'websocket',
      'Connection',
      'Upgrade',
      'Sec-WebSocket-Accept',
      ACCEPT,
      'Sec-WebSocket-Protocol',
      'chat.v2',
      'Sec-WebSocket-Extensions',
      'permessage-deflate',
      'Set-Cookie',
      'a=1',
    ];
    expect(clientTunnelHeaders(raw, ['sluice-revision', 'chat-1'])).toEqual([
      'Sec-WebSocket-Protocol',
      'chat.v2',
      'Sec-WebSocket-Extensions',
      'permessage-deflate',
      'Set-Cookie',
      'a=1',
      'sluice-revision',
      'chat-1',
    ]);
  });
});

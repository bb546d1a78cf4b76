/** Which client reaches an endpoint (src/upstream/transport-choice.ts), as a table. */
import { describe, expect, it } from 'vitest';
import { chooseTransport, type TransportChoice, type UpstreamProtocol } from '../src/upstream/transport-choice.js';

const CA = { ca: '-----BEGIN CERTIFICATE-----…' };

const rows: Array<{ label: string; origin: string; protocol?: UpstreamProtocol; tls?: typeof CA; want: TransportChoice }> = [
  { label: 'default: HTTP/1.1 in cleartext', origin: 'http://10.0.0.7:8080', want: { client: 'http1', tls: undefined } },
  {
    label: 'http1, https origin: HTTP/1.1 over TLS, system CAs',
    origin: 'https://iris.internal',
    protocol: 'http1',
    want: { client: 'http1', tls: {} },
  },
  {
    label: 'http1, a tls block on an http origin (kubernetes): over TLS',
    origin: 'http://10.0.0.7:8443',
    tls: CA,
    want: { client: 'http1', tls: CA },
  },
  { label: 'h2c: HTTP/2 in cleartext', origin: 'http://10.0.0.7:8080', protocol: 'h2c', want: { client: 'h2', tls: undefined } },
  {
    label: 'h2 on an http origin (kubernetes): HTTP/2 over TLS',
    origin: 'http://10.0.0.7:8443',
    protocol: 'h2',
    want: { client: 'h2', tls: {} },
  },
  { label: 'h2 with a tls block', origin: 'https://iris.internal', protocol: 'h2', tls: CA, want: { client: 'h2', tls: CA } },
  { label: 'auto in cleartext: HTTP/1.1', origin: 'http://10.0.0.7:8080', protocol: 'auto', want: { client: 'http1', tls: undefined } },
  { label: 'auto over TLS: by ALPN', origin: 'https://iris.internal', protocol: 'auto', want: { client: 'alpn', tls: {} } },
  { label: 'auto with a tls block: by ALPN', origin: 'http://10.0.0.7:8443', protocol: 'auto', tls: CA, want: { client: 'alpn', tls: CA } },
];

describe('chooseTransport', () => {
  it.each(rows)('$label', ({ origin, protocol, tls, want }) => {
    expect(chooseTransport(origin, protocol, tls)).toEqual(want);
  });

  it.each([
    { label: 'h2c to an https origin', origin: 'https://iris.internal', tls: undefined },
    { label: 'h2c with a tls block', origin: 'http://10.0.0.7:8080', tls: CA },
  ])('refuses $label (the config refuses it first)', ({ origin, tls }) => {
    expect(() => chooseTransport(origin, 'h2c', tls)).toThrow(/h2c is cleartext/);
  });
});

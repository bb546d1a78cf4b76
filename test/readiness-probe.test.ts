/**
 * The readiness probes of local replicas (src/scaler/http2-probe.ts, readiness-probe.ts) against real
 * servers on 127.0.0.1: the gRPC health check against the predictor's gRPC port through its startup
 * delay, a GET over HTTP/2 against a node:http2 server, refused ports, non-gRPC answers; the same
 * over TLS (h2, and HTTPS on one kept connection) through the gateway's own replica link, and the
 * TLS error a bad CA leaves; and the decoding of a framed HealthCheckResponse as a table.
 */
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { replicaLink } from '../src/app/protocols.js';
import { startPredictor, type Predictor } from '../src/predictor/server.js';
import { freePorts } from '../src/scaler/free-port.js';
import { Http2Prober, healthStatus } from '../src/scaler/http2-probe.js';
import { http1Prober, type Prober } from '../src/scaler/readiness-probe.js';
import { certFolder, type CertFolder, type Pem } from './support/certs.js';
import { h2Server, type H2Server } from './support/h2-server.js';
import { until } from './support/harness.js';

const TIMEOUT_MS = 2000;
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function prober(port: number, how: ConstructorParameters<typeof Http2Prober>[2]): Http2Prober {
  const p = new Http2Prober('127.0.0.1', port, how);
  cleanups.push(() => p.close());
  return p;
}

async function server(handler: Parameters<typeof h2Server>[0], options?: Parameters<typeof h2Server>[1]): Promise<H2Server> {
  const s = await h2Server(handler, options);
  cleanups.push(() => s.close());
  return s;
}

describe('Http2Prober: gRPC health check', () => {
  it('refused before the port opens, not-ready while loading, ready once SERVING', async () => {
    const [port] = await freePorts('127.0.0.1', 1);
    const p = prober(port!, { kind: 'grpc' });
    expect(await p.probe(TIMEOUT_MS)).toBe('refused');

    const predictor: Predictor = await startPredictor({ grpcPort: port!, startupDelayMs: 1000 });
    cleanups.push(() => predictor.close());
    expect(await p.probe(TIMEOUT_MS)).toBe('not-ready');
    await until(async () => (await p.probe(TIMEOUT_MS)) === 'ready', 'the probe sees SERVING');
    expect(await p.probe(TIMEOUT_MS)).toBe('ready');
  });

  it('an HTTP/2 server that is not a gRPC health service is not ready', async () => {
    const notGrpc = await server((stream) => {
      stream.respond({ ':status': 404 });
      stream.end();
    });
    expect(await prober(notGrpc.port, { kind: 'grpc' }).probe(TIMEOUT_MS)).toBe('not-ready');

    const unimplemented = await server((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
    });
    expect(await prober(unimplemented.port, { kind: 'grpc' }).probe(TIMEOUT_MS)).toBe('not-ready');
  });

  it('an answer that never comes is not ready after the timeout, and the next probe reconnects', async () => {
    let answer = false;
    const slow = await server((stream) => {
      if (!answer) return; // never answered
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    });
    const p = prober(slow.port, { kind: 'grpc' });
    expect(await p.probe(100)).toBe('not-ready');
    answer = true;
    expect(await p.probe(TIMEOUT_MS)).toBe('ready');
    expect(slow.sessions).toHaveLength(2);
  });
});

describe('Http2Prober: GET over HTTP/2', () => {
  it('2xx/3xx is ready, others not; probes share one session', async () => {
    const s = await server((stream, headers) => {
      stream.respond({ ':status': headers[':path'] === '/ready' ? 200 : headers[':path'] === '/moved' ? 302 : 503 });
      stream.end();
    });
    expect(await prober(s.port, { kind: 'http', path: '/ready' }).probe(TIMEOUT_MS)).toBe('ready');
    expect(await prober(s.port, { kind: 'http', path: '/moved' }).probe(TIMEOUT_MS)).toBe('ready');
    const notReady = prober(s.port, { kind: 'http', path: '/loading' });
    expect(await notReady.probe(TIMEOUT_MS)).toBe('not-ready');
    expect(await notReady.probe(TIMEOUT_MS)).toBe('not-ready');
    expect(s.streams.map((x) => [x.headers[':method'], x.headers[':path']])).toEqual([
      ['GET', '/ready'],
      ['GET', '/moved'],
      ['GET', '/loading'],
      ['GET', '/loading'],
    ]);
    expect(s.sessions).toHaveLength(3);
  });
});

describe('probes over TLS, as the replica link connects', () => {
  let certs: CertFolder;
  let ca: Pem;
  let otherCa: Pem;
  let pem: Pem;
  beforeAll(() => {
    certs = certFolder();
    ca = certs.ca('sluice-test-ca');
    otherCa = certs.ca('some-other-ca');
    pem = certs.issue(ca, 'replica', { sans: ['IP:127.0.0.1'] });
  });
  afterAll(() => certs.remove());

  /** The link the gateway gives a replica at `port` of a revision with `protocol` and a tls block trusting `trust`. */
  function connectTls(port: number, protocol: 'http1' | 'h2', trust: Pem): (alpn: string[]) => TLSSocket {
    const link = replicaLink('127.0.0.1', port, protocol, { ca: trust.cert });
    expect(link.client).toBe(protocol === 'h2' ? 'h2' : 'http1');
    return link.connectTls!;
  }

  function keep<P extends Prober>(p: P): P {
    cleanups.push(() => p.close());
    return p;
  }

  it('h2: a GET and the gRPC health check over one TLS session each (ALPN h2)', async () => {
    const s = await server(
      (stream, headers) => {
        if (headers[':path'] !== '/grpc.health.v1.Health/Check') {
          stream.respond({ ':status': 200 });
          stream.end();
          return;
        }
        stream.resume();
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
      },
      { tls: { key: pem.key, cert: pem.cert } },
    );
    const get = keep(new Http2Prober('127.0.0.1', s.port, { kind: 'http', path: '/ready' }, connectTls(s.port, 'h2', ca)));
    const grpc = keep(new Http2Prober('127.0.0.1', s.port, { kind: 'grpc' }, connectTls(s.port, 'h2', ca)));
    expect([await get.probe(TIMEOUT_MS), await get.probe(TIMEOUT_MS), await grpc.probe(TIMEOUT_MS)]).toEqual(['ready', 'ready', 'ready']);
    expect(s.sessions).toHaveLength(2);
    expect(s.sessions.map((x) => (x.socket as TLSSocket).alpnProtocol)).toEqual(['h2', 'h2']);
    expect(s.streams.map((x) => [x.headers[':scheme'], x.headers[':path']])).toEqual([
      ['https', '/ready'],
      ['https', '/ready'],
      ['https', '/grpc.health.v1.Health/Check'],
    ]);
    expect(get.describe).toBe('GET /ready over h2 (TLS)');
  });

  it('HTTPS: probes share one kept-alive TLS connection', async () => {
    let connections = 0;
    const https = createHttpsServer({ key: pem.key, cert: pem.cert }, (req, res) => {
      res.statusCode = req.url === '/ready' ? 200 : 503;
      res.end();
    });
    https.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      https.closeAllConnections();
      return new Promise<void>((resolve) => https.close(() => resolve()));
    });
    const port = (https.address() as { port: number }).port;
    const p = keep(http1Prober('127.0.0.1', port, '/ready', connectTls(port, 'http1', ca)));
    expect([await p.probe(TIMEOUT_MS), await p.probe(TIMEOUT_MS), await p.probe(TIMEOUT_MS)]).toEqual(['ready', 'ready', 'ready']);
    expect(connections).toBe(1);
    expect(p.lastError).toBeUndefined();
  });

  it.each([
    {
      label: 'HTTPS',
      make: (port: number, c: (alpn: string[]) => TLSSocket) => http1Prober('127.0.0.1', port, '/ready', c),
      protocol: 'http1' as const,
    },
    {
      label: 'h2',
      make: (port: number, c: (alpn: string[]) => TLSSocket) => new Http2Prober('127.0.0.1', port, { kind: 'grpc' }, c),
      protocol: 'h2' as const,
    },
  ])(
    '$label with a CA that did not sign the certificate: not-ready, the TLS error kept, the server never asked',
    async ({ make, protocol }) => {
      const s = await server(
        (stream) => {
          stream.respond({ ':status': 200 });
          stream.end();
        },
        { tls: { key: pem.key, cert: pem.cert, allowHTTP1: true } },
      );
      const p = keep(make(s.port, connectTls(s.port, protocol, otherCa)));
      expect(await p.probe(TIMEOUT_MS)).toBe('not-ready');
      // Node 24 adds a hint to the message ("; if the root CA is installed locally, …").
      expect(p.lastError).toMatch(/^unable to verify the first certificate[^()]* \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
      expect(s.streams).toHaveLength(0);
    },
  );

  it('a TLS probe of a port where nothing listens is refused', async () => {
    const [port] = await freePorts('127.0.0.1', 1);
    expect(await keep(http1Prober('127.0.0.1', port!, '/ready', connectTls(port!, 'http1', ca))).probe(TIMEOUT_MS)).toBe('refused');
    expect(await keep(new Http2Prober('127.0.0.1', port!, { kind: 'grpc' }, connectTls(port!, 'h2', ca))).probe(TIMEOUT_MS)).toBe(
      'refused',
    );
  });
});

describe('healthStatus: a framed HealthCheckResponse', () => {
  it.each([
    { label: 'SERVING', frame: [0, 0, 0, 0, 2, 0x08, 1], want: 1 },
    { label: 'NOT_SERVING', frame: [0, 0, 0, 0, 2, 0x08, 2], want: 2 },
    { label: 'empty message: the default, UNKNOWN', frame: [0, 0, 0, 0, 0], want: 0 },
    { label: 'too short for a frame header', frame: [0, 0, 0], want: undefined },
    { label: 'compressed flag set', frame: [1, 0, 0, 0, 2, 0x08, 1], want: undefined },
    { label: 'length disagrees with the bytes', frame: [0, 0, 0, 0, 3, 0x08, 1], want: undefined },
    { label: 'another field', frame: [0, 0, 0, 0, 2, 0x10, 1], want: undefined },
    { label: 'two frames', frame: [0, 0, 0, 0, 2, 0x08, 1, 0, 0, 0, 0, 0], want: undefined },
  ])('$label', ({ frame, want }) => {
    expect(healthStatus(Buffer.from(frame))).toBe(want);
  });
});

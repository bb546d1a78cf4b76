/**
 * The h2c readiness probe of local replicas (src/scaler/h2c-probe.ts) against real servers on
 * 127.0.0.1: the gRPC health check against the predictor's gRPC port through its startup delay, a
 * GET over HTTP/2 against a node:http2 server, refused ports, non-gRPC answers; and the decoding of
 * a framed HealthCheckResponse as a table.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startPredictor, type Predictor } from '../src/predictor/server.js';
import { freePorts } from '../src/scaler/free-port.js';
import { H2cProber, healthStatus } from '../src/scaler/h2c-probe.js';
import { h2Server, type H2Server } from './support/h2-server.js';
import { until } from './support/harness.js';

const TIMEOUT_MS = 2000;
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function prober(port: number, how: ConstructorParameters<typeof H2cProber>[2]): H2cProber {
  const p = new H2cProber('127.0.0.1', port, how);
  cleanups.push(() => p.close());
  return p;
}

async function server(handler: Parameters<typeof h2Server>[0]): Promise<H2Server> {
  const s = await h2Server(handler);
  cleanups.push(() => s.close());
  return s;
}

describe('H2cProber: gRPC health check', () => {
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

describe('H2cProber: GET over HTTP/2', () => {
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

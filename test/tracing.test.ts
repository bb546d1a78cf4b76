/**
 * Tracing end to end: the gateway program with a `tracing:` block exporting to an in-test OTLP/HTTP
 * receiver, a local revision that cold-starts and echoes the headers it got. Checked: the gateway's
 * SERVER span is the child of the client's traceparent, carries the revision's attributes, has a
 * `held` child on a cold start, and is the parent the endpoint is told about; parent-based sampling;
 * a collector that is down or hangs never fails a request, and what waits for it is bounded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { countingRevision, startGateway, until, type TestGateway } from './support/harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';

let gw: TestGateway | undefined;
let receiver: OtlpReceiver | undefined;
const servers: Server[] = [];

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await receiver?.close();
  receiver = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Spans leave in batches every 20 ms (the default is 5 s). */
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '20' };

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

function countingService(tracing: string): string {
  return `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
tracing: ${tracing}
services:
  - name: echo
    match: { pathPrefix: / }
    revisions:${countingRevision('echo-1')}
    traffic: [{ revision: echo-1, percent: 100 }]
`;
}

async function echo(url: string, headers: Record<string, string> = {}) {
  const res = await request(`${url}/headers`, { headers });
  const body = (await res.body.json()) as { headers: Record<string, string | undefined> };
  return { status: res.statusCode, headers: res.headers, seen: body.headers };
}

/** traceparent → its parts (W3C Trace Context: version-traceid-parentid-flags). */
function parts(traceparent: string | undefined) {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent ?? '');
  if (m === null) throw new Error(`not a traceparent: ${traceparent}`);
  return { traceId: m[1]!, spanId: m[2]!, flags: m[3]! };
}

function serverSpan(spans: ReceivedSpan[], traceId: string): ReceivedSpan | undefined {
  return spans.find((s) => s.traceId === traceId && s.kind === 2);
}

async function staticTarget(): Promise<number> {
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function staticService(port: number, tracing: string): string {
  return `
tracing: ${tracing}
services:
  - name: shop
    match: { pathPrefix: / }
    revisions: [{ name: shop-1, backend: static, urls: ["http://127.0.0.1:${port}"] }]
    traffic: [{ revision: shop-1, percent: 100 }]
`;
}

describe('tracing', () => {
  it('a cold start: SERVER span under the client span, a held child, and the endpoint is told the gateway span', async () => {
    receiver = await startOtlpReceiver();
    gw = await startGateway(countingService(`{ endpoint: "${receiver.url}", serviceName: sluice-test }`), { env: FAST_EXPORT });

    const cold = await echo(gw.url, {
      traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
      tracestate: 'vendor=opaque',
    });
    expect(cold.status).toBe(200);
    expect(cold.headers['sluice-cold-start']).toBeDefined();
    const sent = parts(cold.seen.traceparent);
    // Same trace, a new parent (the gateway's span, not the client's), still sampled.
    expect(sent.traceId).toBe(CLIENT_TRACE);
    expect(sent.spanId).not.toBe(CLIENT_SPAN);
    expect(sent.flags).toBe('01');
    expect(cold.seen.tracestate).toBe('vendor=opaque');

    await until(() => receiver!.spans.filter((s) => s.traceId === CLIENT_TRACE).length === 2, 'the server and held spans');
    expect(receiver.contentTypes).toEqual(new Set(['application/json']));
    const span = serverSpan(receiver.spans, CLIENT_TRACE)!;
    expect(span.spanId).toBe(sent.spanId);
    expect(span.parentSpanId).toBe(CLIENT_SPAN);
    expect(span.name).toBe('GET echo');
    expect(span.resource['service.name']).toBe('sluice-test');
    const endpoint = gw.revision('echo', 'echo-1').endpoints[0]!.id;
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/headers',
      'http.response.status_code': 200,
      'sluice.service': 'echo',
      'sluice.revision': 'echo-1',
      'sluice.endpoint': endpoint,
      'sluice.cold_start': true,
      'sluice.cold_start_ms': Number(cold.headers['sluice-cold-start']),
    });
    expect(span.statusCode).toBe(0);

    const held = receiver.spans.find((s) => s.traceId === CLIENT_TRACE && s.name === 'held')!;
    expect(held.parentSpanId).toBe(span.spanId);
    expect(held.kind).toBe(1);
    expect(held.attributes['sluice.cold_start']).toBe(true);
    expect(held.attributes['sluice.held_ms']).toBe(Number(cold.headers['sluice-cold-start']));
    // The wait lies within the request (both on the gateway's clock).
    expect(held.startNs).toBeGreaterThanOrEqual(span.startNs);
    expect(held.endNs).toBeLessThanOrEqual(span.endNs);

    // Warm, and no traceparent from the client: a root span, no held span, the endpoint gets it.
    const warm = await echo(gw.url, { tracestate: 'orphan=1' });
    expect(warm.headers['sluice-cold-start']).toBeUndefined();
    const root = parts(warm.seen.traceparent);
    expect(root.traceId).not.toBe(CLIENT_TRACE);
    // A tracestate without a traceparent belongs to no trace: it is not passed on.
    expect(warm.seen.tracestate).toBeUndefined();
    await until(() => serverSpan(receiver!.spans, root.traceId) !== undefined, 'the warm request span');
    const warmSpan = serverSpan(receiver.spans, root.traceId)!;
    expect(warmSpan.spanId).toBe(root.spanId);
    expect(warmSpan.parentSpanId).toBe('');
    expect(warmSpan.attributes['sluice.cold_start']).toBe(false);
    expect(warmSpan.attributes['sluice.cold_start_ms']).toBeUndefined();
    expect(receiver.spans.filter((s) => s.traceId === root.traceId)).toHaveLength(1);
  });

  it('samples parent-based: sampleRatio 0 records no new trace but follows a sampled parent, and always propagates', async () => {
    receiver = await startOtlpReceiver();
    const port = await staticTarget();
    const seen: string[] = [];
    const target = servers[0]!;
    target.removeAllListeners('request');
    target.on('request', (req, res) => (seen.push(String(req.headers.traceparent)), req.resume(), res.end('ok')));
    gw = await startGateway(staticService(port, `{ endpoint: "${receiver.url}", sampleRatio: 0 }`), { env: FAST_EXPORT });

    // Unsampled first: were it exported, it would be in the same batch as, or before, the sampled one.
    const unsampled = await request(`${gw.url}/a`);
    await unsampled.body.text();
    const parented = await request(`${gw.url}/b`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } });
    await parented.body.text();
    expect([unsampled.statusCode, parented.statusCode]).toEqual([200, 200]);

    await until(() => serverSpan(receiver!.spans, CLIENT_TRACE) !== undefined, 'the span of the sampled parent');
    expect(receiver.spans.map((s) => s.traceId)).toEqual([CLIENT_TRACE]);
    expect(serverSpan(receiver.spans, CLIENT_TRACE)!.parentSpanId).toBe(CLIENT_SPAN);
    // The unsampled request still told the endpoint its trace, flagged not sampled.
    const first = parts(seen[0]);
    expect(first.traceId).not.toBe(CLIENT_TRACE);
    expect(first.flags).toBe('00');
    expect(parts(seen[1]).flags).toBe('01');
  });

  it('a gateway error is an error span with its code', async () => {
    receiver = await startOtlpReceiver();
    const closed = await staticTarget();
    await new Promise((r) => servers.pop()!.close(r));
    gw = await startGateway(staticService(closed, `{ endpoint: "${receiver.url}" }`), { env: FAST_EXPORT });
    const res = await request(`${gw.url}/`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } });
    await res.body.text();
    expect(res.statusCode).toBe(502);
    await until(() => serverSpan(receiver!.spans, CLIENT_TRACE) !== undefined, 'the failed request span');
    const span = serverSpan(receiver.spans, CLIENT_TRACE)!;
    expect(span.statusCode).toBe(2);
    expect(span.attributes['http.response.status_code']).toBe(502);
    expect(span.attributes['error.type']).toBe('upstream_unreachable');
    expect(span.events.some((e) => e.name === 'attempt failed')).toBe(true);
  });

  it('a collector that refuses connections fails no request', async () => {
    const port = await staticTarget();
    const down = await staticTarget();
    await new Promise((r) => servers.pop()!.close(r));
    gw = await startGateway(staticService(port, `{ endpoint: "http://127.0.0.1:${down}/v1/traces" }`), { env: FAST_EXPORT });
    const statuses = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await request(`${gw!.url}/`);
        await res.body.text();
        return res.statusCode;
      }),
    );
    expect(statuses).toEqual(Array(50).fill(200));
  });

  it('a collector that hangs: requests succeed, and at most the queue (plus the batch in flight) is kept', async () => {
    receiver = await startOtlpReceiver();
    receiver.hold();
    const port = await staticTarget();
    // Queue 8, batches of 8: one batch held by the hanging collector, 8 more queued, the rest dropped.
    gw = await startGateway(staticService(port, `{ endpoint: "${receiver.url}", maxQueueSize: 8 }`), { env: FAST_EXPORT });
    const first = await request(`${gw.url}/`);
    await first.body.text();
    await until(() => receiver!.requests === 1, 'the first export to hang');
    for (let i = 0; i < 10; i++) {
      const statuses = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const res = await request(`${gw!.url}/`);
          await res.body.text();
          return res.statusCode;
        }),
      );
      expect(statuses).toEqual(Array(20).fill(200));
    }
    receiver.release();
    // Stopping flushes what is queued.
    await gw.close();
    gw = undefined;
    expect(receiver.spans.length).toBeGreaterThanOrEqual(1);
    expect(receiver.spans.length).toBeLessThanOrEqual(1 + 8);
  });
});

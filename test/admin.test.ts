import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApp, serviceJson, statsJson } from '../src/admin/app.js';
import { isLoopback, startAdminServer, type AdminServer } from '../src/admin/server.js';
import type { RevisionCondition } from '../src/core/condition.js';
import type { RevisionView, ServiceView, StatusSource } from '../src/core/status.js';
import { createMetrics } from '../src/stats/metrics.js';
import { DURATION_BOUNDS, RevisionStats } from '../src/stats/revision-stats.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);

const SCALED_TO_ZERO: RevisionCondition = {
  status: 'Ready',
  reason: 'ScaledToZero',
  message: 'scaled to zero; the next request starts a replica',
  since: T0,
  output: '',
};

function revisionView(service: string, revision: string, stats: RevisionStats, over: Partial<RevisionView> = {}): RevisionView {
  return {
    service,
    revision,
    backend: 'local',
    containerConcurrency: 0,
    percent: 100,
    stats,
    replicas: { desired: 0, actual: 0, ready: 0 },
    autoscaler: {
      stableConcurrency: 0,
      panicConcurrency: 0,
      rps: 0,
      panicMode: false,
      desiredPodCount: -1,
      excessBurstCapacity: 0,
    },
    condition: SCALED_TO_ZERO,
    ...over,
  };
}

/**
 * Service "iris": blue (90 %, two requests, one in flight, one held, one cold start, serving) and
 * green (10 %, tag canary, idle, failed with stderr output).
 */
function irisService(): ServiceView {
  const blue = new RevisionStats(T0);
  blue.arrive(T0);
  blue.begin();
  blue.end();
  blue.record(200, 0.04, T0 + 40);
  blue.arrive(T0 + 1000);
  blue.begin();
  blue.held = 1;
  blue.coldStarts = 1;
  blue.coldStartSeconds = 2.5;
  return {
    name: 'iris',
    match: { hosts: ['iris.example.com'], model: 'iris' },
    revisions: [
      revisionView('iris', 'iris-blue', blue, {
        percent: 90,
        containerConcurrency: 4,
        replicas: { desired: 2, actual: 2, ready: 1 },
        autoscaler: {
          stableConcurrency: 0.5,
          panicConcurrency: 1.5,
          rps: 0.25,
          panicMode: true,
          desiredPodCount: 2,
          excessBurstCapacity: -207,
        },
        condition: { status: 'Ready', reason: 'Serving', message: '1 ready replica', since: T0 + 500, output: '' },
      }),
      revisionView('iris', 'iris-green', new RevisionStats(T0), {
        percent: 10,
        tag: 'canary',
        backend: 'static',
        condition: {
          status: 'Failed',
          reason: 'ExitCode',
          message: 'exited with code 1 before it was ready, 3 starts in a row',
          since: T0 + 2000,
          output: 'loading /models/iris\nmodel file not found\n',
        },
      }),
    ],
  };
}

function fakeSource(services: ServiceView[]): StatusSource & { list: ServiceView[]; isReady: boolean } {
  return {
    list: services,
    isReady: true,
    services() {
      return this.list;
    },
    ready() {
      return this.isReady;
    },
  };
}

describe('serviceJson', () => {
  it('maps a service view to plain JSON', () => {
    expect(serviceJson(irisService())).toEqual({
      name: 'iris',
      match: { hosts: ['iris.example.com'], model: 'iris' },
      revisions: [
        {
          name: 'iris-blue',
          backend: 'local',
          percent: 90,
          tag: null,
          containerConcurrency: 4,
          replicas: { desired: 2, actual: 2, ready: 1 },
          inflight: 1,
          held: 1,
          stableConcurrency: 0.5,
          panicConcurrency: 1.5,
          rps: 0.25,
          panicMode: true,
          desiredPodCount: 2,
          excessBurstCapacity: -207,
          requestsTotal: 2,
          coldStarts: 1,
          codes: { '200': 1 },
          // One request of 40 ms: in the 50 ms bucket.
          latency: { boundsSeconds: DURATION_BOUNDS, counts: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], sumSeconds: 0.04 },
          heldByReason: { scaled_to_zero: 0, starting: 0, at_capacity: 0, retry: 0 },
          ejections: 0,
          lastRequestAt: '2025-01-02T03:04:06.000Z',
          // No stderr output: no output field.
          condition: { status: 'Ready', reason: 'Serving', message: '1 ready replica', since: '2025-01-02T03:04:05.500Z' },
        },
        {
          name: 'iris-green',
          backend: 'static',
          percent: 10,
          tag: 'canary',
          containerConcurrency: 0,
          replicas: { desired: 0, actual: 0, ready: 0 },
          inflight: 0,
          held: 0,
          stableConcurrency: 0,
          panicConcurrency: 0,
          rps: 0,
          panicMode: false,
          desiredPodCount: -1,
          excessBurstCapacity: 0,
          requestsTotal: 0,
          coldStarts: 0,
          codes: {},
          latency: { boundsSeconds: DURATION_BOUNDS, counts: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], sumSeconds: 0 },
          heldByReason: { scaled_to_zero: 0, starting: 0, at_capacity: 0, retry: 0 },
          ejections: 0,
          lastRequestAt: null,
          condition: {
            status: 'Failed',
            reason: 'ExitCode',
            message: 'exited with code 1 before it was ready, 3 starts in a row',
            since: '2025-01-02T03:04:07.000Z',
            output: 'loading /models/iris\nmodel file not found\n',
          },
        },
      ],
    });
  });

  it('copies values rather than aliasing gateway state', () => {
    const view = irisService();
    const json = serviceJson(view);
    view.match.hosts.push('other.example.com');
    view.revisions[0]!.replicas.ready = 2;
    expect(json.match.hosts).toEqual(['iris.example.com']);
    expect(json.revisions[0]!.replicas.ready).toBe(1);
  });
});

describe('statsJson', () => {
  it('lists raw per-revision numbers across services', () => {
    const json = statsJson([irisService()], T0 + 5000);
    expect(json).toEqual({
      now: T0 + 5000,
      revisions: [
        expect.objectContaining({
          service: 'iris',
          revision: 'iris-blue',
          inflight: 1,
          held: 1,
          requestsTotal: 2,
          stableConcurrency: 0.5,
          panicConcurrency: 1.5,
          rps: 0.25,
        }),
        expect.objectContaining({
          service: 'iris',
          revision: 'iris-green',
          inflight: 0,
          held: 0,
          requestsTotal: 0,
          stableConcurrency: 0,
          panicConcurrency: 0,
          rps: 0,
        }),
      ],
    });
    // The last five completed seconds, oldest first, for the leader to sum.
    const last = Math.floor((T0 + 5000) / 1000) - 1;
    expect(json.revisions[0]!.seconds.map((s) => s.second)).toEqual([last - 4, last - 3, last - 2, last - 1, last]);
    const blue = irisService().revisions[0]!.stats;
    expect(json.revisions[0]!.seconds.reduce((a, s) => a + s.requests, 0)).toBe(
      blue.recentSeconds(T0 + 5000, 5).reduce((a, s) => a + s.requests, 0),
    );
  });
});

describe('admin token comparison', () => {
  const app = createAdminApp({
    status: fakeSource([irisService()]),
    registry: createMetrics(fakeSource([]), { defaultMetrics: false }).registry,
    token: 's3cret',
  });
  it.each([
    { label: 'same', presented: 's3cret', want: 200 },
    { label: 'different', presented: 'S3cret', want: 401 },
    { label: 'prefix', presented: 's3cr', want: 401 },
    { label: 'longer', presented: 's3cret!', want: 401 },
    { label: 'longer, token characters', presented: 's3crets', want: 401 },
    { label: 'empty', presented: '', want: 401 },
  ])('$label', async ({ presented, want }) => {
    const res = await app.request('/api/v1/stats', { headers: { authorization: `Bearer ${presented}` } });
    expect(res.status).toBe(want);
    if (want === 401) expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: 'missing or invalid bearer token' } });
  });

  it('refuses a configured token that could never be presented', () => {
    expect(() =>
      createAdminApp({
        status: fakeSource([]),
        registry: createMetrics(fakeSource([]), { defaultMetrics: false }).registry,
        token: 'two words',
      }),
    ).toThrow(/^admin token \(SLUICE_ADMIN_TOKEN\): want letters, digits/);
  });
});

describe('isLoopback', () => {
  it.each([
    { host: '127.0.0.1', want: true },
    { host: '127.1.2.3', want: true },
    { host: '::1', want: true },
    { host: '[::1]', want: true },
    { host: '0:0:0:0:0:0:0:1', want: true },
    { host: '::ffff:127.0.0.1', want: true },
    { host: 'localhost', want: true },
    { host: 'LocalHost', want: true },
    { host: '0.0.0.0', want: false },
    { host: '::', want: false },
    { host: '', want: false },
    { host: '10.0.0.1', want: false },
    { host: '128.0.0.1', want: false },
    { host: '::ffff:10.0.0.1', want: false },
    { host: 'localhost.example.com', want: false },
    { host: '127.0.0.1.nip.io', want: false },
  ])('$host → $want', ({ host, want }) => expect(isLoopback(host)).toBe(want));
});

describe('admin server', () => {
  const servers: AdminServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function start(
    opts: {
      token?: string;
      source?: ReturnType<typeof fakeSource>;
      host?: string;
      logger?: { error(obj: object, msg?: string): void };
    } = {},
  ) {
    const source = opts.source ?? fakeSource([irisService()]);
    const metrics = createMetrics(source, { defaultMetrics: false });
    const app = createAdminApp({
      status: source,
      registry: metrics.registry,
      token: opts.token,
      logger: opts.logger,
      now: () => T0 + 7000,
    });
    const server = await startAdminServer({ app, host: opts.host ?? '127.0.0.1', port: 0, token: opts.token });
    servers.push(server);
    const base = `http://127.0.0.1:${server.address.port}`;
    const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers });
    return { source, metrics, server, base, get };
  }

  it('listens on the requested loopback host and a free port', async () => {
    const { server } = await start();
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.address.port).toBeGreaterThan(0);
  });

  it('answers /healthz and flips /readyz with the source', async () => {
    const { get, source } = await start();
    let res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });

    res = await get('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });

    source.isReady = false;
    res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not ready' });
    expect((await get('/healthz')).status).toBe(200);

    source.isReady = true;
    expect((await get('/readyz')).status).toBe(200);
  });

  it('serves Prometheus text on /metrics', async () => {
    const { get, metrics } = await start();
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    const text = await res.text();
    expect(text).toContain('sluice_revision_inflight{service="iris",revision="iris-blue"} 1');
    expect(text).toContain('sluice_requests_total{service="iris",revision="iris-blue",code="200"} 1');
  });

  it('lists services and shows one, 404 for an unknown one', async () => {
    const { get } = await start();
    let res = await get('/api/v1/services');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ services: [serviceJson(irisService())] });

    res = await get('/api/v1/services/iris');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(serviceJson(irisService()));

    res = await get('/api/v1/services/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'service "nope" not found' } });
  });

  it('reports raw stats for peer aggregation', async () => {
    const { get } = await start();
    const res = await get('/api/v1/stats');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(statsJson([irisService()], T0 + 7000));
  });

  it('answers unknown paths with a JSON 404', async () => {
    const { get, base } = await start();
    for (const path of ['/nope', '/ui/', '/ui/other.js', '/api/v1', '/api/v1/services/iris/extra']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code, path).toBe('not_found');
    }
    const post = await fetch(base + '/healthz', { method: 'POST' });
    expect(post.status).toBe(404);
    await post.body?.cancel();
  });

  it('turns a throwing handler into a JSON 500 and keeps serving', async () => {
    const source = fakeSource([]);
    source.services = () => {
      throw new Error('boom');
    };
    const logged: object[] = [];
    const { get } = await start({ source, logger: { error: (obj) => logged.push(obj) } });
    const res = await get('/api/v1/services');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    expect(logged).toHaveLength(1);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('with a token, requires it everywhere except the probes', async () => {
    const { get } = await start({ token: 's3cret' });
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);

    const table: Array<{ label: string; path: string; auth?: string; want: number }> = [
      { label: 'metrics, no header', path: '/metrics', want: 401 },
      { label: 'metrics, wrong token', path: '/metrics', auth: 'Bearer nope', want: 401 },
      { label: 'metrics, not bearer', path: '/metrics', auth: 'Basic s3cret', want: 401 },
      { label: 'metrics, right token', path: '/metrics', auth: 'Bearer s3cret', want: 200 },
      { label: 'services, no header', path: '/api/v1/services', want: 401 },
      { label: 'services, right token', path: '/api/v1/services', auth: 'Bearer s3cret', want: 200 },
      { label: 'one service, right token', path: '/api/v1/services/iris', auth: 'Bearer s3cret', want: 200 },
      { label: 'stats, no header', path: '/api/v1/stats', want: 401 },
      { label: 'stats, right token', path: '/api/v1/stats', auth: 'bearer s3cret', want: 200 },
      { label: 'unknown path, no header', path: '/nope', want: 401 },
      { label: 'unknown path, right token', path: '/nope', auth: 'Bearer s3cret', want: 404 },
    ];
    for (const row of table) {
      const res = await get(row.path, row.auth ? { authorization: row.auth } : {});
      expect(res.status, row.label).toBe(row.want);
      if (row.want === 401) {
        expect(await res.json(), row.label).toEqual({ error: { code: 'unauthorized', message: 'missing or invalid bearer token' } });
        expect(res.headers.get('www-authenticate'), row.label).toMatch(/^Bearer/);
      } else {
        await res.body?.cancel();
      }
    }
  });

  it('without a token, needs no header', async () => {
    const { get } = await start();
    expect((await get('/metrics')).status).toBe(200);
    expect((await get('/api/v1/stats')).status).toBe(200);
  });

  it('refuses to bind a non-loopback address without a token', async () => {
    const app = createAdminApp({ status: fakeSource([]), registry: createMetrics(fakeSource([]), { defaultMetrics: false }).registry });
    await expect(startAdminServer({ app, host: '0.0.0.0', port: 0 })).rejects.toThrow(
      'admin API on 0.0.0.0 needs an admin token (SLUICE_ADMIN_TOKEN)',
    );
    await expect(startAdminServer({ app, host: '0.0.0.0', port: 0, token: '' })).rejects.toThrow(/needs an admin token/);
  });

  it('binds a non-loopback address when a token is set', async () => {
    const { server, get } = await start({ host: '0.0.0.0', token: 's3cret' });
    expect(server.address.host).toBe('0.0.0.0');
    expect((await get('/api/v1/stats', { authorization: 'Bearer s3cret' })).status).toBe(200);
  });

  it('rejects when the port is taken', async () => {
    const { server } = await start();
    const app = createAdminApp({ status: fakeSource([]), registry: createMetrics(fakeSource([]), { defaultMetrics: false }).registry });
    await expect(startAdminServer({ app, host: '127.0.0.1', port: server.address.port })).rejects.toThrow(/EADDRINUSE/);
  });

  it('close stops listening, even with a keep-alive connection open', async () => {
    const { server, get, base } = await start();
    expect((await get('/healthz')).status).toBe(200);
    await server.close();
    await server.close();
    await expect(fetch(base + '/healthz')).rejects.toThrow();
  });
});

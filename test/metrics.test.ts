import { describe, expect, it } from 'vitest';
import type { RevisionCondition } from '../src/core/condition.js';
import type { RevisionView, ServiceView, StatusSource } from '../src/core/status.js';
import { codeLabel, createMetrics } from '../src/stats/metrics.js';
import { DURATION_BOUNDS, RevisionStats } from '../src/stats/revision-stats.js';

/** A revision view over real RevisionStats, with autoscaler and replica numbers chosen by the test. */
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
    condition: condition('Ready', 'ScaledToZero'),
    ...over,
  };
}

function condition(status: RevisionCondition['status'], reason: string, output = ''): RevisionCondition {
  return { status, reason, message: `${status} because ${reason}`, since: 0, output };
}

/** A mutable StatusSource: tests add and remove services between scrapes. */
function fakeSource(services: ServiceView[]): StatusSource & { list: ServiceView[] } {
  return {
    list: services,
    services() {
      return this.list;
    },
    ready: () => true,
  };
}

/** Parse exposition text into sample key → value, labels sorted so order does not matter. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed sample line: ${line}`);
    const labels = m[2]
      ? m[2]
          .split(/,(?=[a-zA-Z_]+=")/)
          .sort()
          .join(',')
      : '';
    out.set(labels ? `${m[1]}{${labels}}` : m[1]!, Number(m[3]));
  }
  return out;
}

/** Key for `samples()`: name plus labels in sorted order. */
function key(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

/**
 * Check the rules a Prometheus scraper enforces for the families we build ourselves: every sample
 * belongs to the family of the preceding # TYPE line; histogram buckets are cumulative and end at
 * +Inf equal to _count.
 */
function assertValidExposition(text: string): void {
  let family = '';
  let type = '';
  const buckets = new Map<string, number[]>();
  const infs = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      family = t[1]!;
      type = t[2]!;
      continue;
    }
    if (line === '' || line.startsWith('# HELP')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, line).not.toBeNull();
    const name = m![1]!;
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    expect(
      suffixes.map((s) => family + s),
      line,
    ).toContain(name);
    if (type !== 'histogram') continue;
    const labels = m![2] ?? '';
    const series = family + '|' + labels.replace(/,?le="[^"]*"/, '');
    const value = Number(m![3]);
    if (name.endsWith('_bucket')) {
      if (labels.includes('le="+Inf"')) infs.set(series, value);
      else buckets.set(series, [...(buckets.get(series) ?? []), value]);
    } else if (name.endsWith('_count')) {
      counts.set(series, value);
    }
  }
  for (const [series, values] of buckets) {
    for (let i = 1; i < values.length; i++) expect(values[i]!, series).toBeGreaterThanOrEqual(values[i - 1]!);
    expect(infs.get(series), series).toBeGreaterThanOrEqual(values[values.length - 1]!);
    expect(counts.get(series), series).toBe(infs.get(series));
  }
}

/**
 * Revision "a": four finished requests (200 in 0.5 s, 200 in 3 ms, client abort after 20 ms, 503 after
 * 400 s, beyond the largest bound), one still in flight, two held, one cold start of 1.5 s.
 */
function busyStats(): RevisionStats {
  const s = new RevisionStats(0);
  s.arrive(0);
  s.begin();
  s.end();
  s.record(200, 0.5, 500);
  s.arrive(1000);
  s.begin();
  s.end();
  s.record(200, 0.003, 1003);
  s.arrive(1100);
  s.begin();
  s.end();
  s.record(0, 0.02, 1120);
  s.arrive(1200);
  s.begin();
  s.end();
  s.record(503, 400, 1600);
  s.arrive(2000);
  s.begin();
  s.held = 2;
  s.coldStart(1.5);
  s.heldByReason.scaled_to_zero = 1;
  s.heldByReason.at_capacity = 4;
  s.ejections = 2;
  return s;
}

function setup() {
  const aStats = busyStats();
  const a = revisionView('svc', 'a', aStats, {
    replicas: { desired: 3, actual: 2, ready: 1 },
    autoscaler: {
      stableConcurrency: 1.25,
      panicConcurrency: 4.5,
      rps: 0.75,
      panicMode: true,
      desiredPodCount: 3,
      excessBurstCapacity: -1,
    },
  });
  const b = revisionView('svc', 'b', new RevisionStats(0), { percent: 0 });
  const source = fakeSource([{ name: 'svc', match: { hosts: ['svc.local'] }, revisions: [a, b] }]);
  const metrics = createMetrics(source, { defaultMetrics: false });
  return { source, metrics, a, aStats, b };
}

describe('codeLabel', () => {
  it.each([
    { code: 0, want: '499' },
    { code: 200, want: '200' },
    { code: 503, want: '503' },
  ])('$code → $want', ({ code, want }) => expect(codeLabel(code)).toBe(want));
});

describe('createMetrics', () => {
  it('exports request counts by code, with client aborts as 499', async () => {
    const { metrics } = setup();
    const text = await metrics.registry.metrics();
    const got = samples(text);
    expect(text).toContain('# TYPE sluice_requests_total counter');
    expect(got.get(key('sluice_requests_total', { service: 'svc', revision: 'a', code: '200' }))).toBe(2);
    expect(got.get(key('sluice_requests_total', { service: 'svc', revision: 'a', code: '499' }))).toBe(1);
    expect(got.get(key('sluice_requests_total', { service: 'svc', revision: 'a', code: '503' }))).toBe(1);
    expect(got.has(key('sluice_requests_total', { service: 'svc', revision: 'a', code: '0' }))).toBe(false);
    // Revision b has served nothing: no code series at all.
    expect([...got.keys()].filter((k) => k.startsWith('sluice_requests_total{') && k.includes('revision="b"'))).toEqual([]);
  });

  it('exports the duration histogram as cumulative buckets, +Inf, _sum and _count', async () => {
    const { metrics } = setup();
    const text = await metrics.registry.metrics();
    expect(text).toContain('# TYPE sluice_request_duration_seconds histogram');
    const got = samples(text);
    const labels = { service: 'svc', revision: 'a' };
    // 0.003 ≤ 0.005; 0.02 ≤ 0.025; 0.5 ≤ 0.5; 400 only in +Inf.
    const want: Array<[le: string, count: number]> = [
      ['0.005', 1],
      ['0.01', 1],
      ['0.025', 2],
      ['0.05', 2],
      ['0.1', 2],
      ['0.25', 2],
      ['0.5', 3],
      ['1', 3],
      ['2.5', 3],
      ['5', 3],
      ['10', 3],
      ['30', 3],
      ['60', 3],
      ['300', 3],
      ['+Inf', 4],
    ];
    expect(want.map(([le]) => le)).toEqual([...DURATION_BOUNDS.map(String), '+Inf']);
    for (const [le, n] of want) {
      expect(got.get(key('sluice_request_duration_seconds_bucket', { ...labels, le })), `le=${le}`).toBe(n);
    }
    expect(got.get(key('sluice_request_duration_seconds_sum', labels))).toBeCloseTo(400.523, 9);
    expect(got.get(key('sluice_request_duration_seconds_count', labels))).toBe(4);
    // An idle revision still has its (all-zero) histogram.
    expect(got.get(key('sluice_request_duration_seconds_count', { service: 'svc', revision: 'b' }))).toBe(0);
    expect(got.get(key('sluice_request_duration_seconds_bucket', { service: 'svc', revision: 'b', le: '+Inf' }))).toBe(0);
    assertValidExposition(text);
  });

  it('exports the revision gauges from stats and the autoscaler view', async () => {
    const { metrics } = setup();
    const got = samples(await metrics.registry.metrics());
    const a = { service: 'svc', revision: 'a' };
    const table: Array<{ name: string; labels?: Record<string, string>; want: number }> = [
      { name: 'sluice_revision_inflight', want: 1 },
      { name: 'sluice_revision_held_requests', want: 2 },
      { name: 'sluice_revision_stable_concurrency', want: 1.25 },
      { name: 'sluice_revision_panic_concurrency', want: 4.5 },
      { name: 'sluice_revision_rps', want: 0.75 },
      { name: 'sluice_revision_panic_mode', want: 1 },
      { name: 'sluice_revision_replicas', labels: { kind: 'desired' }, want: 3 },
      { name: 'sluice_revision_replicas', labels: { kind: 'actual' }, want: 2 },
      { name: 'sluice_revision_replicas', labels: { kind: 'ready' }, want: 1 },
      { name: 'sluice_cold_start_seconds_sum', want: 1.5 },
      { name: 'sluice_cold_start_seconds_count', want: 1 },
      // 1.5 s: above the 1 s bound, within 2.5 s.
      { name: 'sluice_cold_start_seconds_bucket', labels: { le: '1' }, want: 0 },
      { name: 'sluice_cold_start_seconds_bucket', labels: { le: '2.5' }, want: 1 },
      { name: 'sluice_cold_start_seconds_bucket', labels: { le: '+Inf' }, want: 1 },
      { name: 'sluice_held_requests_total', labels: { reason: 'scaled_to_zero' }, want: 1 },
      { name: 'sluice_held_requests_total', labels: { reason: 'starting' }, want: 0 },
      { name: 'sluice_held_requests_total', labels: { reason: 'at_capacity' }, want: 4 },
      { name: 'sluice_held_requests_total', labels: { reason: 'retry' }, want: 0 },
      { name: 'sluice_endpoint_ejections_total', want: 2 },
    ];
    for (const row of table) {
      expect(got.get(key(row.name, { ...a, ...row.labels })), `${row.name} ${JSON.stringify(row.labels ?? {})}`).toBe(row.want);
    }
    expect(got.get(key('sluice_revision_panic_mode', { service: 'svc', revision: 'b' }))).toBe(0);
    expect(got.get(key('sluice_cold_start_seconds_count', { service: 'svc', revision: 'b' }))).toBe(0);
  });

  it('declares every contract metric with its type', async () => {
    const { metrics } = setup();
    const text = await metrics.registry.metrics();
    const types: Record<string, string> = {
      sluice_requests_total: 'counter',
      sluice_request_duration_seconds: 'histogram',
      sluice_revision_inflight: 'gauge',
      sluice_revision_stable_concurrency: 'gauge',
      sluice_revision_panic_concurrency: 'gauge',
      sluice_revision_rps: 'gauge',
      sluice_revision_replicas: 'gauge',
      sluice_revision_panic_mode: 'gauge',
      sluice_revision_held_requests: 'gauge',
      sluice_cold_start_seconds: 'histogram',
      sluice_scale_operations_total: 'counter',
      sluice_revision_condition: 'gauge',
      sluice_held_requests_total: 'counter',
      sluice_endpoint_ejections_total: 'counter',
      sluice_config_reloads_total: 'counter',
      sluice_build_info: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) expect(text).toContain(`# TYPE ${name} ${type}\n`);
    assertValidExposition(text);
  });

  it('reads live values on each scrape, with no stale series for a removed revision', async () => {
    const { metrics, source, a, aStats } = setup();
    aStats.arrive(3000);
    aStats.begin();
    aStats.end();
    aStats.record(200, 0.1, 3100);
    let got = samples(await metrics.registry.metrics());
    expect(got.get(key('sluice_requests_total', { service: 'svc', revision: 'a', code: '200' }))).toBe(3);
    expect(got.get(key('sluice_revision_inflight', { service: 'svc', revision: 'b' }))).toBe(0);

    source.list = [{ ...source.list[0]!, revisions: [a] }];
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('revision="b"');
    got = samples(text);
    expect(got.get(key('sluice_revision_inflight', { service: 'svc', revision: 'a' }))).toBe(1);

    source.list = [];
    const empty = await metrics.registry.metrics();
    expect(empty).not.toContain('revision=');
    assertValidExposition(empty);
  });

  it("exports each revision's current condition as one series of value 1; a changed reason leaves no old series", async () => {
    const { metrics, source, a, b } = setup();
    const conditions = (text: string) =>
      [...samples(text)].filter(([k]) => k.startsWith('sluice_revision_condition{')).map(([k, v]) => `${k} ${v}`);
    const series = (revision: string, status: string, reason: string) =>
      `${key('sluice_revision_condition', { service: 'svc', revision, status, reason })} 1`;

    const rows: Array<{ label: string; a: RevisionCondition; b: RevisionCondition; want: string[] }> = [
      {
        label: 'serving and scaled to zero',
        a: condition('Ready', 'Serving'),
        b: condition('Ready', 'ScaledToZero'),
        want: [series('a', 'Ready', 'Serving'), series('b', 'Ready', 'ScaledToZero')],
      },
      {
        label: 'b starting',
        a: condition('Ready', 'Serving'),
        b: condition('Activating', 'Starting'),
        want: [series('a', 'Ready', 'Serving'), series('b', 'Activating', 'Starting')],
      },
      {
        label: 'b restarting after a failed start',
        a: condition('Ready', 'Serving'),
        b: condition('Activating', 'Restarting', 'boom'),
        want: [series('a', 'Ready', 'Serving'), series('b', 'Activating', 'Restarting')],
      },
      {
        label: 'b failed: same status, new reason, one series still',
        a: condition('Ready', 'Serving'),
        b: condition('Failed', 'ExitCode', 'model file not found'),
        want: [series('a', 'Ready', 'Serving'), series('b', 'Failed', 'ExitCode')],
      },
      {
        label: 'b failing differently',
        a: condition('Ready', 'Serving'),
        b: condition('Failed', 'CrashLoop'),
        want: [series('a', 'Ready', 'Serving'), series('b', 'Failed', 'CrashLoop')],
      },
    ];
    for (const row of rows) {
      source.list = [
        {
          ...source.list[0]!,
          revisions: [
            { ...a, condition: row.a },
            { ...b, condition: row.b },
          ],
        },
      ];
      const text = await metrics.registry.metrics();
      expect(conditions(text).sort(), row.label).toEqual(row.want.sort());
      assertValidExposition(text);
    }
    source.list = [];
    expect(conditions(await metrics.registry.metrics())).toEqual([]);
  });

  it('scale operations start at zero and count by result', async () => {
    const { metrics } = setup();
    let got = samples(await metrics.registry.metrics());
    expect(got.get(key('sluice_scale_operations_total', { result: 'success' }))).toBe(0);
    expect(got.get(key('sluice_scale_operations_total', { result: 'error' }))).toBe(0);
    metrics.scaleOperation('success');
    metrics.scaleOperation('success');
    metrics.scaleOperation('error');
    got = samples(await metrics.registry.metrics());
    expect(got.get(key('sluice_scale_operations_total', { result: 'success' }))).toBe(2);
    expect(got.get(key('sluice_scale_operations_total', { result: 'error' }))).toBe(1);
  });

  it('adds the default Node.js process metrics unless turned off', async () => {
    const source = fakeSource([]);
    const withDefaults = await createMetrics(source).registry.metrics();
    expect(withDefaults).toContain('process_cpu_user_seconds_total');
    expect(withDefaults).toContain('nodejs_eventloop_lag_seconds');
    const without = await createMetrics(source, { defaultMetrics: false }).registry.metrics();
    expect(without).not.toContain('process_cpu_user_seconds_total');
  });

  it('keeps prom-client off the request path: no prom-client state changes between scrapes', async () => {
    // The registry holds no per-revision state of its own: everything is derived at scrape time, so
    // two scrapes with no traffic in between give identical text.
    const { metrics } = setup();
    const first = await metrics.registry.metrics();
    const second = await metrics.registry.metrics();
    expect(second).toBe(first);
  });
});

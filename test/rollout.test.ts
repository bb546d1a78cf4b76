/**
 * Rollouts: the pure plan and analysis as tables; the controller driven by a fake clock over a real
 * gateway (static revisions, stats fed by hand); then real rollouts through the admin API with local
 * predictor revisions under steady load.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceJson } from '../src/admin/app.js';
import { parseConfigText, type Config, type Service } from '../src/config/load.js';
import type { TrafficTarget } from '../src/config/schema.js';
import type { ConfigSource } from '../src/config/source.js';
import { ConfigError, SluiceError } from '../src/errors.js';
import { http1Transport } from '../src/app/protocols.js';
import { Gateway } from '../src/gateway/gateway.js';
import { intervalStats, judge, quantileMs, snapshotStats, type IntervalStats } from '../src/rollout/analysis.js';
import { DEFAULT_ANALYSIS, durationSteps, planRollout, stepTraffic, type AnalysisSpec, type RolloutStep } from '../src/rollout/plan.js';
import { RolloutController, type RolloutState } from '../src/rollout/rollout-controller.js';
import { TrafficController } from '../src/rollout/traffic-controller.js';
import { StaticDriver } from '../src/scaler/static.js';
import { DURATION_BOUNDS, RevisionStats } from '../src/stats/revision-stats.js';
import type { ErrorBody } from './support/bodies.js';
import { EXIT_CODE_FAILED, FakeDriver } from './support/fake-driver.js';
import { failingRevision, IRIS_ROW, predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';

// --- plan ---------------------------------------------------------------------------------------

const SHOP: Pick<Service, 'revisions' | 'traffic'> = {
  revisions: parseConfigText(`
services:
  - name: shop
    revisions:
      - { name: a, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: b, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: c, backend: static, urls: ["http://127.0.0.1:9"] }
    traffic: [{ revision: a, percent: 100 }]
`).services[0]!.revisions,
  traffic: [
    { revision: 'a', percent: 100 },
    { revision: 'b', percent: 0, tag: 'next' },
  ],
};

const held = (percents: number[], holdMs: number): RolloutStep[] =>
  percents.map((percent, i) => ({ percent, holdMs: i === percents.length - 1 ? 0 : holdMs }));

interface PlanRow {
  label: string;
  body: unknown;
  traffic?: TrafficTarget[];
  wantFrom?: string;
  wantPool?: number;
  wantSteps?: RolloutStep[];
  wantAnalysis?: AnalysisSpec;
  wantProblems?: string[];
}

const planRows: PlanRow[] = [
  {
    label: 'defaults: 10, 25, 50 then 100, 30 s each, from the revision with the most traffic',
    body: { to: 'b' },
    wantFrom: 'a',
    wantPool: 100,
    wantSteps: held([10, 25, 50, 100], 30_000),
    wantAnalysis: { maxErrorRate: 0.05, maxP99Ms: undefined, minRequests: 20 },
  },
  { label: 'explicit steps get 100 appended', body: { to: 'b', steps: [5, 50], intervalSeconds: 1 }, wantSteps: held([5, 50, 100], 1000) },
  { label: 'a step of 100 is the last', body: { to: 'b', steps: [20, 100], intervalSeconds: 2.5 }, wantSteps: held([20, 100], 2500) },
  { label: 'blue-green is one flip', body: { to: 'b', strategy: 'blue-green' }, wantSteps: [{ percent: 100, holdMs: 0 }] },
  {
    label: 'Knative duration: 60 s with a 10 s shortest step → 1, 21, 41, 61, 81, 100',
    body: { to: 'b', durationSeconds: 60, intervalSeconds: 10 },
    wantSteps: [{ percent: 1, holdMs: 20_000 }, ...held([21, 41, 61, 81, 100], 10_000)],
  },
  {
    label: 'analysis limits as given',
    body: { to: 'b', analysis: { maxErrorRate: 0.01, maxP99Ms: 250, minRequests: 0 } },
    wantAnalysis: { maxErrorRate: 0.01, maxP99Ms: 250, minRequests: 0 },
  },
  {
    label: 'the pool is from + to when another revision keeps traffic',
    body: { to: 'b' },
    traffic: [
      { revision: 'a', percent: 70 },
      { revision: 'c', percent: 30 },
    ],
    wantFrom: 'a',
    wantPool: 70,
  },
  { label: 'to: unknown revision', body: { to: 'x' }, wantProblems: ['to: unknown revision "x"'] },
  { label: 'to is required', body: {}, wantProblems: ['to: Invalid input: expected string, received undefined'] },
  { label: 'from: same as to', body: { to: 'b', from: 'b' }, wantProblems: ['from: same revision as to ("b")'] },
  { label: 'from: without traffic', body: { to: 'b', from: 'c' }, wantProblems: ['from: revision "c" has no traffic to take over'] },
  {
    label: 'no revision but to has traffic',
    body: { to: 'a' },
    wantProblems: ['from: no revision other than "a" has traffic to take over'],
  },
  {
    label: 'steps: not increasing',
    body: { to: 'b', steps: [10, 50, 30] },
    wantProblems: ['steps[2]: 30 after 50, want strictly increasing percents'],
  },
  { label: 'steps: out of range', body: { to: 'b', steps: [0, 50] }, wantProblems: ['steps[0]: Too small: expected number to be >=1'] },
  {
    label: 'steps and durationSeconds together',
    body: { to: 'b', steps: [10], durationSeconds: 60 },
    wantProblems: ['durationSeconds: give either steps or durationSeconds, not both'],
  },
  {
    label: 'blue-green takes no steps',
    body: { to: 'b', strategy: 'blue-green', steps: [50] },
    wantProblems: ['steps: not used by the blue-green strategy (one flip to 100 %)'],
  },
  {
    label: 'unknown strategy',
    body: { to: 'b', strategy: 'linear' },
    wantProblems: ['strategy: Invalid option: expected one of "canary"|"blue-green"'],
  },
  {
    label: 'maxErrorRate above 1',
    body: { to: 'b', analysis: { maxErrorRate: 2 } },
    wantProblems: ['analysis.maxErrorRate: Too big: expected number to be <=1'],
  },
  { label: 'unknown field', body: { to: 'b', speed: 'fast' }, wantProblems: ['(root): Unrecognized key: "speed"'] },
];

describe('planRollout', () => {
  for (const row of planRows) {
    it(row.label, () => {
      const service = { ...SHOP, traffic: row.traffic ?? SHOP.traffic };
      if (row.wantProblems !== undefined) {
        let err: unknown;
        try {
          planRollout(service, row.body);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).status).toBe(400);
        expect((err as ConfigError).problems).toEqual(row.wantProblems);
        return;
      }
      const plan = planRollout(service, row.body);
      if (row.wantFrom !== undefined) expect(plan.from).toBe(row.wantFrom);
      if (row.wantPool !== undefined) expect(plan.pool).toBe(row.wantPool);
      if (row.wantSteps !== undefined) expect(plan.steps).toEqual(row.wantSteps);
      if (row.wantAnalysis !== undefined) expect(plan.analysis).toEqual(row.wantAnalysis);
    });
  }
});

interface DurationRow {
  label: string;
  durationSeconds: number;
  minStepSeconds: number;
  wantPercents: number[];
  /** Hold of the 1 % step, then of every later step but the last. */
  wantFirstHoldMs: number;
  wantHoldMs: number;
}

const durationRows: DurationRow[] = [
  {
    label: "Knative's own example: 100 % in 4 steps, 1 → 26 → 51 → 76 → 100",
    durationSeconds: 50,
    minStepSeconds: 10,
    wantPercents: [1, 26, 51, 76, 100],
    wantFirstHoldMs: 20_000,
    wantHoldMs: 10_000,
  },
  {
    label: '10 s, 1 s steps: step round(99 / 9) = 11',
    durationSeconds: 10,
    minStepSeconds: 1,
    wantPercents: [1, 12, 23, 34, 45, 56, 67, 78, 89, 100],
    wantFirstHoldMs: 2000,
    wantHoldMs: 1000,
  },
  {
    label: '5 min, 1 s steps: at most 99 steps of 1 %, 299 s ÷ 99 each',
    durationSeconds: 300,
    minStepSeconds: 1,
    wantPercents: Array.from({ length: 100 }, (_, i) => i + 1),
    wantFirstHoldMs: 1000 + 3020,
    wantHoldMs: 3020,
  },
  {
    label: 'a duration shorter than the shortest step: 1 %, then 100 %',
    durationSeconds: 5,
    minStepSeconds: 10,
    wantPercents: [1, 100],
    wantFirstHoldMs: 11_000,
    wantHoldMs: 0,
  },
  {
    label: 'rounding up: 99 ÷ 6.2 → 16 per step, the last one capped at 100',
    durationSeconds: 36,
    minStepSeconds: 5,
    wantPercents: [1, 17, 33, 49, 65, 81, 97, 100],
    wantFirstHoldMs: 10_000,
    wantHoldMs: 5000,
  },
  {
    label: 'rounding down: 99 ÷ 7 → 14 per step, so 99 % takes one more step to 100',
    durationSeconds: 40,
    minStepSeconds: 5,
    wantPercents: [1, 15, 29, 43, 57, 71, 85, 99, 100],
    wantFirstHoldMs: 10_000,
    wantHoldMs: 5000,
  },
];

describe('durationSteps (Knative rollout-duration)', () => {
  for (const row of durationRows) {
    it(row.label, () => {
      const steps = durationSteps(row.durationSeconds, row.minStepSeconds);
      expect(steps.map((s) => s.percent)).toEqual(row.wantPercents);
      expect(steps[0]!.holdMs).toBe(row.wantFirstHoldMs);
      for (const s of steps.slice(1, -1)) expect(s.holdMs).toBe(row.wantHoldMs);
      expect(steps.at(-1)!.holdMs).toBe(0);
      // The whole rollout takes about the duration (or the shortest possible one).
      const total = steps.reduce((sum, s) => sum + s.holdMs, 0);
      if (row.durationSeconds > row.minStepSeconds)
        expect(Math.abs(total - row.durationSeconds * 1000)).toBeLessThan(row.wantHoldMs + 1000);
    });
  }
});

describe('stepTraffic', () => {
  const rows: Array<{ label: string; current: TrafficTarget[]; pool: number; percent: number; want: TrafficTarget[] }> = [
    {
      label: 'adds the canary, keeps tags',
      current: [{ revision: 'a', percent: 100, tag: 'stable' }],
      pool: 100,
      percent: 10,
      want: [
        { revision: 'a', percent: 90, tag: 'stable' },
        { revision: 'b', percent: 10 },
      ],
    },
    {
      label: 'a third revision keeps its share; the step is a share of the pool',
      current: [
        { revision: 'a', percent: 60 },
        { revision: 'b', percent: 0, tag: 'next' },
        { revision: 'c', percent: 40 },
      ],
      pool: 60,
      percent: 25,
      want: [
        { revision: 'a', percent: 45 },
        { revision: 'b', percent: 15, tag: 'next' },
        { revision: 'c', percent: 40 },
      ],
    },
    {
      label: 'back to the stable revision',
      current: [
        { revision: 'a', percent: 50 },
        { revision: 'b', percent: 50 },
      ],
      pool: 100,
      percent: 0,
      want: [
        { revision: 'a', percent: 100 },
        { revision: 'b', percent: 0 },
      ],
    },
  ];
  for (const row of rows) it(row.label, () => expect(stepTraffic(row.current, 'a', 'b', row.pool, row.percent)).toEqual(row.want));
});

// --- analysis -----------------------------------------------------------------------------------

/** A histogram with `n` requests in the bucket whose upper bound is `seconds`. */
function histogram(entries: Array<[seconds: number, n: number]>): number[] {
  const counts = new Array<number>(DURATION_BOUNDS.length + 1).fill(0);
  for (const [seconds, n] of entries) {
    const i = DURATION_BOUNDS.indexOf(seconds);
    counts[i === -1 ? DURATION_BOUNDS.length : i]! += n;
  }
  return counts;
}

describe('quantileMs (p99 from the histogram)', () => {
  const rows: Array<{ label: string; counts: number[]; want: number | null }> = [
    { label: 'empty → null', counts: histogram([]), want: null },
    { label: 'all in the 10 ms bucket', counts: histogram([[0.01, 50]]), want: 10 },
    {
      label: '98 fast, 2 slow: rank 99 is slow',
      counts: histogram([
        [0.01, 98],
        [0.25, 2],
      ]),
      want: 250,
    },
    {
      label: '99 fast, 1 slow: rank 99 is fast',
      counts: histogram([
        [0.01, 99],
        [0.25, 1],
      ]),
      want: 10,
    },
    {
      label: '5 requests: rank ceil(4.95) = 5 is the slowest',
      counts: histogram([
        [0.005, 4],
        [1, 1],
      ]),
      want: 1000,
    },
    {
      label: 'beyond the last bound → Infinity',
      counts: histogram([
        [0.01, 1],
        [Infinity, 9],
      ]),
      want: Infinity,
    },
  ];
  for (const row of rows) it(row.label, () => expect(quantileMs(row.counts, DURATION_BOUNDS, 0.99)).toBe(row.want));
});

describe('intervalStats', () => {
  it('is the difference between two snapshots; client aborts (code 0) are not requests', () => {
    const stats = new RevisionStats(0);
    const feed = (code: number, seconds: number, n: number) => {
      for (let i = 0; i < n; i++) {
        stats.arrive(0);
        stats.record(code, seconds, 0);
      }
    };
    feed(200, 0.004, 100);
    feed(503, 0.004, 7);
    const before = snapshotStats(stats);
    feed(200, 0.004, 30);
    feed(500, 0.2, 10);
    feed(0, 0.004, 5);
    const s = intervalStats(before, snapshotStats(stats));
    expect(s).toEqual({ requests: 40, errors: 10, errorRate: 0.25, p99Ms: 250 });
  });
});

describe('judge', () => {
  const spec = (over: Partial<AnalysisSpec> = {}): AnalysisSpec => ({ ...DEFAULT_ANALYSIS, ...over });
  const s = (requests: number, errors: number, p99Ms: number | null = 5): IntervalStats => ({
    requests,
    errors,
    errorRate: requests > 0 ? errors / requests : 0,
    p99Ms,
  });
  const rows: Array<{ label: string; stats: IntervalStats; spec: AnalysisSpec; want: string; wantReason: string }> = [
    { label: 'healthy', stats: s(40, 0), spec: spec(), want: 'pass', wantReason: 'error rate 0.00 ≤ 0.05 over 40 requests' },
    { label: 'half errors', stats: s(40, 20), spec: spec(), want: 'fail', wantReason: 'error rate 0.50 > 0.05 over 40 requests' },
    {
      label: 'exactly at the limit passes',
      stats: s(100, 5),
      spec: spec(),
      want: 'pass',
      wantReason: 'error rate 0.05 ≤ 0.05 over 100 requests',
    },
    {
      label: 'just over the limit fails',
      stats: s(100, 6),
      spec: spec(),
      want: 'fail',
      wantReason: 'error rate 0.06 > 0.05 over 100 requests',
    },
    { label: 'too few requests waits', stats: s(7, 7), spec: spec(), want: 'wait', wantReason: '7 of 20 requests needed' },
    {
      label: 'minRequests 0 judges an empty interval',
      stats: s(0, 0, null),
      spec: spec({ minRequests: 0 }),
      want: 'pass',
      wantReason: 'error rate 0.00 ≤ 0.05 over 0 requests',
    },
    {
      label: 'p99 over the limit',
      stats: s(30, 0, 250),
      spec: spec({ maxP99Ms: 100 }),
      want: 'fail',
      wantReason: 'p99 250 ms > 100 ms over 30 requests',
    },
    {
      label: 'p99 within the limit',
      stats: s(30, 0, 100),
      spec: spec({ maxP99Ms: 100 }),
      want: 'pass',
      wantReason: 'error rate 0.00 ≤ 0.05, p99 100 ms ≤ 100 ms over 30 requests',
    },
    {
      label: 'p99 beyond the histogram',
      stats: s(30, 0, Infinity),
      spec: spec({ maxP99Ms: 500 }),
      want: 'fail',
      wantReason: 'p99 beyond the last bucket (300000 ms), limit 500 ms over 30 requests',
    },
    {
      label: 'a fine error-rate limit keeps its digits',
      stats: s(1000, 10),
      spec: spec({ maxErrorRate: 0.005 }),
      want: 'fail',
      wantReason: 'error rate 0.01 > 0.005 over 1000 requests',
    },
  ];
  for (const row of rows) {
    it(row.label, () => {
      const v = judge(row.stats, row.spec);
      expect(v.result).toBe(row.want);
      expect(v.reason).toBe(row.wantReason);
    });
  }
});

// --- the controller on a fake clock -------------------------------------------------------------

/** Traffic changes kept in memory: what FileConfigSource does, without the file. */
class MemorySource implements ConfigSource {
  readonly description = 'memory';
  writes = 0;
  constructor(public config: Config) {}
  load(): Promise<Config> {
    return Promise.resolve(this.config);
  }
  watch(): void {}
  updateTraffic(service: string, traffic: TrafficTarget[]): Promise<Config> {
    this.writes++;
    this.config = { ...this.config, services: this.config.services.map((s) => (s.name === service ? { ...s, traffic } : s)) };
    return Promise.resolve(this.config);
  }
  close(): void {}
}

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);

interface WorldOptions {
  /**
   * Revision b runs on a FakeDriver (backend local) whose conditions the test reports; `unwired`:
   * its condition changes are not passed to the rollout controller, which only sees them when it
   * looks (a check).
   */
  conditions?: 'wired' | 'unwired';
}

function fakeWorld(traffic = '[{ revision: a, percent: 100 }, { revision: b, percent: 0 }]', options: WorldOptions = {}) {
  const b = options.conditions
    ? '{ name: b, backend: local, command: model-server }'
    : '{ name: b, backend: static, urls: ["http://127.0.0.1:9"] }';
  const config = parseConfigText(`
services:
  - name: shop
    revisions:
      - { name: a, backend: static, urls: ["http://127.0.0.1:9"] }
      - ${b}
      - { name: c, backend: static, urls: ["http://127.0.0.1:9"] }
    traffic: ${traffic}
`);
  const logger = pino({ level: 'silent' });
  const driver = new FakeDriver();
  const gateway = new Gateway({
    logger,
    drivers: { static: new StaticDriver(), local: driver },
    transport: http1Transport,
    // As app/gateway-app.ts wires it.
    onCondition: options.conditions === 'wired' ? (key, condition) => rollouts.conditionChanged(key, condition) : undefined,
  });
  gateway.apply(config);
  const source = new MemorySource(config);
  const traffic_ = new TrafficController({ gateway, source, logger }, config);
  let now = T0;
  let timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  const rollouts = new RolloutController({
    traffic: traffic_,
    gateway,
    logger,
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, cancelled: false };
      timers.push(t);
      return () => (t.cancelled = true);
    },
  });
  const stats = (name: string) => [...gateway.revisions()].find((r) => r.name === name)!.stats;
  return {
    traffic: traffic_,
    rollouts,
    source,
    driver,
    /** Percents of the service now, `a=90 b=10`. */
    split: () =>
      traffic_
        .service('shop')
        .traffic.map((t) => `${t.revision}=${t.percent}`)
        .join(' '),
    /** `n` answered requests to revision `name`. */
    serve(name: string, code: number, n: number, seconds = 0.004) {
      const s = stats(name);
      for (let i = 0; i < n; i++) {
        s.arrive(now);
        s.record(code, seconds, now);
      }
    },
    /** Move the clock, fire what is due, and let the rollout finish what it started. */
    async advance(ms: number) {
      now += ms;
      for (;;) {
        const due = timers.filter((t) => !t.cancelled && t.at <= now).sort((x, y) => x.at - y.at)[0];
        if (due === undefined) break;
        timers = timers.filter((t) => t !== due);
        due.fn();
        await rollouts.idle('shop');
      }
    },
    pending: () => timers.filter((t) => !t.cancelled).length,
  };
}

const types = (s: RolloutState | null) => s!.timeline.map((e) => e.type);

describe('RolloutController (fake clock)', () => {
  it('promotes a healthy canary step by step', async () => {
    const w = fakeWorld();
    const started = await w.rollouts.start('shop', { to: 'b', steps: [10, 50], intervalSeconds: 30 });
    expect(started).toMatchObject({
      phase: 'progressing',
      from: 'a',
      to: 'b',
      step: 1,
      percent: 10,
      nextCheckAt: new Date(T0 + 30_000).toISOString(),
    });
    expect(w.split()).toBe('a=90 b=10');
    w.serve('b', 200, 25);
    await w.advance(30_000);
    expect(w.split()).toBe('a=50 b=50');
    expect(w.rollouts.state('shop')).toMatchObject({ phase: 'progressing', step: 2, percent: 50 });
    w.serve('b', 200, 40);
    await w.advance(30_000);
    const s = w.rollouts.state('shop')!;
    expect(w.split()).toBe('a=0 b=100');
    expect(s).toMatchObject({
      phase: 'promoted',
      step: 3,
      percent: 100,
      reason: null,
      nextCheckAt: null,
      finishedAt: new Date(T0 + 60_000).toISOString(),
    });
    expect(types(s)).toEqual(['started', 'step', 'analysis', 'step', 'analysis', 'step', 'promoted']);
    expect(s.timeline[2]).toMatchObject({
      at: new Date(T0 + 30_000).toISOString(),
      analysis: { requests: 25, errors: 0, errorRate: 0, p99Ms: 5, verdict: 'pass' },
      message: 'b at 10 %: passed: error rate 0.00 ≤ 0.05 over 25 requests',
    });
    expect(w.pending()).toBe(0);
  });

  it('rolls a failing canary back at once and records why', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10, 50], intervalSeconds: 30 });
    w.serve('b', 200, 20);
    w.serve('b', 500, 20);
    await w.advance(30_000);
    const s = w.rollouts.state('shop')!;
    expect(w.split()).toBe('a=100 b=0');
    expect(s).toMatchObject({ phase: 'rolled-back', percent: 0, reason: 'error rate 0.50 > 0.05 over 40 requests' });
    expect(types(s)).toEqual(['started', 'step', 'analysis', 'rollback']);
    expect(s.timeline[2]!.analysis).toEqual({ requests: 40, errors: 20, errorRate: 0.5, p99Ms: 5, verdict: 'fail' });
    expect(s.timeline[3]).toMatchObject({
      percent: 0,
      message: 'b at 0 %, a at 100 % (rollback: error rate 0.50 > 0.05 over 40 requests)',
    });
  });

  it('judges only what the canary answered since its step began', async () => {
    const w = fakeWorld();
    w.serve('b', 500, 100); // before the rollout: not this rollout's business
    await w.rollouts.start('shop', { to: 'b', steps: [10], intervalSeconds: 30 });
    w.serve('b', 200, 20);
    await w.advance(30_000);
    expect(w.rollouts.state('shop')!.phase).toBe('promoted');
  });

  it('rolls back on p99', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [25], intervalSeconds: 10, analysis: { maxP99Ms: 100 } });
    w.serve('b', 200, 30, 0.2);
    await w.advance(10_000);
    expect(w.rollouts.state('shop')).toMatchObject({ phase: 'rolled-back', reason: 'p99 250 ms > 100 ms over 30 requests' });
  });

  it('holds a step again while it has too few requests, counting all of them', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10], intervalSeconds: 30 });
    w.serve('b', 200, 5);
    await w.advance(30_000);
    let s = w.rollouts.state('shop')!;
    expect(s).toMatchObject({
      phase: 'progressing',
      percent: 10,
      waiting: '5 of 20 requests needed after 1 interval; holding 10 % for another (at most 3 more)',
    });
    expect(s.nextCheckAt).toBe(new Date(T0 + 60_000).toISOString());
    w.serve('b', 200, 15);
    await w.advance(30_000);
    s = w.rollouts.state('shop')!;
    expect(s.phase).toBe('promoted');
    expect(s.timeline.filter((e) => e.type === 'analysis').map((e) => e.analysis!.requests)).toEqual([5, 20]);
  });

  it('gives up after the bounded waits and sends traffic back to the stable revision', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10], intervalSeconds: 30 });
    for (let i = 0; i < 4; i++) await w.advance(30_000);
    const s = w.rollouts.state('shop')!;
    expect(s).toMatchObject({
      phase: 'failed',
      percent: 0,
      reason: 'not enough requests to judge b: 0 of 20 requests needed after 4 intervals',
    });
    expect(types(s)).toEqual([
      'started',
      'step',
      'analysis',
      'waiting',
      'analysis',
      'waiting',
      'analysis',
      'waiting',
      'analysis',
      'failed',
    ]);
    expect(w.split()).toBe('a=100 b=0');
  });

  it('runs one rollout per service at a time', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10], intervalSeconds: 30 });
    const err = await w.rollouts.start('shop', { to: 'c' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).status).toBe(409);
    expect((err as SluiceError).message).toBe('a rollout of shop is in progress (a → b, 10 %); abort it first');
    w.serve('b', 200, 20);
    await w.advance(30_000);
    // Once it has ended, the next one may start.
    await expect(w.rollouts.start('shop', { to: 'c', from: 'b', steps: [50], intervalSeconds: 5 })).resolves.toMatchObject({
      phase: 'progressing',
    });
  });

  it('aborts: traffic back to the stable revision, no check left', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10, 50], intervalSeconds: 30 });
    const s = await w.rollouts.stop('shop');
    expect(s).toMatchObject({ phase: 'aborted', percent: 0, reason: 'aborted by request' });
    expect(types(s)).toEqual(['started', 'step', 'aborted']);
    expect(w.split()).toBe('a=100 b=0');
    expect(w.pending()).toBe(0);
    await expect(w.rollouts.stop('shop')).rejects.toMatchObject({ status: 404, message: 'no rollout of shop in progress' });
    await expect(w.rollouts.stop('nope')).rejects.toMatchObject({ status: 404, message: 'service "nope" not found' });
  });

  it('stops, leaving traffic alone, when someone else changed the traffic', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10, 50], intervalSeconds: 30 });
    await w.traffic.setTraffic('shop', [
      { revision: 'a', percent: 70 },
      { revision: 'b', percent: 30 },
    ]);
    w.serve('b', 200, 30);
    await w.advance(30_000);
    expect(w.rollouts.state('shop')).toMatchObject({
      phase: 'failed',
      reason: 'traffic changed outside the rollout (a 70 %, b 30 %; the rollout set 90 % and 10 %); traffic left as it is',
    });
    expect(w.split()).toBe('a=70 b=30');
  });

  it('keeps other revisions and tags out of it', async () => {
    const w = fakeWorld('[{ revision: a, percent: 80, tag: stable }, { revision: c, percent: 20 }]');
    await w.rollouts.start('shop', { to: 'b', steps: [50], intervalSeconds: 1, analysis: { minRequests: 0 } });
    expect(w.split()).toBe('a=40 c=20 b=40');
    await w.advance(1000);
    expect(w.split()).toBe('a=0 c=20 b=80');
    expect(w.traffic.service('shop').traffic[0]).toEqual({ revision: 'a', percent: 0, tag: 'stable' });
  });

  it('flips blue-green in one step', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', strategy: 'blue-green' });
    await w.rollouts.idle('shop');
    expect(w.rollouts.state('shop')).toMatchObject({
      phase: 'promoted',
      strategy: 'blue-green',
      percent: 100,
      steps: [{ percent: 100, holdSeconds: 0 }],
    });
    expect(w.split()).toBe('a=0 b=100');
  });

  it('rejects a bad request naming the field, and an unknown service', async () => {
    const w = fakeWorld();
    await expect(w.rollouts.start('shop', { to: 'zz' })).rejects.toMatchObject({ status: 400, problems: ['to: unknown revision "zz"'] });
    await expect(w.rollouts.start('nope', { to: 'b' })).rejects.toMatchObject({ status: 404 });
    expect(w.rollouts.state('shop')).toBeNull();
    expect(w.source.writes).toBe(0);
  });

  it('close() cancels pending checks', async () => {
    const w = fakeWorld();
    await w.rollouts.start('shop', { to: 'b', steps: [10], intervalSeconds: 30 });
    w.rollouts.close();
    expect(w.pending()).toBe(0);
    expect(w.rollouts.state('shop')!.nextCheckAt).toBeNull();
    await expect(w.rollouts.start('shop', { to: 'c' })).rejects.toMatchObject({ status: 503, message: 'the gateway is shutting down' });
  });
});

describe('RolloutController: a canary that cannot start (fake clock, conditions reported by hand)', () => {
  const REASON = 'canary shop/b failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; stderr: model file not found';

  it('rolls it back as soon as it goes Failed, not at the end of the hold', async () => {
    const w = fakeWorld(undefined, { conditions: 'wired' });
    await w.rollouts.start('shop', { to: 'b', steps: [10, 50], intervalSeconds: 30 });
    expect(w.split()).toBe('a=90 b=10');
    w.driver.report('shop/b', EXIT_CODE_FAILED);
    await w.rollouts.idle('shop');
    const s = w.rollouts.state('shop')!;
    expect(w.split()).toBe('a=100 b=0');
    // The clock has not moved: no hold ended, no analysis ran.
    expect(s).toMatchObject({
      phase: 'rolled-back',
      percent: 0,
      reason: REASON,
      finishedAt: new Date(T0).toISOString(),
      nextCheckAt: null,
    });
    expect(types(s)).toEqual(['started', 'step', 'rollback']);
    expect(s.timeline[2]!.message).toBe(`b at 0 %, a at 100 % (rollback: ${REASON})`);
    expect(w.pending()).toBe(0);
  });

  it('lets a canary that is starting or restarting go on; only Failed rolls back', async () => {
    const w = fakeWorld(undefined, { conditions: 'wired' });
    await w.rollouts.start('shop', { to: 'b', steps: [10], intervalSeconds: 30 });
    w.driver.report('shop/b', { status: 'Activating', reason: 'Starting', message: 'waiting for a replica to be ready', output: '' });
    w.driver.report('shop/b', {
      status: 'Activating',
      reason: 'Restarting',
      message: 'start 1 of 3 failed: exited with code 1; restarting',
      output: 'oops',
    });
    await w.rollouts.idle('shop');
    expect(w.rollouts.state('shop')).toMatchObject({ phase: 'progressing', percent: 10 });
    w.driver.publish('shop/b', ['http://127.0.0.1:9']);
    w.driver.report('shop/b', { status: 'Ready', reason: 'Serving', message: '1 ready replica', output: '' });
    w.serve('b', 200, 20);
    await w.advance(30_000);
    expect(w.rollouts.state('shop')!.phase).toBe('promoted');
    // A failure once the rollout is over is not the rollout's business.
    w.driver.report('shop/b', EXIT_CODE_FAILED);
    await w.rollouts.idle('shop');
    expect(w.rollouts.state('shop')!.phase).toBe('promoted');
    expect(w.split()).toBe('a=0 b=100');
  });

  it('finds a Failed canary at the check when no change was passed on', async () => {
    const w = fakeWorld(undefined, { conditions: 'unwired' });
    await w.rollouts.start('shop', { to: 'b', steps: [10, 50], intervalSeconds: 30 });
    w.driver.report('shop/b', EXIT_CODE_FAILED);
    w.serve('b', 200, 40); // healthy numbers do not save a canary that cannot start
    await w.rollouts.idle('shop');
    expect(w.rollouts.state('shop')!.phase).toBe('progressing');
    await w.advance(30_000);
    const s = w.rollouts.state('shop')!;
    expect(s).toMatchObject({ phase: 'rolled-back', reason: REASON, finishedAt: new Date(T0 + 30_000).toISOString() });
    expect(types(s)).toEqual(['started', 'step', 'rollback']);
    expect(w.split()).toBe('a=100 b=0');
  });

  it('refuses to start a rollout to a canary that is already Failed (409), moving nothing', async () => {
    const w = fakeWorld(undefined, { conditions: 'wired' });
    w.driver.report('shop/b', EXIT_CODE_FAILED);
    for (const strategy of ['canary', 'blue-green']) {
      const err = await w.rollouts.start('shop', { to: 'b', strategy }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SluiceError);
      expect(err).toMatchObject({
        status: 409,
        code: 'revision_failed',
        message:
          'rolling out b: shop/b failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; ' +
          'stderr: model file not found; traffic unchanged',
      });
    }
    expect(w.rollouts.state('shop')).toBeNull();
    expect(w.source.writes).toBe(0);
    expect(w.split()).toBe('a=100 b=0');
  });

  it('rolls back from the last step when the canary goes Failed while it is pre-warmed for promotion', async () => {
    const w = fakeWorld(undefined, { conditions: 'wired' });
    await w.rollouts.start('shop', { to: 'b', steps: [50], intervalSeconds: 1, analysis: { minRequests: 0 } });
    expect(w.split()).toBe('a=50 b=50');
    // The check passes; promotion to 100 % waits for b to have as many ready replicas as a (1).
    const advancing = w.advance(1000);
    await until(() => w.driver.desired('shop/b') === 1, 'the promotion pre-warming b');
    w.driver.report('shop/b', EXIT_CODE_FAILED);
    await advancing;
    const s = w.rollouts.state('shop')!;
    expect(s).toMatchObject({ phase: 'rolled-back', percent: 0, reason: REASON });
    expect(types(s)).toEqual(['started', 'step', 'analysis', 'rollback']);
    expect(w.split()).toBe('a=100 b=0');
  });
});

// --- real rollouts through the admin API --------------------------------------------------------

interface Sample {
  status: number;
  revision: string | undefined;
  at: number;
}

/** `workers` clients sending infer requests back to back until stop() (at most `maxMs`). */
function steadyLoad(url: string, workers = 4, maxMs = 40_000) {
  const samples: Sample[] = [];
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const body = JSON.stringify(IRIS_ROW);
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped && Date.now() < deadline) {
      try {
        const res = await request(`${url}/v2/models/iris/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.body.dump();
        samples.push({ status: res.statusCode, revision: res.headers['sluice-revision'] as string | undefined, at: Date.now() });
      } catch {
        samples.push({ status: -1, revision: undefined, at: Date.now() });
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  });
  return {
    samples,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return samples;
    },
  };
}

async function admin(gw: TestGateway, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await request(`${gw.adminUrl}${path}`, {
    method: method as 'GET',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, json: await res.body.json() };
}

function canaryConfig(canaryArgs: string[]): string {
  const warm = '        annotations:\n          autoscaling.knative.dev/min-scale: "1"';
  return `
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('stable', { body: warm })}${predictorRevision('canary', { args: canaryArgs, body: warm })}
    traffic:
      - revision: stable
        percent: 100
      - revision: canary
        percent: 0
`;
}

describe('rollouts through the admin API (local predictors, steady load)', { timeout: 40_000 }, () => {
  let dir: string;
  let gw: TestGateway | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-rollout-'));
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(canaryArgs: string[]): Promise<TestGateway> {
    gw = await startGateway(canaryConfig(canaryArgs), { configFile: join(dir, 'sluice.yaml') });
    const g = gw;
    await until(
      () => g.revision('iris', 'stable').endpoints.length === 1 && g.revision('iris', 'canary').endpoints.length === 1,
      'both revisions ready',
    );
    return g;
  }

  async function finished(g: TestGateway): Promise<RolloutState> {
    let state: RolloutState | undefined;
    await until(
      async () => {
        state = ((await admin(g, 'GET', '/api/v1/services/iris')).json as { rollout: RolloutState }).rollout;
        return state.phase !== 'progressing';
      },
      'the rollout to end',
      20_000,
    );
    return state!;
  }

  it('rolls back a canary answering half its requests with 500, under steady load', async () => {
    const g = await start(['--error-rate', '0.5']);
    const load = steadyLoad(g.url);
    await until(() => load.samples.length >= 50, 'load running');
    const started = await admin(g, 'POST', '/api/v1/services/iris/rollout', {
      to: 'canary',
      steps: [20, 50],
      intervalSeconds: 1,
      analysis: { minRequests: 10 },
    });
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ phase: 'progressing', from: 'stable', to: 'canary', percent: 20 });
    const state = await finished(g);
    const rolledBackAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const samples = await load.stop();

    expect(state.phase).toBe('rolled-back');
    expect(state.reason).toMatch(/^error rate 0\.\d\d > 0\.05 over \d+ requests$/);
    // It failed at the first step: 20 % never became 50 %.
    expect(state.timeline.map((e) => e.type)).toEqual(['started', 'step', 'analysis', 'rollback']);
    const analysis = state.timeline[2]!.analysis!;
    expect(analysis.requests).toBeGreaterThanOrEqual(10);
    expect(analysis.errorRate).toBeGreaterThan(0.4);
    // Traffic is back on stable, in the gateway and in the file.
    expect(g.traffic.service('iris').traffic).toEqual([
      { revision: 'stable', percent: 100 },
      { revision: 'canary', percent: 0 },
    ]);
    expect(await readFile(join(dir, 'sluice.yaml'), 'utf8')).toMatch(/revision: canary\n\s+percent: 0/);
    // Nothing reaches the canary once the rollback is applied (requests in flight at that moment aside).
    const after = samples.filter((s) => s.at > rolledBackAt + 100);
    expect(after.length).toBeGreaterThan(10);
    expect(after.every((s) => s.revision === 'stable' && s.status === 200)).toBe(true);
    // Only the canary failed, and only with its own 500s.
    expect(samples.filter((s) => s.status !== 200).every((s) => s.revision === 'canary' && s.status === 500)).toBe(true);
  });

  it('promotes a healthy canary to 100 %', async () => {
    const g = await start([]);
    const load = steadyLoad(g.url);
    await until(() => load.samples.length >= 50, 'load running');
    const started = await admin(g, 'POST', '/api/v1/services/iris/rollout', {
      to: 'canary',
      steps: [25, 50],
      intervalSeconds: 1,
      analysis: { minRequests: 10, maxP99Ms: 1000 },
    });
    expect(started.status).toBe(202);
    const state = await finished(g);
    const samples = await load.stop();
    expect(state.phase).toBe('promoted');
    expect(state.timeline.map((e) => e.type)).toEqual(['started', 'step', 'analysis', 'step', 'analysis', 'step', 'promoted']);
    expect(g.traffic.service('iris').traffic).toEqual([
      { revision: 'stable', percent: 0 },
      { revision: 'canary', percent: 100 },
    ]);
    expect(samples.every((s) => s.status === 200)).toBe(true);
    // Requests sent after the promotion all reach the canary (a loop's last sample may have been
    // routed just before it).
    const after = steadyLoad(g.url, 1, 2_000);
    await until(() => after.samples.length >= 5, 'requests after promotion');
    expect((await after.stop()).map((s) => s.revision).every((r) => r === 'canary')).toBe(true);
  });

  it('rolls back a canary that cannot start as soon as it is Failed, its stderr in the reason', async () => {
    // The canary starts only when the rollout sends it requests (initial scale 0).
    const yaml = `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('stable', { body: '        annotations:\n          autoscaling.knative.dev/min-scale: "1"' })}
${failingRevision('canary')}
    traffic:
      - revision: stable
        percent: 100
      - revision: canary
        percent: 0
`;
    gw = await startGateway(yaml, { configFile: join(dir, 'sluice.yaml') });
    const g = gw;
    await until(() => g.revision('iris', 'stable').endpoints.length === 1, 'stable ready');
    const load = steadyLoad(g.url);
    await until(() => load.samples.length >= 20, 'load running');
    // A minute per step: only the canary's condition can end this rollout within the test's time.
    const started = await admin(g, 'POST', '/api/v1/services/iris/rollout', { to: 'canary', steps: [20, 50], intervalSeconds: 60 });
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ phase: 'progressing', percent: 20 });
    const state = await finished(g);
    const rolledBackAt = Date.now();
    await until(() => load.samples.filter((s) => s.at > rolledBackAt + 100).length >= 20, 'load after the rollback');
    const samples = await load.stop();

    const reason =
      'canary iris/canary failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; stderr: model file not found';
    expect(state).toMatchObject({ phase: 'rolled-back', percent: 0, reason });
    expect(state.timeline.map((e) => e.type)).toEqual(['started', 'step', 'rollback']);
    expect(g.traffic.service('iris').traffic).toEqual([
      { revision: 'stable', percent: 100 },
      { revision: 'canary', percent: 0 },
    ]);
    expect(await readFile(join(dir, 'sluice.yaml'), 'utf8')).toMatch(/revision: canary\n\s+percent: 0/);
    // The canary's requests were answered 503 revision_failed, not held; after the rollback only stable serves.
    const failed = samples.filter((s) => s.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((s) => s.status === 503 && s.revision === 'canary')).toBe(true);
    expect(samples.filter((s) => s.at > rolledBackAt + 100).every((s) => s.status === 200 && s.revision === 'stable')).toBe(true);
    // The status API says why.
    const view = (await admin(g, 'GET', '/api/v1/services/iris')).json as ServiceJson;
    expect(view.revisions.find((r) => r.name === 'canary')!.condition).toEqual({
      status: 'Failed',
      reason: 'ExitCode',
      // Restarts go on while it is wanted: the count is the driver's now.
      message: expect.stringMatching(/^exited with code 1 before it was ready, \d+ starts in a row$/) as unknown,
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      output: 'model file not found',
    });
    expect(view.revisions.find((r) => r.name === 'stable')!.condition).toMatchObject({ status: 'Ready', reason: 'Serving' });
    // A second rollout to it is refused before any traffic moves.
    const again = await admin(g, 'POST', '/api/v1/services/iris/rollout', { to: 'canary' });
    expect(again.status).toBe(409);
    expect((again.json as ErrorBody).error).toEqual({
      code: 'revision_failed',
      message: expect.stringMatching(
        /^rolling out canary: iris\/canary failed \(ExitCode\): exited with code 1 before it was ready, \d+ starts in a row; stderr: model file not found; traffic unchanged$/,
      ) as unknown,
    });
  });

  it('aborts through DELETE, and answers 409 / 404 around it', async () => {
    const g = await start([]);
    const started = await admin(g, 'POST', '/api/v1/services/iris/rollout', { to: 'canary', steps: [10, 50], intervalSeconds: 30 });
    expect(started.status).toBe(202);
    const again = await admin(g, 'POST', '/api/v1/services/iris/rollout', { to: 'canary' });
    expect(again.status).toBe(409);
    expect((again.json as ErrorBody).error.message).toBe('a rollout of iris is in progress (stable → canary, 10 %); abort it first');
    const bad = await admin(g, 'POST', '/api/v1/services/iris/rollout', { to: 'canary', steps: [50, 10] });
    expect(bad.status).toBe(409); // one at a time comes first
    const aborted = await admin(g, 'DELETE', '/api/v1/services/iris/rollout');
    expect(aborted.status).toBe(200);
    expect(aborted.json).toMatchObject({ phase: 'aborted', percent: 0 });
    expect(g.traffic.service('iris').traffic.map((t) => t.percent)).toEqual([100, 0]);
    const view = (await admin(g, 'GET', '/api/v1/services/iris')).json as ServiceJson & { rollout: RolloutState };
    expect(view.rollout.phase).toBe('aborted');
    expect(view.revisions.map((r: { name: string; percent: number }) => `${r.name}=${r.percent}`)).toEqual(['stable=100', 'canary=0']);
    expect((await admin(g, 'DELETE', '/api/v1/services/iris/rollout')).status).toBe(404);
    const invalid = await admin(g, 'POST', '/api/v1/services/iris/rollout', { to: 'canary', steps: [50, 10] });
    expect(invalid.status).toBe(400);
    expect((invalid.json as ErrorBody).error.problems).toEqual(['steps[1]: 10 after 50, want strictly increasing percents']);
  });
});

/**
 * The control loop, twice over:
 *
 * - as tables: a real RevisionRuntime over a fake driver (no processes), a manual clock and manual
 *   tick(now), checking the bounds the loop applies after the decider (initial-scale, min/max-scale,
 *   scale-to-zero grace and pod retention, enable-scale-to-zero, activation, static revisions);
 * - end to end: the real gateway, the real local driver and demo predictor processes, and a burst of
 *   real requests, checking panic on the way up and the rate-limited way down to zero.
 */
import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it, test } from 'vitest';
import { AutoscalerLoop } from '../src/autoscaler/loop.js';
import { parseConfig } from '../src/config/load.js';
import { RevisionRuntime } from '../src/gateway/revision.js';
import type { AutoscalerView } from '../src/core/status.js';
import type { ScalerDriver } from '../src/scaler/driver.js';
import type { ReplicaCounts, RevisionKey } from '../src/core/revision.js';
import { createEndpoint } from '../src/core/endpoint.js';
import { IRIS_ROW, predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';

const silent = pino({ level: 'silent' });
const K = 'autoscaling.knative.dev/';

// ---------------------------------------------------------------------------------------------
// Unit level: fake driver, manual clock.

/** A whole second (and a whole 2 s delay bucket), so step times below land on bucket edges. */
const T0 = 1_700_000_000_000;

/** Records every setReplicas call; "actual" and "ready" follow the ask at once. */
class FakeDriver implements ScalerDriver {
  readonly calls: number[] = [];
  private readonly desired = new Map<RevisionKey, number>();
  add(): void {}
  async remove(): Promise<void> {}
  setReplicas(key: RevisionKey, n: number): void {
    this.calls.push(n);
    this.desired.set(key, n);
  }
  replicas(key: RevisionKey): ReplicaCounts {
    const n = this.desired.get(key) ?? 0;
    return { desired: n, actual: n, ready: n };
  }
  onEndpoints(): void {}
  async close(): Promise<void> {}
}

/**
 * Shared by every row unless the row says otherwise: a 6 s stable window (so a 1 s panic window),
 * target 1 request per pod at 100 % utilization (concurrency 10 → 10 pods), a 10 s grace.
 */
const BASE_ANNOTATIONS: Record<string, string> = { window: '6s', target: '1', 'target-utilization-percentage': '100' };
const BASE_AUTOSCALER: Record<string, string | boolean | number> = { 'scale-to-zero-grace-period': '10s' };

interface Fixture {
  rev: RevisionRuntime;
  driver: FakeDriver;
  loop: AutoscalerLoop;
  /** Moves the loop's clock. */
  setClock: (ms: number) => void;
}

/** One revision `svc/rev-1` built through the real config parser, a fake driver and a loop on a manual clock. */
function fixture(
  options: {
    annotations?: Record<string, string>;
    autoscaler?: Record<string, string | boolean | number>;
    backend?: 'local' | 'static';
  } = {},
): Fixture {
  const annotations = Object.fromEntries(Object.entries({ ...BASE_ANNOTATIONS, ...options.annotations }).map(([k, v]) => [K + k, v]));
  const backend = options.backend ?? 'local';
  const revision =
    backend === 'local'
      ? { name: 'rev-1', backend, command: 'unused', annotations }
      : { name: 'rev-1', backend, urls: ['http://127.0.0.1:9'], annotations };
  const config = parseConfig({
    autoscaler: { ...BASE_AUTOSCALER, ...options.autoscaler },
    services: [{ name: 'svc', match: { pathPrefix: '/' }, revisions: [revision], traffic: [{ revision: 'rev-1', percent: 100 }] }],
  });
  const driver = new FakeDriver();
  const rev = new RevisionRuntime('svc', config.services[0]!.revisions[0]!, driver, T0);
  let clock = T0;
  const loop = new AutoscalerLoop({
    revisions: () => [rev],
    logger: silent,
    now: () => clock,
    onDecision: (_key, view) => (rev.autoscaler = view),
  });
  return { rev, driver, loop, setClock: (ms) => (clock = ms) };
}

function setReady(rev: RevisionRuntime, n: number): void {
  rev.endpoints = Array.from({ length: n }, (_, i) => createEndpoint(`http://127.0.0.1:${20_000 + i}`));
}

interface Step {
  /** Seconds after T0. */
  at: number;
  /** Ready endpoints from this step on (unchanged when absent). */
  ready?: number;
  /** Requests that arrive at this step and stay active until the next step (then they end). */
  load?: number;
  /** Instead of a tick, a request is held and pokes the loop (activation). */
  poke?: boolean;
  wantDesired: number;
  wantPanic?: boolean;
  /** setReplicas calls so far, in order. */
  wantCalls?: number[];
  wantStatus?: Partial<AutoscalerView>;
}

interface Row {
  label: string;
  annotations?: Record<string, string>;
  autoscaler?: Record<string, string | boolean | number>;
  /** Whether a traffic target routes to the revision (default true). */
  reachable?: boolean;
  steps: Step[];
}

const rows: Row[] = [
  {
    label: 'initial-scale 3 is asked for at creation and kept until 3 are ready; then down at most half per tick',
    annotations: { 'initial-scale': '3' },
    steps: [
      // No data yet (nothing ready, no traffic): the decider sits out, initial-scale applies.
      { at: 0, ready: 0, wantDesired: 3, wantCalls: [3] },
      { at: 2, wantDesired: 3, wantCalls: [3] },
      // 3 ready once: initial-scale is reached. Idle: ready=3, rate 2 → no fewer than floor(3 / 2) = 1.
      { at: 4, ready: 3, wantDesired: 1, wantPanic: false },
      // The decider says 0 now, but the revision has been idle only 6 s of its 10 s grace.
      { at: 6, ready: 1, wantDesired: 1 },
      { at: 10, wantDesired: 0, wantCalls: [3, 1, 0] },
    ],
  },
  {
    label: 'initial-scale 6, idle: 6 → 3 → 1 → 0, never more than half at once (max-scale-down-rate 2)',
    annotations: { 'initial-scale': '6' },
    autoscaler: { 'max-scale-down-rate': '2' },
    steps: [
      { at: 0, ready: 0, wantDesired: 6 },
      { at: 2, ready: 6, wantDesired: 3 },
      { at: 4, ready: 3, wantDesired: 1 },
      { at: 6, ready: 1, wantDesired: 1 },
      { at: 10, wantDesired: 0, wantCalls: [6, 3, 1, 0] },
    ],
  },
  {
    label: 'min-scale 2 holds an idle revision at 2 long past the grace',
    annotations: { 'min-scale': '2' },
    steps: [
      { at: 0, ready: 0, wantDesired: 2 },
      // The decider alone would say floor(2 / 2) = 1.
      { at: 2, ready: 2, wantDesired: 2, wantStatus: { desiredPodCount: 1 } },
      { at: 60, wantDesired: 2, wantCalls: [2] },
    ],
  },
  {
    label: 'min-scale does not hold a revision no traffic target routes to',
    annotations: { 'min-scale': '2' },
    reachable: false,
    steps: [
      // initial-scale (1) still applies to a new revision.
      { at: 0, ready: 0, wantDesired: 1 },
      // Unreachable: no down rate limit, the decider says 0; the grace still applies.
      { at: 2, ready: 1, wantDesired: 1, wantStatus: { desiredPodCount: 0 } },
      { at: 10, wantDesired: 0, wantCalls: [1, 0] },
    ],
  },
  {
    label: "max-scale 3 caps a burst of 10; status keeps the decider's own answer (10) and panic",
    annotations: { 'max-scale': '3' },
    steps: [
      { at: 0, ready: 0, wantDesired: 1 },
      // The burst begins; the last complete second (0..1) was quiet.
      { at: 1, ready: 1, load: 10, wantDesired: 1, wantPanic: false },
      // Second 1..2 at 10: panic 10 / 1 ready ≥ 200 %; stable (0 + 10) / 2 seconds of data = 5.
      {
        at: 2,
        load: 10,
        wantDesired: 3,
        wantPanic: true,
        wantStatus: { panicMode: true, desiredPodCount: 10, panicConcurrency: 10, stableConcurrency: 5 },
      },
      { at: 4, ready: 3, load: 10, wantDesired: 3, wantPanic: true, wantCalls: [1, 3] },
    ],
  },
  {
    label: 'enable-scale-to-zero false keeps an idle revision at 1',
    autoscaler: { 'enable-scale-to-zero': false },
    steps: [
      { at: 0, ready: 0, wantDesired: 1 },
      { at: 2, ready: 1, wantDesired: 1, wantStatus: { desiredPodCount: 0 } },
      { at: 60, wantDesired: 1, wantCalls: [1] },
    ],
  },
  {
    label: 'scale to zero only after the grace period without traffic',
    steps: [
      { at: 0, ready: 0, wantDesired: 1 },
      // One request active from 2 s to 4 s.
      { at: 2, ready: 1, load: 1, wantDesired: 1 },
      // Stable average (seconds 0..3) = 2 / 4 = 0.5 → 1 pod.
      { at: 4, wantDesired: 1, wantStatus: { stableConcurrency: 0.5 } },
      // The window (seconds 4..9) is quiet, the decider says 0; idle since 2 s = 8 s < 10 s.
      { at: 10, wantDesired: 1, wantStatus: { desiredPodCount: 0 } },
      { at: 12, wantDesired: 0, wantCalls: [1, 0] },
    ],
  },
  {
    label: 'pod retention 20 s keeps the last replica after the 10 s grace',
    annotations: { 'scale-to-zero-pod-retention-period': '20s' },
    steps: [
      { at: 0, ready: 0, wantDesired: 1 },
      { at: 2, ready: 1, load: 1, wantDesired: 1 },
      { at: 4, wantDesired: 1 },
      { at: 12, wantDesired: 1 },
      { at: 20, wantDesired: 1 },
      // Idle since 2 s: 20 s at 22 s.
      { at: 22, wantDesired: 0, wantCalls: [1, 0] },
    ],
  },
  {
    label: 'a revision at zero with no traffic is left alone',
    autoscaler: { 'allow-zero-initial-scale': true, 'initial-scale': 0 },
    steps: [
      { at: 0, ready: 0, wantDesired: 0, wantPanic: false },
      { at: 2, wantDesired: 0 },
      { at: 120, wantDesired: 0, wantCalls: [] },
    ],
  },
  {
    label: 'activation: a request held at zero scales to 1 at once, without a tick',
    autoscaler: { 'allow-zero-initial-scale': true, 'initial-scale': 0 },
    steps: [
      { at: 0, ready: 0, wantDesired: 0, wantCalls: [] },
      { at: 1, load: 1, poke: true, wantDesired: 1, wantCalls: [1] },
      // Still starting (0 ready), 1 held: the tick keeps it.
      { at: 2, load: 1, wantDesired: 1, wantCalls: [1] },
    ],
  },
  {
    label: 'activation with activation-scale 3 asks for 3',
    annotations: { 'activation-scale': '3' },
    autoscaler: { 'allow-zero-initial-scale': true, 'initial-scale': 0 },
    steps: [
      { at: 0, ready: 0, wantDesired: 0 },
      { at: 1, load: 1, poke: true, wantDesired: 3, wantCalls: [3] },
    ],
  },
  {
    label: 'a poke while replicas are already asked for changes nothing',
    steps: [
      { at: 0, ready: 0, wantDesired: 1, wantCalls: [1] },
      { at: 1, load: 1, poke: true, wantDesired: 1, wantCalls: [1] },
    ],
  },
];

describe('AutoscalerLoop: bounds after the decider', () => {
  test.each(rows)('$label', (row) => {
    const { rev, driver, loop, setClock } = fixture({ annotations: row.annotations, autoscaler: row.autoscaler });
    rev.reachable = row.reachable ?? true;
    let active = 0;
    for (const step of row.steps) {
      const now = T0 + step.at * 1000;
      const where = `${row.label} @ ${step.at} s`;
      setClock(now);
      for (; active > 0; active--) rev.stats.record(200, 0.1, now);
      if (step.ready !== undefined) setReady(rev, step.ready);
      for (; active < (step.load ?? 0); active++) rev.stats.arrive(now);
      if (step.poke) loop.poke(rev);
      else loop.tick(now);
      expect(rev.replicas.desired, where).toBe(step.wantDesired);
      if (step.wantPanic !== undefined) expect(rev.autoscaler.panicMode, where).toBe(step.wantPanic);
      if (step.wantCalls !== undefined) expect(driver.calls, where).toEqual(step.wantCalls);
      if (step.wantStatus !== undefined) expect(rev.autoscaler, where).toMatchObject(step.wantStatus);
    }
  });

  it('fills the revision status on every tick', () => {
    const { rev, loop } = fixture({ annotations: { 'target-burst-capacity': '5' } });
    expect(rev.autoscaler.desiredPodCount).toBe(-1);
    loop.tick(T0);
    setReady(rev, 1);
    for (let i = 0; i < 3; i++) rev.stats.arrive(T0 + 1000);
    loop.tick(T0 + 2000);
    // Second 1..2 at 3 (second 0..1 quiet but ready), target 1, total 1, TBC 5:
    // stable (0 + 3) / 2 = 1.5 → 2; panic 3 / 1 ready ≥ 200 % → panic, max(2, 3) = 3;
    // excess burst capacity = floor(1 ready × 1 − 5 − 3) = −7.
    expect(rev.autoscaler).toEqual({
      stableConcurrency: 1.5,
      panicConcurrency: 3,
      rps: 1.5,
      panicMode: true,
      desiredPodCount: 3,
      excessBurstCapacity: -7,
    });
    expect(rev.replicas.desired).toBe(3);
  });

  it('leaves static revisions alone: no scale call on tick or poke, no status', () => {
    const { rev, driver, loop } = fixture({ backend: 'static' });
    for (let i = 0; i < 5; i++) rev.stats.arrive(T0 + 500);
    loop.poke(rev);
    for (let s = 0; s <= 60; s += 2) loop.tick(T0 + s * 1000);
    expect(driver.calls).toEqual([]);
    expect(rev.autoscaler.desiredPodCount).toBe(-1);
  });

  it('forgets a revision no longer listed: listed again, it starts afresh', () => {
    const { rev } = fixture();
    let listed = true;
    const loop = new AutoscalerLoop({
      revisions: () => (listed ? [rev] : []),
      logger: silent,
      now: () => T0,
      onDecision: (_key, view) => (rev.autoscaler = view),
    });
    loop.tick(T0);
    setReady(rev, 1);
    loop.tick(T0 + 2000);
    listed = false;
    loop.tick(T0 + 4000);
    listed = true;
    // Had its state been kept, 10 s idle since 0 s would allow zero now; a fresh state counts the
    // grace from its creation at 8 s.
    loop.tick(T0 + 8000);
    loop.tick(T0 + 10_000);
    expect(rev.replicas.desired).toBe(1);
    loop.tick(T0 + 18_000);
    expect(rev.replicas.desired).toBe(0);
  });

  it("a wake-up made elsewhere (another replica's activation) starts the grace: not scaled straight back to zero", () => {
    const { rev, driver, loop } = fixture({ annotations: { 'initial-scale': '0' }, autoscaler: { 'allow-zero-initial-scale': true } });
    loop.tick(T0);
    expect(rev.replicas.desired).toBe(0);
    // Idle for a minute, then another gateway replica activates the revision: desired 0 → 1 without
    // this loop, and no data in its windows yet (the held request is on the other replica).
    driver.setReplicas(rev.key, 1);
    loop.tick(T0 + 60_000);
    expect(rev.replicas.desired).toBe(1);
    // Still nothing: once the 10 s grace has passed since the wake-up, down to zero.
    loop.tick(T0 + 68_000);
    expect(rev.replicas.desired).toBe(1);
    loop.tick(T0 + 70_000);
    expect(rev.replicas.desired).toBe(0);
    expect(driver.calls).toEqual([1, 0]);
  });

  it('keeps one replica while a request is held, even with scale-to-zero due', () => {
    const { rev, loop } = fixture({ annotations: { 'initial-scale': '1' } });
    loop.tick(T0);
    setReady(rev, 1);
    loop.tick(T0 + 2000);
    // Idle past the grace: the decider and the grace would both allow 0 ...
    rev.queue.push({ request: { send() {}, fail() {} }, deadline: T0 + 80_000, waitMs: 60_000, front: false }, T0 + 20_000);
    loop.tick(T0 + 20_000);
    expect(rev.replicas.desired).toBe(1);
    // ... and once the queue is empty, the grace counts from the last tick that saw it busy.
    rev.queue.shift();
    loop.tick(T0 + 26_000);
    expect(rev.replicas.desired).toBe(1);
    loop.tick(T0 + 30_000);
    expect(rev.replicas.desired).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end: real gateway, local driver, predictor processes, real requests.

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** What the revision looked like around one tick of the loop. */
interface TickSample {
  now: number;
  /** Ready endpoints when the tick began (what the decider's rate limits are based on). */
  readyBefore: number;
  desiredBefore: number;
  desiredAfter: number;
  panic: boolean;
}

const TICK_MS = 500;
const GRACE_MS = 2000;
const LATENCY_MS = 200;
const LOOPS = 8;
const BURST_MS = 4000;
const MAX_SCALE = 6;

const burstConfig = `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
  scale-to-zero-grace-period: ${GRACE_MS / 1000}s
  max-scale-down-rate: "2"
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('iris-1', {
      args: ['--latency', String(LATENCY_MS)],
      body: [
        '        annotations:',
        `          ${K}window: 6s`,
        `          ${K}target: "1"`,
        `          ${K}target-utilization-percentage: "100"`,
        `          ${K}max-scale: "${MAX_SCALE}"`,
      ].join('\n'),
    })}
    traffic:
      - revision: iris-1
        percent: 100
`;

describe('AutoscalerLoop with the local driver under a real burst', () => {
  it('panics up within two ticks, steps down at most half per tick, and reaches zero after the grace', async () => {
    gw = await startGateway(burstConfig, { tickMs: TICK_MS });
    const url = `${gw.url}/v2/models/iris/infer`;
    const rev = gw.revision('iris', 'iris-1');
    const s = rev.spec.scaling;
    // 6 s stable window × 10 % = 0.6 s, rounded to whole seconds and at least one: a 1 s panic window.
    expect([s.stableWindowMs, s.panicWindowMs, s.targetValue, s.maxScale, s.maxScaleDownRate, s.scaleToZeroGraceMs]).toEqual([
      6000,
      1000,
      1,
      MAX_SCALE,
      2,
      GRACE_MS,
    ]);
    expect(rev.replicas.desired).toBe(0);
    // Wake it with one request first: a burst held at zero is sized at activation (burstReplicas),
    // and this test is about the decider panicking on what the windows see.
    const wake = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(IRIS_ROW) });
    await wake.body.dump();
    expect(wake.statusCode).toBe(200);
    expect(rev.endpoints.length).toBe(1);

    // Every tick from here on, with the state just before and just after it.
    const ticks: TickSample[] = [];
    let onTick: ((sample: TickSample) => void) | undefined;
    const loop = gw.loop;
    const tick = loop.tick.bind(loop);
    loop.tick = (now: number) => {
      const readyBefore = rev.endpoints.length;
      const desiredBefore = rev.replicas.desired;
      tick(now);
      const sample = { now, readyBefore, desiredBefore, desiredAfter: rev.replicas.desired, panic: rev.autoscaler.panicMode };
      ticks.push(sample);
      onTick?.(sample);
    };

    // The windows see completed 1 s buckets. Starting the burst right after a tick that falls in the
    // first half of its second makes the burst's first second mostly busy (8 loops × ≥ 0.5 s ≥ 4),
    // and complete by the second tick after the start (start + 1000 ms reaches the next second).
    const start = await new Promise<TickSample>((resolve) => {
      onTick = (sample) => {
        if (sample.now % 1000 < 500) {
          onTick = undefined;
          resolve(sample);
        }
      };
    });
    const burstEnd = start.now + BURST_MS;
    let errors = 0;
    let answered = 0;
    await Promise.all(
      Array.from({ length: LOOPS }, async () => {
        while (Date.now() < burstEnd) {
          const res = await request(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(IRIS_ROW),
          });
          await res.body.dump();
          if (res.statusCode === 200) answered++;
          else errors++;
        }
      }),
    );
    expect(errors).toBe(0);
    expect(answered).toBeGreaterThan(LOOPS);
    const loadStopped = Date.now();

    await until(() => rev.replicas.desired === 0 && rev.replicas.actual === 0, 'scaled to zero after the burst', 30_000);

    // Up: within two ticks of the start, a tick in panic raised the desired scale.
    const startIndex = ticks.indexOf(start);
    const firstTwo = ticks.slice(startIndex + 1, startIndex + 3);
    const panicUp = firstTwo.find((t) => t.panic && t.desiredAfter > t.desiredBefore && t.desiredAfter > 1);
    expect(panicUp, `ticks after the start: ${JSON.stringify(firstTwo)}`).toBeDefined();
    const during = ticks.filter((t) => t.now > start.now && t.now <= loadStopped);
    expect(Math.max(...during.map((t) => t.desiredAfter))).toBe(MAX_SCALE);

    // Down: every decrease keeps at least floor(ready / 2) of the replicas ready at that tick, so
    // nothing drops from N straight to 0 while more than one is ready.
    const after = ticks.filter((t) => t.now > loadStopped);
    const downs = after.filter((t) => t.desiredAfter < t.desiredBefore);
    for (const t of downs) {
      expect(t.desiredAfter, `step down ${JSON.stringify(t)}`).toBeGreaterThanOrEqual(Math.floor(t.readyBefore / 2));
    }
    // From 6 it takes several steps: 6 → ≥3 → ≥1 → 0.
    expect(downs.length, `desired after the burst: ${after.map((t) => t.desiredAfter).join(' ')}`).toBeGreaterThanOrEqual(3);

    // Zero: decided on a tick at least the grace period after the last request arrived.
    const zero = after.find((t) => t.desiredAfter === 0)!;
    expect(zero.readyBefore).toBeLessThanOrEqual(1);
    expect(zero.now - rev.stats.lastRequestAt).toBeGreaterThanOrEqual(GRACE_MS);
    expect(rev.endpoints.length).toBe(0);
  }, 60_000);
});

/**
 * Local revisions behind their own queue-proxy (`queueProxy: true`), with real processes: the harness
 * gateway, the local driver, the built `sluice queue-proxy` and the test apps. Build first:
 * `npx tsc -p .`.
 *
 * - A replica is the app plus its queue-proxy: it serves through the gateway, the queue-proxy enforces
 *   containerConcurrency for traffic that bypasses the gateway, either process dying takes the replica
 *   out, and scale-down stops the queue-proxy (which drains) before the app, leaving nothing behind.
 * - Equivalence: one burst, driven once with the gateway's own counts and once with the replicas'
 *   queue-proxy stats, reaches the same panic scale and comes back down to zero the same way.
 * - No double counting: requests through the gateway are counted once (by the gateway); requests
 *   sent straight to a queue-proxy are counted from its stats.
 *
 * Every wait is for an observable state with a generous bound; nothing asserts how fast it happened.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RevisionRuntime } from '../src/gateway/revision.js';
import type { QueueProxyStatsJson } from '../src/stats/stats-json.js';
import type { Endpoint } from '../src/core/endpoint.js';
import type { SecondBuckets } from '../src/stats/windows.js';
import { CLI, FIXTURES, IRIS_ROW, countingRevision, predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';

const K = 'autoscaling.knative.dev/';

// --- cleanup: every gateway, process and connection a test starts ---

const gateways: TestGateway[] = [];
/** Every pid a test saw; whatever still runs after the gateways closed is killed (and the test fails). */
const seenPids = new Set<number>();
let agent = new Agent();

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: build first with `npx tsc -p .`');
});

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gw) => gw.close()));
  await agent.destroy();
  agent = new Agent();
  const left = [...seenPids].filter(isAlive);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  seenPids.clear();
  expect(left, 'processes left after close()').toEqual([]);
});

async function start(yaml: string, tickMs = 200): Promise<TestGateway> {
  const gw = await startGateway(yaml, { tickMs });
  gateways.push(gw);
  return gw;
}

// --- helpers ---

/** Signal 0 reaches the process (ESRCH once it is gone); an exited child not yet reaped (zombie) counts as dead. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no procfs: signal 0 is the answer
  }
}

/** The revision's live pids now, remembered for cleanup. */
function pidsOf(gw: TestGateway, rev: RevisionRuntime): number[] {
  const pids = gw.driver.pids(rev.key);
  for (const pid of pids) seenPids.add(pid);
  return pids;
}

async function getJson<T>(url: string): Promise<{ status: number; body: T; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(url, { dispatcher: agent });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as T };
}

/** The counting app's own view: its pid and its in-flight high-water mark. */
type AppStats = { pid: number; inflight: number; max: number; total: number };

/** `loops` request loops against `urls` (round robin per loop) until `endAt` (ms); resolves with status counts. */
async function load(urls: readonly string[], loops: number, endAt: number, init: { method?: 'GET' | 'POST'; body?: string } = {}) {
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: loops }, async (_, i) => {
      for (let n = i; Date.now() < endAt; n++) {
        const res = await request(urls[n % urls.length]!, {
          dispatcher: agent,
          method: init.method ?? 'GET',
          headers: init.body ? { 'content-type': 'application/json' } : {},
          body: init.body,
        });
        await res.body.dump();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

/** Concurrency the buckets hold for `second` (which must still be in their ring). */
function concurrencyAt(buckets: SecondBuckets, second: number, now = Date.now()): number {
  const last = buckets.lastCompleteSecond(now);
  if (second > last || second <= last - buckets.size)
    throw new Error(`second ${second} is not in the ring (last ${last}, size ${buckets.size})`);
  return buckets.concurrency[((second % buckets.size) + buckets.size) % buckets.size]!;
}

/** Resolves at wall-clock `ms`. */
const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

function countingConfig(body: string, annotations: Record<string, string> = {}): string {
  const lines = Object.entries(annotations).map(([k, v]) => `          ${K}${k}: ${JSON.stringify(v)}`);
  return `
services:
  - name: count
    match:
      pathPrefix: /
    revisions:${countingRevision('count-1', [body, ...(lines.length > 0 ? ['        annotations:', ...lines] : [])].join('\n'))}
    traffic:
      - revision: count-1
        percent: 100
`;
}

// ---------------------------------------------------------------------------------------------

describe('config', () => {
  const revision = (fields: Record<string, unknown>) =>
    parseConfig({
      services: [
        {
          name: 'svc',
          revisions: [{ name: 'r1', backend: 'local', command: 'app', ...fields }],
          traffic: [{ revision: 'r1', percent: 100 }],
        },
      ],
    }).services[0]!.revisions[0]!;

  it('queueProxy defaults to false; metricsSource queue-proxy on a local revision needs it', () => {
    expect(revision({})).toMatchObject({ queueProxy: false, metricsSource: 'gateway' });
    expect(revision({ queueProxy: true, metricsSource: 'queue-proxy' })).toMatchObject({ queueProxy: true, metricsSource: 'queue-proxy' });
    expect(() => revision({ metricsSource: 'queue-proxy' })).toThrow(
      /services\[0\]\.revisions\[0\]\.metricsSource: queue-proxy on a local revision needs queueProxy: true/,
    );
    expect(() => revision({ queueProxy: 'yes' })).toThrow(/queueProxy/);
  });
});

describe('a local replica behind its own queue-proxy', { timeout: 60_000 }, () => {
  const body = ['        queueProxy: true', '        metricsSource: queue-proxy', '        containerConcurrency: 2'].join('\n');

  it('serves through the gateway; the queue-proxy enforces containerConcurrency for requests that bypass it', async () => {
    const gw = await start(countingConfig(body, { 'min-scale': '1' }));
    const rev = gw.revision('count', 'count-1');
    await until(() => rev.endpoints.length === 1, 'one ready replica');
    const endpoint = rev.endpoints[0]!;
    const pids = pidsOf(gw, rev);
    expect(pids).toHaveLength(2);

    // Through the gateway: the app answers, on its own (private) port behind the queue-proxy.
    const viaGateway = await getJson<AppStats>(`${gw.url}/stats`);
    expect(viaGateway.status).toBe(200);
    expect(viaGateway.headers['sluice-revision']).toBe('count-1');
    expect(pids).toContain(viaGateway.body.pid);
    const appPid = viaGateway.body.pid;
    const queueProxyPid = pids.find((pid) => pid !== appPid)!;
    if (existsSync(`/proc/${queueProxyPid}/cmdline`)) {
      // The built CLI's queue-proxy, listening on the published endpoint.
      const args = readFileSync(`/proc/${queueProxyPid}/cmdline`, 'utf8').split('\0');
      expect(args.slice(1, 3)).toEqual([CLI, 'queue-proxy']);
      expect(args[args.indexOf('--listen') + 1]).toBe(endpoint.id);
    }

    // The endpoint publishes the queue-proxy's stats URL; its admin port answers probes and stats.
    expect(endpoint.statsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/stats$/);
    const admin = new URL(endpoint.statsUrl!).origin;
    expect((await getJson(`${admin}/readyz`)).status).toBe(200);
    const stats = await getJson<QueueProxyStatsJson>(endpoint.statsUrl!);
    expect(stats.body.containerConcurrency).toBe(2);
    expect(stats.body.proxiedRequestsTotal).toBeGreaterThanOrEqual(1);

    // Six requests straight to the queue-proxy's data port: two at a time reach the app, the rest wait.
    let heldSeen = 0;
    const direct = Promise.all(
      Array.from({ length: 6 }, async () => {
        const res = await request(`${endpoint.origin}/work?ms=400`, { dispatcher: agent });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    let finished = false;
    void direct.finally(() => (finished = true));
    while (!finished) {
      heldSeen = Math.max(heldSeen, (await getJson<QueueProxyStatsJson>(endpoint.statsUrl!)).body.held);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await direct).toEqual([200, 200, 200, 200, 200, 200]);
    expect(heldSeen).toBeGreaterThan(0);
    const after = await getJson<AppStats>(`${gw.url}/stats`);
    expect(after.body.max).toBe(2);
    expect(after.body.total).toBe(6);
  });

  it('either process dying takes the replica out; the other goes with it and a replacement comes up', async () => {
    const gw = await start(countingConfig(body, { 'min-scale': '1' }));
    const rev = gw.revision('count', 'count-1');

    const readyReplica = async (excluding: Endpoint | undefined) => {
      await until(() => rev.endpoints.length === 1 && rev.endpoints[0] !== excluding, 'a ready replica');
      const endpoint = rev.endpoints[0]!;
      const pids = pidsOf(gw, rev);
      const app = (await getJson<AppStats>(`${gw.url}/stats`)).body.pid;
      return { endpoint, app, queueProxy: pids.find((pid) => pid !== app)!, pids };
    };

    // The app is killed: the replica leaves the ready set, its queue-proxy is stopped, a new pair serves.
    const first = await readyReplica(undefined);
    expect(first.pids).toHaveLength(2);
    process.kill(first.app, 'SIGKILL');
    await until(() => first.endpoint.draining && !rev.endpoints.includes(first.endpoint), 'the dead replica out of the ready set');
    await until(() => !isAlive(first.queueProxy), 'its queue-proxy gone');
    const second = await readyReplica(first.endpoint);
    expect([second.app, second.queueProxy]).not.toContain(first.app);
    expect(second.queueProxy).not.toBe(first.queueProxy);

    // The queue-proxy is killed: the same, the other way round.
    process.kill(second.queueProxy, 'SIGKILL');
    await until(() => !rev.endpoints.includes(second.endpoint), 'the replica without its queue-proxy out of the ready set');
    await until(() => !isAlive(second.app), 'its app gone');
    const third = await readyReplica(second.endpoint);
    expect(third.app).not.toBe(second.app);
    const res = await getJson<AppStats>(`${gw.url}/stats`);
    expect(res.status).toBe(200);
    expect(res.body.pid).toBe(third.app);
  });

  it('scale-down stops the queue-proxy first (it drains what it holds), then the app, and leaves no process', async () => {
    // tiny-server has no SIGTERM handler: SIGTERM ends it at once, cutting whatever it is serving.
    const gw = await start(`
services:
  - name: tiny
    match:
      pathPrefix: /
    revisions:
      - name: tiny-1
        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify([FIXTURES + 'tiny-server.mjs'])}
        readinessPath: /ready
        queueProxy: true
        metricsSource: queue-proxy
    traffic:
      - revision: tiny-1
        percent: 100
`);
    // The driver alone, without the control loop's opinion on the scale.
    gw.loop.stop();
    const rev = gw.revision('tiny', 'tiny-1');
    gw.driver.setReplicas(rev.key, 2);
    await until(() => rev.endpoints.length === 2, 'two ready replicas');
    const pids = pidsOf(gw, rev);
    expect(pids).toHaveLength(4);

    // A request straight to each queue-proxy, at its app when the scale-down begins: it is answered
    // only if the queue-proxy drains before its app gets SIGTERM.
    const slow = rev.endpoints.map(async (ep) => {
      const res = await request(`${ep.origin}/slow?ms=600`, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    });
    await until(async () => {
      const inflight = await Promise.all(rev.endpoints.map(async (ep) => (await getJson<QueueProxyStatsJson>(ep.statsUrl!)).body.inflight));
      return inflight.every((n) => n === 1);
    }, 'both requests at the apps');
    gw.driver.setReplicas(rev.key, 0);
    expect(rev.endpoints).toEqual([]);
    expect(await Promise.all(slow)).toEqual([200, 200]);
    await until(() => gw.driver.replicas(rev.key).actual === 0 && gw.driver.pids(rev.key).length === 0, 'no replica left');
    await until(() => pids.every((pid) => !isAlive(pid)), 'every process gone');
    expect(gw.driver.replicas(rev.key)).toEqual({ desired: 0, actual: 0, ready: 0 });
  });
});

// ---------------------------------------------------------------------------------------------
// Equivalence: the same burst scaled from the gateway's counts and from the queue-proxies' stats.

/** What the revision looked like around one tick of the loop. */
interface TickSample {
  now: number;
  readyBefore: number;
  desiredBefore: number;
  desiredAfter: number;
  panic: boolean;
}

const TICK_MS = 500;
const LATENCY_MS = 200;
/**
 * Four loops → four pods. More would compare the same thing at a higher cost: on a two-core machine,
 * eight replicas behind queue-proxies booting at once (sixteen Node processes, a queue-proxy costs
 * about 0.5 s of CPU to start) starve the process that runs the gateway and the load.
 */
const LOOPS = 4;
const BURST_MS = 4000;

function burstConfig(viaQueueProxy: boolean): string {
  const body = [
    ...(viaQueueProxy ? ['        queueProxy: true', '        metricsSource: queue-proxy'] : ['        metricsSource: gateway']),
    '        annotations:',
    // 6 s stable window (1 s panic window); target 1 at 100 %: N requests in flight → N pods.
    `          ${K}window: 6s`,
    `          ${K}target: "1"`,
    `          ${K}target-utilization-percentage: "100"`,
  ].join('\n');
  return `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
  scale-to-zero-grace-period: 2s
  max-scale-down-rate: "2"
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('iris-1', { args: ['--latency', String(LATENCY_MS)], body })}
    traffic:
      - revision: iris-1
        percent: 100
`;
}

interface BurstRun {
  /** Highest desired scale while the load ran. */
  peak: number;
  /** A tick in panic raised the desired scale while the load ran. */
  panicUp: boolean;
  /** Desired scale after each decrease, from the end of the load to zero. */
  downs: number[];
  /** Every decrease kept at least half of the replicas ready at its tick. */
  halvingAtMost: boolean;
  /** Some decrease came while still in panic (Knative never does that). */
  downInPanic: boolean;
  statuses: Map<number, number>;
}

/** One gateway, one burst of LOOPS request loops from zero, then wait for zero again. */
async function runBurst(viaQueueProxy: boolean): Promise<BurstRun> {
  const gw = await start(burstConfig(viaQueueProxy), TICK_MS);
  const rev = gw.revision('iris', 'iris-1');
  expect(rev.replicas.desired).toBe(0);
  // Woken by one request first: a burst held at zero is sized at activation (burstReplicas), and
  // this compares how each metrics source makes the decider panic.
  const wake = await request(`${gw.url}/v2/models/iris/infer`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(IRIS_ROW),
  });
  await wake.body.dump();
  expect(wake.statusCode).toBe(200);
  expect(rev.endpoints.length).toBe(1);
  const ticks: TickSample[] = [];
  let onTick: ((sample: TickSample) => void) | undefined;
  const loop = gw.loop;
  const tick = loop.tick.bind(loop);
  loop.tick = (now: number) => {
    const readyBefore = rev.endpoints.length;
    const desiredBefore = rev.replicas.desired;
    tick(now);
    pidsOf(gw, rev);
    const sample = { now, readyBefore, desiredBefore, desiredAfter: rev.replicas.desired, panic: rev.autoscaler.panicMode };
    ticks.push(sample);
    onTick?.(sample);
  };
  // Start right after a tick in the first half of its second (see autoscaler-loop.test.ts): the
  // burst's first second is then mostly busy and complete by the second tick after the start.
  const begin = await new Promise<TickSample>((resolve) => {
    onTick = (sample) => {
      if (sample.now % 1000 < 500) {
        onTick = undefined;
        resolve(sample);
      }
    };
  });
  const statuses = await load([`${gw.url}/v2/models/iris/infer`], LOOPS, begin.now + BURST_MS, {
    method: 'POST',
    body: JSON.stringify(IRIS_ROW),
  });
  const loadStopped = Date.now();
  await until(() => rev.replicas.desired === 0 && rev.replicas.actual === 0, 'scaled to zero after the burst', 40_000);
  await until(() => gw.driver.pids(rev.key).length === 0, 'no process left');

  const during = ticks.filter((t) => t.now > begin.now && t.now <= loadStopped);
  const after = ticks.filter((t) => t.now > loadStopped);
  const downs = after.filter((t) => t.desiredAfter < t.desiredBefore);
  return {
    peak: Math.max(...during.map((t) => t.desiredAfter)),
    panicUp: during.some((t) => t.panic && t.desiredAfter > t.desiredBefore),
    downs: downs.map((t) => t.desiredAfter),
    halvingAtMost: downs.every((t) => t.desiredAfter >= Math.floor(t.readyBefore / 2)),
    downInPanic: downs.some((t) => t.panic),
    statuses,
  };
}

describe('queue-proxy metrics against gateway metrics', { timeout: 120_000 }, () => {
  it('the same burst panics to the same scale and comes down to zero the same way', async () => {
    const gateway = await runBurst(false);
    const queueProxy = await runBurst(true);
    const summary = JSON.stringify({
      gateway: { ...gateway, statuses: [...gateway.statuses] },
      queueProxy: { ...queueProxy, statuses: [...queueProxy.statuses] },
    });

    for (const run of [gateway, queueProxy]) {
      expect([...run.statuses.keys()], summary).toEqual([200]);
      expect(run.panicUp, summary).toBe(true);
      // N loops in flight → N pods, give or take the gaps between one loop's requests.
      expect(Math.abs(run.peak - LOOPS), summary).toBeLessThanOrEqual(1);
      expect(run.halvingAtMost, summary).toBe(true);
      expect(run.downInPanic, summary).toBe(false);
      expect(run.downs.at(-1), summary).toBe(0);
    }
    expect(Math.abs(gateway.peak - queueProxy.peak), summary).toBeLessThanOrEqual(1);
    expect(Math.abs(gateway.downs.length - queueProxy.downs.length), summary).toBeLessThanOrEqual(1);
  });

  it('counts requests through the gateway once, and requests straight to the queue-proxies too', async () => {
    const N = 4;
    const M = 3;
    const gw = await start(
      countingConfig(['        queueProxy: true', '        metricsSource: queue-proxy'].join('\n'), {
        window: '6s',
        'min-scale': '2',
        'max-scale': '2',
      }),
    );
    const rev = gw.revision('count', 'count-1');
    await until(() => rev.endpoints.length === 2, 'two ready replicas');
    pidsOf(gw, rev);
    const external = rev.external(); // the queue-proxy samples the loop adds (created by the first tick)

    /**
     * Run `loops` against `urls` through all of one whole second S, then wait until the replicas'
     * samples for S have arrived (S's own poll and the one after, in case an endpoint was late) and
     * return what the revision's buckets hold for S: all of it, and the gateway's own part.
     */
    const measure = async (urls: string[], loops: number) => {
      const second = Math.floor(Date.now() / 1000) + 2;
      const statuses = await load(urls, loops, (second + 1) * 1000 + 100);
      await sleepUntil((second + 3) * 1000 + 300);
      expect(external.seconds[second % external.size], 'samples for the measured second arrived').toBe(second);
      return { total: concurrencyAt(rev.metricBuckets, second), gateway: concurrencyAt(rev.stats, second), statuses: [...statuses.keys()] };
    };

    // N loops through the gateway: the buckets read ≈ N (each request counted by the gateway, and
    // subtracted again as proxied from its queue-proxy's total), not ≈ 2N.
    const through = await measure([`${gw.url}/work?ms=200`], N);
    expect(through.statuses).toEqual([200]);
    expect(through.gateway).toBeGreaterThan(N * 0.75);
    expect(through.gateway).toBeLessThanOrEqual(N);
    expect(through.total - through.gateway, JSON.stringify(through)).toBeLessThan(0.25);
    expect(through.total).toBeLessThan(N * 1.25);

    // M loops straight to the queue-proxies' data ports: the gateway saw nothing, the buckets read ≈ M.
    const direct = await measure(
      rev.endpoints.map((ep) => `${ep.origin}/work?ms=200`),
      M,
    );
    expect(direct.statuses).toEqual([200]);
    expect(direct.gateway).toBe(0);
    expect(direct.total, JSON.stringify(direct)).toBeGreaterThan(M * 0.75);
    expect(direct.total).toBeLessThanOrEqual(M * 1.05);
  });
});

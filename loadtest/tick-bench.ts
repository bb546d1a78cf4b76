/**
 * Control-loop benchmark at scale: one AutoscalerLoop over many revisions, timed tick by tick, and
 * the heap each idle revision costs.
 *
 * Load-test scripts never import src/; this one loads the compiled loop, revision runtime and config
 * parser from dist/ at run time. Revisions are real RevisionRuntime objects (real RevisionStats ring
 * buffers, real hold queues) built from a real parsed config, on a driver that only records the
 * replica counts asked for and publishes that many endpoints at once. Time is synthetic: each tick is
 * 2 s after the previous one, and a share of the revisions gets requests in between.
 *
 *   npx tsc -p . && npx tsc -p loadtest/tsconfig.json
 *   node --expose-gc dist/loadtest/tick-bench.js [--revisions 10000] [--busy 0.1] [--ticks 20]
 *
 * (--expose-gc lets the heap be measured after a full collection.) Goals: ≤ 50 ms per tick at 10 000
 * revisions, ≤ 5 KB per idle revision.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fromDist as dist, RESULTS } from './paths.js';

/** What the bench touches of a RevisionRuntime (src/gateway/revision.ts). */
interface Runtime {
  readonly key: string;
  endpoints: readonly unknown[];
  readonly stats: { arrive(at: number): void; record(code: number, seconds: number, at: number): void };
  readonly replicas: { readonly desired: number };
  readonly autoscaler: { readonly panicMode: boolean };
}

/** The exports of dist/ the bench loads, as far as it uses them. */
interface LoopModule {
  AutoscalerLoop: new (options: { revisions: () => Iterable<Runtime>; logger: unknown; now: () => number }) => { tick(now: number): void };
}
interface RevisionModule {
  RevisionRuntime: new (service: string, spec: unknown, driver: unknown, now: number) => Runtime;
}
interface ConfigModule {
  parseConfig: (doc: unknown) => { services: Array<{ name: string; revisions: unknown[] }> };
}

const TICK_MS = 2000;
/** A whole second, so synthetic request times land where intended. */
const T0 = 1_700_000_000_000;
const GOAL_TICK_MS = 50;
const GOAL_BYTES_PER_REVISION = 5 * 1024;

const USAGE = `usage: node --expose-gc dist/loadtest/tick-bench.js [options]

options:
  --revisions N   revisions under the loop (default 10000)
  --busy F        fraction of them that get requests (default 0.1)
  --ticks N       timed ticks after one warm-up tick (default 20)
  -h, --help      this text`;

interface Settings {
  revisions: number;
  busy: number;
  ticks: number;
}

function parseSettings(argv: string[]): Settings | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      revisions: { type: 'string' },
      busy: { type: 'string' },
      ticks: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const revisions = Number(values.revisions ?? 10_000);
  const busy = Number(values.busy ?? 0.1);
  const ticks = Number(values.ticks ?? 20);
  if (!Number.isInteger(revisions) || revisions < 1 || revisions > 1_000_000)
    throw new Error(`--revisions: want an integer from 1 to 1000000, got "${values.revisions}"`);
  if (!(busy >= 0 && busy <= 1)) throw new Error(`--busy: want a fraction from 0 to 1, got "${values.busy}"`);
  if (!Number.isInteger(ticks) || ticks < 1 || ticks > 10_000)
    throw new Error(`--ticks: want an integer from 1 to 10000, got "${values.ticks}"`);
  return { revisions, busy, ticks };
}

/** Heap after a full collection; typed-array backing stores outside the V8 heap are in arrayBuffers. */
function memory(gc: () => void): { heapUsed: number; arrayBuffers: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** The config a gateway with `n` one-revision services would load: each revision with the default 60 s / 6 s windows. */
function configDoc(n: number): unknown {
  const services = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    const revision = `${name}-00001`;
    services.push({
      name,
      match: { pathPrefix: `/${name}` },
      revisions: [
        {
          name: revision,
          backend: 'local',
          command: 'model-server',
          containerConcurrency: 4,
          annotations: { 'autoscaling.knative.dev/max-scale': '20' },
        },
      ],
      traffic: [{ revision, percent: 100 }],
    });
  }
  // Revisions start at zero (no initial scale), as an idle revision would sit after its grace.
  return { autoscaler: { 'allow-zero-initial-scale': true, 'initial-scale': 0 }, services };
}

async function main(): Promise<number> {
  let settings: Settings | 'help';
  try {
    settings = parseSettings(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`tick-bench: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (settings === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    process.stderr.write('tick-bench: run node with --expose-gc (node --expose-gc dist/loadtest/tick-bench.js)\n');
    return 2;
  }
  const { revisions: n, busy, ticks } = settings;

  const [{ AutoscalerLoop }, { RevisionRuntime }, { parseConfig }, { pino }] = await Promise.all([
    dist<LoopModule>('autoscaler/loop.js'),
    dist<RevisionModule>('gateway/revision.js'),
    dist<ConfigModule>('config/load.js'),
    import('pino'),
  ]);

  // A driver that does nothing but remember what it was asked and publish that many endpoints.
  const byKey = new Map<string, Runtime>();
  const asked = new Map<string, number>();
  const endpoints = Array.from({ length: 64 }, (_, i) => ({
    id: `127.0.0.1:${30_000 + i}`,
    origin: `http://127.0.0.1:${30_000 + i}`,
    inflight: 0,
    draining: false,
    ejectedUntil: 0,
  }));
  let scaleCalls = 0;
  const driver = {
    add() {},
    async remove() {},
    setReplicas(key: string, replicas: number) {
      scaleCalls++;
      asked.set(key, replicas);
      const rev = byKey.get(key);
      if (rev !== undefined) rev.endpoints = endpoints.slice(0, replicas);
    },
    replicas(key: string) {
      const d = asked.get(key) ?? 0;
      return { desired: d, actual: d, ready: d };
    },
    onEndpoints() {},
    async close() {},
  };

  const log = (line: string) => process.stdout.write(line + '\n');
  log(
    `tick-bench: ${n} revisions, ${Math.round(n * busy)} with traffic, ${ticks} timed ticks of ${TICK_MS / 1000} s synthetic time; node ${process.version}`,
  );

  const m0 = memory(gc);
  let doc: unknown = configDoc(n);
  const config = parseConfig(doc);
  // eslint-disable-next-line no-useless-assignment -- drops the document, so the next figure counts the parsed config alone
  doc = undefined;
  const m1 = memory(gc);

  // Idle revisions: a runtime each (stats ring, hold queue, status) and the loop's per-revision state
  // (decider, windows), created by its first tick. Nothing is ready, nothing has traffic.
  const revisions: Runtime[] = [];
  for (const svc of config.services) {
    const rev = new RevisionRuntime(svc.name, svc.revisions[0], driver, T0);
    byKey.set(rev.key, rev);
    revisions.push(rev);
  }
  const m2 = memory(gc);
  const loop = new AutoscalerLoop({ revisions: () => revisions, logger: pino({ level: 'silent' }), now: () => T0 });
  loop.tick(T0);
  const m3 = memory(gc);

  const perRevision = (a: { heapUsed: number; arrayBuffers: number }, b: { heapUsed: number; arrayBuffers: number }) => ({
    heap: (b.heapUsed - a.heapUsed) / n,
    arrayBuffers: (b.arrayBuffers - a.arrayBuffers) / n,
  });
  const configCost = perRevision(m0, m1);
  const runtimeCost = perRevision(m1, m2);
  const loopCost = perRevision(m2, m3);
  const idleTotal = runtimeCost.heap + runtimeCost.arrayBuffers + loopCost.heap + loopCost.arrayBuffers;

  // Traffic: every `stride`-th revision gets 8 requests between ticks, each lasting 300 ms (about 1.2
  // in flight), and 200 on every fifth tick (about 30 for those 2 s), so panic mode, scale-ups and
  // rate-limited scale-downs happen too.
  const stride = busy > 0 ? Math.max(1, Math.round(1 / busy)) : Number.POSITIVE_INFINITY;
  const busyRevisions = busy > 0 ? revisions.filter((_, i) => i % stride === 0) : [];
  const feed = (tickAt: number, k: number) => {
    const perTick = k % 5 === 4 ? 200 : 8;
    for (const rev of busyRevisions) {
      for (let r = 0; r < perTick; r++) {
        const at = tickAt - TICK_MS + Math.floor((r * (TICK_MS - 400)) / perTick);
        rev.stats.arrive(at);
        rev.stats.record(200, 0.3, at + 300);
      }
    }
  };

  // One warm-up tick with traffic, then the timed ones. Feeding happens outside the timed region.
  let now = T0 + TICK_MS;
  feed(now, 0);
  loop.tick(now);
  // Wall time is what the event loop loses; this process's CPU time is the same figure without the
  // time the OS gave other processes (a shared machine inflates wall time, not CPU time).
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let k = 1; k <= ticks; k++) {
    now += TICK_MS;
    feed(now, k);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    loop.tick(now);
    wall.push(performance.now() - started);
    const used = process.cpuUsage(cpuBefore);
    cpu.push((used.user + used.system) / 1000);
  }
  const summary = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return {
      mean: xs.reduce((a, b) => a + b, 0) / xs.length,
      median: sorted[Math.floor(sorted.length / 2)]!,
      min: sorted[0]!,
      max: sorted[sorted.length - 1]!,
    };
  };
  const wallMs = summary(wall);
  const cpuMs = summary(cpu);
  const desired = busyRevisions.length > 0 ? busyRevisions.map((r) => r.replicas.desired) : [0];
  const panicking = busyRevisions.filter((r) => r.autoscaler.panicMode).length;

  const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
  const verdict = (ok: boolean) => (ok ? 'goal met' : 'GOAL MISSED');
  log('');
  const line = (x: ReturnType<typeof summary>) =>
    `median ${x.median.toFixed(2)}, mean ${x.mean.toFixed(2)}, min ${x.min.toFixed(2)}, max ${x.max.toFixed(2)}`;
  log(`ms per tick (${n} revisions), CPU:  ${line(cpuMs)}  → ${verdict(cpuMs.median <= GOAL_TICK_MS)} (≤ ${GOAL_TICK_MS} ms)`);
  log(`ms per tick (${n} revisions), wall: ${line(wallMs)}  (machine load average ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs)`);
  log(`per idle revision: ${kb(idleTotal)}  → ${verdict(idleTotal <= GOAL_BYTES_PER_REVISION)} (≤ ${kb(GOAL_BYTES_PER_REVISION)})`);
  log(`  runtime (stats, queue, status): heap ${kb(runtimeCost.heap)} + array buffers ${kb(runtimeCost.arrayBuffers)}`);
  log(`  loop state (decider, windows):  heap ${kb(loopCost.heap)} + array buffers ${kb(loopCost.arrayBuffers)}`);
  log(`  (its parsed config, not counted above: heap ${kb(configCost.heap)} + array buffers ${kb(configCost.arrayBuffers)})`);
  log(
    `scale calls during the run: ${scaleCalls}; revisions with traffic now at ${Math.min(...desired)}..${Math.max(...desired)} replicas, ${panicking} in panic`,
  );

  await mkdir(RESULTS, { recursive: true });
  const file = join(RESULTS, `tick-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        node: process.version,
        settings,
        tickMs: { cpu: { ...cpuMs, all: cpu }, wall: { ...wallMs, all: wall } },
        loadAverage: loadavg(),
        cpus: cpus().length,
        bytesPerIdleRevision: { total: idleTotal, runtime: runtimeCost, loop: loopCost, config: configCost },
        goals: { tickMs: GOAL_TICK_MS, bytesPerIdleRevision: GOAL_BYTES_PER_REVISION },
      },
      null,
      2,
    ) + '\n',
  );
  log(`\nresults: ${file}`);
  return cpuMs.median <= GOAL_TICK_MS && idleTotal <= GOAL_BYTES_PER_REVISION ? 0 : 1;
}

process.exitCode = await main();

/**
 * Step load: how the autoscaler follows a step from 0 to N concurrent requests and back to 0.
 *
 * Starts `sluice gateway` (from the build) with one local revision of the demo predictor at zero,
 * holds N request loops for T seconds, then stops them and waits (bounded) until the revision is
 * back at zero. Every 500 ms it reads `GET /api/v1/services/<name>` from the admin API and prints a
 * timeline row; the gateway's own "scale" log lines give the exact time of every scale decision.
 *
 * Headline: loop ticks (2 s each, the default) from the step to the full desired scale
 * (ceil(N ÷ target)), and the time from the end of the load to the decision for zero and to no
 * replica left. Everything also goes to loadtest/results/step-load-<timestamp>.json.
 *
 *   npx tsc -p . && npx tsc -p loadtest/tsconfig.json
 *   node dist/loadtest/step-load.js [--concurrency 20] [--hold 15] [--latency 100]
 *
 * All traffic goes to 127.0.0.1 and every phase is bounded in time.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { parseLogLine } from './gateway.js';
import { freePort } from './net.js';
import { Child, killAllNow, stopAll } from './processes.js';
import { CLI, fromDist, RESULTS } from './paths.js';

const SERVICE = 'step';
const REVISION = 'step-00001';
/** The control loop's default period (the gateway CLI does not change it). */
const TICK_MS = 2000;
const SAMPLE_MS = 500;
/** Quiet samples before the step, so the timeline shows the revision at rest first. */
const BEFORE_STEP_MS = 2000;
const BODY = JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] });

const USAGE = `usage: node dist/loadtest/step-load.js [options]

A step from 0 to N concurrent requests against one local predictor revision at zero, held for T
seconds, then 0 until the revision is back at zero. Prints a timeline of the autoscaler's view.

options:
  --concurrency N   request loops during the step (default 20)
  --hold S          seconds the step lasts (default 15)
  --latency MS      predictor time per request (default 100)
  --target N        autoscaling target, requests per replica at 100 % utilization (default 2)
  --grace S         scale-to-zero grace period (default 4)
  --max-wait S      longest wait for zero after the step (default 60)
  -h, --help        this text`;

interface Settings {
  concurrency: number;
  holdS: number;
  latencyMs: number;
  target: number;
  graceS: number;
  maxWaitS: number;
}

function parseSettings(argv: string[]): Settings | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      concurrency: { type: 'string' },
      hold: { type: 'string' },
      latency: { type: 'string' },
      target: { type: 'string' },
      grace: { type: 'string' },
      'max-wait': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const num = (name: string, raw: string | undefined, fallback: number, min: number, max: number, integer: boolean): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: want ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
  return {
    concurrency: num('concurrency', values.concurrency, 20, 1, 500, true),
    holdS: num('hold', values.hold, 15, 1, 600, false),
    latencyMs: num('latency', values.latency, 100, 0, 60_000, true),
    target: num('target', values.target, 2, 0.01, 1000, false),
    graceS: num('grace', values.grace, 4, 1, 600, true),
    maxWaitS: num('max-wait', values['max-wait'], 60, 5, 3600, false),
  };
}

/** One admin API reading, times in seconds relative to the step. */
interface Sample {
  t: number;
  inflight: number;
  held: number;
  stable: number;
  panic: number;
  desired: number;
  actual: number;
  ready: number;
  panicking: boolean;
  /** The decider's own answer before bounds (-1 before the first tick). */
  decider: number;
}

/** A "scale" log line of the gateway. */
interface ScaleEvent {
  t: number;
  from: number;
  to: number;
  reason: string;
}

interface RevisionJson {
  name: string;
  replicas: { desired: number; actual: number; ready: number };
  inflight: number;
  held: number;
  stableConcurrency: number;
  panicConcurrency: number;
  panicMode: boolean;
  desiredPodCount: number;
}

async function writeConfig(dir: string, s: Settings): Promise<string> {
  const config = {
    autoscaler: {
      'allow-zero-initial-scale': true,
      'initial-scale': 0,
      'scale-to-zero-grace-period': `${s.graceS}s`,
    },
    services: [
      {
        name: SERVICE,
        match: { model: 'iris' },
        revisions: [
          {
            name: REVISION,
            backend: 'local',
            command: process.execPath,
            args: [CLI, 'predictor', '--model', 'iris', '--latency', String(s.latencyMs)],
            readinessPath: '/v2/health/ready',
            drainTimeoutSeconds: 5,
            annotations: {
              'autoscaling.knative.dev/window': '6s',
              'autoscaling.knative.dev/target': String(s.target),
              'autoscaling.knative.dev/target-utilization-percentage': '100',
            },
          },
        ],
        traffic: [{ revision: REVISION, percent: 100 }],
      },
    ],
  };
  const path = join(dir, 'step-load.yaml');
  await writeFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const HEADER = '   t (s)  in flight  held  stable   panic  desired  ready  actual  panicking';
function row(s: Sample): string {
  const f = (n: number, w: number, d = 0) => n.toFixed(d).padStart(w);
  return `${f(s.t, 8, 1)}  ${f(s.inflight, 9)}  ${f(s.held, 4)}  ${f(s.stable, 6, 2)}  ${f(s.panic, 6, 2)}  ${f(s.desired, 7)}  ${f(s.ready, 5)}  ${f(s.actual, 6)}  ${s.panicking ? 'yes' : 'no'}`;
}

/** What the step uses of the build's load-test engine (src/load-test/). */
interface LoadTestModules {
  scenario: { parseScenario(text: string): { phases: unknown[] } };
  recorder: {
    Recorder: new (startMs: number) => {
      beginPhase(index: number, now: number): void;
      phaseSummary(index: number): {
        ok: number;
        codes: Record<string, number>;
        errors: number;
        coldStarts: number;
        latencyMs: { p50: number | null; p99: number | null };
      };
    };
  };
  engine: { runPhase(phase: unknown, scenario: unknown, recorder: unknown, signal: AbortSignal): Promise<void> };
}

/**
 * The step itself: `sluice loadtest`'s engine, one closed-model phase of N connections for the hold
 * (each sends its next request when the last is answered), answers counted by status.
 */
async function stepLoad(dataUrl: string, concurrency: number, holdS: number) {
  const [scenarioModule, recorderModule, engine] = await Promise.all([
    fromDist<LoadTestModules['scenario']>('load-test/scenario.js'),
    fromDist<LoadTestModules['recorder']>('load-test/recorder.js'),
    fromDist<LoadTestModules['engine']>('load-test/engine.js'),
  ]);
  // JSON is YAML: the scenario goes in as one flow mapping.
  const scenario = scenarioModule.parseScenario(
    JSON.stringify({
      target: { url: `${dataUrl}/v2/models/iris/infer`, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY },
      phases: [{ type: 'constant', duration: holdS * 1000 + 'ms', connections: concurrency }],
    }),
  );
  const recorder = new recorderModule.Recorder(Date.now());
  recorder.beginPhase(0, Date.now());
  await engine.runPhase(scenario.phases[0], scenario, recorder, new AbortController().signal);
  const summary = recorder.phaseSummary(0);
  return {
    codes: summary.codes,
    errors: summary.errors,
    coldStarts: summary.coldStarts,
    ok: summary.ok,
    p50Ms: summary.latencyMs.p50,
    p99Ms: summary.latencyMs.p99,
  };
}

async function run(s: Settings): Promise<number> {
  const fullScale = Math.ceil(s.concurrency / s.target);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-step-'));
  const configPath = await writeConfig(dir, s);
  const [dataPort, adminPort] = [await freePort(), await freePort()];
  const log = (line: string) => process.stdout.write(line + '\n');

  log(
    `step load: 0 → ${s.concurrency} concurrent for ${s.holdS} s, predictor latency ${s.latencyMs} ms, target ${s.target}/replica ` +
      `→ full scale ${fullScale}; window 6 s, grace ${s.graceS} s, tick ${TICK_MS / 1000} s`,
  );

  const gateway = new Child({
    name: 'gateway',
    command: process.execPath,
    args: [
      CLI,
      'gateway',
      '--config',
      configPath,
      '--listen',
      `127.0.0.1:${dataPort}`,
      '--admin',
      `127.0.0.1:${adminPort}`,
      '--log-format',
      'json',
      '--log-level',
      'info',
    ],
  });
  const events: Array<ScaleEvent & { at: number }> = [];
  const problems: string[] = [];
  gateway.onLine((line) => {
    const entry = parseLogLine(line);
    if (entry === undefined) return;
    if (entry.level >= 40) problems.push(entry.msg);
    if (
      entry.revision === `${SERVICE}/${REVISION}` &&
      typeof entry.to === 'number' &&
      typeof entry.from === 'number' &&
      entry.msg.startsWith('scale ')
    ) {
      events.push({ at: entry.time, t: 0, from: entry.from, to: entry.to, reason: String(entry.reason) });
    }
  });
  await gateway.waitForLine((line) => (parseLogLine(line)?.msg.startsWith('sluice gateway listening on') ? true : undefined), 15_000);

  const admin = new Pool(`http://127.0.0.1:${adminPort}`, { connections: 2 });
  const readRevision = async (): Promise<RevisionJson> => {
    const res = await admin.request({ path: `/api/v1/services/${SERVICE}`, method: 'GET', headersTimeout: 5000, bodyTimeout: 5000 });
    const body = (await res.body.json()) as { revisions: RevisionJson[] };
    return body.revisions.find((r) => r.name === REVISION)!;
  };

  // Timeline: a reading every 500 ms on a fixed schedule, from before the step until told to stop.
  const samples: Sample[] = [];
  const stepAt = Date.now() + BEFORE_STEP_MS;
  let sampling = true;
  let atZeroAfterLoad: (() => void) | undefined;
  log(HEADER);
  const sampler = (async () => {
    // A reading that comes back late (a busy machine) is shown at its real time; the next one is not
    // hurried to catch up.
    for (let next = Date.now(); sampling; next = Math.max(next + SAMPLE_MS, Date.now())) {
      await sleep(next - Date.now());
      const r = await readRevision();
      const sample: Sample = {
        t: +((Date.now() - stepAt) / 1000).toFixed(2),
        inflight: r.inflight,
        held: r.held,
        stable: r.stableConcurrency,
        panic: r.panicConcurrency,
        desired: r.replicas.desired,
        actual: r.replicas.actual,
        ready: r.replicas.ready,
        panicking: r.panicMode,
        decider: r.desiredPodCount,
      };
      samples.push(sample);
      log(row(sample));
      if (atZeroAfterLoad !== undefined && sample.desired === 0 && sample.actual === 0) atZeroAfterLoad();
    }
  })();

  await sleep(stepAt - Date.now());
  const load = await stepLoad(`http://127.0.0.1:${dataPort}`, s.concurrency, s.holdS);
  const loadStoppedAt = Date.now();
  log(
    `--- load stopped at ${((loadStoppedAt - stepAt) / 1000).toFixed(1)} s: ${load.ok} answered 200, ` +
      `${
        Object.entries(load.codes)
          .filter(([c]) => c !== '200')
          .map(([c, n]) => `${n}× ${c}`)
          .join(', ') || 'no other status'
      }, ${load.errors} errors`,
  );

  const reachedZero = await Promise.race([
    new Promise<boolean>((resolve) => (atZeroAfterLoad = () => resolve(true))),
    sleep(s.maxWaitS * 1000).then(() => false),
  ]);
  // Two more readings at rest.
  await sleep(2 * SAMPLE_MS);
  sampling = false;
  await sampler;
  await admin.close();

  for (const e of events) e.t = +((e.at - stepAt) / 1000).toFixed(3);
  const scaleEvents: ScaleEvent[] = events.map(({ t, from, to, reason }) => ({ t, from, to, reason }));

  // The full desired scale is the highest the loop asked for while the step lasted. It can stay below
  // ceil(N ÷ target): the gateway counts a request from its arrival to its answer, so the client's
  // own time between an answer and its next request is not concurrency the gateway sees.
  const holdEvents = events.filter((e) => e.at >= stepAt && e.at <= loadStoppedAt);
  const fullDesired = Math.max(0, ...holdEvents.map((e) => e.to));
  // Ticks from the step to the decision for the full scale. Scale decisions on a tick happen at tick
  // instants, 2 s apart: the number of ticks in (step, decision] is ceil(elapsed / 2 s).
  const fullEvent = holdEvents.find((e) => e.to === fullDesired && fullDesired > 0);
  const ticksToFull = fullEvent === undefined ? null : Math.ceil((fullEvent.at - stepAt) / TICK_MS);
  const readyFull = samples.find((x) => x.t >= 0 && fullDesired > 0 && x.ready >= fullDesired);
  const firstTickUp = holdEvents.find((e) => e.reason !== 'activation' && e.to > e.from);
  const maxReady = Math.max(0, ...samples.map((x) => x.ready));
  const concurrencyDuringHold = samples.filter((x) => x.t >= 6 && x.t * 1000 <= loadStoppedAt - stepAt);
  const zeroEvent = events.find((e) => e.at >= loadStoppedAt && e.to === 0);
  const zeroSample = samples.find((x) => x.t * 1000 >= loadStoppedAt - stepAt && x.desired === 0 && x.actual === 0);
  const peakDesired = Math.max(0, ...samples.map((x) => x.desired));
  const downSteps = events.filter((e) => e.at >= loadStoppedAt && e.to < e.from).map((e) => `${e.from}→${e.to}`);

  const headline = {
    idealScale: fullScale,
    fullDesired,
    peakDesired,
    /** Mean stable-window concurrency the gateway measured from 6 s into the step (a full window) to its end. */
    measuredConcurrency:
      concurrencyDuringHold.length === 0
        ? null
        : +(concurrencyDuringHold.reduce((sum, x) => sum + x.stable, 0) / concurrencyDuringHold.length).toFixed(2),
    ticksToFirstScaleUp: firstTickUp === undefined ? null : Math.ceil((firstTickUp.at - stepAt) / TICK_MS),
    firstScaleUp: firstTickUp === undefined ? null : `${firstTickUp.from}→${firstTickUp.to} (${firstTickUp.reason})`,
    ticksToFullDesired: ticksToFull,
    secondsToFullDesired: fullEvent === undefined ? null : +((fullEvent.at - stepAt) / 1000).toFixed(2),
    secondsToFullReady: readyFull === undefined ? null : readyFull.t,
    secondsFromLoadStopToZeroDecision: zeroEvent === undefined ? null : +((zeroEvent.at - loadStoppedAt) / 1000).toFixed(2),
    secondsFromLoadStopToNoReplica: zeroSample === undefined ? null : +(zeroSample.t - (loadStoppedAt - stepAt) / 1000).toFixed(2),
    scaleDownSteps: downSteps,
  };

  log('\nscale decisions (s after the step):');
  for (const e of scaleEvents)
    log(`  ${e.t.toFixed(3).padStart(8)}  ${String(e.from).padStart(3)} → ${String(e.to).padEnd(3)} ${e.reason}`);
  log('\nheadline:');
  log(
    `  first scale-up on a tick: ` +
      (firstTickUp === undefined
        ? 'none'
        : `${headline.ticksToFirstScaleUp} tick(s) after the step, ${headline.firstScaleUp} at ${((firstTickUp.at - stepAt) / 1000).toFixed(2)} s`),
  );
  log(
    `  full desired scale ${fullDesired} (the step's peak; ideal ceil(${s.concurrency} / ${s.target}) = ${fullScale}, measured stable concurrency ${headline.measuredConcurrency}): ` +
      (fullEvent === undefined
        ? 'never asked for'
        : `${ticksToFull} tick(s) of ${TICK_MS / 1000} s after the step (decided at ${headline.secondsToFullDesired} s); ` +
          (readyFull === undefined ? `never all ready (at most ${maxReady})` : `all ${fullDesired} ready at ${readyFull.t} s`)),
  );
  log(
    `  to zero after the load stopped: ` +
      (reachedZero
        ? `decided after ${headline.secondsFromLoadStopToZeroDecision} s, no replica left after ≤ ${headline.secondsFromLoadStopToNoReplica} s (down steps ${downSteps.join(', ')})`
        : `not at zero within ${s.maxWaitS} s`),
  );
  log(
    `  requests: ${load.ok} × 200 (p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms), ${load.coldStarts} waited for a cold start, ${load.errors} errors`,
  );
  if (problems.length > 0) log(`  gateway warnings/errors: ${problems.slice(0, 5).join(' | ')}${problems.length > 5 ? ' …' : ''}`);

  await mkdir(RESULTS, { recursive: true });
  const file = join(RESULTS, `step-load-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        node: process.version,
        settings: { ...s, fullScale, tickMs: TICK_MS, sampleMs: SAMPLE_MS, windowS: 6 },
        headline,
        load,
        scaleEvents,
        timeline: samples,
        gatewayProblems: problems,
      },
      null,
      2,
    ) + '\n',
  );
  log(`\nresults: ${file}`);

  await stopAll(5000);
  await rm(dir, { recursive: true, force: true });
  return reachedZero && fullEvent !== undefined ? 0 : 1;
}

async function main(): Promise<void> {
  let settings: Settings | 'help';
  try {
    settings = parseSettings(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`step-load: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (settings === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  process.once('SIGINT', () => {
    void stopAll(2000).finally(() => process.exit(130));
  });
  process.once('exit', killAllNow);
  try {
    process.exitCode = await run(settings);
  } catch (err) {
    process.stderr.write(`step-load failed: ${(err as Error).stack ?? String(err)}\n`);
    await stopAll(2000);
    process.exitCode = 1;
  }
}

await main();

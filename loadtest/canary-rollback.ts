/**
 * Canary rollback under steady load: a gateway with a healthy `stable` predictor revision and a
 * `canary` predictor that answers a share of its requests with 500 (`--error-rate`, default 0.5).
 * Steady load runs throughout; a canary rollout is started with the CLI (`sluice rollout`, a child
 * process) and followed through the admin API until it ends.
 *
 * Prints the per-revision request shares (before, during, after the rollout, and per second), the
 * rollout's timeline as `sluice rollout --status` shows it, and the headline: the time from the
 * canary's first failing step to 0 % canary. Writes the figures to
 * loadtest/results/canary-rollback-<timestamp>.json.
 *
 *   node dist/loadtest/canary-rollback.js [--steps 10,25,50] [--interval 2s] [--error-rate 0.5]
 *                                         [--connections 8] [--min-requests 20] [--max-seconds 60]
 *
 * Everything listens on 127.0.0.1; the run is bounded by --max-seconds; every child process is
 * stopped on a normal end, an error and Ctrl-C.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Agent, request } from 'undici';
import { startGateway } from './gateway.js';
import { killAllNow, stopAll } from './processes.js';
import { CLI, RESULTS } from './paths.js';

const BODY = JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] });
const run = promisify(execFile);

const USAGE = `usage: node dist/loadtest/canary-rollback.js [options]

options:
  --steps P,P,...      canary steps (default 10,25,50)
  --interval D         hold per step, as the CLI takes it (default 2s)
  --error-rate F       share of the canary's requests answered 500 (default 0.5)
  --min-requests N     requests an interval needs to be judged (default 20)
  --connections N      concurrent clients (default 8)
  --max-seconds S      hard bound on the whole run (default 60)
  -h, --help           this text`;

interface Options {
  steps: string;
  interval: string;
  errorRate: number;
  minRequests: number;
  connections: number;
  maxSeconds: number;
}

function options(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '10,25,50' },
      interval: { type: 'string', default: '2s' },
      'error-rate': { type: 'string', default: '0.5' },
      'min-requests': { type: 'string', default: '20' },
      connections: { type: 'string', default: '8' },
      'max-seconds': { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const num = (flag: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${flag}: want ${min}..${max}, got "${text}"`);
    return n;
  };
  return {
    steps: values.steps,
    interval: values.interval,
    errorRate: num('error-rate', values['error-rate'], 0, 1),
    minRequests: num('min-requests', values['min-requests'], 0, 100_000),
    connections: num('connections', values.connections, 1, 256),
    maxSeconds: num('max-seconds', values['max-seconds'], 10, 600),
  };
}

interface Sample {
  /** ms since the load started, when the response ended. */
  t: number;
  revision: string;
  status: number;
}

interface RolloutEvent {
  at: string;
  type: string;
  message: string;
  percent?: number;
  analysis?: { requests: number; errors: number; errorRate: number; p99Ms: number | null; verdict: string };
}

interface RolloutState {
  phase: string;
  reason: string | null;
  percent: number;
  timeline: RolloutEvent[];
}

interface ServiceJson {
  revisions: Array<{ name: string; percent: number; replicas: { ready: number } }>;
  rollout: RolloutState | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function adminGet(admin: string, path: string): Promise<unknown> {
  const res = await request(`http://${admin}${path}`);
  if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${await res.body.text()}`);
  return res.body.json();
}

async function config(dir: string, errorRate: number): Promise<string> {
  const predictor = (name: string, args: string[]) => ({
    name,
    backend: 'local',
    command: process.execPath,
    args: [CLI, 'predictor', '--model', 'iris', ...args],
    readinessPath: '/v2/health/ready',
    annotations: { 'autoscaling.knative.dev/min-scale': '1' },
  });
  const doc = {
    services: [
      {
        name: 'iris',
        match: { model: 'iris' },
        revisions: [predictor('stable', []), predictor('canary', ['--error-rate', String(errorRate)])],
        traffic: [
          { revision: 'stable', percent: 100 },
          { revision: 'canary', percent: 0 },
        ],
      },
    ],
  };
  const path = join(dir, 'canary-rollback.yaml');
  await writeFile(path, JSON.stringify(doc, null, 2) + '\n');
  return path;
}

/** `connections` clients sending infer requests back to back until stop() or the deadline. */
function load(url: string, connections: number, deadline: number) {
  const dispatcher = new Agent({ connections, keepAliveTimeout: 30_000 });
  const samples: Sample[] = [];
  const t0 = Date.now();
  let stopped = false;
  let failures = 0;
  const loops = Array.from({ length: connections }, async () => {
    while (!stopped && Date.now() < deadline) {
      try {
        const res = await request(`${url}/v2/models/iris/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: BODY,
          dispatcher,
        });
        await res.body.dump();
        samples.push({ t: Date.now() - t0, revision: String(res.headers['sluice-revision'] ?? '-'), status: res.statusCode });
      } catch {
        failures++;
        samples.push({ t: Date.now() - t0, revision: '-', status: 0 });
        await sleep(10);
      }
    }
  });
  return {
    t0,
    samples,
    failures: () => failures,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      await dispatcher.close();
    },
  };
}

interface Share {
  requests: number;
  stable: number;
  canary: number;
  canaryShare: number;
  canary5xx: number;
  other: number;
}

function shares(samples: Sample[]): Share {
  const out = { requests: samples.length, stable: 0, canary: 0, canaryShare: 0, canary5xx: 0, other: 0 };
  for (const s of samples) {
    if (s.revision === 'stable') out.stable++;
    else if (s.revision === 'canary') {
      out.canary++;
      if (s.status >= 500) out.canary5xx++;
    } else out.other++;
  }
  out.canaryShare = out.requests > 0 ? out.canary / out.requests : 0;
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

async function main(argv: string[]): Promise<number> {
  let o: Options | 'help';
  try {
    o = options(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const deadline = Date.now() + o.maxSeconds * 1000;
  const dir = await mkdtemp(join(tmpdir(), 'sluice-canary-'));
  try {
    const file = await config(dir, o.errorRate);
    const gateway = await startGateway({ cliPath: CLI, configPath: file, logLevel: 'info' });
    const admin = gateway.admin;
    const warnings: string[] = [];
    gateway.onLog((log) => {
      if (log.level >= 40 && log.rollout === undefined) warnings.push(log.msg);
    });
    for (;;) {
      const svc = (await adminGet(admin, '/api/v1/services/iris')) as ServiceJson;
      if (svc.revisions.every((r) => r.replicas.ready >= 1)) break;
      if (Date.now() > deadline) throw new Error('the predictors did not get ready');
      await sleep(100);
    }
    console.log(`gateway ${gateway.url} (admin ${admin}); stable and canary ready; canary error rate ${o.errorRate}`);

    const traffic = load(gateway.url, o.connections, deadline);
    await sleep(2000);
    const startedAt = Date.now();
    const cli = await run(process.execPath, [
      CLI,
      'rollout',
      'iris',
      '--to',
      'canary',
      '--steps',
      o.steps,
      '--interval',
      o.interval,
      '--min-requests',
      String(o.minRequests),
      '--admin',
      admin,
      '--json',
    ]);
    const first = JSON.parse(cli.stdout) as RolloutState;
    console.log(
      `sluice rollout iris --to canary --steps ${o.steps} --interval ${o.interval} → ${first.phase}, canary at ${first.percent} %`,
    );

    let state: RolloutState = first;
    while (state.phase === 'progressing' && Date.now() < deadline - 3000) {
      await sleep(100);
      state = ((await adminGet(admin, '/api/v1/services/iris')) as ServiceJson).rollout!;
    }
    const endedAt = Date.now();
    await sleep(2000);
    await traffic.stop();
    const shown = await run(process.execPath, [CLI, 'rollout', 'iris', '--status', '--admin', admin]);

    // --- figures ---
    const rel = (ms: number) => ms - traffic.t0;
    const samples = traffic.samples;
    const before = shares(samples.filter((s) => s.t < rel(startedAt)));
    const during = shares(samples.filter((s) => s.t >= rel(startedAt) && s.t < rel(endedAt)));
    const after = shares(samples.filter((s) => s.t >= rel(endedAt)));
    const perSecond: Array<{ second: number } & Share> = [];
    const lastSecond = Math.floor((samples.at(-1)?.t ?? 0) / 1000);
    for (let sec = 0; sec <= lastSecond; sec++)
      perSecond.push({ second: sec, ...shares(samples.filter((s) => Math.floor(s.t / 1000) === sec)) });

    const at = (e: RolloutEvent) => Date.parse(e.at);
    const firstCanary5xx = samples.find((s) => s.revision === 'canary' && s.status >= 500);
    const steps = state.timeline.filter((e) => e.type === 'step');
    // The failing step: the last one applied before the canary's first 5xx reached a client.
    const failingStep =
      firstCanary5xx === undefined ? steps[0] : ([...steps].reverse().find((e) => rel(at(e)) <= firstCanary5xx.t) ?? steps[0]);
    const rollback = state.timeline.find((e) => e.type === 'rollback' || e.type === 'failed' || e.type === 'aborted');
    const failedAnalysis = state.timeline.find((e) => e.type === 'analysis' && e.analysis?.verdict === 'fail');
    const lastCanary = [...samples].reverse().find((s) => s.revision === 'canary');
    const headlineMs = failingStep !== undefined && rollback !== undefined ? at(rollback) - at(failingStep) : null;
    const clientMs = firstCanary5xx !== undefined && lastCanary !== undefined ? lastCanary.t - firstCanary5xx.t : null;

    console.log('\nrequests by revision');
    const row = (label: string, s: Share) =>
      `  ${label.padEnd(8)} ${String(s.requests).padStart(7)}  stable ${String(s.stable).padStart(6)}  canary ${String(s.canary).padStart(5)} (${pct(s.canaryShare).padStart(6)})  canary 5xx ${String(s.canary5xx).padStart(5)}${s.other > 0 ? `  other/failed ${s.other}` : ''}`;
    console.log(row('before', before));
    console.log(row('during', during));
    console.log(row('after', after));
    console.log(
      '\nper second (t from the start of the load; rollout started at ' +
        `${(rel(startedAt) / 1000).toFixed(2)} s, ended at ${(rel(endedAt) / 1000).toFixed(2)} s)`,
    );
    for (const p of perSecond) console.log(row(`${p.second} s`, p));
    console.log('\n' + shown.stdout.trimEnd());
    if (failedAnalysis?.analysis) {
      const a = failedAnalysis.analysis;
      console.log(`\nfailed analysis: ${a.requests} requests, ${a.errors} errors, error rate ${a.errorRate.toFixed(3)}, p99 ${a.p99Ms} ms`);
    }
    console.log(
      `\nheadline: canary's first failing step (${failingStep?.message ?? 'none'}) → 0 % canary: ${headlineMs === null ? 'n/a' : `${headlineMs} ms`}` +
        ` (client view: first canary 5xx → last canary response ${clientMs === null ? 'n/a' : `${clientMs} ms`})`,
    );
    console.log(
      `phase ${state.phase}${state.reason !== null ? `: ${state.reason}` : ''}; client-side failures (no response) ${traffic.failures()}`,
    );
    if (warnings.length > 0) console.log(`gateway warnings/errors:\n${warnings.map((w) => `  ${w}`).join('\n')}`);

    await mkdir(RESULTS, { recursive: true });
    const out = join(RESULTS, `canary-rollback-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      out,
      JSON.stringify(
        {
          options: o,
          phase: state.phase,
          reason: state.reason,
          headline: { firstFailingStepToZeroCanaryMs: headlineMs, clientFirstCanary5xxToLastCanaryMs: clientMs },
          shares: { before, during, after },
          perSecond,
          rolloutStartedAtMs: rel(startedAt),
          rolloutEndedAtMs: rel(endedAt),
          timeline: state.timeline,
          clientFailures: traffic.failures(),
          gatewayWarnings: warnings,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`\nresults: ${out}`);
    return state.phase === 'rolled-back' ? 0 : 1;
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

process.once('SIGINT', () => {
  killAllNow();
  process.exit(130);
});
process.once('exit', killAllNow);

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  async (err: unknown) => {
    process.stderr.write(`canary-rollback: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exitCode = 1;
  },
);

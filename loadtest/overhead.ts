/**
 * `npm run bench`: the gateway's overhead, measured in one run on this machine.
 *
 *  1. autocannon against the predictor directly, through the gateway (one static revision: no
 *     scaling, pure proxying) and through nginx (when on the PATH), each a warm-up then a measured
 *     run, with the CPU time each proxy and the predictor spent per 2xx response;
 *  2. cold starts: a fresh gateway, a local revision at zero, one request, timed.
 *
 * Prints tables and writes the same figures to loadtest/results/overhead-<timestamp>.json.
 * Every child process is stopped (SIGTERM, then SIGKILL) on a normal end, an error and SIGINT.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coldStartOnce, type ColdStartSample } from './cold-start.js';
import { startGateway, writeColdStartConfig, writeStaticConfig } from './gateway.js';
import { runTarget, stopLoad, type LoadSettings } from './load.js';
import { exchange } from './net.js';
import { findNginx, startNginx } from './nginx.js';
import { USAGE, parseBenchArgs, type BenchOptions } from './options.js';
import { startPredictor } from './predictor.js';
import { clockTicksPerSecond, procAvailable } from './proc-cpu.js';
import { killAllNow, stopAll, type Child } from './processes.js';
import {
  coldStartTable,
  isRun,
  ratioLines,
  ratios,
  summarizeColdStarts,
  throughputTable,
  type ColdStartSummary,
  type TargetRow,
} from './report.js';

/** Repository root: this file runs as dist/loadtest/overhead.js. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const RESULTS = join(ROOT, 'loadtest', 'results');

const MODEL = 'iris';
const INFER_PATH = `/v2/models/${MODEL}/infer`;
const INFER_BODY = JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] });
/** Model load time of the cold-started predictor (`--startup-delay`), ms. */
const COLD_STARTUP_DELAY_MS = 200;
/** Requests through the cold-start gateway's warm service first, so its request path is not cold JIT. */
const COLD_WARM_REQUESTS = 200;
/** Other processes' CPU during a run (in CPUs) from which its figures are called out as noisy. */
const NOISY_OTHER_CPUS = 0.2;

const log = (text = ''): void => void process.stdout.write(text + '\n');

/** One request must come back 200 with a V2 inference response before a target is loaded. */
async function checkTarget(url: string): Promise<string | undefined> {
  try {
    const res = await exchange(url + INFER_PATH, 'POST', INFER_BODY, 5000);
    if (res.status !== 200 || !res.body.includes('"outputs"')) return `probe answered ${res.status}: ${res.body.slice(0, 200)}`;
    return undefined;
  } catch (err) {
    return `probe failed: ${(err as Error).message}`;
  }
}

async function measure(
  target: string,
  url: string,
  proxy: Child | undefined,
  predictor: Child,
  settings: LoadSettings,
  ticksPerSecond: number | undefined,
): Promise<TargetRow> {
  const problem = await checkTarget(url);
  if (problem !== undefined) return { target, skipped: problem };
  log(`${target}: ${settings.warmupS} s warm-up + ${settings.durationS} s measured, ${settings.connections} connections → ${url}`);
  return runTarget(target, url, settings, { proxyPid: proxy?.pid, predictorPid: predictor.pid, ticksPerSecond });
}

async function throughput(options: BenchOptions, tmp: string, predictorUrl: string, predictor: Child, ticksPerSecond: number | undefined) {
  const settings: LoadSettings = {
    durationS: options.durationS,
    warmupS: options.warmupS,
    connections: options.connections,
    method: 'POST',
    path: INFER_PATH,
    body: INFER_BODY,
  };
  const rows: TargetRow[] = [];
  const gatewayProblems: string[] = [];

  rows.push(await measure('direct', predictorUrl, undefined, predictor, settings, ticksPerSecond));

  try {
    const gateway = await startGateway({ cliPath: CLI, configPath: await writeStaticConfig(tmp, predictorUrl), logLevel: 'info' });
    try {
      rows.push(await measure('gateway', gateway.url, gateway.child, predictor, settings, ticksPerSecond));
    } finally {
      gatewayProblems.push(...gateway.problems);
      await gateway.child.stop();
    }
  } catch (err) {
    rows.push({ target: 'gateway', skipped: `did not start: ${firstLine(err)}` });
    log(`gateway did not start:\n${(err as Error).message}`);
  }

  const nginxBinary = findNginx();
  if (options.noNginx) rows.push({ target: 'nginx', skipped: '--no-nginx' });
  else if (nginxBinary === undefined) {
    log('nginx: not on the PATH, skipping the nginx row');
    rows.push({ target: 'nginx', skipped: 'nginx not on the PATH' });
  } else {
    try {
      const nginx = await startNginx(nginxBinary, join(tmp, 'nginx'), predictorUrl);
      try {
        rows.push(await measure('nginx', nginx.url, nginx.child, predictor, settings, ticksPerSecond));
      } finally {
        await nginx.child.stop();
      }
    } catch (err) {
      rows.push({ target: 'nginx', skipped: `did not start: ${firstLine(err)}` });
      log((err as Error).message);
    }
  }
  return { settings, rows, gatewayProblems };
}

async function coldStarts(options: BenchOptions, tmp: string, predictorUrl: string) {
  const configPath = await writeColdStartConfig(tmp, { cliPath: CLI, startupDelayMs: COLD_STARTUP_DELAY_MS, warmUrl: predictorUrl });
  log(`\ncold start: ${options.coldStarts} × (fresh gateway, local revision at zero, predictor --startup-delay ${COLD_STARTUP_DELAY_MS}, one infer request)`);
  const samples: ColdStartSample[] = [];
  const problems: string[] = [];
  for (let i = 0; i < options.coldStarts; i++) {
    const { sample, problems: seen } = await coldStartOnce({
      cliPath: CLI,
      configPath,
      gatewayPath: INFER_PATH,
      body: INFER_BODY,
      warmRequests: COLD_WARM_REQUESTS,
    });
    samples.push(sample);
    problems.push(...seen.map((p) => `#${i + 1} ${p}`));
  }
  return { samples, summary: summarizeColdStarts(samples), problems };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

function printProblems(title: string, problems: string[]): void {
  if (problems.length === 0) return;
  const counts = new Map<string, number>();
  for (const p of problems) counts.set(p, (counts.get(p) ?? 0) + 1);
  log(`\n${title} (${problems.length} lines):`);
  for (const [line, n] of [...counts].slice(0, 10)) log(`  ${n > 1 ? `${n}× ` : ''}${line}`);
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    const parsed = parseBenchArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!existsSync(CLI)) {
    process.stderr.write(`bench: ${CLI} not found; run npm run build first\n`);
    return 2;
  }
  const ticksPerSecond = procAvailable() ? clockTicksPerSecond() : undefined;
  if (ticksPerSecond === undefined) log('no /proc here: CPU time per request is not measured');

  const startedAt = new Date();
  const loadAverage = loadavg();
  const tmp = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  const interrupted = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, stopping child processes\n`);
    stopLoad();
    void stopAll(2000)
      .finally(() => rm(tmp, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', killAllNow);

  try {
    const cpu = cpus();
    log(`sluice overhead benchmark — node ${process.version}, ${cpu.length} CPU × ${cpu[0]?.model.trim() ?? 'unknown'}` +
      (ticksPerSecond ? `, CLK_TCK ${ticksPerSecond}` : ''));
    const predictor = await startPredictor(CLI, MODEL);
    log(`predictor: ${predictor.url} (pid ${predictor.child.pid})\n`);

    const { settings, rows, gatewayProblems } = await throughput(options, tmp, predictor.url, predictor.child, ticksPerSecond);
    const derived = ratios(rows);
    log('\n' + throughputTable(rows));
    log('\n' + ratioLines(derived));
    for (const r of rows.filter(isRun)) {
      if (r.otherCpus !== null && r.otherCpus >= NOISY_OTHER_CPUS) {
        log(`note: other processes used at least ${r.otherCpus.toFixed(2)} CPUs during the ${r.target} run; its rps and latency shared the machine`);
      }
      if (r.warmupErrors > 0 || r.warmupNon2xx > 0) {
        log(`note: ${r.target} warm-up had ${r.warmupNon2xx} non-2xx and ${r.warmupErrors} errors (not counted above)`);
      }
    }
    printProblems('gateway warn/error output during the throughput run', gatewayProblems);

    let cold: { samples: ColdStartSample[]; summary: ColdStartSummary; problems: string[] } | { skipped: string };
    if (options.skipColdStart) cold = { skipped: '--skip-cold-start' };
    else {
      try {
        cold = await coldStarts(options, tmp, predictor.url);
        log(coldStartTable(cold.samples, cold.summary));
        log('(→X: ms from sending the request to the gateway logging X; see loadtest/README.md)');
        printProblems('cold-start gateway warn/error output', cold.problems);
      } catch (err) {
        cold = { skipped: `failed: ${firstLine(err)}` };
        log(`cold start failed:\n${(err as Error).message}`);
      }
    }

    await mkdir(RESULTS, { recursive: true });
    const file = join(RESULTS, `overhead-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    const report = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpu.length, cpuModel: cpu[0]?.model.trim(), clockTicksPerSecond: ticksPerSecond ?? null, loadAverageAtStart: loadAverage },
      settings: { ...settings, pipelining: 1 },
      targets: rows,
      ratios: derived,
      coldStart: 'skipped' in cold ? cold : { startupDelayMs: COLD_STARTUP_DELAY_MS, warmRequests: COLD_WARM_REQUESTS, ...cold },
      gatewayProblems,
    };
    await writeFile(file, JSON.stringify(report, null, 2) + '\n');
    log(`\nresults: ${file}`);
    return rows.some((r) => 'skipped' in r && r.target === 'gateway') ? 1 : 0;
  } finally {
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

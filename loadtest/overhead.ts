/**
 * `npm run bench`: the gateway's overhead, measured in one run on this machine.
 *
 *  1. throughput: autocannon against the predictor directly, through the gateway (one static
 *     revision: no scaling, pure proxying) and through nginx (when on the PATH), each a warm-up then
 *     a saturating measured run, with the CPU time each proxy and the predictor spent per 2xx
 *     response; then both again over TLS (rows gateway-tls, nginx-tls: HTTP/1.1, kept alive, the
 *     same self-signed certificate, on a second listener of the same process);
 *  2. CPU per request at a fixed rate: gateway and nginx again (and their TLS rows), interleaved over
 *     several rounds at one offered rate below saturation (see fixed-rate.ts for why): the budget figure;
 *  2b. the same over h2c with prior knowledge, h2load as the load generator (when on the PATH):
 *     the gateway's data port, and nginx's second port (`listen … http2`), both to the same
 *     predictor over HTTP/1.1; beside them node:http2 answering by itself (h2-responder.ts), the
 *     floor that the runtime's HTTP/2 layer sets;
 *  2c. unary gRPC ModelInfer at the same rate (loadtest/grpc.ts): direct, gateway, nginx grpc_pass;
 *  3. cold starts: a fresh gateway, a local revision at zero, one request, timed.
 *
 * With `--tracing`, phases 1 and 2 have two more rows, gateway-trace-100 and gateway-trace-1: the
 * same gateway with tracing on at 100 % and 1 % sampling, exporting to an OTLP sink in this process
 * that accepts and discards (otlp-sink.ts), so the figures are the tracing's own cost.
 *
 * The gateway and nginx of phases 1 and 2 are started once, before the first measurement, and
 * stay up until phase 2b ends.
 *
 * Prints tables and writes the same figures to loadtest/results/overhead-<timestamp>.json.
 * Every child process is stopped (SIGTERM, then SIGKILL) on a normal end, an error and SIGINT.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { coldStartOnce, type ColdStartSample } from './cold-start.js';
import { fixedRateLines, fixedRateTable, roundOrder, summarizeFixedRate, TLS_TARGETS, type FixedRateSummary } from './fixed-rate.js';
import { startGateway, writeColdStartConfig, writeStaticConfig, type RunningGateway } from './gateway.js';
import { RATE_LEAD_IN_S, runAtRate, runTarget, stopLoad, type LoadSettings, type RateRun, type RateSettings } from './load.js';
import { grpcBench } from './grpc.js';
import { checkH2c, findH2load, runH2loadAtRate, type H2loadSettings } from './h2load.js';
import { exchange, negotiated } from './net.js';
import { findNginx, startNginx, type RunningNginx } from './nginx.js';
import { USAGE, parseBenchArgs, type BenchOptions } from './options.js';
import { startPredictor, type RunningPredictor } from './predictor.js';
import { clockTicksPerSecond, procAvailable } from './proc-cpu.js';
import { Child, killAllNow, stopAll } from './processes.js';
import {
  coldStartTable,
  isRun,
  machineInfo,
  ratioLines,
  ratios,
  summarizeColdStarts,
  throughputTable,
  type ColdStartSummary,
  type SkippedTarget,
  type TargetRow,
} from './report.js';
import { CLI, RESPONDER, RESULTS } from './paths.js';
import { makeCertificate, type BenchCertificate } from './tls-certificate.js';
import { startOtlpSink, type OtlpSink } from './otlp-sink.js';

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
  const tls = url.startsWith('https:') ? ` (${await negotiated(url, 5000).catch((err: Error) => err.message)})` : '';
  log(`${target}: ${settings.warmupS} s warm-up + ${settings.durationS} s measured, ${settings.connections} connections → ${url}${tls}`);
  return runTarget(target, url, settings, { proxyPid: proxy?.pid, predictorPid: predictor.pid, ticksPerSecond });
}

/** The proxies under test, each running or skipped with the reason. */
interface Proxies {
  gateway: RunningGateway | SkippedTarget;
  nginx: RunningNginx | SkippedTarget;
  /** Why there are no TLS rows (--no-tls, no certificate), or undefined when there are. */
  tlsSkipped: string | undefined;
  /** With --tracing: the traced gateways, each under its row's name. */
  traced: { target: string; gateway: RunningGateway | SkippedTarget }[];
}

/** The --tracing rows: the gateway with tracing on at these sampling ratios. */
const TRACED = [
  { target: 'gateway-trace-100', sampleRatio: 1 },
  { target: 'gateway-trace-1', sampleRatio: 0.01 },
] as const;

/** Starts the traced gateways of --tracing, exporting to `sink`; one that fails to start is a skipped row. */
async function startTraced(tmp: string, predictorUrl: string, sink: OtlpSink): Promise<Proxies['traced']> {
  const traced: Proxies['traced'] = [];
  for (const { target, sampleRatio } of TRACED) {
    try {
      const configPath = await writeStaticConfig(tmp, predictorUrl, undefined, { endpoint: sink.url, sampleRatio });
      traced.push({ target, gateway: await startGateway({ cliPath: CLI, configPath, logLevel: 'info', name: target }) });
    } catch (err) {
      traced.push({ target, gateway: { target, skipped: `did not start: ${firstLine(err)}` } });
      log(`${target} did not start:\n${(err as Error).message}`);
    }
  }
  return traced;
}

/** One row's target: a URL served by a proxy process. */
interface ProxyTarget {
  url: string;
  child: Child;
}

/** The proxies in row order, each under its target name: cleartext, then over TLS (the same processes' TLS listeners). */
function proxyList(proxies: Proxies): { target: string; proxy: ProxyTarget | SkippedTarget }[] {
  const overTls = (target: string, proxy: RunningGateway | RunningNginx | SkippedTarget): ProxyTarget | SkippedTarget => {
    if ('skipped' in proxy) return { target, skipped: proxy.skipped };
    if (proxy.tlsUrl === undefined) return { target, skipped: 'no TLS listener' };
    return { url: proxy.tlsUrl, child: proxy.child };
  };
  return [
    { target: 'gateway', proxy: proxies.gateway },
    { target: 'nginx', proxy: proxies.nginx },
    ...proxies.traced.map(({ target, gateway }) => ({ target, proxy: gateway })),
    ...(proxies.tlsSkipped !== undefined
      ? []
      : [
          { target: TLS_TARGETS.gateway, proxy: overTls(TLS_TARGETS.gateway, proxies.gateway) },
          { target: TLS_TARGETS.nginx, proxy: overTls(TLS_TARGETS.nginx, proxies.nginx) },
        ]),
  ];
}

/** The certificate both TLS listeners serve, or why there is none. */
function benchCertificate(options: BenchOptions, tmp: string): BenchCertificate | string {
  if (options.noTls) return '--no-tls';
  try {
    return makeCertificate(tmp);
  } catch (err) {
    log(`TLS rows skipped: openssl could not make a certificate: ${firstLine(err)}`);
    return `no certificate: ${firstLine(err)}`;
  }
}

/**
 * Starts the gateway (a static revision in front of the predictor) and nginx (when wanted and on
 * the PATH), runs `body` with both up, and stops each in its own finally block. The gateway's
 * warn/error output goes to `gatewayProblems` once it is stopped.
 */
async function withProxies<T>(
  options: BenchOptions,
  tmp: string,
  predictorUrl: string,
  gatewayProblems: string[],
  body: (proxies: Proxies) => Promise<T>,
): Promise<T> {
  const certificate = benchCertificate(options, tmp);
  const tls = typeof certificate === 'string' ? undefined : certificate;
  let gateway: Proxies['gateway'];
  try {
    gateway = await startGateway({ cliPath: CLI, configPath: await writeStaticConfig(tmp, predictorUrl, tls), logLevel: 'info' });
  } catch (err) {
    gateway = { target: 'gateway', skipped: `did not start: ${firstLine(err)}` };
    log(`gateway did not start:\n${(err as Error).message}`);
  }
  try {
    let nginx: Proxies['nginx'];
    const nginxBinary = findNginx();
    if (options.noNginx) nginx = { target: 'nginx', skipped: '--no-nginx' };
    else if (nginxBinary === undefined) {
      log('nginx: not on the PATH, skipping the nginx row');
      nginx = { target: 'nginx', skipped: 'nginx not on the PATH' };
    } else {
      try {
        nginx = await startNginx(nginxBinary, join(tmp, 'nginx'), predictorUrl, tls);
      } catch (err) {
        nginx = { target: 'nginx', skipped: `did not start: ${firstLine(err)}` };
        log((err as Error).message);
      }
    }
    const sink = options.tracing ? await startOtlpSink() : undefined;
    const traced = sink === undefined ? [] : await startTraced(tmp, predictorUrl, sink);
    try {
      return await body({ gateway, nginx, tlsSkipped: typeof certificate === 'string' ? certificate : undefined, traced });
    } finally {
      if (!('skipped' in nginx)) await nginx.child.stop();
      for (const { gateway: g } of traced) {
        if ('skipped' in g) continue;
        gatewayProblems.push(...g.problems);
        await g.child.stop();
      }
      if (sink !== undefined) {
        const { requests, bytes } = sink.exports();
        log(`\nOTLP sink: ${requests} export requests, ${(bytes / 1e6).toFixed(1)} MB of spans received from the traced gateways`);
        await sink.close();
      }
    }
  } finally {
    if (!('skipped' in gateway)) {
      gatewayProblems.push(...gateway.problems);
      await gateway.child.stop();
    }
  }
}

async function throughput(
  options: BenchOptions,
  proxies: Proxies,
  predictorUrl: string,
  predictor: Child,
  ticksPerSecond: number | undefined,
) {
  const settings: LoadSettings = {
    durationS: options.durationS,
    warmupS: options.warmupS,
    connections: options.connections,
    method: 'POST',
    path: INFER_PATH,
    body: INFER_BODY,
  };
  const rows: TargetRow[] = [];
  rows.push(await measure('direct', predictorUrl, undefined, predictor, settings, ticksPerSecond));
  for (const { target, proxy } of proxyList(proxies)) {
    rows.push('skipped' in proxy ? proxy : await measure(target, proxy.url, proxy.child, predictor, settings, ticksPerSecond));
  }
  return { settings, rows };
}

type FixedRate =
  | {
      settings: Omit<RateSettings, 'method' | 'path' | 'body'> & { rounds: number; leadInS: number; pipelining: 1 };
      runs: RateRun[];
      summary: FixedRateSummary;
    }
  | { skipped: string };

/**
 * Phase 2: `--cpu-rounds` rounds; in each, every proxy that passed its throughput run gets one
 * runAtRate at `--cpu-rate` (gateway first in odd rounds, nginx first in even ones).
 */
async function fixedRate(
  options: BenchOptions,
  proxies: Proxies,
  rows: TargetRow[],
  predictor: Child,
  ticksPerSecond: number | undefined,
): Promise<FixedRate> {
  if (options.cpuRounds === 0) return { skipped: '--cpu-rounds 0' };
  if (ticksPerSecond === undefined) return { skipped: 'no /proc: CPU time is not measured' };
  const targets = proxyList(proxies).flatMap(({ target, proxy }) =>
    'skipped' in proxy || !isRun(rows.find((r) => r.target === target)) ? [] : [{ target, url: proxy.url, child: proxy.child }],
  );
  if (targets.length === 0) return { skipped: 'no proxy was measured' };

  const settings: RateSettings = {
    rps: options.cpuRate,
    durationS: options.cpuDurationS,
    connections: options.connections,
    method: 'POST',
    path: INFER_PATH,
    body: INFER_BODY,
  };
  const rounds = options.cpuRounds;
  const perRunS = RATE_LEAD_IN_S + settings.durationS;
  log(
    `\nCPU per request at a fixed rate: ${rounds} rounds × ${targets.map((t) => t.target).join(' and ')}, each run ` +
      `${RATE_LEAD_IN_S} s lead-in + ${settings.durationS} s measured at ${settings.rps} rps, ${settings.connections} connections ` +
      `(about ${rounds * targets.length * perRunS} s)`,
  );
  const runs: RateRun[] = [];
  for (let round = 1; round <= rounds; round++) {
    const these: RateRun[] = [];
    for (const t of roundOrder(targets, round)) {
      these.push(await runAtRate(t.target, round, t.url, settings, { proxyPid: t.child.pid, predictorPid: predictor.pid, ticksPerSecond }));
    }
    runs.push(...these);
    log(
      `  round ${round}: ` +
        these.map((r) => `${r.target} ${r.proxyCpuUsPerReq?.toFixed(1) ?? '—'} µs/req at ${r.rps.toFixed(0)} rps`).join(', '),
    );
  }
  return {
    settings: {
      rps: settings.rps,
      rounds,
      durationS: settings.durationS,
      leadInS: RATE_LEAD_IN_S,
      connections: settings.connections,
      pipelining: 1,
    },
    runs,
    summary: summarizeFixedRate(runs, settings.rps, rounds),
  };
}

function printFixedRate(result: FixedRate): void {
  if ('skipped' in result) {
    log(`\nCPU per request at a fixed rate: skipped (${result.skipped})`);
    return;
  }
  const { settings, runs, summary } = result;
  log(`\nCPU µs per 2xx response at ${settings.rps} rps, ${settings.durationS} s measured per run:`);
  log(fixedRateTable(summary));
  log('\n' + fixedRateLines(summary));
  const noisy = runs.filter((r) => r.otherCpus !== null && r.otherCpus >= NOISY_OTHER_CPUS);
  if (noisy.length > 0) {
    log(
      `note: other processes used at least ${NOISY_OTHER_CPUS} CPUs during ` +
        noisy.map((r) => `${r.target} #${r.round} (${r.otherCpus!.toFixed(2)})`).join(', ') +
        '; the medians resist a few such runs',
    );
  }
  const failing = runs.filter((r) => r.non2xx > 0 || r.errors > 0);
  if (failing.length > 0) {
    log(
      'note: non-2xx/errors (whole run, lead-in included): ' +
        failing.map((r) => `${r.target} #${r.round} ${r.non2xx}/${r.errors}`).join(', '),
    );
  }
}

type H2cFixedRate = { settings: H2loadSettings & { rounds: number }; runs: RateRun[]; summary: FixedRateSummary } | { skipped: string };

/**
 * Phase 2b: the fixed-rate rounds again over h2c, h2load as the client: the gateway's data port
 * (h2c with prior knowledge beside HTTP/1.1) and nginx's h2c port, interleaved as in phase 2.
 */
async function h2cFixedRate(
  options: BenchOptions,
  proxies: Proxies,
  predictor: RunningPredictor,
  tmp: string,
  ticksPerSecond: number | undefined,
): Promise<H2cFixedRate> {
  if (options.noH2c) return { skipped: '--no-h2c' };
  if (options.cpuRounds === 0) return { skipped: '--cpu-rounds 0' };
  if (ticksPerSecond === undefined) return { skipped: 'no /proc: CPU time is not measured' };
  const h2load = findH2load();
  if (h2load === undefined) return { skipped: 'h2load not on the PATH (Debian package nghttp2-client)' };
  const targets: { target: string; url: string; child: Child }[] = [];
  for (const { target, proxy } of proxyList(proxies)) {
    // h2c is the cleartext ports' (the TLS rows are HTTP/1.1 over TLS).
    if ('skipped' in proxy || (target !== 'gateway' && target !== 'nginx')) continue;
    const url = target === 'nginx' ? (proxy as RunningNginx).h2cUrl : proxy.url;
    const problem = await checkH2c(url, INFER_PATH, INFER_BODY);
    if (problem === undefined) targets.push({ target, url, child: proxy.child });
    else log(`h2c ${target}: skipped, ${problem}`);
  }
  if (targets.length === 0) return { skipped: 'no proxy answered over h2c' };
  const bodyFile = join(tmp, 'infer.json');
  await writeFile(bodyFile, INFER_BODY);
  const responder = await startFloorResponder(predictor.url, tmp);
  if (typeof responder === 'string') log(`h2c ${H2_FLOOR}: skipped, ${responder}`);
  else targets.push({ target: H2_FLOOR, url: responder.url, child: responder.child });
  const settings: H2loadSettings = {
    rps: options.cpuRate,
    durationS: options.cpuDurationS,
    warmupS: RATE_LEAD_IN_S,
    clients: options.h2Clients,
    streams: options.h2Streams,
    path: INFER_PATH,
    bodyFile,
  };
  const rounds = options.cpuRounds;
  log(
    `\nh2c: CPU per request at a fixed rate, h2load with ${settings.clients} connections × up to ${settings.streams} streams: ` +
      `${rounds} rounds × ${targets.map((t) => t.target).join(' and ')}, each run ${settings.warmupS} s warm-up + ${settings.durationS} s measured ` +
      `at ${settings.rps} rps (about ${rounds * targets.length * (settings.warmupS + settings.durationS + 1)} s)`,
  );
  const runs: RateRun[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const these: RateRun[] = [];
      for (const t of roundOrder(targets, round)) {
        these.push(
          await runH2loadAtRate(h2load, t.target, round, t.url, settings, {
            proxyPid: t.child.pid,
            predictorPid: predictor.child.pid,
            ticksPerSecond,
          }),
        );
      }
      runs.push(...these);
      log(
        `  round ${round}: ` +
          these.map((r) => `${r.target} ${r.proxyCpuUsPerReq?.toFixed(1) ?? '—'} µs/req at ${r.rps.toFixed(0)} rps`).join(', '),
      );
    }
  } finally {
    if (typeof responder !== 'string') await responder.child.stop();
  }
  return { settings: { ...settings, rounds }, runs, summary: summarizeFixedRate(runs, runs[0]?.requestedRps ?? settings.rps, rounds) };
}

/** The h2c rows' floor target: node:http2 answering by itself (h2-responder.ts). */
const H2_FLOOR = 'node:http2 alone';

/** Starts h2-responder.js with the predictor's own answer to the bench request; the problem otherwise. */
async function startFloorResponder(predictorUrl: string, tmp: string): Promise<{ url: string; child: Child } | string> {
  try {
    const answer = await exchange(predictorUrl + INFER_PATH, 'POST', INFER_BODY, 5_000);
    if (answer.status !== 200) return `the predictor answered ${answer.status}`;
    const answerFile = join(tmp, 'answer.json');
    await writeFile(answerFile, answer.body);
    const child = new Child({ name: 'h2-responder', command: process.execPath, args: [RESPONDER, answerFile] });
    const port = await child.waitForLine((line) => /^listening on (\d+)$/.exec(line)?.[1], 10_000);
    return { url: `http://127.0.0.1:${port}`, child };
  } catch (err) {
    return firstLine(err);
  }
}

function printH2cFixedRate(result: H2cFixedRate): void {
  if ('skipped' in result) {
    log(`\nh2c CPU per request at a fixed rate: skipped (${result.skipped})`);
    return;
  }
  const { settings, runs, summary } = result;
  log(`\nh2c: CPU µs per 2xx response at ${summary.requestedRps} rps, ${settings.durationS} s measured per run:`);
  log(fixedRateTable(summary));
  log('\n' + fixedRateLines(summary).replace(/^gateway \/ nginx/, 'h2c: gateway / nginx'));
  const floor = summary.targets.find((t) => t.target === H2_FLOOR)?.proxyCpuUsPerReq.median;
  const nginx = summary.targets.find((t) => t.target === 'nginx')?.proxyCpuUsPerReq.median;
  if (floor != null && nginx != null && nginx > 0) {
    log(
      `${H2_FLOOR} / nginx (node:http2 answering by itself, no proxying; medians): ${(floor / nginx).toFixed(2)}× — ` +
        `the share of the gateway's figure that is Node's HTTP/2 layer`,
    );
  }
  const noisy = runs.filter((r) => r.otherCpus !== null && r.otherCpus >= NOISY_OTHER_CPUS);
  if (noisy.length > 0) {
    log(
      `note: other processes used at least ${NOISY_OTHER_CPUS} CPUs during ` +
        noisy.map((r) => `${r.target} #${r.round} (${r.otherCpus!.toFixed(2)})`).join(', '),
    );
  }
  const failing = runs.filter((r) => r.non2xx > 0 || r.errors > 0);
  if (failing.length > 0) {
    log('note: non-2xx/errors (measured part): ' + failing.map((r) => `${r.target} #${r.round} ${r.non2xx}/${r.errors}`).join(', '));
  }
}

async function coldStarts(options: BenchOptions, tmp: string, predictorUrl: string) {
  const configPath = await writeColdStartConfig(tmp, { cliPath: CLI, startupDelayMs: COLD_STARTUP_DELAY_MS, warmUrl: predictorUrl });
  log(
    `\ncold start: ${options.coldStarts} × (fresh gateway, local revision at zero, predictor --startup-delay ${COLD_STARTUP_DELAY_MS}, one infer request)`,
  );
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
    log(
      `sluice overhead benchmark — node ${process.version}, ${cpu.length} CPU × ${cpu[0]?.model.trim() ?? 'unknown'}` +
        (ticksPerSecond ? `, CLK_TCK ${ticksPerSecond}` : ''),
    );
    const predictor = await startPredictor(CLI, MODEL);
    log(`predictor: ${predictor.url} (pid ${predictor.child.pid})\n`);

    const gatewayProblems: string[] = [];
    const { settings, rows, derived, atRate, h2c } = await withProxies(options, tmp, predictor.url, gatewayProblems, async (proxies) => {
      const { settings, rows } = await throughput(options, proxies, predictor.url, predictor.child, ticksPerSecond);
      const derived = ratios(rows);
      log('\n' + throughputTable(rows));
      log('\n' + ratioLines(derived));
      for (const r of rows.filter(isRun)) {
        if (r.otherCpus !== null && r.otherCpus >= NOISY_OTHER_CPUS) {
          log(
            `note: other processes used at least ${r.otherCpus.toFixed(2)} CPUs during the ${r.target} run; its rps and latency shared the machine`,
          );
        }
        if (r.warmupErrors > 0 || r.warmupNon2xx > 0) {
          log(`note: ${r.target} warm-up had ${r.warmupNon2xx} non-2xx and ${r.warmupErrors} errors (not counted above)`);
        }
      }
      const atRate = await fixedRate(options, proxies, rows, predictor.child, ticksPerSecond);
      printFixedRate(atRate);
      const h2c = await h2cFixedRate(options, proxies, predictor, tmp, ticksPerSecond);
      printH2cFixedRate(h2c);
      return { settings, rows, derived, atRate, h2c };
    });
    printProblems('gateway warn/error output during the throughput and fixed-rate runs', gatewayProblems);
    const grpc = await grpcBench(options, CLI, tmp, ticksPerSecond, log);

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
      machine: machineInfo(loadAverage, { clockTicksPerSecond: ticksPerSecond ?? null }),
      settings: { ...settings, pipelining: 1 },
      targets: rows,
      ratios: derived,
      fixedRate: atRate,
      h2cFixedRate: h2c,
      grpcFixedRate: grpc,
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
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

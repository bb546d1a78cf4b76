/**
 * `npm run bench:burst`: N simultaneous requests at a revision scaled to zero.
 *
 * A fresh `sluice gateway` (a child process, so its RSS and CPU are its own) with one local predictor
 * revision at zero. This process is the load client: it opens N connections in batches while the
 * revision is at zero, writes every request in one loop, checks through the admin API that all N
 * are held, and reads each response head as replicas get ready. See loadtest/README.md for the
 * figures and how they are defined. Results also go to loadtest/results/burst-<timestamp>.json.
 * Every child process is stopped on a normal end, an error, SIGINT and SIGTERM; the run is bounded
 * by --timeout.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { BurstClient, inferRequest } from './burst-client.js';
import { BURST_USAGE, parseBurstArgs, type BurstOptions } from './burst-options.js';
import {
  heldBytesLine,
  marginalBytesPerHeld,
  memoryTable,
  outcomeTable,
  replicaTable,
  summarizeBurst,
  bytesPerHeld,
  type MemoryFigures,
  type ReadyReplica,
} from './burst-summary.js';
import { startGateway, writeBurstConfig } from './gateway.js';
import { clockTicksPerSecond, procAvailable, snapshotTree, ticksBetween } from './proc-cpu.js';
import { fdLimit, listenOverflows, openFds, rssBytes } from './proc-status.js';
import { killAllNow, stopAll } from './processes.js';
import { fixed, machineInfo, table } from './report.js';
import { CLI, RESULTS } from './paths.js';

const SERVICE = 'iris';
const REVISION = 'iris-00001';
const INFER_PATH = '/v2/models/iris/infer';
const INFER_BODY = JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] });
/**
 * Connections opened at once. The gateway's data port listens with Node's default backlog (511):
 * 10 000 connects in one tick overflow it, and each dropped handshake is retried by the kernel
 * after 1 s (then 3 s …), which would spread the "simultaneous" burst over seconds. Half the
 * backlog per batch, and the next batch only once the gateway has accepted this one.
 */
const CONNECT_BATCH = 256;
/** Longest wait for the gateway to accept one batch before going on anyway (counted as a lagging batch). */
const ACCEPT_WAIT_MS = 5000;
/** RSS and admin API sampling period during the burst. */
const SAMPLE_MS = 50;
/** Sockets and pipes the gateway has besides the burst's (listeners, admin, stdio, replicas' pipes): a margin. */
const FD_MARGIN = 100;
/** The revision default of maxConnectionsPerEndpoint (src/config/schema.ts), which the burst config keeps. */
const MAX_CONNECTIONS_PER_ENDPOINT = 1000;
/** Extra time after --timeout before the run kills everything and exits, whatever it was doing. */
const HARD_STOP_GRACE_MS = 30_000;

const log = (text = ''): void => void process.stdout.write(text + '\n');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface RevisionJson {
  name: string;
  replicas: { desired: number; actual: number; ready: number };
  inflight: number;
  held: number;
}

/** One admin API reading, ms after the burst's first write (negative before it). */
interface Reading {
  t: number;
  held: number;
  inflight: number;
  desired: number;
  actual: number;
  ready: number;
  /** Gateway RSS read right after this reading came back. */
  rss: number | null;
}

/** One 50 ms sample of the gateway process. */
interface Sample {
  t: number;
  rss: number | null;
  fds: number | null;
}

/** A `scale` log line of the gateway. */
interface ScaleEvent {
  t: number;
  from: number;
  to: number;
  reason: string;
}

function adminReader(admin: string): { read: () => Promise<RevisionJson>; close: () => Promise<void> } {
  const pool = new Pool(`http://${admin}`, { connections: 1 });
  return {
    async read() {
      const res = await pool.request({ path: `/api/v1/services/${SERVICE}`, method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 });
      const body = (await res.body.json()) as { revisions?: RevisionJson[] };
      const rev = body.revisions?.find((r) => r.name === REVISION);
      if (rev === undefined) throw new Error(`admin API: no revision ${REVISION} in ${JSON.stringify(body).slice(0, 200)}`);
      return rev;
    },
    close: () => pool.close(),
  };
}

/** Warn/error lines grouped by message, most frequent first: 10 000 identical lines read as one row. */
function groupProblems(lines: string[]): { message: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  return [...counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
}

/** What the SIGINT/SIGTERM handler shares with the run: the client to close, and that no figures should follow. */
interface RunState {
  client?: BurstClient;
  interrupted: boolean;
}

/** Exit code of an interrupted run (128 + SIGINT). */
const INTERRUPTED = 130;

async function run(o: BurstOptions, tmp: string, state: RunState): Promise<number> {
  const startedAt = new Date();
  const deadline = Date.now() + o.timeoutS * 1000;
  const cpu = cpus();
  log(
    `sluice burst benchmark — node ${process.version}, ${cpu.length} CPU × ${cpu[0]?.model.trim() ?? 'unknown'}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  log(
    `${o.requests} simultaneous requests at a revision at zero: max-scale ${o.maxScale}, predictor latency ${o.latencyMs} ms, ` +
      `startup delay ${o.startupDelayMs} ms, containerConcurrency 0, queueDepth ${o.requests}, bound ${o.timeoutS} s`,
  );

  // This process holds one socket per request.
  const ownLimit = fdLimit('self');
  if (ownLimit !== undefined && o.requests + FD_MARGIN > ownLimit) {
    throw new Error(
      `--requests ${o.requests} needs that many sockets in this process, and its fd limit (ulimit -n) is ${ownLimit}: ` +
        `lower --requests to at most ${ownLimit - FD_MARGIN} or raise the limit`,
    );
  }

  const configPath = await writeBurstConfig(tmp, {
    cliPath: CLI,
    service: SERVICE,
    revision: REVISION,
    queueDepth: o.requests,
    maxScale: o.maxScale,
    startupDelayMs: o.startupDelayMs,
    latencyMs: o.latencyMs,
    timeoutS: o.timeoutS,
  });
  const gateway = await startGateway({ cliPath: CLI, configPath, logLevel: 'info', name: 'burst gateway' });
  const pid = gateway.child.pid;
  const port = Number(new URL(gateway.url).port);

  // Log times are epoch ms; they become "ms after the burst" once the burst's time is known.
  const readyLines: { pid: number; time: number }[] = [];
  const scaleLines: { time: number; from: number; to: number; reason: string }[] = [];
  let emfile = 0;
  gateway.onLog((line) => {
    if (line.msg === 'replica ready' && typeof line.pid === 'number') readyLines.push({ pid: line.pid, time: line.time });
    else if (line.msg.startsWith('scale ') && typeof line.from === 'number' && typeof line.to === 'number') {
      scaleLines.push({ time: line.time, from: line.from, to: line.to, reason: String(line.reason) });
    }
    if (line.level >= 40 && JSON.stringify(line).includes('EMFILE')) emfile++;
  });

  // The gateway holds one socket per request, plus at most maxConnectionsPerEndpoint (1000 by
  // default) upstream connections per replica.
  const gatewayLimit = fdLimit(pid);
  const upstream = Math.min(o.requests, MAX_CONNECTIONS_PER_ENDPOINT * o.maxScale);
  const gatewayNeed = o.requests + upstream + FD_MARGIN;
  log(
    `gateway ${gateway.url} (admin ${gateway.admin}, pid ${pid}); fd limit ${gatewayLimit ?? 'unknown'}, ` +
      `this process ${ownLimit ?? 'unknown'}`,
  );
  if (gatewayLimit !== undefined && gatewayNeed > gatewayLimit) {
    log(
      `note: the gateway may need up to ${gatewayNeed} descriptors (${o.requests} client sockets + up to ${upstream} upstream) ` +
        `and its limit is ${gatewayLimit}; EMFILE and its peak open fds are reported below`,
    );
  }

  const admin = adminReader(gateway.admin);
  try {
    const atRest = await admin.read();
    if (atRest.replicas.actual !== 0 || atRest.replicas.ready !== 0) {
      throw new Error(`the revision is not at zero before the burst: ${JSON.stringify(atRest.replicas)}`);
    }
    await sleep(500); // let start-up garbage settle before the idle reading
    const memory: MemoryFigures = { before: rssBytes(pid) ?? null, connected: null, allHeld: null, heldCount: 0, peak: null, after: null };
    const fdsBefore = openFds(pid) ?? 0;

    // Connections, in batches, each accepted by the gateway before the next is opened.
    const burst = new BurstClient(port, inferRequest(`127.0.0.1:${port}`, INFER_PATH, INFER_BODY));
    state.client = burst;
    const overflowsBefore = listenOverflows();
    let laggingBatches = 0;
    const connectStarted = Date.now();
    const connectFailures = await burst.connect(
      o.requests,
      CONNECT_BATCH,
      async (opened) => {
        const until = Math.min(Date.now() + ACCEPT_WAIT_MS, deadline);
        while ((openFds(pid) ?? Infinity) < fdsBefore + opened) {
          if (Date.now() >= until) {
            laggingBatches++;
            return;
          }
          await sleep(1);
        }
        const rss = rssBytes(pid);
        if (memory.halfConnected == null && opened >= o.requests / 2 && rss !== undefined) memory.halfConnected = { count: opened, rss };
      },
      deadline,
    );
    const connectMs = Date.now() - connectStarted;
    if (state.interrupted) return INTERRUPTED;
    const overflowsAfter = listenOverflows();
    const overflows = overflowsBefore === undefined || overflowsAfter === undefined ? null : overflowsAfter - overflowsBefore;
    const sent = burst.open;
    log(
      `connections: ${sent} open in ${connectMs} ms (batches of ${CONNECT_BATCH}, each accepted before the next)` +
        (connectFailures > 0 ? `, ${connectFailures} could not connect` : '') +
        `; listen overflows meanwhile: ${overflows ?? 'unknown'}` +
        (laggingBatches > 0 ? `; ${laggingBatches} batch(es) not accepted within ${ACCEPT_WAIT_MS} ms` : ''),
    );
    if (Date.now() >= deadline) throw new Error(`--timeout ${o.timeoutS} s passed while opening connections`);

    const beforeBurst = await admin.read();
    if (beforeBurst.replicas.actual !== 0 || beforeBurst.held !== 0) {
      throw new Error(`the revision left zero before the burst: ${JSON.stringify(beforeBurst)}`);
    }
    memory.connected = rssBytes(pid) ?? null;

    // Sampling: RSS and open fds every 50 ms; the admin API as often as it answers (one request at a time).
    const samples: Sample[] = [];
    const readings: Reading[] = [];
    let sampling = true;
    let firedAt = 0; // epoch ms of the burst's first write
    const since = (epochMs: number): number => +(epochMs - firedAt).toFixed(1);
    const sampler = setInterval(() => {
      const rss = rssBytes(pid) ?? null;
      samples.push({ t: since(Date.now()), rss, fds: openFds(pid) ?? null });
    }, SAMPLE_MS);
    const poller = (async () => {
      for (let next = Date.now(); sampling; next = Math.max(next + SAMPLE_MS, Date.now())) {
        await sleep(next - Date.now());
        let r: RevisionJson;
        try {
          r = await admin.read();
        } catch {
          continue; // a reading lost to a busy gateway; the next one is tried on schedule
        }
        const rss = rssBytes(pid) ?? null;
        readings.push({ t: since(Date.now()), held: r.held, inflight: r.inflight, ...r.replicas, rss });
        if (memory.halfHeld == null && r.held >= sent / 2 && r.held < sent && rss !== null) memory.halfHeld = { count: r.held, rss };
        if (r.held > 0 && r.held >= memory.heldCount && rss !== null) {
          // The reading with the most requests held, and its highest RSS among equals.
          if (r.held > memory.heldCount || rss > (memory.allHeld ?? 0)) memory.allHeld = rss;
          memory.heldCount = r.held;
        }
      }
    })();

    const ticks = clockTicksPerSecond();
    const cpuBefore = snapshotTree(pid);
    const burstOverflowsBefore = listenOverflows();
    const writeMs = burst.fire();
    firedAt = burst.firedAtEpochMs;
    log(`burst: ${sent} requests written in ${writeMs.toFixed(1)} ms`);
    await burst.settled(deadline);
    // Connections cut by the teardown are not the gateway's outcomes: no figures from an interrupted run.
    if (state.interrupted) {
      clearInterval(sampler);
      sampling = false;
      return INTERRUPTED;
    }
    const cpuAfter = snapshotTree(pid);
    const burstOverflowsAfter = listenOverflows();
    const burstOverflows =
      burstOverflowsBefore === undefined || burstOverflowsAfter === undefined ? null : burstOverflowsAfter - burstOverflowsBefore;

    // After: every request answered and nothing held or in flight at the gateway (bounded).
    const quietBy = Date.now() + 5000;
    for (;;) {
      const r = await admin.read().catch(() => undefined);
      if ((r !== undefined && r.held === 0 && r.inflight === 0) || Date.now() >= quietBy) break;
      await sleep(SAMPLE_MS);
    }
    memory.after = rssBytes(pid) ?? null;
    sampling = false;
    clearInterval(sampler);
    await poller;

    const outcomes = burst.outcomes();
    const ready: ReadyReplica[] = readyLines.map((l) => ({ pid: l.pid, readyAtMs: since(l.time) }));
    const summary = summarizeBurst(o.requests, outcomes, ready);
    const lastAnswer = summary.lastAnswerMs ?? Infinity;
    const duringBurst = samples.filter((s) => s.t >= 0 && s.t <= lastAnswer);
    const rssDuring = duringBurst.map((s) => s.rss).filter((v): v is number => v !== null);
    memory.peak = rssDuring.length === 0 ? null : Math.max(...rssDuring, memory.allHeld ?? 0);
    const fdsPeak = Math.max(0, ...samples.map((s) => s.fds ?? 0));
    const gatewayCpuMs = ((cpuAfter.get(pid) ?? 0) - (cpuBefore.get(pid) ?? 0)) * (1000 / ticks);
    const replicasCpuMs = (ticksBetween(cpuBefore, cpuAfter) * 1000) / ticks - gatewayCpuMs;
    const allHeldAt = readings.find((r) => r.held === sent && sent > 0);
    const firstReadyReading = readings.find((r) => r.ready > 0);
    const scaleEvents: ScaleEvent[] = scaleLines.map((l) => ({ t: since(l.time), from: l.from, to: l.to, reason: l.reason }));

    // Timeline: the readings where the replica counts changed, and the first with all held.
    log("\nadmin API timeline (ms after the burst's first write; rows where something changed):");
    const timelineRows: string[][] = [];
    let last = '';
    for (const r of readings) {
      const key = `${r.desired}/${r.actual}/${r.ready}`;
      if (key === last && r !== allHeldAt) continue;
      last = key;
      timelineRows.push([
        fixed(r.t, 0),
        String(r.held),
        String(r.inflight),
        String(r.desired),
        String(r.actual),
        String(r.ready),
        fixed(r.rss === null ? null : r.rss / 2 ** 20, 1),
      ]);
    }
    log(table(['t ms', 'held', 'in flight', 'desired', 'actual', 'ready', 'RSS MB'], timelineRows));
    if (scaleEvents.length > 0) {
      log(`scale decisions: ${scaleEvents.map((e) => `${e.from}→${e.to} (${e.reason}) at ${e.t.toFixed(0)} ms`).join(', ')}`);
    }

    log('\n' + outcomeTable(summary));
    if (Object.keys(summary.errorCodes).length > 0) {
      log(
        `socket error codes: ${Object.entries(summary.errorCodes)
          .map(([c, n]) => `${c} ${n}`)
          .join(', ')}`,
      );
    }
    log(`answered ${summary.answered} of ${o.requests} (${summary.ok} × 200), failed ${summary.failed}`);
    for (const m of summary.errorMessages.slice(0, 5)) log(`  ${String(m.count).padStart(6)} × ${m.message.slice(0, 200)}`);
    if (summary.errorMessages.length > 5) log(`  … ${summary.errorMessages.length - 5} more distinct error messages in the JSON file`);

    log('\n' + replicaTable(summary));
    log(
      summary.replicas.length === 0
        ? 'spread: no replica was ready or answered'
        : `spread over ${summary.replicas.length} replica(s): even share ${fixed(summary.evenShare, 0)} (${o.requests} ÷ ${summary.replicas.length}); ` +
            `max ${fixed(summary.maxVsEven, 2)}×, min ${fixed(summary.minVsEven, 2)}× the even share`,
    );

    log('');
    log(
      `all ${sent} held: ` +
        (allHeldAt === undefined
          ? `never seen by the admin API (at most ${memory.heldCount} held at once) — raise --startup-delay if replicas got ready first`
          : `first seen at ${allHeldAt.t.toFixed(0)} ms`),
    );
    log(
      `first replica ready: ${fixed(summary.firstReadyMs, 0)} ms (the gateway's "replica ready" log line; ` +
        `admin API first showed ready ≥ 1 at ${fixed(firstReadyReading?.t, 0)} ms)`,
    );
    log(
      `answers: first at ${fixed(summary.firstAnswerMs, 0)} ms, last at ${fixed(summary.lastAnswerMs, 0)} ms (last 200 at ${fixed(summary.lastOkMs, 0)} ms)`,
    );
    log(`first replica ready → last answer: ${fixed(summary.firstReadyToLastAnswerMs, 0)} ms`);
    log(
      `held (Sluice-Cold-Start) on ${summary.held.count} responses: min ${fixed(summary.held.minMs, 0)}, ` +
        `median ${fixed(summary.held.medianMs, 0)}, max ${fixed(summary.held.maxMs, 0)} ms`,
    );

    log('\n' + memoryTable(memory, sent));
    log(heldBytesLine(memory, sent));
    // EMFILE shows in the gateway's log (a replica that could not be spawned) and in its 502 bodies
    // (an upstream connection that could not be opened); either means the limit was hit.
    const emfileAnswers = summary.errorMessages.filter((m) => m.message.includes('EMFILE')).reduce((n, m) => n + m.count, 0);
    const emfileSeen = [emfile > 0 ? `${emfile} warn/error log lines` : '', emfileAnswers > 0 ? `${emfileAnswers} error responses` : '']
      .filter((x) => x !== '')
      .join(' and ');
    log(
      `gateway open fds: ${fdsBefore} idle, peak ${fdsPeak} (limit ${gatewayLimit ?? 'unknown'})` +
        (emfileSeen !== '' ? `; ${emfileSeen} mention EMFILE: the fd limit was hit` : '') +
        (gatewayLimit !== undefined && fdsPeak >= gatewayLimit - 10 ? '; AT THE LIMIT' : ''),
    );
    log(
      `listen overflows from the burst to the last answer: ${burstOverflows ?? 'unknown'} (machine-wide: the replicas' accept queues, the gateway's is already drained)`,
    );
    log(
      `CPU from the burst to the last answer: gateway ${gatewayCpuMs.toFixed(0)} ms, replicas ${replicasCpuMs.toFixed(0)} ms ` +
        `(replicas that exited meanwhile are not counted)`,
    );

    const problems = groupProblems(gateway.problems);
    if (problems.length > 0) {
      log(`\ngateway warn/error output (${gateway.problems.length} lines):`);
      for (const p of problems.slice(0, 10)) log(`  ${String(p.count).padStart(6)} × ${p.message.slice(0, 200)}`);
      if (problems.length > 10) log(`  … ${problems.length - 10} more distinct lines in the JSON file`);
    }

    await mkdir(RESULTS, { recursive: true });
    const file = join(RESULTS, `burst-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      file,
      JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          machine: machineInfo(loadavg()),
          settings: { ...o, connectBatch: CONNECT_BATCH, sampleMs: SAMPLE_MS },
          connect: { open: sent, failures: connectFailures, ms: connectMs, listenOverflows: overflows, laggingBatches },
          burst: {
            writeMs,
            listenOverflows: burstOverflows,
            allHeldAtMs: allHeldAt?.t ?? null,
            firstReadyReadingMs: firstReadyReading?.t ?? null,
          },
          summary,
          memory: { ...memory, bytesPerHeld: bytesPerHeld(memory), marginalBytesPerHeld: marginalBytesPerHeld(memory, sent) },
          fds: {
            gatewayLimit: gatewayLimit ?? null,
            clientLimit: ownLimit ?? null,
            gatewayIdle: fdsBefore,
            gatewayPeak: fdsPeak,
            emfileLogLines: emfile,
            emfileResponses: emfileAnswers,
          },
          cpuMs: { gateway: gatewayCpuMs, replicas: replicasCpuMs },
          scaleEvents,
          readings,
          samples,
          gatewayProblems: problems,
        },
        null,
        2,
      ) + '\n',
    );
    log(`\nresults: ${file}`);
    return allHeldAt === undefined || summary.answered === 0 ? 1 : 0;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

async function main(argv: string[]): Promise<number> {
  let options: BurstOptions | 'help';
  try {
    options = parseBurstArgs(argv);
  } catch (err) {
    process.stderr.write(`burst: ${(err as Error).message}\n\n${BURST_USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(BURST_USAGE);
    return 0;
  }
  if (!procAvailable()) {
    process.stderr.write("burst: needs Linux /proc (the gateway's RSS, open fds and CPU are read there)\n");
    return 2;
  }

  const tmp = await mkdtemp(join(tmpdir(), 'sluice-burst-'));
  const state: RunState = { interrupted: false };
  const interrupted = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nburst: ${signal}, stopping child processes\n`);
    state.interrupted = true;
    state.client?.destroy();
    void stopAll(2000)
      .finally(() => rm(tmp, { recursive: true, force: true }))
      .finally(() => process.exit(INTERRUPTED));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', killAllNow);
  // Whatever hangs (a wait this file did not bound), the run ends: children killed, exit 1.
  setTimeout(
    () => {
      process.stderr.write(`burst: still running ${HARD_STOP_GRACE_MS / 1000} s after --timeout; killing child processes\n`);
      killAllNow();
      process.exit(1);
    },
    options.timeoutS * 1000 + HARD_STOP_GRACE_MS,
  ).unref();

  try {
    return await run(options, tmp, state);
  } finally {
    state.client?.destroy();
    await stopAll();
    await rm(tmp, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`burst: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

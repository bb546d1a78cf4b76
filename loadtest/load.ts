/**
 * One target's run under autocannon (in this process), with the CPU time of the proxy's and the
 * predictor's processes read just before and just after the measured part:
 *
 *  - runTarget: a throughput run, as fast as the target answers (a warm-up, then a measured run);
 *  - runAtRate: a run at a fixed offered rate, its first second unmeasured.
 */
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { otherTicksBetween, snapshotMachine, snapshotTree, ticksBetween, type CpuSnapshot } from './proc-cpu.js';
import { TLS_SERVER_NAME } from './tls-certificate.js';

export interface LoadSettings {
  /** Measured run, seconds. */
  durationS: number;
  /** Unmeasured run before it, seconds (JIT, connection pools, nginx keep-alive to the upstream). */
  warmupS: number;
  connections: number;
  method: 'POST';
  path: string;
  body: string;
}

export interface TargetRun {
  target: string;
  url: string;
  /** 2xx responses per second of the measured run's wall time. */
  rps: number;
  /** Latency percentiles of the 2xx responses, ms. */
  p50Ms: number;
  p99Ms: number;
  /** Completed 2xx responses in the measured run: the denominator of every per-request figure. */
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts (autocannon's `errors`, timeouts included). */
  errors: number;
  wallS: number;
  /** CPU of the proxy's process tree over the measured run, ms; null for the direct run or without /proc. */
  proxyCpuMs: number | null;
  proxyCpuUsPerReq: number | null;
  predictorCpuMs: number | null;
  predictorCpuUsPerReq: number | null;
  /** CPU of this process (autocannon, the load generator) per 2xx response, µs: it shares the machine. */
  clientCpuUsPerReq: number | null;
  /**
   * CPUs' worth of work by other processes on the machine during the measured run (their CPU time ÷
   * wall time; a lower bound, see snapshotMachine): 0.5 = at least half a CPU busy elsewhere. Well
   * above 0, the run shared the machine and its figures are noisy.
   */
  otherCpus: number | null;
  /** Non-2xx responses and errors seen in the warm-up (not counted above). */
  warmupNon2xx: number;
  warmupErrors: number;
}

let current: autocannon.Instance | undefined;

/** Stops a run in progress (on SIGINT). */
export function stopLoad(): void {
  current?.stop();
}

interface Fired {
  result: autocannon.Result;
  /** Latency of every 2xx response, ms, sorted. autocannon's own histogram keeps whole ms only. */
  latenciesMs: Float64Array;
}

interface Firing {
  done: Promise<Fired>;
  /** 2xx responses so far. */
  okSoFar(): number;
}

/** Starts autocannon; `overallRate` caps the requests per second over all connections. */
function start(
  url: string,
  settings: Pick<LoadSettings, 'connections' | 'method' | 'path' | 'body'>,
  durationS: number,
  overallRate?: number,
): Firing {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const done = new Promise<Fired>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url + settings.path,
        method: settings.method,
        headers: { 'content-type': 'application/json' },
        body: settings.body,
        connections: settings.connections,
        pipelining: 1,
        duration: durationS,
        timeout: 10,
        // An https target is a benchmark TLS listener: autocannon sends this SNI and does not verify.
        ...(url.startsWith('https:') ? { servername: TLS_SERVER_NAME } : {}),
        ...(overallRate === undefined ? {} : { overallRate }),
      },
      (err: Error | null, result: autocannon.Result) => {
        current = undefined;
        if (err) reject(err);
        else resolve({ result, latenciesMs: latencies.subarray(0, count).sort() });
      },
    );
    // One typed-array store per response (doubling when full): cheap next to the request itself.
    instance.on('response', (_client, status, _bytes, responseTimeMs) => {
      if (status < 200 || status > 299) return;
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[count++] = responseTimeMs;
    });
    current = instance;
  });
  return { done, okSoFar: () => count };
}

function fire(url: string, settings: LoadSettings, durationS: number): Promise<Fired> {
  return start(url, settings, durationS).done;
}

/** Nearest-rank percentile of sorted values; NaN when empty. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface CpuWatch {
  /** Process tree root whose CPU is charged to the proxy; undefined for the direct run. */
  proxyPid?: number;
  predictorPid: number;
  /** Clock ticks per second, or undefined where /proc cannot be read. */
  ticksPerSecond?: number;
  /** The load generator's process when it is not this one (h2load): its CPU is the client's, not another tenant's. */
  clientPid?: number;
}

/** CPU figures of one measured window; per request = per 2xx response in it. */
export interface CpuReading {
  wallS: number;
  /** CPU of the proxy's process tree over the window, ms; null for the direct run or without /proc. */
  proxyCpuMs: number | null;
  proxyCpuUsPerReq: number | null;
  predictorCpuMs: number | null;
  predictorCpuUsPerReq: number | null;
  /** CPU of the load generator (this process, or `clientPid`'s tree) per 2xx response, µs. */
  clientCpuUsPerReq: number | null;
  /** CPUs' worth of work by other processes during the window (see TargetRun.otherCpus). */
  otherCpus: number | null;
}

/**
 * Reads the proxy's and the predictor's process trees, this process and the machine now; `finish`
 * reads them again and gives the CPU between the two readings, per `ok` responses. `close` reads
 * them and leaves the division for later, for a load generator that reports its count after the
 * window (h2load).
 */
export function openCpuWindow(cpu: CpuWatch): { finish(ok: number): CpuReading; close(): (ok: number) => CpuReading } {
  const snap = (pid: number | undefined): CpuSnapshot | undefined =>
    pid !== undefined && cpu.ticksPerSecond !== undefined ? snapshotTree(pid) : undefined;
  const proxyBefore = snap(cpu.proxyPid);
  const predictorBefore = snap(cpu.predictorPid);
  const clientTreeBefore = snap(cpu.clientPid);
  const clientBefore = process.cpuUsage();
  const machineBefore = cpu.ticksPerSecond !== undefined ? snapshotMachine() : undefined;
  const startedAt = performance.now();
  const close = (): ((ok: number) => CpuReading) => {
    const wallS = (performance.now() - startedAt) / 1000;
    const client = process.cpuUsage(clientBefore);
    const machineAfter = cpu.ticksPerSecond !== undefined ? snapshotMachine() : undefined;
    const proxyAfter = snap(cpu.proxyPid);
    const predictorAfter = snap(cpu.predictorPid);
    const clientTreeAfter = snap(cpu.clientPid);

    const cpuMs = (before?: CpuSnapshot, after?: CpuSnapshot): number | null =>
      before && after && cpu.ticksPerSecond ? (ticksBetween(before, after) * 1000) / cpu.ticksPerSecond : null;
    const proxyCpuMs = cpuMs(proxyBefore, proxyAfter);
    const predictorCpuMs = cpuMs(predictorBefore, predictorAfter);
    const clientCpuMs = cpu.clientPid === undefined ? (client.user + client.system) / 1000 : cpuMs(clientTreeBefore, clientTreeAfter);
    let otherCpus: number | null = null;
    if (cpu.ticksPerSecond && machineBefore && machineAfter) {
      const ours = new Set([
        process.pid,
        ...(proxyAfter?.keys() ?? []),
        ...(predictorAfter?.keys() ?? []),
        ...(clientTreeAfter?.keys() ?? []),
      ]);
      otherCpus = otherTicksBetween(machineBefore, machineAfter, ours) / cpu.ticksPerSecond / wallS;
    }
    return (ok) => {
      const perRequest = (ms: number | null): number | null => (ms === null || ok === 0 ? null : (ms * 1000) / ok);
      return {
        wallS,
        proxyCpuMs,
        proxyCpuUsPerReq: perRequest(proxyCpuMs),
        predictorCpuMs,
        predictorCpuUsPerReq: perRequest(predictorCpuMs),
        clientCpuUsPerReq: perRequest(clientCpuMs),
        otherCpus,
      };
    };
  };
  return { finish: (ok) => close()(ok), close };
}

export async function runTarget(target: string, url: string, settings: LoadSettings, cpu: CpuWatch): Promise<TargetRun> {
  const warm = settings.warmupS > 0 ? await fire(url, settings, settings.warmupS) : undefined;

  const window = openCpuWindow(cpu);
  const { result, latenciesMs } = await fire(url, settings, settings.durationS);
  const ok = result['2xx'];
  const reading = window.finish(ok);
  return {
    target,
    url,
    rps: ok / reading.wallS,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    ...reading,
    warmupNon2xx: warm?.result.non2xx ?? 0,
    warmupErrors: warm?.result.errors ?? 0,
  };
}

export interface RateSettings {
  /** Offered load, requests per second over all connections (autocannon's `overallRate`). */
  rps: number;
  /** Measured window, whole seconds. */
  durationS: number;
  connections: number;
  method: 'POST';
  path: string;
  body: string;
}

/** One run at a fixed offered rate: the CPU figures of its measured window. */
export interface RateRun extends CpuReading {
  target: string;
  /** 1-based round of the fixed-rate phase. */
  round: number;
  requestedRps: number;
  /** 2xx responses in the measured window ÷ the time between the two counts: well below requestedRps, the target did not keep up. */
  rps: number;
  /** 2xx responses in the measured window: the denominator of every per-request figure. */
  ok: number;
  /** Non-2xx responses and errors over the whole run, lead-in included. */
  non2xx: number;
  errors: number;
}

/** Unmeasured start of each fixed-rate run, seconds: one of autocannon's one-second rate windows. */
export const RATE_LEAD_IN_S = 1;
/** The window is read this long before a second's burst starts, when the previous one is done. */
const RATE_MARGIN_S = 0.05;

/** Resolves at `performance.now()` = `at`: marks set from one origin, so they do not drift apart. */
const until = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));

/**
 * autocannon paces `overallRate` per connection in one-second windows: at the start of every second
 * each connection sends its share as fast as it is answered, then waits for the next second. The
 * first second (connection set-up, upstream connections reopened after idling) is not measured. The
 * 2xx count and the CPU are read 50 ms before the second burst and again `durationS` seconds later,
 * 50 ms before the burst after the last measured one: the window holds `durationS` whole bursts and
 * both readings fall while the target is idle between bursts (as long as it keeps up with the rate).
 */
export async function runAtRate(target: string, round: number, url: string, settings: RateSettings, cpu: CpuWatch): Promise<RateRun> {
  const origin = performance.now();
  const firing = start(url, settings, RATE_LEAD_IN_S + settings.durationS, settings.rps);
  firing.done.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
  const opensAt = origin + (RATE_LEAD_IN_S - RATE_MARGIN_S) * 1000;
  await until(opensAt);
  const countedFrom = performance.now();
  const okBefore = firing.okSoFar();
  const window = openCpuWindow(cpu);
  await until(opensAt + settings.durationS * 1000);
  const countedS = (performance.now() - countedFrom) / 1000;
  const ok = firing.okSoFar() - okBefore;
  const reading = window.finish(ok);
  const { result } = await firing.done;
  return {
    target,
    round,
    requestedRps: settings.rps,
    rps: ok / countedS,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    ...reading,
  };
}

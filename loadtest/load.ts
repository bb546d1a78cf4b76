/**
 * One target's throughput run: autocannon (in this process) for a warm-up, then a measured run with
 * the CPU time of the proxy's and the predictor's processes read just before and just after it.
 */
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { otherTicksBetween, snapshotMachine, snapshotTree, ticksBetween, type CpuSnapshot } from './proc-cpu.js';

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

function fire(url: string, settings: LoadSettings, durationS: number): Promise<Fired> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  return new Promise((resolve, reject) => {
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
}

export async function runTarget(target: string, url: string, settings: LoadSettings, cpu: CpuWatch): Promise<TargetRun> {
  const warm = settings.warmupS > 0 ? await fire(url, settings, settings.warmupS) : undefined;

  const snap = (pid: number | undefined): CpuSnapshot | undefined =>
    pid !== undefined && cpu.ticksPerSecond !== undefined ? snapshotTree(pid) : undefined;
  const proxyBefore = snap(cpu.proxyPid);
  const predictorBefore = snap(cpu.predictorPid);
  const clientBefore = process.cpuUsage();
  const machineBefore = cpu.ticksPerSecond !== undefined ? snapshotMachine() : undefined;
  const startedAt = performance.now();
  const { result, latenciesMs } = await fire(url, settings, settings.durationS);
  const wallS = (performance.now() - startedAt) / 1000;
  const client = process.cpuUsage(clientBefore);
  const machineAfter = cpu.ticksPerSecond !== undefined ? snapshotMachine() : undefined;
  const proxyAfter = snap(cpu.proxyPid);
  const predictorAfter = snap(cpu.predictorPid);

  const ok = result['2xx'];
  const cpuMs = (before?: CpuSnapshot, after?: CpuSnapshot): number | null =>
    before && after && cpu.ticksPerSecond ? (ticksBetween(before, after) * 1000) / cpu.ticksPerSecond : null;
  const perRequest = (ms: number | null): number | null => (ms === null || ok === 0 ? null : (ms * 1000) / ok);
  const proxyCpuMs = cpuMs(proxyBefore, proxyAfter);
  const predictorCpuMs = cpuMs(predictorBefore, predictorAfter);
  let otherCpus: number | null = null;
  if (cpu.ticksPerSecond && machineBefore && machineAfter) {
    const ours = new Set([process.pid, ...(proxyAfter?.keys() ?? []), ...(predictorAfter?.keys() ?? [])]);
    otherCpus = otherTicksBetween(machineBefore, machineAfter, ours) / cpu.ticksPerSecond / wallS;
  }
  return {
    target,
    url,
    rps: ok / wallS,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    wallS,
    proxyCpuMs,
    proxyCpuUsPerReq: perRequest(proxyCpuMs),
    predictorCpuMs,
    predictorCpuUsPerReq: perRequest(predictorCpuMs),
    clientCpuUsPerReq: perRequest((client.user + client.system) / 1000),
    otherCpus,
    warmupNon2xx: warm?.result.non2xx ?? 0,
    warmupErrors: warm?.result.errors ?? 0,
  };
}

/**
 * One replica of a local revision: its processes on free ports, from spawn to exit — the app alone,
 * or the app behind its own queue-proxy (replica-processes.ts says which runs; this file does not
 * care beyond where to probe).
 *
 *   starting ──first 2xx/3xx probe──► ready ──┐
 *      │                                      ├── stop(): draining, SIGTERM, SIGKILL ──► stopping ──► exited
 *      └──────── exit, readiness timeout, failed liveness (SIGKILL) ───────────────────────────────────► exited
 *
 * The replica reports through two hooks: `ready` and `exit`. An exit is `expected` only when stop()
 * came first; anything else is a crash the driver replaces.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createEndpoint, type Endpoint } from '../core/endpoint.js';
import { freePorts } from './free-port.js';
import type { LocalDriverTimings } from './local-options.js';
import { QueueProxiedApp } from './queue-proxied-app.js';
import { Http2Prober } from './http2-probe.js';
import { http1Prober, type ProbeResult, type Prober } from './readiness-probe.js';
import type { ReplicaLinker } from './replica-link.js';
import { AppProcess, type ReplicaProcesses, type ReplicaSpec } from './replica-processes.js';

export type { ReplicaSpec } from './replica-processes.js';
/** Port (on the replica's host) and path of the readiness and liveness probes. */
type ProbeAt = ReplicaProcesses['probe'];

/**
 * How a replica is probed: the way its requests will go (the link's client and TLS), at the probe's
 * port and path.
 *  - HTTP/1.1 (`http1`), cleartext or over TLS;
 *  - HTTP/2 (`h2c` in cleartext, `h2` over TLS): a GET of the readiness path, or the gRPC health
 *    check with `readinessProbe: grpc`;
 *  - `auto` over TLS: HTTP/1.1 over TLS (ALPN http/1.1), which a server that lets ALPN choose
 *    accepts; an HTTP/2-only server is `protocol: h2`.
 * Behind a queue-proxy the probe is its admin port's `/readyz`, cleartext HTTP/1.1 (the config
 * refuses h2c and TLS there, as the queue-proxy forwards and listens in cleartext HTTP/1.1).
 */
function replicaProber(spec: ReplicaSpec, host: string, at: ProbeAt, linker: ReplicaLinker): Prober {
  if (spec.queueProxy) return http1Prober(host, at.port, at.path);
  const link = linker(host, at.port, spec.protocol, spec.upstreamTls);
  if (link.client !== 'h2') return http1Prober(host, at.port, at.path, link.connectTls);
  const how = spec.readinessProbe === 'grpc' ? ({ kind: 'grpc' } as const) : ({ kind: 'http', path: at.path } as const);
  return new Http2Prober(host, at.port, how, link.connectTls);
}
export type ReplicaState = 'starting' | 'ready' | 'stopping' | 'exited';

/**
 * How a replica ended when nobody stopped it: it exited, it never ran (`spawn`: no such command
 * or directory), it was killed for not getting ready in time (`readiness`) or for failing its
 * liveness probes, or the gateway could not supervise it (`internal`: no free port …).
 */
export type ExitCause = 'exit' | 'spawn' | 'readiness' | 'liveness' | 'internal';

export interface ReplicaExit {
  /** True when stop() came before the exit. */
  expected: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why the replica was killed or never ran (spawn error, readiness timeout, liveness). */
  reason?: string;
  cause: ExitCause;
  /** The last lines the app wrote to stderr; '' when none. */
  output: string;
}

export interface ReplicaHooks {
  ready(replica: LocalReplica): void;
  exit(replica: LocalReplica, exit: ReplicaExit): void;
}

export interface ReplicaContext {
  host: string;
  /** Already bound to the revision. */
  log: Logger;
  timings: LocalDriverTimings;
  /** How the gateway reaches the replica, so probes go the same way. */
  link: ReplicaLinker;
}

export class LocalReplica {
  state: ReplicaState = 'starting';
  /** Where the gateway sends requests; 0 until the ports are chosen. */
  port = 0;
  /** Set once ready; its `draining` turns true when the replica leaves the ready set. */
  endpoint: Endpoint | undefined;
  /** Date.now() when it became ready; 0 before. */
  readyAt = 0;
  readonly exited: Promise<ReplicaExit>;

  private processes: ReplicaProcesses | undefined;
  private resolveExited!: (exit: ReplicaExit) => void;
  /** Aborts probe sleeps when the replica stops or dies. */
  private readonly probes = new AbortController();
  /** One kept connection for all probes of this replica; set when its processes start. */
  private prober: Prober | undefined;
  private killReason: string | undefined;
  private killCause: ExitCause = 'exit';
  private drainDeadline = Infinity;
  private graceMs = Infinity;

  constructor(
    /** Creation order within the driver; higher is newer. */
    readonly seq: number,
    private readonly spec: ReplicaSpec,
    private readonly ctx: ReplicaContext,
    private readonly hooks: ReplicaHooks,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  /** The app's pid; undefined before the spawn (or when it failed). */
  get pid(): number | undefined {
    return this.processes?.pid;
  }

  /** Every process of the replica still running (the app, and its queue-proxy when it has one). */
  get pids(): number[] {
    return this.processes?.pids ?? [];
  }

  /** Pick ports, spawn, probe; returns at once, never throws. */
  start(): void {
    this.run().catch((err: unknown) => {
      this.ctx.log.error({ err, pid: this.pid }, 'replica supervision failed');
      this.fail(`supervision failed: ${String(err)}`, 'internal');
    });
  }

  /**
   * Leave the ready set, wait for in-flight requests (at most `drainMs`), SIGTERM, SIGKILL after
   * `graceMs`. Calling again can only shorten the bounds (close() hurries a slow scale-down).
   */
  stop(drainMs: number, graceMs: number): Promise<ReplicaExit> {
    this.drainDeadline = Math.min(this.drainDeadline, Date.now() + drainMs);
    this.graceMs = Math.min(this.graceMs, graceMs);
    if (this.state === 'starting' || this.state === 'ready') {
      this.state = 'stopping';
      this.stopProbes();
      if (this.endpoint) this.endpoint.draining = true;
      void this.terminate();
    }
    return this.exited;
  }

  private async run(): Promise<void> {
    const behindQueueProxy = this.spec.queueProxy;
    let ports: number[];
    try {
      ports = await freePorts(this.ctx.host, behindQueueProxy ? 3 : 1);
    } catch (err) {
      this.finish({ code: null, signal: null, reason: `no free port: ${(err as Error).message}`, output: '' }, 'internal');
      return;
    }
    if (this.state !== 'starting') {
      this.finish({ code: null, signal: null, reason: 'stopped before spawn', output: '' }, 'internal');
      return;
    }
    this.port = ports[0]!;
    const processes = behindQueueProxy
      ? new QueueProxiedApp(this.spec, this.ctx.host, { port: this.port, appPort: ports[1]!, adminPort: ports[2]! }, this.ctx.log)
      : new AppProcess(this.spec, this.port, this.ctx.log);
    this.processes = processes;
    void processes.exited.then((exit) => this.finish(exit, exit.spawnFailed === true ? 'spawn' : 'exit'));
    // A failed spawn (ENOENT command or cwd) has no pid; its exit follows at once.
    if (processes.pid === undefined) return;
    this.ctx.log.info(processes.describe(), 'replica started');
    this.prober = replicaProber(this.spec, this.ctx.host, processes.probe, this.ctx.link);
    if (await this.waitReady(this.prober)) await this.watchLiveness(this.prober);
  }

  /**
   * Probe until the first 2xx/3xx: every 2 ms while refused, every 5 ms while answering not-ready.
   * True when the replica became ready.
   */
  private async waitReady(prober: Prober): Promise<boolean> {
    const t = this.ctx.timings;
    const timeoutMs = this.spec.readinessTimeoutSeconds * 1000;
    let last: ProbeResult | undefined;
    const timer = setTimeout(() => {
      const probed = last === undefined ? 'no answer yet' : last === 'refused' ? 'connection refused' : (prober.lastError ?? 'not 2xx/3xx');
      this.fail(`not ready within ${timeoutMs} ms (readiness probe ${prober.describe}: ${probed})`, 'readiness');
    }, timeoutMs);
    try {
      while (this.state === 'starting' && this.killReason === undefined) {
        const result = await prober.probe(t.probeTimeoutMs);
        last = result;
        if (this.state !== 'starting' || this.killReason !== undefined) return false;
        if (result === 'ready') {
          this.becomeReady();
          return true;
        }
        const wait = result === 'refused' ? t.refusedProbeIntervalMs : t.probeIntervalMs;
        await sleep(wait, undefined, { signal: this.probes.signal });
      }
    } catch {
      // aborted: the replica stopped or died
    } finally {
      clearTimeout(timer);
    }
    return false;
  }

  private becomeReady(): void {
    this.state = 'ready';
    this.readyAt = Date.now();
    const host = this.ctx.host.includes(':') ? `[${this.ctx.host}]` : this.ctx.host;
    this.endpoint = createEndpoint(`http://${host}:${this.port}`);
    const statsUrl = this.processes?.statsUrl;
    if (statsUrl !== undefined) this.endpoint.statsUrl = statsUrl;
    this.ctx.log.info({ pid: this.pid, port: this.port }, 'replica ready');
    this.callHook(() => this.hooks.ready(this));
  }

  /** Slow check after readiness; process exit stays the main death signal. */
  private async watchLiveness(prober: Prober): Promise<void> {
    const t = this.ctx.timings;
    if (t.livenessIntervalMs <= 0) {
      prober.close();
      return;
    }
    let failures = 0;
    try {
      while (this.state === 'ready' && this.killReason === undefined) {
        await sleep(t.livenessIntervalMs, undefined, { signal: this.probes.signal });
        const result = await prober.probe(t.livenessTimeoutMs);
        if (this.state !== 'ready') return;
        failures = result === 'ready' ? 0 : failures + 1;
        if (failures >= t.livenessFailureThreshold) this.fail(`failed ${failures} liveness probes in a row`, 'liveness');
      }
    } catch {
      // aborted
    }
  }

  private async terminate(): Promise<void> {
    if (this.processes === undefined) return; // run() sees 'stopping' when its ports arrive and spawns nothing
    const endpoint = this.endpoint;
    while (endpoint !== undefined && endpoint.inflight > 0 && this.state === 'stopping') {
      const left = this.drainDeadline - Date.now();
      if (left <= 0) {
        this.ctx.log.info({ pid: this.pid, inflight: endpoint.inflight }, 'drain timeout, terminating with requests in flight');
        break;
      }
      await sleep(Math.min(this.ctx.timings.drainPollMs, left));
    }
    if (this.state !== 'stopping') return;
    this.processes.terminate(this.graceMs);
  }

  /** Kill a replica that failed on its own terms; its exit is reported as unexpected. */
  private fail(reason: string, cause: ExitCause): void {
    if (this.state === 'exited' || this.state === 'stopping' || this.killReason !== undefined) return;
    this.killReason = reason;
    this.killCause = cause;
    this.stopProbes();
    this.ctx.log.warn({ pid: this.pid, reason }, 'killing replica');
    if (this.processes === undefined) this.finish({ code: null, signal: null, output: '' }, cause);
    else this.processes.kill();
  }

  private stopProbes(): void {
    this.probes.abort();
    this.prober?.close();
  }

  private finish(outcome: Omit<ReplicaExit, 'expected' | 'cause'>, cause: ExitCause): void {
    if (this.state === 'exited') return;
    const exit: ReplicaExit = {
      ...outcome,
      expected: this.state === 'stopping',
      reason: this.killReason ?? outcome.reason,
      cause: this.killReason !== undefined ? this.killCause : cause,
    };
    this.state = 'exited';
    this.stopProbes();
    if (this.endpoint) this.endpoint.draining = true;
    this.resolveExited(exit);
    this.callHook(() => this.hooks.exit(this, exit));
  }

  private callHook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.log.error({ err, pid: this.pid }, 'replica hook failed');
    }
  }
}

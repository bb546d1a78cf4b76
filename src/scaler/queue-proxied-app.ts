/**
 * A local replica behind its own queue-proxy, laid out as a Knative pod is:
 *
 *   gateway ──► queue-proxy :port (breaker, per-second counts) ──► app :appPort
 *   driver probes, autoscaler ──► queue-proxy :adminPort  /readyz (follows the app), /api/v1/stats
 *
 * The driver runs both processes itself instead of letting the queue-proxy start the app: the
 * driver is the one place that can always clean up. It kills with SIGKILL (startup timeout, failed
 * liveness, the end of the grace period, the reaper when the gateway exits), and a queue-proxy killed
 * that way could not stop a child of its own — the app would outlive its replica. Holding both
 * processes, the driver stops them in the kubelet's order and never leaves one behind.
 *
 * - They live and die together: whichever exits on its own first, the other gets SIGKILL and the
 *   replica is dead (the driver takes it out of the ready set and replaces it).
 * - Orderly stop: SIGTERM to the queue-proxy, which fails readiness and drains what it still holds
 *   (no quiet period: the replica left the gateways' ready set before the signal); once it has
 *   exited, SIGTERM to the app. One grace period bounds both, as terminationGracePeriodSeconds
 *   bounds a pod: whatever still runs when it ends gets SIGKILL.
 */
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { formatHostPort } from '../net-address.js';
import { spawnApp, type ReplicaProcesses, type ReplicaSpec } from './replica-processes.js';
import { SupervisedChild, type ChildExit } from './supervised-child.js';

/**
 * The built CLI: `dist/cli.js`, one directory up from this module once compiled
 * (dist/scaler/queue-proxied-app.js). Run from the sources (a test runner loading src/…/*.ts) there
 * is no compiled CLI beside it, and the build's is used.
 */
const SLUICE_CLI = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('../../dist/cli.js', import.meta.url) : new URL('../cli.js', import.meta.url),
);

/** Ports of one queue-proxied replica, all on the replica's host. */
export interface QueueProxiedPorts {
  /** The queue-proxy's data port: the replica's endpoint. */
  port: number;
  /** The app's own port (env PORT), reached only through the queue-proxy. */
  appPort: number;
  /** The queue-proxy's admin port: probes and stats. */
  adminPort: number;
}

/** `sluice queue-proxy` arguments for one replica. */
function queueProxyArgs(spec: ReplicaSpec, host: string, ports: QueueProxiedPorts): string[] {
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return [
    SLUICE_CLI,
    'queue-proxy',
    '--upstream',
    `http://${hostInUrl}:${ports.appPort}`,
    '--container-concurrency',
    String(spec.containerConcurrency),
    '--listen',
    formatHostPort(host, ports.port),
    '--admin',
    formatHostPort(host, ports.adminPort),
    '--readiness-path',
    spec.readinessPath,
    '--drain-quiet-seconds',
    '0',
    // Its drain ends before the grace period does, so it exits on its own and the app gets SIGTERM.
    '--drain-timeout-seconds',
    String(spec.terminationGraceSeconds),
    '--timeout-seconds',
    String(spec.timeoutSeconds),
    '--log-format',
    'json',
  ];
}

export class QueueProxiedApp implements ReplicaProcesses {
  readonly probe: { port: number; path: string };
  readonly statsUrl: string;
  readonly exited: Promise<ChildExit>;
  private readonly app: SupervisedChild;
  /** Not started when the app failed to spawn. */
  private readonly queueProxy: SupervisedChild | undefined;
  private stopping = false;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    spec: ReplicaSpec,
    host: string,
    readonly ports: QueueProxiedPorts,
    log: Logger,
  ) {
    const hostInUrl = host.includes(':') ? `[${host}]` : host;
    this.probe = { port: ports.adminPort, path: '/readyz' };
    this.statsUrl = `http://${hostInUrl}:${ports.adminPort}/api/v1/stats`;
    this.app = spawnApp(spec, ports.appPort, log, { process: 'app' });
    if (this.app.pid === undefined) {
      this.exited = this.app.exited.then((exit) => ({ ...exit, reason: `app: ${exit.reason ?? 'spawn failed'}` }));
      return;
    }
    const queueProxy = new SupervisedChild({ command: process.execPath, args: queueProxyArgs(spec, host, ports), env: process.env }, log, {
      process: 'queue-proxy',
    });
    this.queueProxy = queueProxy;

    // The first exit decides how the replica ended; the other process follows it.
    const first = Promise.race([
      this.app.exited.then((exit) => ({ name: 'app', exit, stopping: this.stopping })),
      queueProxy.exited.then((exit) => ({ name: 'queue-proxy', exit, stopping: this.stopping })),
    ]);
    // Without its app the queue-proxy only answers 502s.
    void this.app.exited.then(() => queueProxy.signal('SIGKILL'));
    // The queue-proxy going first is the orderly order while stopping; otherwise the replica is dead.
    void queueProxy.exited.then(() => this.app.signal(this.stopping ? 'SIGTERM' : 'SIGKILL'));
    this.exited = Promise.all([first, this.app.exited, queueProxy.exited]).then(([{ name, exit, stopping }, appExit]) => {
      clearTimeout(this.killTimer);
      if (stopping) return appExit;
      return { code: exit.code, signal: exit.signal, reason: `${name} exited (${exit.reason ?? describeExit(exit)})`, output: exit.output };
    });
  }

  get pid(): number | undefined {
    return this.app.pid;
  }

  get pids(): number[] {
    return [this.app, this.queueProxy].flatMap((c) => (c !== undefined && c.running && c.pid !== undefined ? [c.pid] : []));
  }

  terminate(graceMs: number): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.queueProxy?.running) this.queueProxy.signal('SIGTERM');
    else this.app.signal('SIGTERM');
    this.killTimer = setTimeout(() => this.kill(), graceMs);
  }

  kill(): void {
    this.queueProxy?.signal('SIGKILL');
    this.app.signal('SIGKILL');
  }

  describe(): Record<string, unknown> {
    return {
      pid: this.pid,
      queueProxyPid: this.queueProxy?.pid,
      port: this.ports.port,
      appPort: this.ports.appPort,
      adminPort: this.ports.adminPort,
    };
  }
}

function describeExit(exit: ChildExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
}

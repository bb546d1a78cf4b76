/**
 * What runs for one local replica, and how it is stopped. Two shapes, chosen by the revision:
 *
 *  - the app alone (default): the revision's command on the replica's port, probed on its
 *    readiness path;
 *  - behind a queue-proxy (`queueProxy: true`): the command on a private port and its own
 *    `sluice queue-proxy` on the replica's port (queue-proxied-app.ts).
 *
 * LocalReplica owns the lifecycle (probes, drain, hooks) and sees either shape through
 * ReplicaProcesses, so it reads the same whichever runs.
 */
import type { Logger } from 'pino';
import type { Revision } from '../config/load.js';
import type { LocalRevision } from '../config/schema.js';
import { SupervisedChild, type ChildExit } from './supervised-child.js';

export type ReplicaSpec = Pick<
  LocalRevision,
  | 'command'
  | 'args'
  | 'env'
  | 'cwd'
  | 'readinessPath'
  | 'readinessProbe'
  | 'protocol'
  | 'readinessTimeoutSeconds'
  | 'queueProxy'
  | 'containerConcurrency'
  | 'timeoutSeconds'
  | 'terminationGraceSeconds'
> &
  Pick<Revision, 'upstreamTls'>;

export interface ReplicaProcesses {
  /** The app's pid (what logs call the replica's pid); undefined when it failed to spawn. */
  readonly pid: number | undefined;
  /** Every process of the replica that has not exited yet. */
  readonly pids: number[];
  /** Readiness and liveness are probed at this port of the replica's host and this path. */
  readonly probe: { port: number; path: string };
  /** Where the autoscaler reads the replica's queue-proxy stats, when it has one. */
  readonly statsUrl?: string;
  /** Resolves once no process of the replica is left, with the exit that ended it. */
  readonly exited: Promise<ChildExit>;
  /** Orderly stop: SIGTERM, then SIGKILL whatever is left after `graceMs`. */
  terminate(graceMs: number): void;
  /** SIGKILL everything now. */
  kill(): void;
  /** Fields for the `replica started` log line. */
  describe(): Record<string, unknown>;
}

/** Start the revision's command with env PORT = `port`, and `${PORT}` in its args replaced. */
export function spawnApp(spec: ReplicaSpec, port: number, log: Logger, fields: Record<string, unknown> = {}): SupervisedChild {
  const args = spec.args.map((arg) => arg.replaceAll('${PORT}', String(port)));
  const env = { ...process.env, ...spec.env, PORT: String(port) };
  return new SupervisedChild({ command: spec.command, args, env, cwd: spec.cwd }, log, fields);
}

/** The app alone on the replica's port. */
export class AppProcess implements ReplicaProcesses {
  readonly probe: { port: number; path: string };
  readonly exited: Promise<ChildExit>;
  private readonly app: SupervisedChild;

  constructor(
    spec: ReplicaSpec,
    readonly port: number,
    log: Logger,
  ) {
    this.app = spawnApp(spec, port, log);
    this.exited = this.app.exited;
    this.probe = { port, path: spec.readinessPath };
  }

  get pid(): number | undefined {
    return this.app.pid;
  }

  get pids(): number[] {
    return this.app.running && this.app.pid !== undefined ? [this.app.pid] : [];
  }

  terminate(graceMs: number): void {
    this.app.signal('SIGTERM');
    const killTimer = setTimeout(() => this.app.signal('SIGKILL'), graceMs);
    void this.exited.then(() => clearTimeout(killTimer));
  }

  kill(): void {
    this.app.signal('SIGKILL');
  }

  describe(): Record<string, unknown> {
    return { pid: this.pid, port: this.port };
  }
}

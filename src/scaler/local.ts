/**
 * The local driver: each replica of a `backend: local` revision is a child process of the gateway
 * (two with `queueProxy: true`: the app and its own queue-proxy in front of it).
 *
 * setReplicas records the wish and reconciles at once: missing replicas are spawned (after the crash
 * backoff, if one is running), surplus ones are stopped — not-yet-ready first, then the newest ready.
 * The published endpoint set is derived from replica states after every change, so a replica joins it
 * on its first good readiness probe and leaves it the moment it is stopped or dies.
 */
import type { Logger } from 'pino';
import type { Revision } from '../config/load.js';
import type { LocalRevision } from '../config/schema.js';
import { SluiceError } from '../errors.js';
import type { EndpointsListener, ScalerDriver } from './driver.js';
import type { ReplicaCounts, RevisionKey } from '../core/revision.js';
import type { Endpoint } from '../core/endpoint.js';
import { resolveLocalOptions, type LocalDriverOptions, type LocalDriverTimings } from './local-options.js';
import { LocalReplica, type ReplicaExit } from './local-replica.js';
import type { ReplicaLinker } from './replica-link.js';
import { localCondition, type StartFailure } from './local-condition.js';
import { sameCondition, type ConditionListener, type RevisionCondition } from '../core/condition.js';

export type { LocalDriverOptions } from './local-options.js';

interface ManagedRevision {
  key: RevisionKey;
  /** Used for replicas started from now on; running ones keep the spec they started with. */
  spec: LocalRevision & Pick<Revision, 'upstreamTls'>;
  log: Logger;
  desired: number;
  /** Every replica not yet exited: starting, ready or stopping. */
  replicas: Set<LocalReplica>;
  /** The last set handed to listeners. */
  published: readonly Endpoint[];
  /** Delay before the next restart after a crash; doubles per crash up to the ceiling. */
  backoffMs: number;
  lastCrashAt: number;
  /** No spawn before this Date.now(). */
  nextSpawnAt: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** remove() is in progress: desired stays 0. */
  removing: boolean;
  /** Starts that failed in a row (exit before ready, or within backoffResetMs of it); 0 once a replica stays up that long. */
  failedStarts: number;
  /** The last failed start, until a replica is ready. */
  failure: StartFailure | undefined;
  /** The last condition handed to condition listeners. */
  condition: RevisionCondition;
}

/** Active replicas: alive and not being stopped. */
function isActive(replica: LocalReplica): boolean {
  return replica.state === 'starting' || replica.state === 'ready';
}

/**
 * Scale-down order: not-yet-ready before ready (they serve nothing yet); among ready ones the most
 * recently ready first, keeping the replicas that have warmed up longest.
 */
function stopFirst(a: LocalReplica, b: LocalReplica): number {
  const rank = (r: LocalReplica): number => (r.state === 'ready' ? 1 : 0);
  return rank(a) - rank(b) || b.readyAt - a.readyAt || b.seq - a.seq;
}

export class LocalDriver implements ScalerDriver {
  private readonly log: Logger;
  private readonly host: string;
  private readonly timings: LocalDriverTimings;
  private readonly link: ReplicaLinker;
  private readonly revisions = new Map<RevisionKey, ManagedRevision>();
  private readonly listeners: EndpointsListener[] = [];
  private readonly conditionListeners: ConditionListener[] = [];
  private seq = 0;
  private closed = false;

  constructor(options: LocalDriverOptions) {
    const resolved = resolveLocalOptions(options);
    this.log = resolved.logger;
    this.host = resolved.host;
    this.timings = resolved.timings;
    this.link = options.link;
  }

  add(key: RevisionKey, revision: Revision): void {
    if (revision.backend !== 'local') {
      throw new SluiceError('invalid_config', 400, `${key}: the local driver runs backend "local", not "${revision.backend}"`);
    }
    const existing = this.revisions.get(key);
    if (existing) {
      existing.spec = revision;
      existing.removing = false;
      return;
    }
    this.revisions.set(key, {
      key,
      spec: revision,
      log: this.log.child({ revision: key }),
      desired: 0,
      replicas: new Set(),
      published: [],
      backoffMs: this.timings.restartBackoffMs,
      lastCrashAt: 0,
      nextSpawnAt: 0,
      restartTimer: undefined,
      removing: false,
      failedStarts: 0,
      failure: undefined,
      condition: localCondition(
        { desired: 0, ready: 0, failedStarts: 0, threshold: revision.startFailureThreshold, failure: undefined },
        Date.now(),
      ),
    });
  }

  setReplicas(key: RevisionKey, n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new SluiceError('bad_request', 400, `${key}: replicas: want an integer ≥ 0, got ${n}`);
    const rev = this.revision(key);
    if (rev.removing) return;
    rev.desired = n;
    this.reconcile(rev);
    this.updateCondition(rev);
  }

  replicas(key: RevisionKey): ReplicaCounts {
    const rev = this.revisions.get(key);
    if (!rev) return { desired: 0, actual: 0, ready: 0 };
    let actual = 0;
    for (const replica of rev.replicas) if (isActive(replica)) actual++;
    return { desired: rev.desired, actual, ready: rev.published.length };
  }

  /**
   * Process ids of the revision's replicas that have not exited yet: one per replica, two for one
   * behind a queue-proxy (the app and its queue-proxy).
   */
  pids(key: RevisionKey): number[] {
    const rev = this.revisions.get(key);
    return rev ? [...rev.replicas].flatMap((replica) => replica.pids) : [];
  }

  onEndpoints(listener: EndpointsListener): void {
    this.listeners.push(listener);
  }

  condition(key: RevisionKey): RevisionCondition {
    return this.revision(key).condition;
  }

  onCondition(listener: ConditionListener): void {
    this.conditionListeners.push(listener);
  }

  async remove(key: RevisionKey): Promise<void> {
    const rev = this.revisions.get(key);
    if (!rev) return;
    rev.removing = true;
    rev.desired = 0;
    clearTimeout(rev.restartTimer);
    rev.restartTimer = undefined;
    this.reconcile(rev);
    await this.allExited([rev]);
    if (rev.removing && this.revisions.get(key) === rev) this.revisions.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    const revisions = [...this.revisions.values()];
    for (const rev of revisions) {
      rev.desired = 0;
      clearTimeout(rev.restartTimer);
      rev.restartTimer = undefined;
      const drainMs = Math.min(rev.spec.drainTimeoutSeconds * 1000, this.timings.closeDrainTimeoutMs);
      for (const replica of rev.replicas) void replica.stop(drainMs, rev.spec.terminationGraceSeconds * 1000);
      this.publish(rev);
    }
    await this.allExited(revisions);
  }

  private revision(key: RevisionKey): ManagedRevision {
    const rev = this.revisions.get(key);
    if (!rev) throw new SluiceError('not_found', 404, `${key}: not managed by the local driver`);
    return rev;
  }

  /** Bring the active replica count to `desired`. Synchronous; spawning and stopping run on their own. */
  private reconcile(rev: ManagedRevision): void {
    if (this.closed) return;
    const active = [...rev.replicas].filter(isActive);
    if (active.length > rev.desired) {
      const victims = active.sort(stopFirst).slice(0, active.length - rev.desired);
      for (const replica of victims) {
        void replica.stop(rev.spec.drainTimeoutSeconds * 1000, rev.spec.terminationGraceSeconds * 1000);
      }
      this.publish(rev);
      return;
    }
    const missing = rev.desired - active.length;
    if (missing <= 0 || rev.restartTimer !== undefined) return;
    const wait = rev.nextSpawnAt - Date.now();
    if (wait > 0) {
      rev.restartTimer = setTimeout(() => {
        rev.restartTimer = undefined;
        this.reconcile(rev);
      }, wait);
      return;
    }
    for (let i = 0; i < missing; i++) this.spawn(rev);
  }

  private spawn(rev: ManagedRevision): void {
    const replica = new LocalReplica(
      ++this.seq,
      rev.spec,
      { host: this.host, log: rev.log, timings: this.timings, link: this.link },
      { ready: (r) => this.replicaReady(rev, r), exit: (r, exit) => this.replicaExited(rev, r, exit) },
    );
    rev.replicas.add(replica);
    replica.start();
  }

  private replicaReady(rev: ManagedRevision, replica: LocalReplica): void {
    rev.failure = undefined;
    // A replica that stays up this long ends the run of failed starts.
    setTimeout(() => {
      if (replica.state === 'ready') rev.failedStarts = 0;
    }, this.timings.backoffResetMs).unref();
    this.publish(rev);
  }

  private replicaExited(rev: ManagedRevision, replica: LocalReplica, exit: ReplicaExit): void {
    rev.replicas.delete(replica);
    const { code, signal, reason } = exit;
    if (exit.expected) {
      rev.log.info({ pid: replica.pid, code, signal }, 'replica stopped');
    } else {
      const restartInMs = this.noteCrash(rev, replica);
      this.noteFailedStart(rev, replica, exit);
      const replaced = !this.closed && !rev.removing && rev.desired > [...rev.replicas].filter(isActive).length;
      rev.log.warn(
        { pid: replica.pid, replica: replica.seq, code, signal, reason, restartInMs: replaced ? restartInMs : undefined },
        'replica exited unexpectedly',
      );
      // What the replica said before it died, one warn line each, so the log tells why.
      for (const line of exit.output.split('\n')) {
        if (line !== '')
          rev.log.warn({ replica: replica.seq, pid: replica.pid, stream: 'stderr' }, `${rev.key} replica ${replica.seq}: ${line}`);
      }
    }
    this.publish(rev);
    this.reconcile(rev);
    this.updateCondition(rev);
  }

  /**
   * Count a start that failed: the replica died before it was ready or within backoffResetMs of it
   * (a replica that stayed up longer ended the run already, and its crash starts a new one at 0).
   */
  private noteFailedStart(rev: ManagedRevision, replica: LocalReplica, exit: ReplicaExit): void {
    const wasReady = replica.readyAt > 0;
    if (wasReady && Date.now() - replica.readyAt >= this.timings.backoffResetMs) {
      rev.failedStarts = 0;
      return;
    }
    rev.failedStarts++;
    rev.failure = { cause: exit.cause, code: exit.code, signal: exit.signal, reason: exit.reason, wasReady, output: exit.output };
  }

  /** Recompute the condition; tell listeners when it changed. */
  private updateCondition(rev: ManagedRevision): void {
    const input = {
      desired: rev.desired,
      ready: rev.published.length,
      failedStarts: rev.failedStarts,
      threshold: rev.spec.startFailureThreshold,
      failure: rev.failure,
    };
    const next = localCondition(input, Date.now(), rev.condition);
    if (sameCondition(rev.condition, next)) return;
    const before = rev.condition;
    rev.condition = next;
    if (next.status !== before.status || next.reason !== before.reason) {
      const level = next.status === 'Failed' ? 'warn' : 'info';
      rev.log[level]({ status: next.status, reason: next.reason }, `revision ${next.status} (${next.reason}): ${next.message}`);
    }
    for (const listener of this.conditionListeners) {
      try {
        listener(rev.key, next);
      } catch (err) {
        rev.log.error({ err }, 'condition listener failed');
      }
    }
  }

  /**
   * Advance the crash backoff; returns the delay before the next spawn. The delay starts over after a
   * quiet spell: with backoff 400 ms and reset 10 s, a crash 10.4 s after the previous one, or of a
   * replica that had been ready for 10 s, waits 100 ms again; a crash loop waits 100, 200, 400 … 10 000.
   */
  private noteCrash(rev: ManagedRevision, replica: LocalReplica): number {
    const now = Date.now();
    const t = this.timings;
    const quiet = now - rev.lastCrashAt >= rev.backoffMs + t.backoffResetMs;
    const longReady = replica.readyAt > 0 && now - replica.readyAt >= t.backoffResetMs;
    if (quiet || longReady) rev.backoffMs = t.restartBackoffMs;
    const delay = rev.backoffMs;
    rev.backoffMs = Math.min(rev.backoffMs * 2, t.restartBackoffMaxMs);
    rev.lastCrashAt = now;
    rev.nextSpawnAt = now + delay;
    return delay;
  }

  /** Hand listeners the ready set if it changed: ready replicas in the order they became ready. */
  private publish(rev: ManagedRevision): void {
    const ready = [...rev.replicas]
      .filter((replica) => replica.state === 'ready' && replica.endpoint !== undefined)
      .sort((a, b) => a.readyAt - b.readyAt || a.seq - b.seq)
      .map((replica) => replica.endpoint as Endpoint);
    const before = rev.published;
    if (ready.length === before.length && ready.every((e, i) => e === before[i])) return;
    rev.published = ready;
    for (const listener of this.listeners) {
      try {
        listener(rev.key, ready);
      } catch (err) {
        rev.log.error({ err }, 'endpoints listener failed');
      }
    }
    this.updateCondition(rev);
  }

  /** Resolve once the revisions have no replica left, including any started meanwhile. */
  private async allExited(revisions: ManagedRevision[]): Promise<void> {
    for (;;) {
      const left = revisions.flatMap((rev) => [...rev.replicas]);
      if (left.length === 0) return;
      await Promise.all(left.map((replica) => replica.exited));
    }
  }
}

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it, so one
 * gateway replica runs the decider and patches while the others hold and forward. Expiry is judged
 * on the local clock, and a leader that cannot renew stops leading before anyone may take over.
 * Design notes: docs/kubernetes.md#leader-election.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import { pino } from 'pino';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { describeApiError, isConflict, isNotFound } from './api-error.js';
import { withDeadline } from './deadline.js';
import { microTimeNow, parseMicroTime, type MicroTime } from './micro-time.js';

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Lease name, e.g. `sluice-autoscaler`. */
  name: string;
  /** This candidate, unique among them (the pod name). */
  identity: string;
  /** How long a Lease stays valid after it last changed. Default 15. */
  leaseDurationSeconds?: number;
  /** A leader that has not renewed for this long stops leading. Default two thirds of the lease duration. */
  renewDeadlineMs?: number;
  /** Renewal period while leading; attempt period (plus up to 20 % jitter) while not. Default a third of the lease duration. */
  retryPeriodMs?: number;
  /** One API call gives up after this long. Default the retry period. */
  requestTimeoutMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** Another holder was observed; '' when the Lease was released. */
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
}

/** The Lease spec as read, times parsed. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: MicroTime | undefined;
  renewTime: MicroTime | undefined;
  leaseTransitions: number;
}

function leaseRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: parseMicroTime(spec.acquireTime),
    renewTime: parseMicroTime(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

/**
 * Whether `identity` may write itself into the Lease now. `observedAt` is when this candidate last
 * saw the Lease change (local clock). Held by b, duration 15 s, last change seen at t=100 s: a may
 * take it from t=115 s on; b may renew any time; anyone may take it at once if the holder is empty.
 */
export function mayAcquire(record: LeaseRecord, identity: string, observedAt: number, now: number): boolean {
  if (record.holderIdentity === '' || record.holderIdentity === identity) return true;
  return now >= observedAt + record.leaseDurationSeconds * 1000;
}

interface Observed {
  record: LeaseRecord;
  resourceVersion: string;
  /** Local time this resourceVersion was first seen. */
  at: number;
}

interface Timings {
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  requestTimeoutMs: number;
}

function resolveTimings(o: LeaderElectorOptions): Timings {
  const fail = (msg: string): never => {
    throw new SluiceError('invalid_config', 400, `leader election: ${msg}`);
  };
  const lease = o.leaseDurationSeconds ?? 15;
  if (!Number.isInteger(lease) || lease < 1) fail(`leaseDurationSeconds: want an integer ≥ 1, got ${lease}`);
  const renewDeadlineMs = o.renewDeadlineMs ?? Math.round((lease * 1000 * 2) / 3);
  const retryPeriodMs = o.retryPeriodMs ?? Math.round((lease * 1000) / 3);
  if (!(renewDeadlineMs > 0 && renewDeadlineMs < lease * 1000))
    fail(`renewDeadlineMs: want more than 0 and less than the lease duration (${lease * 1000} ms), got ${renewDeadlineMs}`);
  // client-go's rule: the deadline must leave room for at least one jittered retry.
  if (!(retryPeriodMs > 0 && retryPeriodMs * 1.2 < renewDeadlineMs))
    fail(`retryPeriodMs: want more than 0 and 1.2 × it below renewDeadlineMs (${renewDeadlineMs}), got ${retryPeriodMs}`);
  const requestTimeoutMs = o.requestTimeoutMs ?? retryPeriodMs;
  if (!(requestTimeoutMs > 0)) fail(`requestTimeoutMs: want more than 0, got ${requestTimeoutMs}`);
  if (o.identity === '') fail('identity: want a non-empty name');
  return { leaseDurationSeconds: lease, renewDeadlineMs, retryPeriodMs, requestTimeoutMs };
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly timings: Timings;
  private readonly log: Logger;
  private observed: Observed | undefined;
  private leading = false;
  private lastRenewAt = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.timings = resolveTimings(options);
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  /** Start competing; the first attempt is immediate. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed ('' for none, undefined before the first read). */
  leader(): string | undefined {
    return this.observed?.record.holderIdentity;
  }

  /**
   * Stop competing. A leader stops leading (onStoppedLeading) and, unless `release: false`, clears
   * the Lease so another candidate takes over at once; without release the others wait out the lease,
   * as after a crash.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (this.leading) this.loseLeadership('stopped');
    clearTimeout(this.deadlineTimer);
    if ((options.release ?? true) && this.observed?.record.holderIdentity === this.options.identity) await this.release();
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.round().finally(() => (this.inFlight = undefined));
    }, delayMs);
  }

  private async round(): Promise<void> {
    const ok = await this.tryAcquireOrRenew();
    if (!this.running) return;
    const now = Date.now();
    if (ok) {
      this.lastRenewAt = now;
      this.armDeadline();
      if (!this.leading) {
        this.leading = true;
        this.log.info('started leading');
        this.callback(this.options.onStartedLeading);
      }
    } else if (this.leading) {
      const holder = this.observed?.record.holderIdentity;
      if (holder !== undefined && holder !== this.options.identity) this.loseLeadership(`lease taken by ${holder || 'nobody'}`);
      else if (now - this.lastRenewAt >= this.timings.renewDeadlineMs) this.loseLeadership('renew deadline passed');
    }
    const period = this.timings.retryPeriodMs;
    this.schedule(this.leading ? period : period * (1 + 0.2 * Math.random()));
  }

  /** Give up leading when no renewal succeeds within the deadline, even if a request hangs. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.leading && Date.now() - this.lastRenewAt >= this.timings.renewDeadlineMs) this.loseLeadership('renew deadline passed');
    }, this.timings.renewDeadlineMs);
    this.deadlineTimer.unref();
  }

  private loseLeadership(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.deadlineTimer);
    this.log.info({ why }, 'stopped leading');
    this.callback(this.options.onStoppedLeading);
  }

  private callback(fn: (() => void) | undefined): void {
    try {
      fn?.();
    } catch (err) {
      this.log.error({ err }, 'leader election callback failed');
    }
  }

  private observe(lease: V1Lease, now: number): Observed {
    const resourceVersion = lease.metadata?.resourceVersion ?? '';
    if (this.observed?.resourceVersion === resourceVersion) return this.observed;
    const record = leaseRecord(lease);
    const before = this.observed?.record.holderIdentity;
    this.observed = { record, resourceVersion, at: now };
    if (before !== record.holderIdentity) {
      this.log.debug({ holder: record.holderIdentity }, 'lease holder changed');
      const onNewLeader = this.options.onNewLeader;
      if (onNewLeader) this.callback(() => onNewLeader(record.holderIdentity));
    }
    return this.observed;
  }

  /** One attempt; true when this candidate holds the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = Date.now();
    const stamp = microTimeNow();
    let lease: V1Lease;
    try {
      lease = await this.call(this.api.readNamespacedLease({ name, namespace }));
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn({ error: describeApiError(err) }, 'reading the lease failed');
        return false;
      }
      try {
        const spec: V1LeaseSpec = {
          holderIdentity: identity,
          leaseDurationSeconds: this.timings.leaseDurationSeconds,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: 0,
        };
        this.observe(await this.call(this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } })), now);
        return true;
      } catch (createErr) {
        // AlreadyExists: another candidate created it first.
        this.log.debug({ error: describeApiError(createErr) }, 'creating the lease failed');
        return false;
      }
    }
    const observed = this.observe(lease, now);
    const old = observed.record;
    if (!mayAcquire(old, identity, observed.at, now)) return false;
    const mine = old.holderIdentity === identity;
    const spec: V1LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.timings.leaseDurationSeconds,
      acquireTime: mine && old.acquireTime !== undefined ? old.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: mine ? old.leaseTransitions : old.leaseTransitions + 1,
    };
    try {
      this.observe(await this.call(this.api.replaceNamespacedLease({ name, namespace, body: this.withSpec(lease, spec) })), now);
      return true;
    } catch (err) {
      if (isConflict(err)) this.log.debug('lease changed since read; reading again next round');
      else this.log.warn({ error: describeApiError(err) }, mine ? 'renewing the lease failed' : 'acquiring the lease failed');
      return false;
    }
  }

  /** Clear the holder and shorten the Lease to 1 s, keeping the transition count (client-go's release). */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    try {
      const lease = await this.call(this.api.readNamespacedLease({ name, namespace }));
      const old = leaseRecord(lease);
      if (old.holderIdentity !== identity) return;
      const stamp = microTimeNow();
      const spec: V1LeaseSpec = {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: old.leaseTransitions,
      };
      this.observe(await this.call(this.api.replaceNamespacedLease({ name, namespace, body: this.withSpec(lease, spec) })), Date.now());
      this.log.info('released the lease');
    } catch (err) {
      this.log.warn({ error: describeApiError(err) }, 'releasing the lease failed; others take over when it expires');
    }
  }

  /** The Lease to write: the read metadata (its resourceVersion the precondition) with a new spec. */
  private withSpec(lease: V1Lease, spec: V1LeaseSpec): V1Lease {
    const { name, namespace, resourceVersion, labels, annotations } = lease.metadata ?? {};
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace, resourceVersion, labels, annotations },
      spec,
    };
  }

  private call<T>(request: Promise<T>): Promise<T> {
    return withDeadline(request, this.timings.requestTimeoutMs, `lease ${this.options.namespace}/${this.options.name}`);
  }
}

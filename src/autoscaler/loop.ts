/**
 * The control loop: every tick (2 s), for each scalable revision, windows → decider → bounds →
 * scaler driver. An activation poke (a request held at zero) scales a revision up at once instead of
 * waiting for the tick.
 *
 * Bounds applied after the decider, in order (Knative's KPA reconciler):
 *  1. initial-scale right after creation, until that many replicas were ready once;
 *  2. zero only when the decider says 0, scale-to-zero is enabled, and the revision has had no
 *     traffic for the grace period (and the pod retention period); otherwise at least 1;
 *  3. min-scale while the revision is reachable (an unrouted revision may go to zero, as Knative's
 *     ScaleBounds), max-scale (0 = unbounded);
 *  4. never 0 while a request is held or in flight.
 */
import type { ScalingSpec } from '../config/scaling.js';
import type { Logger } from '../log.js';
import type { Endpoint } from '../core/endpoint.js';
import type { ReplicaCounts, RevisionKey } from '../core/revision.js';
import type { AutoscalerView } from '../core/status.js';
import { NO_EVENTS, revisionFields, type EventSink } from '../core/gateway-event.js';
import type { Revision } from '../config/load.js';
import type { ScalerDriver } from '../scaler/driver.js';
import type { SecondBuckets } from '../stats/windows.js';
import { MetricWindows, windowSpecOf } from '../stats/windows.js';
import { Decider, deciderSpec } from './kpa.js';

/**
 * Replicas a queue of `held` requests needs at the per-replica target, within max-scale: 2,000
 * held at target 70 → 29 (4 with max-scale 4); 10 held → 1.
 */
export function burstReplicas(held: number, s: Pick<ScalingSpec, 'burstTarget' | 'maxScale'>): number {
  if (held === 0) return 0;
  const n = Math.ceil(held / s.burstTarget);
  return s.maxScale > 0 ? Math.min(n, s.maxScale) : n;
}

/**
 * A revision as the loop reads it (the gateway's ScaledRevision is one): its spec, its replicas
 * and ready endpoints, what it holds and serves, and the per-second buckets its windows read. The
 * loop writes nothing into it: decisions go to the revision's driver and to `onDecision`.
 */
export interface ScaledRevision {
  readonly key: RevisionKey;
  readonly spec: Pick<Revision, 'backend' | 'scaling'>;
  readonly driver: Pick<ScalerDriver, 'setReplicas' | 'activate'>;
  readonly replicas: ReplicaCounts;
  readonly endpoints: readonly Endpoint[];
  readonly stats: { readonly active: number; readonly lastRequestAt: number };
  readonly queue: { readonly length: number };
  readonly metricBuckets: SecondBuckets;
  /** Routed: a traffic percent > 0 or a tag. */
  readonly reachable: boolean;
  /** Removed from the config: it only finishes its work. */
  readonly retired: boolean;
  /** A temporary lower bound (blue/green pre-warm, keep-warm) until `until` (wall-clock ms). */
  readonly floor: { readonly replicas: number; readonly until: number } | undefined;
}

/**
 * Why a tick changes the replica count, as the event feed says it: `scale_to_zero` for 0, `panic`
 * while panicking, `decider` when the decider's answer stands, `bounds` when a bound changed it
 * (min/max/initial scale, held requests, a floor, no data after the grace period).
 */
function scaleReason(want: number, result: { desiredPodCount: number; panicking: boolean } | undefined): string {
  if (want === 0) return 'scale_to_zero';
  if (result?.panicking) return 'panic';
  return result !== undefined && result.desiredPodCount === want ? 'decider' : 'bounds';
}

export interface LoopOptions {
  revisions: () => Iterable<ScaledRevision>;
  logger: Logger;
  /** Tick period. Default 2000 ms (Knative's). */
  tickMs?: number;
  /** Wall clock; injectable for tests. */
  now?: () => number;
  /** Reports each setReplicas call. */
  onScale?: (result: 'success' | 'error') => void;
  /** Runs after each tick (the gateway stops retired revisions that finished their work). */
  afterTick?: () => void;
  /** Each revision's windows and decision, every tick (the gateway shows them in its status). */
  onDecision?: (key: RevisionKey, view: AutoscalerView) => void;
  /**
   * Whether this gateway makes scale decisions (Kubernetes mode: only the Lease holder does).
   * Every gateway still computes its windows for status, and any may activate a revision at zero.
   * Default: always.
   */
  isLeader?: () => boolean;
  /** Where scale and panic events go (the event feed). Default: nowhere. */
  events?: EventSink;
}

interface RevisionState {
  decider: Decider;
  windows: MetricWindows;
  scaling: ScalingSpec;
  reachable: boolean;
  /** Last time the revision had a request active; starts at creation so a new revision is not idle. */
  lastActiveAt: number;
  /** True once the revision had initial-scale ready replicas (initial-scale no longer applies). */
  initialReached: boolean;
  /** The last tick that listed the revision (see tick()). */
  seenTick: number;
  /** Desired replicas as this loop last left them: a 0 → N change since then was made elsewhere. */
  seenDesired: number;
  /** The decider's last answer and excess burst capacity, kept through ticks without data. */
  desiredPodCount: number;
  excessBurstCapacity: number;
  /** Panic mode as of the last tick, so entering and leaving it are told once each. */
  panicking: boolean;
}

export class AutoscalerLoop {
  private readonly states = new Map<RevisionKey, RevisionState>();
  private readonly tickMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Ticks so far; each state is stamped with the last one that listed its revision. */
  private tickCount = 0;
  private readonly events: EventSink;

  constructor(private readonly options: LoopOptions) {
    this.tickMs = options.tickMs ?? 2000;
    this.now = options.now ?? Date.now;
    this.events = options.events ?? NO_EVENTS;
  }

  start(): void {
    if (this.timer) return;
    this.tick(this.now());
    this.timer = setInterval(() => this.tick(this.now()), this.tickMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A request is held for `rev`. At zero, scale to max(1, activation-scale) now: a cold start never
   * waits for the tick. A burst held while nothing is ready gets the replicas it needs at once
   * (burstReplicas), so it is spread over them rather than all sent to the first one ready.
   */
  poke(rev: ScaledRevision): void {
    if (rev.spec.backend === 'static') return;
    const s = rev.spec.scaling;
    const desired = rev.replicas.desired;
    if (desired > 0) {
      // Raising a revision above zero is the deciding replica's job (any one may wake it).
      if (rev.endpoints.length > 0 || (this.options.isLeader !== undefined && !this.options.isLeader())) return;
      const burst = burstReplicas(rev.queue.length, s);
      if (burst > desired) this.scale(rev, burst, 'activation_burst');
      return;
    }
    const state = this.state(rev, this.now());
    state.lastActiveAt = this.now();
    const n = Math.max(1, s.activationScale, s.minScale, burstReplicas(rev.queue.length, s));
    state.seenDesired = n;
    if (rev.driver.activate) {
      // Any replica may wake a revision; the driver makes it a 0 → n change only (a guarded write).
      const from = rev.replicas.desired;
      rev.driver.activate(rev.key, n);
      this.events.publish({ type: 'scale', ...revisionFields(rev.key), fields: { from, to: n, reason: 'activation' } });
      this.options.logger.info({ revision: rev.key, from, to: n, reason: 'activation' }, `activate ${rev.key} 0 → ${n}`);
    } else {
      this.scale(rev, n, 'activation');
    }
  }

  /** One pass over every revision. Public so tests can drive time. */
  tick(now: number): void {
    const tick = ++this.tickCount;
    for (const rev of this.options.revisions()) {
      if (rev.spec.backend === 'static') continue;
      try {
        this.evaluate(rev, now);
      } catch (err) {
        this.options.logger.error({ err, revision: rev.key }, 'autoscaler tick failed');
      }
    }
    // A revision no longer listed (removed, or now static) loses its state. A stamp per state rather
    // than a set of every key listed: at 10 000 revisions building that set each tick cost about a
    // fifth of the tick (loadtest/tick-bench.ts).
    for (const [key, st] of this.states) if (st.seenTick !== tick) this.states.delete(key);
    this.options.afterTick?.();
  }

  private state(rev: ScaledRevision, now: number): RevisionState {
    let st = this.states.get(rev.key);
    if (st === undefined) {
      st = {
        decider: new Decider(deciderSpec(rev.spec.scaling, rev.reachable), rev.endpoints.length, now),
        windows: new MetricWindows(windowSpecOf(rev.spec.scaling), now),
        scaling: rev.spec.scaling,
        reachable: rev.reachable,
        lastActiveAt: now,
        initialReached: rev.spec.scaling.initialScale === 0,
        seenTick: this.tickCount,
        seenDesired: rev.replicas.desired,
        desiredPodCount: -1,
        excessBurstCapacity: 0,
        panicking: false,
      };
      this.states.set(rev.key, st);
    } else if (st.scaling !== rev.spec.scaling || st.reachable !== rev.reachable) {
      st.scaling = rev.spec.scaling;
      st.reachable = rev.reachable;
      st.decider.update(deciderSpec(st.scaling, st.reachable));
      st.windows.update(windowSpecOf(st.scaling));
    }
    st.seenTick = this.tickCount;
    return st;
  }

  private evaluate(rev: ScaledRevision, now: number): void {
    const st = this.state(rev, now);
    const s = st.scaling;
    const stats = rev.stats;
    const ready = rev.endpoints.length;
    const w = st.windows.read(rev.metricBuckets, now, ready);
    const rpsMetric = s.metric === 'rps';
    const observedStable = rpsMetric ? w.stableRps : w.stableConcurrency;
    const observedPanic = rpsMetric ? w.panicRps : w.panicConcurrency;
    // No data in the whole stable window (at zero, no traffic): Knative keeps the scale as it is.
    const result = w.hasData ? st.decider.scale({ now, readyPods: ready, observedStable, observedPanic }) : undefined;

    const busy = stats.active > 0 || rev.queue.length > 0;
    if (busy || stats.lastRequestAt > st.lastActiveAt) st.lastActiveAt = busy ? now : stats.lastRequestAt;
    // Woken elsewhere (another gateway replica's activation): the requests it holds reach these
    // windows only through peer stats, a second or two later. Until then there is no data, and the
    // rule below would scale an idle revision straight back to zero; the grace runs from the wake-up.
    if (st.seenDesired === 0 && rev.replicas.desired > 0) st.lastActiveAt = Math.max(st.lastActiveAt, now);
    if (!st.initialReached && ready >= s.initialScale) st.initialReached = true;

    let want = result?.desiredPodCount ?? rev.replicas.desired;
    // No data, nothing ready, nothing waiting (replicas that never became ready, no traffic): after
    // the grace period give up on them rather than keep them forever.
    if (result === undefined && ready === 0 && !busy && now - st.lastActiveAt >= s.scaleToZeroGraceMs) want = 0;
    if (!st.initialReached) want = Math.max(want, s.initialScale);
    if (want < 1 && result !== undefined) {
      const idleMs = now - st.lastActiveAt;
      const mayZero = s.enableScaleToZero && idleMs >= s.scaleToZeroGraceMs && idleMs >= s.retentionMs;
      const current = rev.replicas.desired;
      want = mayZero || current === 0 ? 0 : 1;
    }
    // min-scale holds only while traffic can reach the revision: min-scale=2 on a revision whose
    // traffic moved to another one lets it drain to zero.
    if (rev.reachable) want = Math.max(want, s.minScale);
    if (!s.enableScaleToZero || busy) want = Math.max(want, 1);
    // Held requests keep the replicas they need until they are sent (the windows lag a burst).
    want = Math.max(want, burstReplicas(rev.queue.length, s));
    // A blue/green pre-warm or keep-warm floor holds until it expires.
    if (rev.floor !== undefined && now < rev.floor.until) want = Math.max(want, rev.floor.replicas);
    if (s.maxScale > 0) want = Math.min(want, s.maxScale);
    // A retired revision only finishes its work: it shrinks to what that needs, never grows.
    if (rev.retired) want = busy ? Math.max(1, Math.min(want, rev.replicas.desired)) : 0;

    if (result !== undefined) {
      st.desiredPodCount = result.desiredPodCount;
      st.excessBurstCapacity = result.excessBurstCapacity;
    }
    this.options.onDecision?.(rev.key, {
      stableConcurrency: w.stableConcurrency,
      panicConcurrency: w.panicConcurrency,
      rps: w.stableRps,
      panicMode: result?.panicking ?? false,
      desiredPodCount: st.desiredPodCount,
      excessBurstCapacity: st.excessBurstCapacity,
    });
    const panicking = result?.panicking ?? false;
    if (panicking !== st.panicking) {
      st.panicking = panicking;
      this.events.publish({ type: 'panic', ...revisionFields(rev.key), fields: { panic: panicking, desired: want, ready } });
    }
    if (this.options.isLeader && !this.options.isLeader()) {
      st.seenDesired = rev.replicas.desired;
      return;
    }
    if (want !== rev.replicas.desired) this.scale(rev, want, scaleReason(want, result));
    st.seenDesired = rev.replicas.desired;
  }

  private scale(rev: ScaledRevision, n: number, reason: string): void {
    const from = rev.replicas.desired;
    try {
      rev.driver.setReplicas(rev.key, n);
      this.options.onScale?.('success');
      this.events.publish({ type: 'scale', ...revisionFields(rev.key), fields: { from, to: n, reason } });
      this.options.logger.info({ revision: rev.key, from, to: n, reason }, `scale ${rev.key} ${from} → ${n} (${reason})`);
    } catch (err) {
      this.options.onScale?.('error');
      this.options.logger.error({ err, revision: rev.key, from, to: n }, 'scale failed');
    }
  }
}

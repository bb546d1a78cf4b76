/**
 * The KPA decider: Knative's `autoscaler.go` Scale() as a pure object. Observed load and the ready
 * endpoint count come in, a desired replica count goes out; `now` is always passed in, nothing here
 * reads a clock, touches the network or starts a timer. The only state is what Knative keeps between
 * ticks: when panic mode was last extended, the highest desire seen during this panic, and the
 * scale-down delay window. How "no data" is handled: docs/autoscaling.md#the-decider.
 */
import type { ScalingSpec } from '../config/scaling.js';

/** What the decider needs to know about a revision. Built from a ScalingSpec by deciderSpec(). */
export interface DeciderSpec {
  /** Per-pod target, utilization already applied (100 × 0.7 = 70). */
  targetValue: number;
  /** Per-pod total (containerConcurrency, or the default total). Used only for excess burst capacity. */
  totalValue: number;
  /** -1 (unlimited), 0, or > 0. */
  targetBurstCapacity: number;
  /** Ratio: 2 means 200 %. */
  panicThreshold: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  /** Panic ends once this long has passed since it was last extended. */
  stableWindowMs: number;
  /** 0 = none. */
  scaleDownDelayMs: number;
  /** <= 1 means none. */
  activationScale: number;
  /** False when no traffic target routes to the revision: scale-down is then not rate limited. */
  reachable: boolean;
}

/** The decider's view of a revision. `reachable`: some traffic target routes to it. */
export function deciderSpec(spec: ScalingSpec, reachable: boolean): DeciderSpec {
  return {
    targetValue: spec.targetValue,
    totalValue: spec.totalValue,
    targetBurstCapacity: spec.targetBurstCapacity,
    panicThreshold: spec.panicThreshold,
    maxScaleUpRate: spec.maxScaleUpRate,
    maxScaleDownRate: spec.maxScaleDownRate,
    stableWindowMs: spec.stableWindowMs,
    scaleDownDelayMs: spec.scaleDownDelayMs,
    activationScale: spec.activationScale,
    reachable,
  };
}

export interface DeciderInput {
  now: number;
  /** Ready endpoints right now (may be 0). */
  readyPods: number;
  /** Revision-wide average over the stable window (concurrency or requests per second). */
  observedStable: number;
  /** Revision-wide average over the panic window. */
  observedPanic: number;
}

export interface DeciderResult {
  desiredPodCount: number;
  /** Spare capacity beyond the target burst capacity; negative means the gateway should stay in path. */
  excessBurstCapacity: number;
  panicking: boolean;
}

/** Knative's tick interval; the scale-down delay window keeps one maximum per tick-sized bucket. */
const DELAY_BUCKET_MS = 2000;

/**
 * Maximum over a sliding time window, Knative's `max.TimeWindow`: a monotone deque (descending
 * values, ascending bucket indexes) in a fixed ring, so record() is amortised O(1) and current() O(1).
 *
 * @example new MaxTimeWindow(300_000, 2000) // 5 min scale-down delay in 2 s buckets → 150 buckets
 */
export class MaxTimeWindow {
  private readonly values: Float64Array;
  private readonly indexes: Float64Array;
  private first = 0;
  private length = 0;

  constructor(
    durationMs: number,
    readonly granularityMs = DELAY_BUCKET_MS,
  ) {
    const buckets = Math.max(1, Math.ceil(durationMs / granularityMs));
    this.values = new Float64Array(buckets);
    this.indexes = new Float64Array(buckets);
  }

  /** Record `value` in the bucket of `now`. Several values in one bucket keep the largest. */
  record(now: number, value: number): void {
    const size = this.values.length;
    const index = Math.floor(now / this.granularityMs);
    // A smaller or equal older value can never be the maximum again: the new one is larger and newer.
    while (this.length > 0 && value >= this.values[(this.first + this.length - 1) % size]!) this.length--;
    // Drop entries that left the window (oldest first).
    while (this.length > 0 && index - this.indexes[this.first]! >= size) {
      this.length--;
      this.first = (this.first + 1) % size;
    }
    // Same bucket recorded twice: keep the larger value in one entry.
    if (this.length > 0) {
      const last = (this.first + this.length - 1) % size;
      if (this.indexes[last] === index) {
        value = Math.max(value, this.values[last]!);
        this.length--;
      }
    }
    const at = (this.first + this.length) % size;
    this.values[at] = value;
    this.indexes[at] = index;
    this.length++;
  }

  /** The maximum recorded over the last `durationMs` (as of the latest record). */
  current(): number {
    return this.length > 0 ? this.values[this.first]! : 0;
  }
}

/** One revision's decider. Create it when the revision's autoscaling starts; call scale() each tick. */
export class Decider {
  private spec: DeciderSpec;
  /** When panic was entered or last extended; undefined = stable mode. */
  private panicTime: number | undefined;
  /** Highest desire seen in the current panic; the answer never drops below it while panicking. */
  private maxPanicPods: number;
  private delayWindow: MaxTimeWindow | undefined;

  /**
   * A fresh decider that finds more than one ready pod starts in panic: it has no metric history yet,
   * and a restart must not look like a traffic drop (ready=5 at start → holds 5 until a stable window
   * of calm has passed).
   */
  constructor(spec: DeciderSpec, readyPodsAtStart: number, now: number) {
    this.spec = spec;
    this.panicTime = readyPodsAtStart > 1 ? now : undefined;
    this.maxPanicPods = Math.max(0, readyPodsAtStart);
    this.delayWindow = spec.scaleDownDelayMs > 0 ? new MaxTimeWindow(spec.scaleDownDelayMs) : undefined;
  }

  /**
   * Take a new spec (config reload, reachability change). Panic state is kept. A changed scale-down
   * delay starts a fresh delay window sized for it (Knative keeps the window it was created with).
   */
  update(spec: DeciderSpec): void {
    if (spec.scaleDownDelayMs !== this.spec.scaleDownDelayMs) {
      this.delayWindow = spec.scaleDownDelayMs > 0 ? new MaxTimeWindow(spec.scaleDownDelayMs) : undefined;
    }
    this.spec = spec;
  }

  /** True while in panic mode (as of the last scale()). */
  get panicking(): boolean {
    return this.panicTime !== undefined;
  }

  /** One decision. Allocates only the returned object. */
  scale(input: DeciderInput): DeciderResult {
    const spec = this.spec;
    const { now } = input;
    const observedStable = finiteOrZero(input.observedStable);
    const observedPanic = finiteOrZero(input.observedPanic);
    const originalReady = Math.max(0, input.readyPods);
    // Zero ready pods count as one so the rate limits still allow growth: ready=0, rate=10 → up to 10.
    const ready = Math.max(1, originalReady);

    // ready=10, rate=1.1 → at most ceil(11) = 11 pods; ready=2, rate=1.1 → ceil(2.2) = 3, so a slow
    // rate still grows by at least one pod.
    const maxScaleUp = Math.ceil(spec.maxScaleUpRate * ready);
    // ready=10, rate=2 → no fewer than 5 pods; an unreachable revision may drop straight to 0.
    const maxScaleDown = spec.reachable ? Math.floor(ready / spec.maxScaleDownRate) : 0;

    const dspc = Math.ceil(observedStable / spec.targetValue);
    const dppc = Math.ceil(observedPanic / spec.targetValue);
    let desiredStable = Math.min(Math.max(dspc, maxScaleDown), maxScaleUp);
    let desiredPanic = Math.min(Math.max(dppc, maxScaleDown), maxScaleUp);

    // activation-scale=3: any non-zero desire becomes at least 3 (a desire of 0 stays 0).
    if (spec.activationScale > 1) {
      if (dspc > 0 && spec.activationScale > desiredStable) desiredStable = spec.activationScale;
      if (dppc > 0 && spec.activationScale > desiredPanic) desiredPanic = spec.activationScale;
    }

    // Compared with the unclamped desire: ready=10, panic load wants 20 → 20/10 = 2 ≥ 2 → panic.
    const overThreshold = dppc / ready >= spec.panicThreshold;
    if (overThreshold) {
      // Enter, or extend: the stable window of calm restarts from now.
      this.panicTime = now;
    } else if (this.panicTime !== undefined && this.panicTime + spec.stableWindowMs < now) {
      // A whole stable window since the last extension: the surge is in the stable average by now.
      this.panicTime = undefined;
      this.maxPanicPods = 0;
    }

    let desired = desiredStable;
    if (this.panicTime !== undefined) {
      // The stable desire can exceed the panic one (load falling inside the panic window); provision
      // for the larger, and never scale down while panicking.
      if (desired < desiredPanic) desired = desiredPanic;
      if (desired > this.maxPanicPods) this.maxPanicPods = desired;
      desired = this.maxPanicPods;
    }

    // Scale-down delay: the answer is the maximum desired over the last delay (2 s buckets). Skipped
    // for an unreachable revision, which has no traffic to protect.
    if (this.delayWindow !== undefined && spec.reachable) {
      this.delayWindow.record(now, desired);
      desired = this.delayWindow.current();
    }

    // Excess burst capacity from the raw ready count: ready=0 has no capacity at all.
    // ready=5, total=20, TBC=30, panic=45 → floor(100 − 30 − 45) = 25.
    let excessBurstCapacity = -1;
    if (spec.targetBurstCapacity === 0) excessBurstCapacity = 0;
    else if (spec.targetBurstCapacity > 0) {
      excessBurstCapacity = Math.floor(originalReady * spec.totalValue - spec.targetBurstCapacity - observedPanic);
    }

    return { desiredPodCount: desired, excessBurstCapacity, panicking: this.panicTime !== undefined };
  }
}

/** A NaN or negative average would otherwise flow straight into a scale patch. */
function finiteOrZero(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

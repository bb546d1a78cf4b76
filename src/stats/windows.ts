/**
 * Stable and panic window averages over a revision's 1-second buckets (RevisionStats), `linear` or
 * `weightedExponential`, as Knative's metric collector computes them (`aggregation/bucketing.go`),
 * counting only the seconds that hold data. Reading is O(window seconds) with no allocation: read()
 * walks the ring in place and fills one result object owned by the reader. Design notes, and the one
 * deliberate deviation from Knative: docs/autoscaling.md#the-windows.
 */
import type { AggregationAlgorithm } from '../config/scaling.js';

/** What a window reader needs from RevisionStats (its ring buffers). */
export interface SecondBuckets {
  /** Time-weighted average of active requests (held ones included) per completed second, indexed by second % size. */
  readonly concurrency: ArrayLike<number>;
  /** Requests begun per completed second, same indexing. */
  readonly counts: ArrayLike<number>;
  readonly size: number;
  /** Brings the buckets up to `now`; returns the last completed second (floor(ms / 1000) − 1). */
  lastCompleteSecond(now: number): number;
}

export interface WindowSpec {
  /** Stable window in whole seconds (Knative default 60). */
  stableSeconds: number;
  /** Panic window in whole seconds, >= 1 (default 6). */
  panicSeconds: number;
  algorithm: AggregationAlgorithm;
}

/** The same, as a ScalingSpec carries it (config/scaling.ts). */
export interface WindowSource {
  stableWindowMs: number;
  panicWindowMs: number;
  aggregation: AggregationAlgorithm;
}

/** Window lengths in whole seconds from a ScalingSpec-like source (60 000 ms → 60 s; panic >= 1 s). */
export function windowSpecOf(source: WindowSource): WindowSpec {
  return {
    stableSeconds: Math.max(1, Math.round(source.stableWindowMs / 1000)),
    panicSeconds: Math.max(1, Math.round(source.panicWindowMs / 1000)),
    algorithm: source.aggregation,
  };
}

export interface WindowAverages {
  stableConcurrency: number;
  panicConcurrency: number;
  stableRps: number;
  panicRps: number;
  /** False when no second in the stable window holds data: the decider should sit this tick out. */
  hasData: boolean;
}

/** Knative's minimum decay multiplier for weighted averaging. */
const MIN_SMOOTHING_COEFFICIENT = 0.2;
/** The weights over a full window add up to at least this much. */
const WEIGHT_PRECISION = 0.9999;
/** Linear averages are floored to this many decimals (Knative's `roundToNDigits(6, …)`). */
const PRECISION = 1e6;

/**
 * Decay multiplier for a weighted window of `seconds` buckets.
 *
 * @example smoothingCoefficient(6) // ≈ 0.7846: six weights sum to 1 − 0.2154^6 = 0.9999
 */
export function smoothingCoefficient(seconds: number): number {
  return Math.max(1 - Math.pow(1 - WEIGHT_PRECISION, 1 / seconds), MIN_SMOOTHING_COEFFICIENT);
}

function slot(second: number, size: number): number {
  return ((second % size) + size) % size;
}

/**
 * Linear average of `values` (a ring of `size` 1-second buckets) over the `seconds` seconds ending at
 * `last`, counting only seconds from `first` on. 0 when that leaves no second.
 *
 * @example linearAverage(ring, 60, last, 60, last - 5) // 6 s of data → sum ÷ 6
 */
export function linearAverage(values: ArrayLike<number>, size: number, last: number, seconds: number, first: number): number {
  const from = Math.max(last - Math.min(seconds, size) + 1, first);
  if (from > last) return 0;
  let sum = 0;
  for (let s = from; s <= last; s++) sum += values[slot(s, size)]!;
  return Math.floor((sum / (last - from + 1)) * PRECISION) / PRECISION;
}

/**
 * Exponentially weighted average over the `seconds` seconds ending at `last`, newest weighted
 * `coefficient`, the one before `coefficient × (1 − coefficient)`, and so on. Seconds before `first`
 * weigh nothing (they hold no data). Not normalised, as in Knative: a window that is only partly
 * filled reads low.
 *
 * @example weightedAverage([10, 10, 5, 5], 4, 3, 4, 0, 0.6) // 5×0.6 + 5×0.24 + 10×0.096 + 10×0.0384 = 5.544
 */
export function weightedAverage(
  values: ArrayLike<number>,
  size: number,
  last: number,
  seconds: number,
  first: number,
  coefficient: number,
): number {
  const from = Math.max(last - Math.min(seconds, size) + 1, first);
  let weight = coefficient;
  let sum = 0;
  for (let s = last; s >= from; s--) {
    sum += values[slot(s, size)]! * weight;
    weight *= 1 - coefficient;
  }
  return sum;
}

/**
 * Stable and panic averages for one revision. Keeps the little state Knative's buckets keep (where the
 * current run of data began, per window) and reuses one result object.
 *
 * @example
 * const windows = new MetricWindows({ stableSeconds: 60, panicSeconds: 6, algorithm: 'linear' }, now);
 * const avg = windows.read(stats, now, readyPods); // avg.stableConcurrency, avg.panicRps, ...
 */
export class MetricWindows {
  private spec: WindowSpec;
  private stableCoefficient: number;
  private panicCoefficient: number;
  /** Seconds before this one were never observed. */
  private readonly startSecond: number;
  /** Last second already classified as data or not. */
  private scanned: number;
  /** Last second that held data; -Infinity = none yet. */
  private lastData = Number.NEGATIVE_INFINITY;
  /** First second of the current run of data, per window (Knative's `firstWrite`). */
  private stableFirst = Number.POSITIVE_INFINITY;
  private panicFirst = Number.POSITIVE_INFINITY;
  private readonly result: WindowAverages = {
    stableConcurrency: 0,
    panicConcurrency: 0,
    stableRps: 0,
    panicRps: 0,
    hasData: false,
  };

  /** `startedAt`: when collection for this revision began (the RevisionStats' creation time). */
  constructor(spec: WindowSpec, startedAt: number) {
    this.spec = spec;
    this.stableCoefficient = smoothingCoefficient(spec.stableSeconds);
    this.panicCoefficient = smoothingCoefficient(spec.panicSeconds);
    this.startSecond = Math.floor(startedAt / 1000);
    this.scanned = this.startSecond - 1;
  }

  /** New window lengths or algorithm (config reload). The data seen so far is kept. */
  update(spec: WindowSpec): void {
    this.spec = spec;
    this.stableCoefficient = smoothingCoefficient(spec.stableSeconds);
    this.panicCoefficient = smoothingCoefficient(spec.panicSeconds);
  }

  /**
   * Averages as of `now`. `readyPods` > 0 marks the seconds completed since the previous read as
   * observed even when quiet. Windows longer than the ring are cut to the ring's length. The returned
   * object is reused by the next read.
   */
  read(stats: SecondBuckets, now: number, readyPods: number): WindowAverages {
    const last = stats.lastCompleteSecond(now);
    const { size, concurrency, counts } = stats;
    this.classify(last, size, concurrency, counts, readyPods > 0);

    const { stableSeconds, panicSeconds, algorithm } = this.spec;
    const out = this.result;
    out.hasData = this.lastData > last - Math.min(stableSeconds, size);
    if (algorithm === 'weightedExponential') {
      out.stableConcurrency = weightedAverage(concurrency, size, last, stableSeconds, this.stableFirst, this.stableCoefficient);
      out.panicConcurrency = weightedAverage(concurrency, size, last, panicSeconds, this.panicFirst, this.panicCoefficient);
      out.stableRps = weightedAverage(counts, size, last, stableSeconds, this.stableFirst, this.stableCoefficient);
      out.panicRps = weightedAverage(counts, size, last, panicSeconds, this.panicFirst, this.panicCoefficient);
    } else {
      out.stableConcurrency = linearAverage(concurrency, size, last, stableSeconds, this.stableFirst);
      out.panicConcurrency = linearAverage(concurrency, size, last, panicSeconds, this.panicFirst);
      out.stableRps = linearAverage(counts, size, last, stableSeconds, this.stableFirst);
      out.panicRps = linearAverage(counts, size, last, panicSeconds, this.panicFirst);
    }
    return out;
  }

  /**
   * Walk the seconds completed since the last read (at most one ring) and note which hold data.
   * A data second after a gap of a whole window starts that window's run afresh.
   */
  private classify(last: number, size: number, concurrency: ArrayLike<number>, counts: ArrayLike<number>, ready: boolean): void {
    const from = Math.max(this.scanned + 1, last - size + 1, this.startSecond);
    for (let s = from; s <= last; s++) {
      const i = slot(s, size);
      if (!ready && concurrency[i]! <= 0 && counts[i]! <= 0) continue;
      const gap = s - this.lastData;
      if (gap >= this.spec.stableSeconds) this.stableFirst = s;
      if (gap >= this.spec.panicSeconds) this.panicFirst = s;
      this.lastData = s;
    }
    if (last > this.scanned) this.scanned = last;
  }
}

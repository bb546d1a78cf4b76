/**
 * Canary analysis from the gateway's own per-revision stats. Pure: the controller snapshots the
 * canary's RevisionStats when a step starts and again when it is judged; the difference is what the
 * canary answered during the step.
 *
 * - requests  = answered requests (status codes ≠ 0: a client that went away judges nobody);
 * - errorRate = 5xx ÷ requests (the gateway's own 502/503/504 for the canary count: they are
 *   failures its clients saw);
 * - p99       = the upper bound of the duration-histogram bucket holding the 99th percentile, so a
 *   p99 "≤ 250 ms" means at least 99 % of requests took at most 250 ms.
 */
import { DURATION_BOUNDS } from '../stats/revision-stats.js';
import type { AnalysisSpec } from './plan.js';

/** The counters analysis needs, copied out of a RevisionStats. */
export interface StatsSnapshot {
  codes: ReadonlyMap<number, number>;
  durationCounts: readonly number[];
}

export interface IntervalStats {
  /** Answered requests (status ≠ 0) in the interval. */
  requests: number;
  /** Of which 5xx. */
  errors: number;
  /** errors ÷ requests; 0 when there were none. */
  errorRate: number;
  /** p99 in ms from the histogram; Infinity beyond the last bound; null when nothing was recorded. */
  p99Ms: number | null;
}

export type Verdict = { result: 'pass'; reason: string } | { result: 'fail'; reason: string } | { result: 'wait'; reason: string };

/** Copy a revision's counters (a Map and a 15-entry array: cheap, once per step). */
export function snapshotStats(stats: { codes: ReadonlyMap<number, number>; durationCounts: ArrayLike<number> }): StatsSnapshot {
  return { codes: new Map(stats.codes), durationCounts: Array.from(stats.durationCounts) };
}

export const EMPTY_SNAPSHOT: StatsSnapshot = { codes: new Map(), durationCounts: [] };

/** What happened between two snapshots of the same revision. */
export function intervalStats(before: StatsSnapshot, after: StatsSnapshot, bounds: readonly number[] = DURATION_BOUNDS): IntervalStats {
  let requests = 0;
  let errors = 0;
  for (const [code, n] of after.codes) {
    if (code === 0) continue;
    const d = n - (before.codes.get(code) ?? 0);
    requests += d;
    if (code >= 500 && code <= 599) errors += d;
  }
  const counts = after.durationCounts.map((n, i) => n - (before.durationCounts[i] ?? 0));
  return { requests, errors, errorRate: requests > 0 ? errors / requests : 0, p99Ms: quantileMs(counts, bounds, 0.99) };
}

/**
 * The upper bound (ms) of the bucket holding quantile `q` of a Prometheus-style histogram: counts per
 * bucket, `bounds` in seconds, one more count than bounds for +Inf.
 * Worked numbers: 100 requests, 98 in ≤ 10 ms and 2 in ≤ 250 ms → rank ceil(0.99 × 100) = 99 falls in
 * the 250 ms bucket → 250.
 */
export function quantileMs(counts: readonly number[], bounds: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of counts) total += n;
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total - 1e-9));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return i < bounds.length ? Math.round(bounds[i]! * 1000 * 1000) / 1000 : Infinity;
  }
  return Infinity;
}

/**
 * Judge one interval. Fewer than minRequests answered → wait; then error rate, then p99.
 *
 * @example judge({ requests: 40, errors: 20, errorRate: 0.5, p99Ms: 5 }, spec)
 *          // { result: 'fail', reason: 'error rate 0.50 > 0.05 over 40 requests' }
 */
export function judge(s: IntervalStats, spec: AnalysisSpec): Verdict {
  if (s.requests < spec.minRequests) {
    return { result: 'wait', reason: `${s.requests} of ${spec.minRequests} requests needed` };
  }
  const over = `over ${s.requests} request${s.requests === 1 ? '' : 's'}`;
  if (s.errorRate > spec.maxErrorRate) {
    return { result: 'fail', reason: `error rate ${fixed(s.errorRate)} > ${fixed(spec.maxErrorRate)} ${over}` };
  }
  if (spec.maxP99Ms !== undefined && s.p99Ms !== null && s.p99Ms > spec.maxP99Ms) {
    const p99 =
      s.p99Ms === Infinity
        ? `p99 beyond the last bucket (${formatMs(DURATION_BOUNDS.at(-1)! * 1000)}), limit`
        : `p99 ${formatMs(s.p99Ms)} >`;
    return { result: 'fail', reason: `${p99} ${formatMs(spec.maxP99Ms)} ${over}` };
  }
  const p99 = spec.maxP99Ms !== undefined && s.p99Ms !== null ? `, p99 ${formatMs(s.p99Ms)} ≤ ${formatMs(spec.maxP99Ms)}` : '';
  return { result: 'pass', reason: `error rate ${fixed(s.errorRate)} ≤ ${fixed(spec.maxErrorRate)}${p99} ${over}` };
}

/** Two decimals, more when the limit needs them (0.005 stays 0.005). */
function fixed(x: number): string {
  const two = x.toFixed(2);
  return Number(two) === x || x >= 0.01 ? two : String(Number(x.toPrecision(3)));
}

function formatMs(ms: number): string {
  return `${Number(ms.toPrecision(6))} ms`;
}

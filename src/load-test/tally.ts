/**
 * Counts of one stretch of a run (one second, or one phase): answers by status, errors, cold starts,
 * and every answer's latency, kept exactly (a growing Float64Array) so that percentiles are of the
 * real values, not of histogram buckets. Adding an answer costs one array store and one map
 * increment; at 10,000 answers a second a second's latencies are 80 KB, summarised and dropped when
 * the second closes.
 */

export interface LatencySummary {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

export interface TallySummary {
  /** Answers (any status). */
  requests: number;
  /** 2xx answers. */
  ok: number;
  /** Answers by status code, `{"200": 120, "503": 2}`. */
  codes: Record<string, number>;
  /** Requests without an answer: connection errors and timeouts. */
  errors: number;
  /** Answers carrying `Sluice-Cold-Start` (held while the revision was at zero). */
  coldStarts: number;
  /** Latency of every answer, ms. */
  latencyMs: LatencySummary;
}

/**
 * The value at rank ceil(p × n) of the sorted values (nearest rank): p99 of 200 values is the
 * 198th, so one slow answer in 200 does not show as the p99.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export class Tally {
  private latencies = new Float64Array(256);
  private count = 0;
  private sum = 0;
  private ok = 0;
  private errors = 0;
  private coldStarts = 0;
  private readonly codes = new Map<number, number>();

  answer(status: number, latencyMs: number): void {
    if (this.count === this.latencies.length) {
      const bigger = new Float64Array(this.latencies.length * 2);
      bigger.set(this.latencies);
      this.latencies = bigger;
    }
    this.latencies[this.count++] = latencyMs;
    this.sum += latencyMs;
    if (status >= 200 && status < 300) this.ok++;
    this.codes.set(status, (this.codes.get(status) ?? 0) + 1);
  }

  error(): void {
    this.errors++;
  }

  coldStart(): void {
    this.coldStarts++;
  }

  summary(): TallySummary {
    const sorted = this.latencies.slice(0, this.count).sort();
    const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
    return {
      requests: this.count,
      ok: this.ok,
      codes: Object.fromEntries([...this.codes].sort(([a], [b]) => a - b).map(([code, n]) => [String(code), n])),
      errors: this.errors,
      coldStarts: this.coldStarts,
      latencyMs: {
        p50: round(percentile(sorted, 0.5)),
        p90: round(percentile(sorted, 0.9)),
        p99: round(percentile(sorted, 0.99)),
        max: round(percentile(sorted, 1)),
        mean: this.count === 0 ? null : round(this.sum / this.count),
      },
    };
  }
}

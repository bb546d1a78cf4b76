/**
 * Per-revision request statistics, updated in O(1) on every request and read once per tick.
 *
 * Concurrency is time-weighted: each 1-second bucket holds the area under the curve of active
 * requests (arrived, not yet answered: held ones included, as Knative's activator counts them)
 * during that second divided by 1000 ms, so 20 requests each active for the whole second give 20,
 * and one request active for 250 ms gives 0.25. Request counts land in the bucket of the second they began.
 * Buckets form a ring sized to the longest window a reader needs (default 60 s stable window).
 */
import type { HoldReason } from '../core/status.js';

/** Upper bounds (seconds) of the request-duration histogram, Prometheus style (+Inf implied). */
export const DURATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Upper bounds (seconds) of the cold-start histogram: from a process that is ready in 100 ms (the demo
 * predictor) to a model server pulling weights for minutes (+Inf implied).
 */
export const COLD_START_BOUNDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

/** The index of the first bound ≥ `value`; bounds.length for +Inf. 0.03 in DURATION_BOUNDS → 3 (≤ 0.05). */
function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}

export class RevisionStats {
  /** Requests arrived and not yet answered (held + in flight); the concurrency the windows see. */
  active = 0;
  /** Requests in flight at endpoints (sent, response not finished). */
  inflight = 0;
  /** Requests held in the activator queue. */
  held = 0;
  /** Requests begun since start. */
  requestsTotal = 0;
  /** Wall-clock ms of the last request's arrival (held or forwarded); 0 = never. */
  lastRequestAt = 0;
  /** Responses by status code; 0 = the client went away first (Knative's 499). */
  readonly codes = new Map<number, number>();
  /** Duration histogram counts, one per DURATION_BOUNDS entry plus +Inf. */
  readonly durationCounts = new Float64Array(DURATION_BOUNDS.length + 1);
  durationSum = 0;
  /** Cold starts observed (a request waited for activation) and their total wait in seconds. */
  coldStarts = 0;
  coldStartSeconds = 0;
  /** Cold-start waits per COLD_START_BOUNDS bucket, plus +Inf. */
  readonly coldStartCounts = new Float64Array(COLD_START_BOUNDS.length + 1);
  /** Requests held, by why (the activator counts them: one increment per held request). */
  readonly heldByReason: Record<HoldReason, number> = { scaled_to_zero: 0, starting: 0, at_capacity: 0, retry: 0 };
  /** Endpoints ejected after a connection failure (the gateway counts them). */
  ejections = 0;

  /** Time-weighted average concurrency of each completed second, ring-indexed by second % size. */
  readonly concurrency: Float64Array;
  /** Requests begun in each completed second, same indexing. */
  readonly counts: Float64Array;
  readonly size: number;

  /** The second (floor(ms / 1000)) now being accumulated. */
  private second: number;
  private lastChange: number;
  /** In-flight × ms accumulated in the current second. */
  private area = 0;
  private count = 0;

  constructor(now: number, windowSeconds = 60) {
    this.size = Math.max(1, Math.ceil(windowSeconds));
    this.concurrency = new Float64Array(this.size);
    this.counts = new Float64Array(this.size);
    this.second = Math.floor(now / 1000);
    this.lastChange = now;
  }

  /** A request arrives (before it is held or forwarded). One comparison and four adds in the common case. */
  arrive(now: number): void {
    this.advance(now);
    this.active++;
    this.count++;
    this.requestsTotal++;
    this.lastRequestAt = now;
  }

  /** A request is sent to an endpoint. */
  begin(): void {
    this.inflight++;
  }

  /** A forwarded request left its endpoint (answered, failed or aborted). */
  end(): void {
    this.inflight--;
  }

  /**
   * A request is done: status code (0 = the client went away) and duration in seconds.
   * Called exactly once per arrive().
   */
  record(code: number, seconds: number, now: number): void {
    this.advance(now);
    this.active--;
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    this.durationCounts[bucketOf(DURATION_BOUNDS, seconds)]!++;
    this.durationSum += seconds;
  }

  /** A request held for a cold start was sent after `seconds`. A dozen comparisons at most, once per cold-started request. */
  coldStart(seconds: number): void {
    this.coldStarts++;
    this.coldStartSeconds += seconds;
    this.coldStartCounts[bucketOf(COLD_START_BOUNDS, seconds)]!++;
  }

  /** Bring the buckets up to `now` (call before reading). */
  advance(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec <= this.second) {
      this.area += this.active * (now - this.lastChange);
      this.lastChange = now;
      return;
    }
    // Close the current second, then fill whole seconds that passed with no change.
    this.area += this.active * ((this.second + 1) * 1000 - this.lastChange);
    this.store(this.second, this.area / 1000, this.count);
    const gap = Math.min(sec - this.second - 1, this.size);
    for (let s = 1; s <= gap; s++) this.store(this.second + s, this.active, 0);
    this.second = sec;
    this.area = this.active * (now - sec * 1000);
    this.lastChange = now;
    this.count = 0;
  }

  private store(second: number, concurrency: number, count: number): void {
    const i = second % this.size;
    this.concurrency[i] = concurrency;
    this.counts[i] = count;
  }

  /** The last completed second (buckets exist for it and up to `size - 1` seconds before). */
  lastCompleteSecond(now: number): number {
    this.advance(now);
    return this.second - 1;
  }

  /**
   * Averages over the last `seconds` completed seconds: time-weighted concurrency and requests per
   * second. Seconds before this object existed count as zero traffic.
   *
   * @example stats.average(now, 6) // panic window of 6 s
   */
  average(now: number, seconds: number): { concurrency: number; rps: number } {
    const last = this.lastCompleteSecond(now);
    const n = Math.min(seconds, this.size);
    let c = 0;
    let r = 0;
    for (let s = last - n + 1; s <= last; s++) {
      const i = ((s % this.size) + this.size) % this.size;
      c += this.concurrency[i]!;
      r += this.counts[i]!;
    }
    return { concurrency: c / n, rps: r / n };
  }

  /**
   * The last `n` completed seconds, oldest first: what a peer gateway reports to the leader each
   * second (a few, so one missed poll loses nothing).
   */
  recentSeconds(now: number, n: number): Array<{ second: number; concurrency: number; requests: number }> {
    const last = this.lastCompleteSecond(now);
    const out: Array<{ second: number; concurrency: number; requests: number }> = [];
    for (let s = last - Math.min(n, this.size) + 1; s <= last; s++) {
      const i = ((s % this.size) + this.size) % this.size;
      out.push({ second: s, concurrency: this.concurrency[i]!, requests: this.counts[i]! });
    }
    return out;
  }
}

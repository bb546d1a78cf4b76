/**
 * Per-second samples that come from elsewhere — peer gateways (the leader sums every replica's
 * traffic) or queue-proxies (a revision with `metricsSource: queue-proxy`) — kept in a ring indexed
 * like RevisionStats (second % size), and a view that adds them to local buckets for the windows.
 *
 * Worked example: gateway A saw concurrency 3 in second 100, peer B reported 2 for the same second:
 * the leader's windows read 5 for second 100.
 */
import type { SecondBuckets } from './windows.js';

export class ExternalBuckets {
  readonly concurrency: Float64Array;
  readonly counts: Float64Array;
  /** Which second each slot holds; a slot holding another second reads as zero. */
  readonly seconds: Float64Array;

  constructor(readonly size: number) {
    this.concurrency = new Float64Array(size);
    this.counts = new Float64Array(size);
    this.seconds = new Float64Array(size).fill(-1);
  }

  /** Add one source's sample for `second` (samples from several sources for one second sum up). */
  add(second: number, concurrency: number, count: number): void {
    const i = ((second % this.size) + this.size) % this.size;
    if (this.seconds[i] !== second) {
      this.seconds[i] = second;
      this.concurrency[i] = 0;
      this.counts[i] = 0;
    }
    this.concurrency[i]! += concurrency;
    this.counts[i]! += count;
  }
}

/**
 * Local buckets plus external samples, as one SecondBuckets the windows can read. Peers and
 * queue-proxies alike add to the gateway's own counts (a queue-proxy sends only what bypassed the
 * gateways). Refreshing costs one pass over the ring per read (60 adds for a 60 s window).
 */
export class CombinedBuckets implements SecondBuckets {
  readonly concurrency: Float64Array;
  readonly counts: Float64Array;
  readonly size: number;

  constructor(
    private readonly local: SecondBuckets,
    readonly external: ExternalBuckets,
  ) {
    this.size = external.size;
    this.concurrency = new Float64Array(this.size);
    this.counts = new Float64Array(this.size);
  }

  lastCompleteSecond(now: number): number {
    const local = this.local;
    const last = local.lastCompleteSecond(now);
    const ext = this.external;
    for (let s = last - this.size + 1; s <= last; s++) {
      const i = ((s % this.size) + this.size) % this.size;
      const li = ((s % local.size) + local.size) % local.size;
      const fresh = ext.seconds[i] === s;
      this.concurrency[i] = local.concurrency[li]! + (fresh ? ext.concurrency[i]! : 0);
      this.counts[i] = local.counts[li]! + (fresh ? ext.counts[i]! : 0);
    }
    return last;
  }
}

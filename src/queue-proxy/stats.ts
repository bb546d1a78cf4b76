/**
 * What the queue-proxy reports per second, Knative's way: every request counts in the total
 * (`averageConcurrency`, `requestCount`), and a request that came through a Sluice gateway (it
 * carries `sluice-proxied`) also counts as proxied. The gateway already counted those itself, so an
 * autoscaler that reads both the gateways and the pods takes `total − proxied` from each pod:
 * a pod with 12 requests active of which 8 came through the gateway adds 4 to what the gateways saw.
 *
 * The total is the revision's own RevisionStats inside the queue-proxy's gateway (requests waiting
 * for a slot included, as Knative's queue-proxy counts them); the proxied side is a second
 * RevisionStats updated by the data port. Both are time-weighted in 1-second buckets.
 */
import { PROXIED_HEADER } from '../gateway/headers.js';
import { RevisionStats } from '../stats/revision-stats.js';
import type { PeriodStats, QueueProxyStatsJson, SecondStats } from '../stats/stats-json.js';

/** Seconds of history in each /api/v1/stats answer. */
const RECENT_SECONDS = 5;

/** True when a request came through a Sluice gateway. One pass over the raw header names, length first. */
export function isProxied(rawHeaders: string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === PROXIED_HEADER.length && name.toLowerCase() === PROXIED_HEADER) return true;
  }
  return false;
}

export class QueueProxyStats {
  /** Requests that carried `sluice-proxied`: arrive() at request start, record() when the response closes. */
  readonly proxied: RevisionStats;

  constructor(
    /** The revision's stats inside the gateway: every request. */
    readonly total: RevisionStats,
    readonly containerConcurrency: number,
    now: number,
    private readonly podName?: string,
  ) {
    this.proxied = new RevisionStats(now, total.size);
  }

  /** Longest window a reader may ask for, in seconds (the buckets kept). */
  get maxWindowSeconds(): number {
    return Math.min(this.total.size, this.proxied.size);
  }

  /** The last completed second. */
  lastSecond(now: number): SecondStats {
    const second = this.total.lastCompleteSecond(now);
    return { second, ...this.period(now, 1) };
  }

  /** The last `n` completed seconds, oldest first. */
  recent(now: number, n: number): SecondStats[] {
    const total = this.total.recentSeconds(now, n);
    const proxied = this.proxied.recentSeconds(now, n);
    return total.map((t, i) => ({
      second: t.second,
      averageConcurrency: t.concurrency,
      averageProxiedConcurrency: proxied[i]!.concurrency,
      requestCount: t.requests,
      proxiedRequestCount: proxied[i]!.requests,
    }));
  }

  /** Averages over the last `seconds` completed seconds, counts summed. */
  period(now: number, seconds: number): PeriodStats {
    const total = this.total.average(now, seconds);
    const proxied = this.proxied.average(now, seconds);
    return {
      averageConcurrency: total.concurrency,
      averageProxiedConcurrency: proxied.concurrency,
      // average() divides by the seconds; the products are whole numbers up to float rounding.
      requestCount: Math.round(total.rps * seconds),
      proxiedRequestCount: Math.round(proxied.rps * seconds),
    };
  }

  snapshot(now: number, windowSeconds: number, draining: boolean): QueueProxyStatsJson {
    const seconds = Math.max(1, Math.min(Math.floor(windowSeconds), this.maxWindowSeconds));
    return {
      now,
      ...(this.podName ? { podName: this.podName } : {}),
      containerConcurrency: this.containerConcurrency,
      draining,
      lastSecond: this.lastSecond(now),
      window: { seconds, ...this.period(now, seconds) },
      seconds: this.recent(now, RECENT_SECONDS),
      inflight: this.total.inflight,
      held: this.total.held,
      requestsTotal: this.total.requestsTotal,
      proxiedRequestsTotal: this.proxied.requestsTotal,
    };
  }
}

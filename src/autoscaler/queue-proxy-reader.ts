/**
 * Reads every endpoint's queue-proxy `/api/v1/stats` once a second: the gateway side of
 * `metricsSource: queue-proxy` (Knative's autoscaler scraping each pod). Polling, deadlines and
 * silent endpoints are the StatsScraper's; this adds what is particular to queue-proxies.
 *
 * Two outputs:
 * - `onSecond(sample, url)`: each endpoint's completed seconds, each exactly once, oldest first;
 *   feed them to per-second buckets (`ExternalBuckets.add`), where samples of one second sum.
 * - `latest()` / `onRound(totals)`: the last completed second summed over the endpoints that
 *   answered, with the silent ones counted, so a caller can extrapolate (Knative scales a partial
 *   sample up by ready pods ÷ pods heard).
 *
 * Both totals are kept everywhere; the caller picks `averageConcurrency` (every request at the pods)
 * or `averageConcurrency − averageProxiedConcurrency` (only what bypassed the gateways, which count
 * their own traffic; clamp at 0, as the two sides close a request a moment apart).
 */
import { queueProxySample, type PeriodStats, type QueueProxySample, type SecondStats } from '../stats/stats-json.js';
import { StatsScraper, type ScrapeRound, type Scraped } from '../stats/stats-scraper.js';

export interface QueueProxyStatsReaderOptions {
  /** One stats URL per endpoint. Replace with setUrls(). */
  urls?: readonly string[];
  /** Round period. Default 1000 ms. */
  intervalMs?: number;
  /** A round starts this long after each period boundary. Default 100 ms. */
  offsetMs?: number;
  /** Per-endpoint deadline for the whole answer. Default 500 ms. */
  timeoutMs?: number;
  /** The queue-proxies' admin token, when they require one. */
  token?: string;
  /** Called once per endpoint and completed second, oldest first. */
  onSecond?: (sample: SecondStats, url: string) => void;
  /** Called after every round with its totals. */
  onRound?: (totals: QueueProxyTotals) => void;
  /** Wall clock, ms. Default Date.now. */
  now?: () => number;
}

/** One endpoint's last answer. */
export type EndpointReport = Scraped<QueueProxySample>;

/** One round, summed over the endpoints that answered. */
export interface QueueProxyTotals extends PeriodStats {
  /** Reader's clock when the round started. */
  at: number;
  /** Newest `lastSecond.second` among the answers; -1 when none answered. */
  second: number;
  /** Endpoints that answered, and those that did not. */
  reporting: number;
  silent: number;
  inflight: number;
  held: number;
}

const EMPTY: QueueProxyTotals = {
  at: 0,
  second: -1,
  reporting: 0,
  silent: 0,
  averageConcurrency: 0,
  averageProxiedConcurrency: 0,
  requestCount: 0,
  proxiedRequestCount: 0,
  inflight: 0,
  held: 0,
};

export class QueueProxyStatsReader {
  private urls: readonly string[];
  private latestTotals: QueueProxyTotals = EMPTY;
  private readonly scraper: StatsScraper<QueueProxySample>;

  constructor(private readonly options: QueueProxyStatsReaderOptions = {}) {
    this.urls = [...(options.urls ?? [])];
    this.scraper = new StatsScraper({
      targets: () => this.urls,
      parse: queueProxySample,
      onRound: (round) => this.take(round),
      intervalMs: options.intervalMs,
      offsetMs: options.offsetMs,
      timeoutMs: options.timeoutMs,
      token: options.token,
      now: options.now,
    });
  }

  /** Replace the endpoint set; reports of endpoints that left are dropped. */
  setUrls(urls: readonly string[]): void {
    this.urls = [...urls];
    this.scraper.retain();
  }

  /** Poll every interval until close(). */
  start(): void {
    this.scraper.start();
  }

  /** Totals of the last finished round. */
  latest(): QueueProxyTotals {
    return this.latestTotals;
  }

  /** Each endpoint's last good answer (also those that were silent since; see `receivedAt`). */
  endpoints(): ReadonlyMap<string, EndpointReport> {
    return this.scraper.last();
  }

  /** One round now (joins one already running). */
  async poll(): Promise<QueueProxyTotals> {
    await this.scraper.poll();
    return this.latestTotals;
  }

  close(): Promise<void> {
    return this.scraper.close();
  }

  private take(round: ScrapeRound<QueueProxySample>): void {
    const totals: QueueProxyTotals = { ...EMPTY, at: round.at, silent: round.silent };
    for (const { url, stats } of round.answers) {
      for (const s of this.scraper.fresh(url, stats.seconds)) this.options.onSecond?.(s, url);
      const last = stats.lastSecond;
      totals.reporting++;
      totals.second = Math.max(totals.second, last.second);
      totals.averageConcurrency += last.averageConcurrency;
      totals.averageProxiedConcurrency += last.averageProxiedConcurrency;
      totals.requestCount += last.requestCount;
      totals.proxiedRequestCount += last.proxiedRequestCount;
      totals.inflight += stats.inflight;
      totals.held += stats.held;
    }
    this.latestTotals = totals;
    this.options.onRound?.(totals);
  }
}

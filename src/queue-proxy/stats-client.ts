/**
 * Reads every endpoint's queue-proxy `/api/v1/stats` once a second: the gateway side of
 * `metricsSource: queue-proxy` (Knative's autoscaler scraping each pod).
 *
 * Rounds start `offsetMs` after each wall-clock second, so each reads the second that just ended
 * (pods' clocks agree to a few ms under NTP). Every endpoint is asked in parallel with a short
 * timeout; one that does not answer in time, refuses, or answers badly is left out of that round
 * and counted in `silent`, so the caller can extrapolate (Knative scales a partial sample up by
 * ready pods ÷ pods heard).
 *
 * Two outputs:
 * - `onSecond(sample, url)`: each endpoint's completed seconds, each exactly once. An answer carries
 *   the last few seconds, so the seconds of a missed poll arrive with the next one (late, but not
 *   lost); feed them to per-second buckets (`ExternalBuckets.add`), where samples of one second sum.
 * - `latest()` / `onRound(totals)`: the last completed second summed over the endpoints that answered.
 *
 * Both totals are kept everywhere; the caller picks `averageConcurrency` (every request at the pods)
 * or `averageConcurrency − averageProxiedConcurrency` (only what bypassed the gateways, which count
 * their own traffic; clamp at 0, as the two sides close a request a moment apart).
 *
 * @example
 * const external = rev.external(true); // added to the gateway's own counts
 * const reader = new QueueProxyStatsReader({
 *   urls: podIps.map((ip) => `http://${ip}:9091/api/v1/stats`),
 *   onSecond: (s) => external.add(s.second, Math.max(0, s.averageConcurrency - s.averageProxiedConcurrency), s.requestCount - s.proxiedRequestCount),
 * });
 * reader.start();
 * reader.setUrls(...); // on every endpoint change
 */
import { Agent, request } from 'undici';
import type { PeriodStats, QueueProxyStatsJson, SecondStats } from './stats.js';

export interface QueueProxyStatsReaderOptions {
  /** One stats URL per endpoint. Replace with setUrls(). */
  urls?: readonly string[];
  /** Round period. Default 1000 ms. */
  intervalMs?: number;
  /** A round starts this long after each period boundary. Default 100 ms. */
  offsetMs?: number;
  /** Per-endpoint deadline for the whole answer. Default 500 ms (a round ends well within its second). */
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
export interface EndpointReport extends PeriodStats {
  url: string;
  /** The second the numbers describe (floor(ms / 1000) on the endpoint's clock). */
  second: number;
  inflight: number;
  held: number;
  draining: boolean;
  podName?: string;
  /** Reader's clock when the answer arrived. */
  receivedAt: number;
  /** The answer's recent seconds, oldest first. */
  seconds: SecondStats[];
}

/** One round, summed over the endpoints that answered. */
export interface QueueProxyTotals extends PeriodStats {
  /** Reader's clock when the round started. */
  at: number;
  /** Newest `second` among the answers; -1 when none answered. */
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
  private readonly reports = new Map<string, EndpointReport>();
  /** Per endpoint: the newest second already passed to onSecond. */
  private readonly seen = new Map<string, number>();
  private latestTotals: QueueProxyTotals = EMPTY;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<QueueProxyTotals> | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly offsetMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly headers: Record<string, string>;
  // Keep-alive connections, one or two per endpoint: a round costs no connect once warm.
  private readonly agent: Agent;

  constructor(private readonly options: QueueProxyStatsReaderOptions = {}) {
    this.urls = [...(options.urls ?? [])];
    this.intervalMs = options.intervalMs ?? 1000;
    this.offsetMs = options.offsetMs ?? 100;
    this.timeoutMs = options.timeoutMs ?? 500;
    this.now = options.now ?? Date.now;
    this.headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.agent = new Agent({ connections: 2, keepAliveTimeout: 10_000, connect: { timeout: this.timeoutMs } });
  }

  /** Replace the endpoint set; reports of endpoints that left are dropped. */
  setUrls(urls: readonly string[]): void {
    this.urls = [...urls];
    const keep = new Set(urls);
    for (const url of this.reports.keys()) if (!keep.has(url)) this.reports.delete(url);
    for (const url of this.seen.keys()) if (!keep.has(url)) this.seen.delete(url);
  }

  /** Poll every interval until close(). */
  start(): void {
    if (this.timer !== undefined || this.closed) return;
    this.schedule();
  }

  /** Totals of the last finished round. */
  latest(): QueueProxyTotals {
    return this.latestTotals;
  }

  /** Each endpoint's last good answer (also those that were silent since; see `receivedAt`). */
  endpoints(): ReadonlyMap<string, EndpointReport> {
    return this.reports;
  }

  /** One round now (joins one already running). */
  poll(): Promise<QueueProxyTotals> {
    this.round ??= this.runRound().finally(() => (this.round = undefined));
    return this.round;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.round?.catch(() => {});
    await this.agent.close();
  }

  private schedule(): void {
    const now = this.now();
    // Next boundary + offset: interval 1000, offset 100, now …4.950 → …5.100.
    const next = Math.floor((now - this.offsetMs) / this.intervalMs + 1) * this.intervalMs + this.offsetMs;
    this.timer = setTimeout(() => {
      if (this.closed) return;
      // A round still running at the next boundary (every endpoint slow) is not doubled up.
      if (this.round === undefined) void this.poll();
      this.schedule();
    }, next - now);
    this.timer.unref();
  }

  private async runRound(): Promise<QueueProxyTotals> {
    const at = this.now();
    const urls = this.urls;
    const answers = await Promise.all(urls.map((url) => this.read(url)));
    const totals: QueueProxyTotals = { ...EMPTY, at };
    for (const report of answers) {
      if (report === undefined) {
        totals.silent++;
        continue;
      }
      if (this.urls.includes(report.url)) {
        this.reports.set(report.url, report);
        this.deliver(report);
      }
      totals.reporting++;
      totals.second = Math.max(totals.second, report.second);
      totals.averageConcurrency += report.averageConcurrency;
      totals.averageProxiedConcurrency += report.averageProxiedConcurrency;
      totals.requestCount += report.requestCount;
      totals.proxiedRequestCount += report.proxiedRequestCount;
      totals.inflight += report.inflight;
      totals.held += report.held;
    }
    this.latestTotals = totals;
    this.options.onRound?.(totals);
    return totals;
  }

  /** Pass on the seconds of `report` not passed on before. */
  private deliver(report: EndpointReport): void {
    const last = this.seen.get(report.url) ?? -Infinity;
    let newest = last;
    for (const s of report.seconds) {
      if (s.second <= last) continue;
      this.options.onSecond?.(s, report.url);
      newest = Math.max(newest, s.second);
    }
    this.seen.set(report.url, newest);
  }

  /** One endpoint's stats, or undefined when it is silent (no answer in time, not 200, or not stats). */
  private async read(url: string): Promise<EndpointReport | undefined> {
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        headers: this.headers,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return undefined;
      }
      return toReport(url, (await res.body.json()) as Partial<QueueProxyStatsJson>, this.now());
    } catch {
      return undefined;
    }
  }
}

/** Checks the shape once, so a wrong endpoint (some other JSON) counts as silent, not as zeros. */
function toReport(url: string, body: Partial<QueueProxyStatsJson>, receivedAt: number): EndpointReport | undefined {
  const last = body?.lastSecond;
  if (last === undefined || last === null || typeof last !== 'object') return undefined;
  const numbers = [
    last.second,
    last.averageConcurrency,
    last.averageProxiedConcurrency,
    last.requestCount,
    last.proxiedRequestCount,
    body.inflight,
    body.held,
  ];
  if (!numbers.every(isNumber)) return undefined;
  // Older answers without `seconds` still give their last second.
  const seconds = Array.isArray(body.seconds) ? body.seconds.filter(isSecond) : [last];
  return {
    url,
    second: last.second,
    averageConcurrency: last.averageConcurrency,
    averageProxiedConcurrency: last.averageProxiedConcurrency,
    requestCount: last.requestCount,
    proxiedRequestCount: last.proxiedRequestCount,
    inflight: body.inflight!,
    held: body.held!,
    draining: body.draining === true,
    podName: typeof body.podName === 'string' ? body.podName : undefined,
    receivedAt,
    seconds,
  };
}

function isNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

function isSecond(s: SecondStats): boolean {
  return (
    s !== null &&
    typeof s === 'object' &&
    isNumber(s.second) &&
    isNumber(s.averageConcurrency) &&
    isNumber(s.averageProxiedConcurrency) &&
    isNumber(s.requestCount) &&
    isNumber(s.proxiedRequestCount)
  );
}

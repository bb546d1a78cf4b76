/**
 * The two `GET /api/v1/stats` answers Sluice reads back, and the checks a reader applies to them: a
 * gateway's (its revisions' recent seconds, which the leader adds up over its peers) and a
 * queue-proxy's (one pod's recent seconds, total and proxied). Producers (admin/app.ts,
 * queue-proxy/stats.ts) and readers (stats-scraper.ts and its callers) share these shapes.
 *
 * A check returns undefined for an answer that is not stats at all (a wrong endpoint answering some
 * other JSON), so a reader counts it as silent rather than as zeros; entries inside a good answer
 * that are malformed are dropped one by one.
 */

/** One completed second of a gateway revision: time-weighted concurrency and requests begun. */
export interface GatewaySecond {
  second: number;
  concurrency: number;
  requests: number;
}

/** One revision's raw numbers, as a peer gateway reports them to the leader. */
export interface RevisionStatsJson {
  service: string;
  revision: string;
  inflight: number;
  held: number;
  requestsTotal: number;
  stableConcurrency: number;
  panicConcurrency: number;
  rps: number;
  /** The last few completed seconds, oldest first. */
  seconds: GatewaySecond[];
}

/** A gateway's `GET /api/v1/stats` on its admin port. */
export interface GatewayStatsJson {
  /** The gateway's clock, ms. */
  now: number;
  revisions: RevisionStatsJson[];
}

/** What a reader takes from a gateway's answer: per revision, its recent seconds. */
export interface GatewayStatsSample {
  revisions: Array<{ service: string; revision: string; seconds: GatewaySecond[] }>;
}

/** One period's numbers. Concurrency is time-weighted; counts are requests begun in the period. */
export interface PeriodStats {
  averageConcurrency: number;
  averageProxiedConcurrency: number;
  requestCount: number;
  proxiedRequestCount: number;
}

/** One completed second; `second` is floor(ms / 1000) of its start on the queue-proxy's clock. */
export type SecondStats = PeriodStats & { second: number };

/** A queue-proxy's `GET /api/v1/stats` on its admin port. */
export interface QueueProxyStatsJson {
  /** The queue-proxy's clock, ms. */
  now: number;
  /** From env POD_NAME (downward API), when set. */
  podName?: string;
  containerConcurrency: number;
  /** True from SIGTERM on. */
  draining: boolean;
  /** The last completed second; `second` is floor(ms / 1000) of its start, so a reader can tell a repeat. */
  lastSecond: SecondStats;
  /** The same over the last `seconds` completed seconds (concurrency averaged, counts summed). */
  window: PeriodStats & { seconds: number };
  /**
   * The last few completed seconds one by one, oldest first (the last is `lastSecond`): a reader
   * polling every second loses nothing when one poll fails.
   */
  seconds: SecondStats[];
  /** Requests at the app now. */
  inflight: number;
  /** Requests waiting for a slot now. */
  held: number;
  /** Requests since start, for readers that want counts across missed polls. */
  requestsTotal: number;
  proxiedRequestsTotal: number;
}

/** What a reader takes from a queue-proxy's answer. */
export interface QueueProxySample {
  lastSecond: SecondStats;
  /** Oldest first; an answer without `seconds` (an older queue-proxy) gives its last second alone. */
  seconds: SecondStats[];
  inflight: number;
  held: number;
  draining: boolean;
  podName?: string;
}

/** A gateway's answer, or undefined when `body` has no `revisions` list. */
export function gatewaySample(body: unknown): GatewayStatsSample | undefined {
  const revisions = (body as Partial<GatewayStatsJson> | null)?.revisions;
  if (!Array.isArray(revisions)) return undefined;
  const out: GatewayStatsSample['revisions'] = [];
  for (const r of revisions as Partial<RevisionStatsJson>[]) {
    if (!isObject(r) || typeof r.service !== 'string' || typeof r.revision !== 'string' || !Array.isArray(r.seconds)) continue;
    out.push({ service: r.service, revision: r.revision, seconds: r.seconds.filter(isGatewaySecond) });
  }
  return { revisions: out };
}

/** A queue-proxy's answer, or undefined when its last second or current counts are missing. */
export function queueProxySample(body: unknown): QueueProxySample | undefined {
  const json = body as Partial<QueueProxyStatsJson> | null;
  const last = json?.lastSecond;
  if (!isObject(last) || !isSecondStats(last) || !isNumber(json!.inflight) || !isNumber(json!.held)) return undefined;
  return {
    lastSecond: last,
    seconds: Array.isArray(json!.seconds) ? json!.seconds.filter(isSecondStats) : [last],
    inflight: json!.inflight,
    held: json!.held,
    draining: json!.draining === true,
    podName: typeof json!.podName === 'string' ? json!.podName : undefined,
  };
}

function isObject(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}

function isNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

function isGatewaySecond(s: GatewaySecond): boolean {
  return isObject(s) && isNumber(s.second) && isNumber(s.concurrency) && isNumber(s.requests);
}

function isSecondStats(s: SecondStats): boolean {
  return (
    isObject(s) &&
    isNumber(s.second) &&
    isNumber(s.averageConcurrency) &&
    isNumber(s.averageProxiedConcurrency) &&
    isNumber(s.requestCount) &&
    isNumber(s.proxiedRequestCount)
  );
}

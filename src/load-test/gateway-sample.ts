/**
 * One reading of the gateway per second, from its admin API: `/api/v1/services` (replicas,
 * held requests, panic mode per revision) and `/api/v1/stats` (the gateway's own count of requests
 * and its time-weighted concurrency in the last completed second). Pure: the JSON in, a plain sample out; the fetching is in run.ts.
 * Without the event feed, scale decisions are the changes of desired replicas between two samples.
 */

/** What a revision looks like in `/api/v1/services` (the fields read here). */
interface RevisionStatus {
  name: string;
  percent: number;
  replicas: { desired: number; actual: number; ready: number };
  inflight: number;
  held: number;
  stableConcurrency: number;
  panicConcurrency: number;
  panicMode: boolean;
  requestsTotal: number;
  coldStarts: number;
  condition?: { status?: string };
}

interface ServicesAnswer {
  services: Array<{ name: string; revisions: RevisionStatus[] }>;
}

interface StatsAnswer {
  revisions: Array<{ service: string; revision: string; seconds: Array<{ second: number; concurrency: number; requests: number }> }>;
}

/** A revision's reading: the services API's own figures, its replicas flattened, and the last second's stats. */
export interface RevisionSample extends Pick<
  RevisionStatus,
  'percent' | 'inflight' | 'held' | 'stableConcurrency' | 'panicConcurrency' | 'panicMode' | 'requestsTotal' | 'coldStarts'
> {
  service: string;
  revision: string;
  desired: number;
  actual: number;
  ready: number;
  condition: string;
  /** Requests the gateway counted in its last completed second. */
  gatewayRequests: number;
  /** Time-weighted requests in flight over that second (2 in flight for half of it = 1). */
  concurrency: number;
}

export interface GatewaySample {
  /** Seconds since the run's start. */
  t: number;
  revisions: RevisionSample[];
  /** Sums over the revisions followed. */
  desired: number;
  actual: number;
  ready: number;
  inflight: number;
  held: number;
  /** Any revision in panic mode. */
  panic: boolean;
  gatewayRequests: number;
  concurrency: number;
}

/** A change of desired replicas (from the event feed, or seen between two samples). */
export interface ScaleDecision {
  t: number;
  service: string;
  revision: string;
  from: number;
  to: number;
  /** The feed's reason; `observed` when seen by polling. */
  reason: string;
}

/** A sample from the two answers; only `service`'s revisions when given. */
export function gatewaySample(t: number, services: unknown, stats: unknown, service?: string): GatewaySample {
  const list = (services as ServicesAnswer).services.filter((s) => service === undefined || s.name === service);
  const recent = new Map<string, { requests: number; concurrency: number }>();
  for (const r of (stats as StatsAnswer).revisions) {
    const last = r.seconds.at(-1);
    recent.set(`${r.service}/${r.revision}`, { requests: last?.requests ?? 0, concurrency: last?.concurrency ?? 0 });
  }
  const revisions = list.flatMap((s) =>
    s.revisions.map((r): RevisionSample => ({
      service: s.name,
      revision: r.name,
      percent: r.percent,
      desired: r.replicas.desired,
      actual: r.replicas.actual,
      ready: r.replicas.ready,
      inflight: r.inflight,
      held: r.held,
      stableConcurrency: r.stableConcurrency,
      panicConcurrency: r.panicConcurrency,
      panicMode: r.panicMode,
      requestsTotal: r.requestsTotal,
      coldStarts: r.coldStarts,
      condition: r.condition?.status ?? 'Unknown',
      gatewayRequests: recent.get(`${s.name}/${r.name}`)?.requests ?? 0,
      concurrency: recent.get(`${s.name}/${r.name}`)?.concurrency ?? 0,
    })),
  );
  const sum = (pick: (r: RevisionSample) => number) => revisions.reduce((n, r) => n + pick(r), 0);
  return {
    t,
    revisions,
    desired: sum((r) => r.desired),
    actual: sum((r) => r.actual),
    ready: sum((r) => r.ready),
    inflight: sum((r) => r.inflight),
    held: sum((r) => r.held),
    panic: revisions.some((r) => r.panicMode),
    gatewayRequests: sum((r) => r.gatewayRequests),
    concurrency: Math.round(sum((r) => r.concurrency) * 100) / 100,
  };
}

/**
 * The desired-replica changes between two samples, stamped with the later one's time: desired
 * 0 → 1 between t=3.0 and t=4.0 is a decision at 4.0 (within a second of when it was made).
 */
export function observedDecisions(before: GatewaySample | undefined, after: GatewaySample): ScaleDecision[] {
  const prior = new Map((before?.revisions ?? []).map((r) => [`${r.service}/${r.revision}`, r.desired]));
  return after.revisions.flatMap((r) => {
    const from = prior.get(`${r.service}/${r.revision}`);
    return from === undefined || from === r.desired
      ? []
      : [{ t: after.t, service: r.service, revision: r.revision, from, to: r.desired, reason: 'observed' }];
  });
}

/**
 * What the gateway knows about each service and revision, as the admin API and the metrics read it.
 * The gateway implements StatusSource; admin and metrics only read.
 */
import type { RevisionCondition } from './condition.js';
import type { ReplicaCounts } from './revision.js';

/**
 * Why the activator held a request: no ready endpoint and none wanted (`scaled_to_zero`), no ready
 * endpoint yet while replicas start (`starting`), endpoints all at capacity or requests already
 * waiting ahead (`at_capacity`), or an attempt failed and none other had room (`retry`).
 */
export type HoldReason = 'scaled_to_zero' | 'starting' | 'at_capacity' | 'retry';

export const HOLD_REASONS: readonly HoldReason[] = ['scaled_to_zero', 'starting', 'at_capacity', 'retry'];

/** A revision's request counters as readers see them (stats/revision-stats.ts keeps them). */
export interface RevisionCounters {
  readonly inflight: number;
  readonly held: number;
  readonly requestsTotal: number;
  /** Wall-clock ms of the last request's arrival; 0 = never. */
  readonly lastRequestAt: number;
  /** Responses by status code; 0 = the client went away first. */
  readonly codes: ReadonlyMap<number, number>;
  /** Duration histogram counts, one per bound plus +Inf (stats/revision-stats.ts DURATION_BOUNDS). */
  readonly durationCounts: ArrayLike<number>;
  readonly durationSum: number;
  readonly coldStarts: number;
  readonly coldStartSeconds: number;
  /** Cold-start waits: counts per COLD_START_BOUNDS bucket (stats/revision-stats.ts), plus +Inf. */
  readonly coldStartCounts: ArrayLike<number>;
  /** Requests held since start, by why. */
  readonly heldByReason: Readonly<Record<HoldReason, number>>;
  /** Times an endpoint was ejected (skipped for a moment after a connection to it failed). */
  readonly ejections: number;
  /** The last `n` completed seconds, oldest first. */
  recentSeconds(now: number, n: number): Array<{ second: number; concurrency: number; requests: number }>;
}

/** The autoscaler's latest view of a revision (written each tick). */
export interface AutoscalerView {
  /** Observed stable-window value (concurrency or RPS, per the revision's metric). */
  stableConcurrency: number;
  panicConcurrency: number;
  rps: number;
  panicMode: boolean;
  /** The decider's answer before bounds; -1 until the first tick. */
  desiredPodCount: number;
  excessBurstCapacity: number;
}

/** One revision, live. Objects are owned by the gateway; readers must not mutate them. */
export interface RevisionView {
  service: string;
  revision: string;
  backend: 'local' | 'static' | 'kubernetes';
  containerConcurrency: number;
  /** Traffic percent and tag from the service's traffic block (0 / undefined when not listed). */
  percent: number;
  tag?: string;
  stats: RevisionCounters;
  replicas: ReplicaCounts;
  autoscaler: AutoscalerView;
  /** Ready, Activating or Failed, with a reason and a message (core/condition.ts). */
  condition: RevisionCondition;
}

export interface ServiceView {
  name: string;
  match: { hosts: string[]; pathPrefix?: string; model?: string };
  revisions: RevisionView[];
}

export interface StatusSource {
  services(): ServiceView[];
  /** True once the gateway listens and its config is loaded. */
  ready(): boolean;
}

/**
 * A revision as the request path sees it: its spec, its ready endpoints, its stats and its hold
 * queue. One object per configured revision, found through the service's traffic split.
 */
import type { Revision } from '../config/load.js';
import type { ScalerDriver } from '../scaler/driver.js';
import type { RevisionKey, ReplicaCounts } from '../core/revision.js';
import type { Endpoint } from '../core/endpoint.js';
import { CombinedBuckets, ExternalBuckets } from '../stats/external-buckets.js';
import { RevisionStats } from '../stats/revision-stats.js';
import type { SecondBuckets } from '../stats/windows.js';
import { HoldQueue } from './hold-queue.js';
import type { AutoscalerView } from '../core/status.js';
import { derivedCondition, type RevisionCondition } from '../core/condition.js';

/** A request waiting for capacity; the activator calls exactly one of send or fail. */
export interface HeldRequest {
  /** Endpoints it must not be sent to (they may have read it once and failed). */
  readonly avoid?: readonly Endpoint[];
  send(endpoint: Endpoint, waitedMs: number): void;
  fail(err: import('../errors.js').SluiceError): void;
}

export interface Held {
  readonly request: HeldRequest;
  /** Wall-clock ms at which it is answered 504 activation_timeout, and the wait that makes. */
  readonly deadline: number;
  readonly waitMs: number;
  /** Held ahead of the others (sent once, to go again): its deadline may be later than theirs. */
  readonly front: boolean;
}

export class RevisionRuntime {
  readonly key: RevisionKey;
  readonly stats: RevisionStats;
  readonly queue = new HoldQueue<Held>();
  /** One timer for the whole queue, due at its earliest deadline (the activator's sweep). */
  holdTimer: NodeJS.Timeout | undefined;
  holdTimerAt = 0;
  /** Ready endpoints, replaced whole on every change (never mutated in place). */
  endpoints: readonly Endpoint[] = [];
  autoscaler: AutoscalerView = {
    stableConcurrency: 0,
    panicConcurrency: 0,
    rps: 0,
    panicMode: false,
    desiredPodCount: -1,
    excessBurstCapacity: 0,
  };
  /** Wall-clock ms when the ready set last went from empty to non-empty. */
  readySince = 0;
  /** Routed: a traffic percent > 0 or a tag (Knative scales unreachable revisions down freely). */
  reachable = true;
  /** Removed from the config: finishes what it holds and serves, then its driver stops it. */
  retired = false;
  /**
   * What its endpoints' pools are keyed by beside the endpoint's id: '' for HTTP/1.1 without a tls
   * block, else one short key per distinct protocol and TLS settings (gateway.ts), so revisions
   * reaching one endpoint differently (another serverName) never share a pool.
   */
  upstreamKey = '';
  /**
   * A temporary lower bound on replicas (blue/green pre-warm and keep-warm): honoured by the
   * control loop until `until` (wall-clock ms).
   */
  floor: { replicas: number; until: number } | undefined;

  /** The driver's latest condition; undefined for drivers that report none (see `condition`). */
  reported: RevisionCondition | undefined;
  private derived: RevisionCondition | undefined;

  /** Samples from peers or queue-proxies, and the view the windows read when there are any. */
  private combined: CombinedBuckets | undefined;

  /** Start taking per-second samples from elsewhere (peer gateways, queue-proxies): they add to this gateway's own counts. */
  external(): ExternalBuckets {
    this.combined ??= new CombinedBuckets(this.stats, new ExternalBuckets(this.stats.size));
    return this.combined.external;
  }

  /** What the autoscaler's windows read: local stats, plus external samples once there are any. */
  get metricBuckets(): SecondBuckets {
    return this.combined ?? this.stats;
  }

  constructor(
    readonly service: string,
    public spec: Revision,
    readonly driver: ScalerDriver,
    now: number,
  ) {
    this.key = `${service}/${spec.name}`;
    this.stats = new RevisionStats(now, Math.ceil(spec.scaling.stableWindowMs / 1000));
  }

  get name(): string {
    return this.spec.name;
  }
  get containerConcurrency(): number {
    return this.spec.containerConcurrency;
  }
  get replicas(): ReplicaCounts {
    return this.driver.replicas(this.key);
  }

  /** The readiness condition: the driver's, or one derived from the replica counts. */
  get condition(): RevisionCondition {
    if (this.reported !== undefined) return this.reported;
    this.derived = derivedCondition(this.replicas, Date.now(), this.derived);
    return this.derived;
  }

  /** The condition when the revision is Failed and has no ready endpoint: its requests are answered at once. */
  get failure(): RevisionCondition | undefined {
    const reported = this.reported;
    return reported !== undefined && reported.status === 'Failed' && this.endpoints.length === 0 ? reported : undefined;
  }
}

/**
 * One revision's readiness condition, kept current: the Deployment's failure conditions from its
 * informer, its pods' states from a PodPoller that runs only while replicas are wanted and none
 * is ready, and the replica counts, combined by revisionCondition (pure). A change of status,
 * reason, message or output is handed on; `since` stays while status and reason do.
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { sameCondition, type RevisionCondition } from '../core/condition.js';
import type { ReplicaCounts } from '../core/revision.js';
import { labelSelectorQuery } from './label-selector.js';
import type { PodPoller } from './pod-poller.js';
import { deploymentFailure, podFailure, revisionCondition, type StartFailure } from './revision-condition.js';

export interface ConditionTrackerOptions {
  /** The Deployment's name, to pick it from its informer's list. */
  deployment: string;
  /** Desired and ready replicas now. */
  counts: () => ReplicaCounts;
  /** Lists the pods; told the Deployment's selector while they matter, undefined otherwise. */
  pods: PodPoller;
  onChange: (condition: RevisionCondition, previous: RevisionCondition) => void;
}

const NONE: ReplicaCounts = { desired: 0, actual: 0, ready: 0 };

export class ConditionTracker {
  private current: RevisionCondition;
  private selector: string | undefined;
  private deploymentSays: StartFailure | undefined;
  private podsSay: StartFailure | undefined;
  private stopped = false;

  constructor(private readonly options: ConditionTrackerOptions) {
    this.current = revisionCondition({ counts: NONE }, Date.now());
  }

  get condition(): RevisionCondition {
    return this.current;
  }

  /** The Deployment as its informer lists it: its failure conditions and the selector of its pods. */
  observeDeployment(deployments: readonly V1Deployment[]): void {
    const deployment = deployments.find((d) => d.metadata?.name === this.options.deployment);
    this.deploymentSays = deploymentFailure(deployment);
    this.selector = labelSelectorQuery(deployment?.spec?.selector);
    this.refresh();
  }

  /** Counts changed (endpoints, desired replicas), or anything else: recompute, poll pods or not, tell a change. */
  refresh(): void {
    if (this.stopped) return;
    const counts = this.options.counts();
    const starting = counts.desired > 0 && counts.ready === 0;
    this.options.pods.want(starting ? this.selector : undefined);
    // What pods said is news only while they are being listed; after, it is stale.
    if (!this.options.pods.polling) this.podsSay = undefined;
    const next = revisionCondition({ counts, deployment: this.deploymentSays, pods: this.podsSay }, Date.now(), this.current);
    const previous = this.current;
    if (sameCondition(previous, next)) return;
    this.current = next;
    this.options.onChange(next, previous);
  }

  /** A list of the pods came back. */
  observePods(pods: readonly V1Pod[]): void {
    this.podsSay = podFailure(pods);
    this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.options.pods.stop();
  }
}

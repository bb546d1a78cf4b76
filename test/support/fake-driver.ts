/**
 * A scaler driver the test drives by hand: it starts nothing, publishes the endpoints the test names
 * and reports the conditions the test sets, through the same ScalerDriver port the local and
 * Kubernetes drivers use. For unit tests of what reacts to conditions (traffic and rollouts).
 */
import { derivedCondition, type ConditionListener, type RevisionCondition } from '../../src/core/condition.js';
import { createEndpoint, type Endpoint } from '../../src/core/endpoint.js';
import type { ReplicaCounts, RevisionKey } from '../../src/core/revision.js';
import type { EndpointsListener, ScalerDriver } from '../../src/scaler/driver.js';

export class FakeDriver implements ScalerDriver {
  private readonly revisions = new Map<RevisionKey, { desired: number; endpoints: Endpoint[]; condition: RevisionCondition }>();
  private readonly endpointListeners: EndpointsListener[] = [];
  private readonly conditionListeners: ConditionListener[] = [];

  add(key: RevisionKey): void {
    if (!this.revisions.has(key)) {
      this.revisions.set(key, { desired: 0, endpoints: [], condition: derivedCondition({ desired: 0, actual: 0, ready: 0 }, 0) });
    }
  }

  remove(key: RevisionKey): Promise<void> {
    this.revisions.delete(key);
    return Promise.resolve();
  }

  setReplicas(key: RevisionKey, n: number): void {
    this.get(key).desired = n;
  }

  replicas(key: RevisionKey): ReplicaCounts {
    const rev = this.revisions.get(key);
    return { desired: rev?.desired ?? 0, actual: rev?.endpoints.length ?? 0, ready: rev?.endpoints.length ?? 0 };
  }

  onEndpoints(listener: EndpointsListener): void {
    this.endpointListeners.push(listener);
  }

  condition(key: RevisionKey): RevisionCondition {
    return this.get(key).condition;
  }

  onCondition(listener: ConditionListener): void {
    this.conditionListeners.push(listener);
  }

  close(): Promise<void> {
    this.revisions.clear();
    return Promise.resolve();
  }

  // --- what the test does ---

  /** Publish `urls` as the revision's ready endpoints. */
  publish(key: RevisionKey, urls: string[]): void {
    const rev = this.get(key);
    rev.endpoints = urls.map(createEndpoint);
    for (const l of this.endpointListeners) l(key, rev.endpoints);
  }

  /** Report a condition, as a driver does when it learns why a revision does not start. */
  report(key: RevisionKey, condition: Omit<RevisionCondition, 'since'>, since = 0): void {
    const rev = this.get(key);
    rev.condition = { ...condition, since };
    for (const l of this.conditionListeners) l(key, rev.condition);
  }

  /** Requested replicas (what a pre-warm asked for). */
  desired(key: RevisionKey): number {
    return this.get(key).desired;
  }

  private get(key: RevisionKey) {
    const rev = this.revisions.get(key);
    if (rev === undefined) throw new Error(`no revision ${key}`);
    return rev;
  }
}

/** What the local driver reports after three starts that exited with code 1. */
export const EXIT_CODE_FAILED: Omit<RevisionCondition, 'since'> = {
  status: 'Failed',
  reason: 'ExitCode',
  message: 'exited with code 1 before it was ready, 3 starts in a row',
  output: 'loading /models/iris\nmodel file not found\n',
};

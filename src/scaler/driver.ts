/**
 * The seam between deciding and acting: every backend (local processes, Kubernetes, static URLs)
 * implements ScalerDriver. The control loop calls setReplicas; the gateway listens for endpoint sets.
 */
import type { Revision } from '../config/load.js';
import type { Endpoint } from '../core/endpoint.js';
import type { ConditionListener, RevisionCondition } from '../core/condition.js';
import type { ReplicaCounts, RevisionKey } from '../core/revision.js';

/** Called with the full ready set each time it changes. */
export type EndpointsListener = (key: RevisionKey, endpoints: readonly Endpoint[]) => void;

export interface ScalerDriver {
  /** Start managing a revision at zero replicas (or apply a changed spec to a managed one). */
  add(key: RevisionKey, revision: Revision): void;
  /** Scale the revision to zero, draining it, and forget it. */
  remove(key: RevisionKey): Promise<void>;
  /** Ask for `n` replicas; returns at once, the effect shows through endpoint events. */
  setReplicas(key: RevisionKey, n: number): void;
  /**
   * Wake a revision at zero: 0 → `n` only, never lowering or overriding a scale someone else set
   * (Kubernetes: a write guarded by resourceVersion, so several gateways may race safely). Drivers
   * without it are activated with setReplicas.
   */
  activate?(key: RevisionKey, n: number): void;
  replicas(key: RevisionKey): ReplicaCounts;
  /** Subscribe to ready-set changes. */
  onEndpoints(listener: EndpointsListener): void;
  /**
   * The revision's readiness condition, for drivers that can tell why a revision does not start
   * (core/condition.ts). Drivers without it get a condition derived from their replica counts.
   */
  condition?(key: RevisionKey): RevisionCondition;
  /** Subscribe to condition changes (status, reason, message or output). */
  onCondition?(listener: ConditionListener): void;
  /** Stop every replica this driver started; resolves when none is left. */
  close(): Promise<void>;
}

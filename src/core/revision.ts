/** What identifies a revision and how many replicas it has: the types every layer shares. */

/** `service/revision`, the key every per-revision table uses. */
export type RevisionKey = string;

export interface ReplicaCounts {
  /** What was last asked for. */
  desired: number;
  /** Replicas that exist (started, not yet stopped), ready or not. */
  actual: number;
  /** Replicas in the published endpoint set. */
  ready: number;
}

/**
 * A revision's readiness condition, as Knative's revision conditions have it: a status, a reason a
 * program can branch on, and a message a person can act on.
 *
 *   Ready       Serving (ready endpoints) | ScaledToZero (none wanted, nothing wrong known)
 *   Activating  Starting (replicas wanted, none ready yet) | Restarting (a start failed; trying again)
 *   Failed      ExitCode | SpawnError | ReadinessTimeout | CrashLoop (local replicas);
 *               CrashLoopBackOff | ImagePullBackOff | ErrImagePull | Unschedulable |
 *               ProgressDeadlineExceeded | ReplicaFailure … (what Kubernetes says)
 *
 * Drivers that know why a revision does not start report conditions (scaler/driver.ts
 * onCondition); for the others the condition follows from the replica counts (derivedCondition).
 * While a revision is Failed and has no ready endpoint, the gateway answers its requests at once
 * with 503 revision_failed instead of holding them.
 */
import type { ReplicaCounts, RevisionKey } from './revision.js';

export type ConditionStatus = 'Ready' | 'Activating' | 'Failed';

export interface RevisionCondition {
  readonly status: ConditionStatus;
  /** One CamelCase word: `Serving`, `ExitCode`, `CrashLoopBackOff` … */
  readonly reason: string;
  /** What happened, in a sentence: `exited with code 1 before it was ready, 3 starts in a row`. */
  readonly message: string;
  /** Wall-clock ms when the status or reason last changed. */
  readonly since: number;
  /** The last lines the failed replica wrote to stderr (at most OUTPUT_TAIL_BYTES); '' when none. */
  readonly output: string;
}

/** Bound on RevisionCondition.output: what the 503 message and the status API carry. */
export const OUTPUT_TAIL_BYTES = 2048;

export type ConditionListener = (key: RevisionKey, condition: RevisionCondition) => void;

/**
 * The condition of a revision whose driver reports none, from its replica counts: ready endpoints
 * → Ready/Serving; replicas wanted but none ready → Activating/Starting; else Ready/ScaledToZero.
 * `since` is kept when the status and reason are those of `previous`.
 */
export function derivedCondition(counts: ReplicaCounts, now: number, previous?: RevisionCondition): RevisionCondition {
  const [status, reason, message]: [ConditionStatus, string, string] =
    counts.ready > 0
      ? ['Ready', 'Serving', `${counts.ready} ready ${counts.ready === 1 ? 'replica' : 'replicas'}`]
      : counts.desired > 0
        ? ['Activating', 'Starting', `waiting for ${counts.desired === 1 ? 'a replica' : `${counts.desired} replicas`} to be ready`]
        : ['Ready', 'ScaledToZero', 'scaled to zero; the next request starts a replica'];
  return withSince({ status, reason, message, output: '' }, now, previous);
}

/** `condition` with `since` = now, or previous.since when status and reason did not change. */
export function withSince(condition: Omit<RevisionCondition, 'since'>, now: number, previous?: RevisionCondition): RevisionCondition {
  const same = previous !== undefined && previous.status === condition.status && previous.reason === condition.reason;
  return { ...condition, since: same ? previous.since : now };
}

/** Same status, reason, message and output: nothing worth telling listeners. */
export function sameCondition(a: RevisionCondition | undefined, b: RevisionCondition): boolean {
  return a !== undefined && a.status === b.status && a.reason === b.reason && a.message === b.message && a.output === b.output;
}

/**
 * A local revision's condition (core/condition.ts) from what its driver knows: replica counts,
 * the starts that failed in a row, and how the last one failed. Pure; the driver calls it after
 * every change.
 *
 *   ready replica                                  → Ready       Serving
 *   spawn error                                    → Failed      SpawnError (the command cannot run: no point trying again soon)
 *   not ready within readinessTimeoutSeconds       → Failed      ReadinessTimeout
 *   startFailureThreshold failed starts in a row   → Failed      ExitCode, or CrashLoop when they died soon after being ready
 *   fewer, replicas wanted                         → Activating  Restarting
 *   replicas wanted                                → Activating  Starting
 *   nothing wanted                                 → Ready       ScaledToZero
 *
 * Failed stays until a replica is ready, at zero too: a request for a Failed revision is answered
 * 503 at once, and asks for a replica so restarts go on.
 */
import { derivedCondition, withSince, type RevisionCondition } from '../core/condition.js';
import type { ExitCause } from './local-replica.js';

/** How the last start failed (a replica that exited before it was ready, or soon after). */
export interface StartFailure {
  cause: ExitCause;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The replica's own account when it was killed or never ran (readiness timeout, spawn error). */
  reason?: string;
  /** It had been ready (and died within the backoff reset time). */
  wasReady: boolean;
  output: string;
}

export interface LocalConditionInput {
  desired: number;
  ready: number;
  /** Starts that failed in a row since a replica last stayed up. */
  failedStarts: number;
  /** The revision's startFailureThreshold. */
  threshold: number;
  /** The last failed start, until a replica is ready. */
  failure: StartFailure | undefined;
}

/** `exited with code 1`, `killed by SIGSEGV`, or the replica's own reason. */
export function describeFailure(failure: StartFailure): string {
  if (failure.cause !== 'exit') return failure.reason ?? failure.cause;
  if (failure.signal !== null) return `killed by ${failure.signal}`;
  return `exited with code ${failure.code ?? 'unknown'}`;
}

export function localCondition(input: LocalConditionInput, now: number, previous?: RevisionCondition): RevisionCondition {
  const failed = input.ready === 0 ? failedCondition(input) : undefined;
  if (failed !== undefined) return withSince(failed, now, previous);
  return derivedCondition({ desired: input.desired, actual: 0, ready: input.ready }, now, previous);
}

/** Failed or Restarting when the last start failed and nothing is ready; undefined otherwise. */
function failedCondition({ desired, failedStarts, threshold, failure }: LocalConditionInput): Omit<RevisionCondition, 'since'> | undefined {
  if (failure === undefined) return undefined;
  const what = describeFailure(failure);
  const output = failure.output;
  const starts = failedStarts <= 1 ? 'on its first start' : `${failedStarts} starts in a row`;
  if (failure.cause === 'spawn') return { status: 'Failed', reason: 'SpawnError', message: `${what}, ${starts}`, output };
  if (failure.cause === 'readiness') return { status: 'Failed', reason: 'ReadinessTimeout', message: `${what}, ${starts}`, output };
  if (failedStarts >= threshold) {
    const when = failure.wasReady ? 'soon after it was ready' : 'before it was ready';
    return { status: 'Failed', reason: failure.wasReady ? 'CrashLoop' : 'ExitCode', message: `${what} ${when}, ${starts}`, output };
  }
  if (desired === 0) return undefined;
  return {
    status: 'Activating',
    reason: 'Restarting',
    message: `start ${failedStarts} of ${threshold} failed: ${what}; restarting`,
    output,
  };
}

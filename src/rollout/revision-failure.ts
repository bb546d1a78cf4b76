/**
 * A revision that cannot start (core/condition.ts status Failed), as traffic changes see it: it never
 * takes all of a service's traffic, and a canary that fails is rolled back. This module says how such
 * a failure reads in a refusal or a rollback reason. Pure.
 */
import type { RevisionCondition } from '../core/condition.js';
import type { RevisionKey } from '../core/revision.js';
import { SluiceError } from '../errors.js';

/** Characters kept of the stderr line quoted in a reason: it is one line of a status, not a log. */
const STDERR_CHARS = 200;

/** The condition when the revision is Failed, else undefined. */
export function failedCondition(rev: { readonly condition: RevisionCondition }): RevisionCondition | undefined {
  const condition = rev.condition;
  return condition.status === 'Failed' ? condition : undefined;
}

/**
 * `iris/v2 failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; stderr:
 * model file not found` — the reason, the message and the last line the replica wrote to stderr.
 */
export function failureSummary(key: RevisionKey, condition: RevisionCondition): string {
  const line = lastLine(condition.output);
  return `${key} failed (${condition.reason}): ${condition.message}${line === '' ? '' : `; stderr: ${line}`}`;
}

/**
 * The refusal of a traffic change that would give a Failed revision everything: 409, like the other
 * refusals of the traffic and rollout API, with the stable code the data path uses for the same
 * revision. `doing` says what was refused when it is not plain (`pre-warming iris/v2 to 2 replicas`).
 */
export function revisionFailedError(key: RevisionKey, condition: RevisionCondition, doing?: string): SluiceError {
  const what = failureSummary(key, condition);
  return new SluiceError('revision_failed', 409, `${doing === undefined ? '' : `${doing}: `}${what}; traffic unchanged`);
}

/** The last non-blank line of `output`, trimmed and cut to STDERR_CHARS. */
function lastLine(output: string): string {
  const lines = output.split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line !== '') return line.length <= STDERR_CHARS ? line : line.slice(0, STDERR_CHARS - 1) + '…';
  }
  return '';
}

/**
 * A Kubernetes revision's readiness condition (core/condition.ts) from what the API server says:
 * the ready endpoints and the wanted replica count, the Deployment's status conditions, and the
 * container states of its pods. Pure: objects and `now` in, a condition out; the reasons are
 * Kubernetes' own words (`CrashLoopBackOff`, `ProgressDeadlineExceeded` …), so they read as
 * `kubectl describe` shows them. Design notes: docs/kubernetes.md#when-a-revision-cannot-start.
 */
import type { V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { derivedCondition, OUTPUT_TAIL_BYTES, withSince, type RevisionCondition } from '../core/condition.js';
import type { ReplicaCounts } from '../core/revision.js';

/** Why a revision's pods do not start, as Kubernetes tells it: the Failed part of a condition. */
export interface StartFailure {
  readonly reason: string;
  readonly message: string;
  /** The failed container's termination message (at most OUTPUT_TAIL_BYTES); '' when none. */
  readonly output: string;
}

/**
 * Container `state.waiting.reason`s the kubelet gives a container that will not run without a
 * change: a crash loop, an image it cannot pull, a config it cannot build. `ContainerCreating` and
 * `PodInitializing` are the normal way up and are not here.
 */
export const FAILED_WAITING_REASONS: ReadonlySet<string> = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
]);

/** Bound on a message taken from an object (a waiting or condition message): one line a person reads. */
const MESSAGE_CHARS = 512;

function clip(text: string): string {
  return text.length <= MESSAGE_CHARS ? text : `${text.slice(0, MESSAGE_CHARS - 1)}…`;
}

/**
 * The last `maxBytes` bytes of `text` in UTF-8, cut at a character boundary: a termination message
 * ends with what went wrong last.
 *
 * @example tailBytes('abcdef', 4) // → 'cdef'
 */
export function tailBytes(text: string, maxBytes: number = OUTPUT_TAIL_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let start = bytes.length - maxBytes;
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++; // skip a split character's continuation bytes
  return bytes.subarray(start).toString('utf8');
}

/**
 * The Deployment's own verdict: `ReplicaFailure` True (its ReplicaSet cannot create pods: quota,
 * admission, a missing ServiceAccount) before `Progressing` False with `ProgressDeadlineExceeded`
 * (no progress for spec.progressDeadlineSeconds, 600 s by default), the more specific first.
 */
export function deploymentFailure(deployment: V1Deployment | undefined): StartFailure | undefined {
  const name = deployment?.metadata?.name ?? '';
  const conditions = deployment?.status?.conditions ?? [];
  const replicaFailure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (replicaFailure) {
    const reason = replicaFailure.reason || 'ReplicaFailure';
    return { reason, message: `deployment ${name}: ${clip(replicaFailure.message || 'its ReplicaSet cannot create pods')}`, output: '' };
  }
  const stalled = conditions.find((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded');
  if (stalled) {
    return {
      reason: 'ProgressDeadlineExceeded',
      message: `deployment ${name}: ${clip(stalled.message || 'no progress within its progress deadline')}`,
      output: '',
    };
  }
  return undefined;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function containerFailure(pod: string, kind: string, status: V1ContainerStatus): StartFailure | undefined {
  const waiting = status.state?.waiting;
  const reason = waiting?.reason;
  if (reason === undefined || !FAILED_WAITING_REASONS.has(reason)) return undefined;
  const where = `pod ${pod}, ${kind} ${status.name}`;
  const last = status.lastState?.terminated;
  const output = tailBytes(last?.message ?? '');
  if (reason === 'CrashLoopBackOff') {
    // lastState.terminated is the run that just ended: exit code 1 (Error), 137 (OOMKilled) …
    const exit = last === undefined ? '' : `; last exit code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}`;
    const restarts = status.restartCount > 0 ? `, ${plural(status.restartCount, 'restart', 'restarts')}` : '';
    return { reason, message: `${where}: restarting after each crash, with back-off${exit}${restarts}`, output };
  }
  return { reason, message: `${where}: ${clip(waiting?.message || reason)}`, output };
}

function byName(pods: readonly V1Pod[]): V1Pod[] {
  return pods
    .filter((p) => p.metadata?.deletionTimestamp === undefined) // a terminating pod's state is not the revision's
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/**
 * The first pod that says why it does not start, in pod-name order: a container (init containers
 * first, as they run first) waiting for one of FAILED_WAITING_REASONS, else a pod the scheduler
 * cannot place (`PodScheduled` False, `Unschedulable`). Container failures are looked for in every
 * pod before scheduling ones: a crash says more than a pod that has not been placed yet.
 */
export function podFailure(pods: readonly V1Pod[]): StartFailure | undefined {
  const live = byName(pods);
  for (const pod of live) {
    const name = pod.metadata?.name ?? '';
    for (const status of pod.status?.initContainerStatuses ?? []) {
      const failure = containerFailure(name, 'init container', status);
      if (failure) return failure;
    }
    for (const status of pod.status?.containerStatuses ?? []) {
      const failure = containerFailure(name, 'container', status);
      if (failure) return failure;
    }
  }
  for (const pod of live) {
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      const message = `pod ${pod.metadata?.name ?? ''}: ${clip(scheduled.message || 'no node can run it')}`;
      return { reason: 'Unschedulable', message, output: '' };
    }
  }
  return undefined;
}

export interface ConditionInput {
  /** Ready endpoints and the wanted replica count. */
  counts: ReplicaCounts;
  /** From the Deployment's status conditions (deploymentFailure). */
  deployment?: StartFailure;
  /** From the pods' status (podFailure); wins over the Deployment's, being more specific. */
  pods?: StartFailure;
}

/**
 * Ready endpoints → Ready/Serving, whatever else is said (a revision that serves has not failed);
 * none wanted → Ready/ScaledToZero; replicas wanted, none ready and a failure known → Failed with
 * it; else Activating/Starting. `since` is kept while status and reason stay those of `previous`.
 *
 * @example revisionCondition({ counts: { desired: 1, actual: 1, ready: 0 }, pods: crashLoop }, now)
 *   // → { status: 'Failed', reason: 'CrashLoopBackOff', … }
 */
export function revisionCondition(input: ConditionInput, now: number, previous?: RevisionCondition): RevisionCondition {
  const { counts } = input;
  const failure = input.pods ?? input.deployment;
  if (counts.ready > 0 || counts.desired === 0 || failure === undefined) return derivedCondition(counts, now, previous);
  return withSince({ status: 'Failed', ...failure }, now, previous);
}

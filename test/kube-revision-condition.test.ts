/**
 * What Kubernetes says about a revision → its condition, as tables: a Deployment's selector as a
 * label query, the termination-message tail, the pods' and the Deployment's failures, and how
 * they combine with the replica counts. Pure: no I/O, `now` passed in.
 */
import type { V1ContainerStatus, V1Deployment, V1DeploymentCondition, V1LabelSelector, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { OUTPUT_TAIL_BYTES, type RevisionCondition } from '../src/core/condition.js';
import type { ReplicaCounts } from '../src/core/revision.js';
import { labelSelectorQuery } from '../src/kube/label-selector.js';
import {
  deploymentFailure,
  podFailure,
  revisionCondition,
  tailBytes,
  type ConditionInput,
  type StartFailure,
} from '../src/kube/revision-condition.js';

const T0 = Date.UTC(2026, 10, 25, 14, 0, 0);

describe('labelSelectorQuery', () => {
  const rows: Array<{ label: string; selector: V1LabelSelector | undefined; want: string | undefined }> = [
    { label: 'matchLabels as key=value terms', selector: { matchLabels: { app: 'iris', tier: 'a' } }, want: 'app=iris,tier=a' },
    {
      label: 'every expression operator',
      selector: {
        matchLabels: { app: 'iris' },
        matchExpressions: [
          { key: 'track', operator: 'In', values: ['stable', 'canary'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'serving', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      want: 'app=iris,track in (stable,canary),env notin (dev),serving,!legacy',
    },
    { label: 'no selector: nothing to list by', selector: undefined, want: undefined },
    { label: 'an empty selector would take every pod: nothing', selector: {}, want: undefined },
    {
      label: 'an unknown operator: nothing, rather than too many pods',
      selector: { matchLabels: { app: 'iris' }, matchExpressions: [{ key: 'x', operator: 'Gt', values: ['1'] }] },
      want: undefined,
    },
  ];
  for (const row of rows) it(row.label, () => expect(labelSelectorQuery(row.selector)).toBe(row.want));
});

describe('tailBytes', () => {
  const rows = [
    { label: 'short text whole', text: 'exit 1', max: 16, want: 'exit 1' },
    { label: 'the end is kept', text: 'line one\nline two\nfatal: no model', max: 15, want: 'fatal: no model' },
    // 'é' is two bytes (c3 a9): the last 3 bytes of 'aéé' are a9 c3 a9; the split one is dropped.
    { label: 'a character cut in two is left out', text: 'aéé', max: 3, want: 'é' },
    { label: 'empty', text: '', max: 8, want: '' },
  ];
  for (const row of rows) it(row.label, () => expect(tailBytes(row.text, row.max)).toBe(row.want));

  it('bounds to OUTPUT_TAIL_BYTES by default', () => {
    const text = `${'x'.repeat(5000)}the last words`;
    const tail = tailBytes(text);
    expect(Buffer.byteLength(tail)).toBe(OUTPUT_TAIL_BYTES);
    expect(tail.endsWith('the last words')).toBe(true);
  });
});

// --- pods --------------------------------------------------------------------------------------

function container(name: string, fields: Partial<V1ContainerStatus> = {}): V1ContainerStatus {
  return { name, image: 'sluice:dev', imageID: '', ready: false, restartCount: 0, ...fields };
}

function pod(name: string, status: V1Pod['status'], deleting = false): V1Pod {
  return {
    metadata: { name, labels: { app: 'iris' }, ...(deleting ? { deletionTimestamp: new Date(T0) } : {}) },
    spec: { containers: [{ name: 'predictor', image: 'sluice:dev' }] },
    status,
  };
}

const crashing = container('predictor', {
  restartCount: 4,
  state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=predictor pod=iris-a' } },
  lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'loading /models/iris.onnx: no such file' } },
});
const running = container('predictor', { ready: true, state: { running: { startedAt: new Date(T0) } } });
const creating = container('predictor', { state: { waiting: { reason: 'ContainerCreating' } } });
const unschedulable = {
  phase: 'Pending',
  conditions: [
    {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.',
    },
  ],
};

describe('podFailure', () => {
  const rows: Array<{ label: string; pods: V1Pod[]; want: StartFailure | undefined }> = [
    { label: 'no pods yet: nothing known', pods: [], want: undefined },
    {
      label: 'starting normally (ContainerCreating, running): nothing wrong',
      pods: [
        pod('iris-a', { phase: 'Pending', containerStatuses: [creating] }),
        pod('iris-b', { phase: 'Running', containerStatuses: [running] }),
      ],
      want: undefined,
    },
    {
      label: 'a crash loop: pod, container, last exit code and reason, restarts; the termination message as output',
      pods: [pod('iris-a', { phase: 'Running', containerStatuses: [crashing] })],
      want: {
        reason: 'CrashLoopBackOff',
        message: 'pod iris-a, container predictor: restarting after each crash, with back-off; last exit code 1 (Error), 4 restarts',
        output: 'loading /models/iris.onnx: no such file',
      },
    },
    {
      label: 'a crash loop not yet terminated once: no exit code to tell',
      pods: [pod('iris-a', { containerStatuses: [container('predictor', { state: { waiting: { reason: 'CrashLoopBackOff' } } })] })],
      want: {
        reason: 'CrashLoopBackOff',
        message: 'pod iris-a, container predictor: restarting after each crash, with back-off',
        output: '',
      },
    },
    {
      label: "an image that cannot be pulled: the kubelet's message",
      pods: [
        pod('iris-a', {
          phase: 'Pending',
          containerStatuses: [
            container('predictor', {
              state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ghcr.io/acme/iris:v9"' } },
            }),
          ],
        }),
      ],
      want: {
        reason: 'ImagePullBackOff',
        message: 'pod iris-a, container predictor: Back-off pulling image "ghcr.io/acme/iris:v9"',
        output: '',
      },
    },
    {
      label: 'an init container that cannot start is named as one',
      pods: [
        pod('iris-a', {
          phase: 'Pending',
          initContainerStatuses: [
            container('fetch-model', {
              state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "model-store" not found' } },
            }),
          ],
          containerStatuses: [container('predictor', { state: { waiting: { reason: 'PodInitializing' } } })],
        }),
      ],
      want: {
        reason: 'CreateContainerConfigError',
        message: 'pod iris-a, init container fetch-model: secret "model-store" not found',
        output: '',
      },
    },
    {
      label: 'a reason without a message: the reason',
      pods: [pod('iris-a', { containerStatuses: [container('predictor', { state: { waiting: { reason: 'RunContainerError' } } })] })],
      want: { reason: 'RunContainerError', message: 'pod iris-a, container predictor: RunContainerError', output: '' },
    },
    {
      label: 'a pod no node can take',
      pods: [pod('iris-a', unschedulable)],
      want: { reason: 'Unschedulable', message: 'pod iris-a: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.', output: '' },
    },
    {
      label: 'a crash in a later pod says more than an unscheduled earlier one',
      pods: [pod('iris-a', unschedulable), pod('iris-b', { phase: 'Running', containerStatuses: [crashing] })],
      want: {
        reason: 'CrashLoopBackOff',
        message: 'pod iris-b, container predictor: restarting after each crash, with back-off; last exit code 1 (Error), 4 restarts',
        output: 'loading /models/iris.onnx: no such file',
      },
    },
    {
      label: 'pods in name order: the first failing one',
      pods: [
        pod('iris-c', {
          containerStatuses: [container('predictor', { state: { waiting: { reason: 'ErrImagePull', message: 'pull c' } } })],
        }),
        pod('iris-b', {
          containerStatuses: [container('predictor', { state: { waiting: { reason: 'InvalidImageName', message: 'bad b' } } })],
        }),
      ],
      want: { reason: 'InvalidImageName', message: 'pod iris-b, container predictor: bad b', output: '' },
    },
    {
      label: "a terminating pod's failure is not the revision's",
      pods: [pod('iris-a', { phase: 'Running', containerStatuses: [crashing] }, true)],
      want: undefined,
    },
    {
      label: 'CreateContainerError',
      pods: [
        pod('iris-a', {
          containerStatuses: [container('predictor', { state: { waiting: { reason: 'CreateContainerError', message: 'no command' } } })],
        }),
      ],
      want: { reason: 'CreateContainerError', message: 'pod iris-a, container predictor: no command', output: '' },
    },
  ];
  for (const row of rows) it(row.label, () => expect(podFailure(row.pods)).toEqual(row.want));

  it('bounds the output to OUTPUT_TAIL_BYTES and a message to one line of 512 characters', () => {
    const long = container('predictor', {
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 2, message: `${'trace\n'.repeat(1000)}fatal: out of memory` } },
    });
    const failure = podFailure([pod('iris-a', { containerStatuses: [long] })])!;
    expect(Buffer.byteLength(failure.output)).toBe(OUTPUT_TAIL_BYTES);
    expect(failure.output.endsWith('fatal: out of memory')).toBe(true);
    const wordy = container('predictor', { state: { waiting: { reason: 'ErrImagePull', message: 'x'.repeat(2000) } } });
    expect(podFailure([pod('iris-a', { containerStatuses: [wordy] })])!.message).toHaveLength(
      'pod iris-a, container predictor: '.length + 512,
    );
  });
});

// --- the Deployment ----------------------------------------------------------------------------

function deployment(conditions: V1DeploymentCondition[]): V1Deployment {
  return { metadata: { name: 'iris-00001' }, status: { conditions } };
}

const progressing: V1DeploymentCondition = { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' };
const stalled: V1DeploymentCondition = {
  type: 'Progressing',
  status: 'False',
  reason: 'ProgressDeadlineExceeded',
  message: 'ReplicaSet "iris-00001-5d8f7c" has timed out progressing.',
};
const replicaFailure: V1DeploymentCondition = {
  type: 'ReplicaFailure',
  status: 'True',
  reason: 'FailedCreate',
  message:
    'pods "iris-00001-5d8f7c-" is forbidden: exceeded quota: gpu, requested: nvidia.com/gpu=1, used: nvidia.com/gpu=4, limited: nvidia.com/gpu=4',
};

describe('deploymentFailure', () => {
  const rows: Array<{ label: string; deployment: V1Deployment | undefined; want: StartFailure | undefined }> = [
    { label: 'not known yet', deployment: undefined, want: undefined },
    { label: 'no conditions', deployment: deployment([]), want: undefined },
    {
      label: 'progressing, available: nothing wrong',
      deployment: deployment([{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }, progressing]),
      want: undefined,
    },
    {
      label: 'Progressing False for another reason is not a failure',
      deployment: deployment([{ type: 'Progressing', status: 'False', reason: 'SomethingElse' }]),
      want: undefined,
    },
    {
      label: 'the progress deadline passed',
      deployment: deployment([{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }, stalled]),
      want: {
        reason: 'ProgressDeadlineExceeded',
        message: 'deployment iris-00001: ReplicaSet "iris-00001-5d8f7c" has timed out progressing.',
        output: '',
      },
    },
    {
      label: "ReplicaFailure True: that condition's reason and message",
      deployment: deployment([progressing, replicaFailure]),
      want: { reason: 'FailedCreate', message: `deployment iris-00001: ${replicaFailure.message}`, output: '' },
    },
    {
      label: 'both: ReplicaFailure, the more specific',
      deployment: deployment([stalled, replicaFailure]),
      want: { reason: 'FailedCreate', message: `deployment iris-00001: ${replicaFailure.message}`, output: '' },
    },
    {
      label: 'ReplicaFailure False is not a failure',
      deployment: deployment([{ ...replicaFailure, status: 'False' }]),
      want: undefined,
    },
  ];
  for (const row of rows) it(row.label, () => expect(deploymentFailure(row.deployment)).toEqual(row.want));
});

// --- combined ----------------------------------------------------------------------------------

const crashLoop: StartFailure = { reason: 'CrashLoopBackOff', message: 'pod iris-a, container predictor: …', output: 'boom' };
const deadline: StartFailure = { reason: 'ProgressDeadlineExceeded', message: 'deployment iris-00001: …', output: '' };
const counts = (desired: number, ready: number): ReplicaCounts => ({ desired, actual: desired, ready });

describe('revisionCondition', () => {
  const rows: Array<{
    label: string;
    input: ConditionInput;
    previous?: RevisionCondition;
    want: Omit<RevisionCondition, 'since' | 'output'> & { output?: string };
    wantSince: number;
  }> = [
    {
      label: 'ready endpoints: Serving, whatever else is said',
      input: { counts: counts(2, 1), pods: crashLoop, deployment: deadline },
      want: { status: 'Ready', reason: 'Serving', message: '1 ready replica' },
      wantSince: T0,
    },
    {
      label: 'none wanted: ScaledToZero, even with a failed rollout on record',
      input: { counts: counts(0, 0), deployment: deadline },
      want: { status: 'Ready', reason: 'ScaledToZero', message: 'scaled to zero; the next request starts a replica' },
      wantSince: T0,
    },
    {
      label: 'wanted, none ready, nothing known: Starting',
      input: { counts: counts(2, 0) },
      want: { status: 'Activating', reason: 'Starting', message: 'waiting for 2 replicas to be ready' },
      wantSince: T0,
    },
    {
      label: "wanted, none ready, the Deployment's failure: Failed with it",
      input: { counts: counts(1, 0), deployment: deadline },
      want: { status: 'Failed', ...deadline },
      wantSince: T0,
    },
    {
      label: "the pods' failure wins over the Deployment's",
      input: { counts: counts(1, 0), deployment: deadline, pods: crashLoop },
      want: { status: 'Failed', ...crashLoop },
      wantSince: T0,
    },
    {
      label: 'same status and reason, new message (one more restart): since kept',
      input: { counts: counts(1, 0), pods: { ...crashLoop, message: 'pod iris-a, container predictor: … 5 restarts' } },
      previous: { status: 'Failed', ...crashLoop, since: T0 - 30_000 },
      want: { status: 'Failed', ...crashLoop, message: 'pod iris-a, container predictor: … 5 restarts' },
      wantSince: T0 - 30_000,
    },
    {
      label: 'a new reason: since now',
      input: { counts: counts(1, 0), pods: crashLoop },
      previous: { status: 'Activating', reason: 'Starting', message: 'waiting for a replica to be ready', output: '', since: T0 - 30_000 },
      want: { status: 'Failed', ...crashLoop },
      wantSince: T0,
    },
  ];
  for (const row of rows) {
    it(row.label, () => {
      const got = revisionCondition(row.input, T0, row.previous);
      expect(got).toEqual({ output: '', ...row.want, since: row.wantSince });
    });
  }
});

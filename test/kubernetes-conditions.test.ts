/**
 * A Kubernetes revision that cannot start fails fast and says why:
 *
 * - the pod poller alone (a list function the test answers): one list in flight, stopped lists
 *   dropped, a 403 ends it;
 * - the driver against the fake API server with the real client: pods listed by the Deployment's
 *   selector only while replicas are wanted and none is ready, conditions told only when they
 *   change, one warn line per namespace where listing pods is refused;
 * - `sluice gateway --configmap` as a real child process: a request held at zero is answered 503
 *   revision_failed once the pods say CrashLoopBackOff (or the Deployment says
 *   ProgressDeadlineExceeded), the status API shows the condition, and a pod that turns ready
 *   serves; without the pods grant, requests are held, not failed, and served once ready.
 *
 * The pods are objects the test writes, as a kubelet would; the "ready pod" is an HTTP server in
 * this process behind an EndpointSlice. Waits are for observable events; nothing asserts how fast.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiException, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import type { ServiceJson } from '../src/admin/app.js';
import type { Revision } from '../src/config/load.js';
import { kubernetesRevisionSchema } from '../src/config/schema.js';
import { sameCondition, type RevisionCondition } from '../src/core/condition.js';
import { KubernetesDriver } from '../src/kube/deployment-driver.js';
import { PodPoller } from '../src/kube/pod-poller.js';
import {
  CONFIG_MAPS,
  DEPLOYMENTS,
  ENDPOINT_SLICES,
  FakeKubeServer,
  PODS,
  configMapManifest,
  deploymentManifest,
  loadKubeConfig,
  waitFor,
  writeKubeconfig,
} from './support/fake-kube/index.js';
import { IRIS_ROW } from './support/harness.js';
import { portFreeOn, startGatewayProcess, type GatewayProcess } from './support/kube-gateway.js';

const SYSTEM = 'sluice-system';
const MODELS = 'models';
const CM = 'sluice-config';
const DEPLOYMENT = 'iris-00001';
const KEY = `iris/${DEPLOYMENT}`;
const PODS_PATH = `/api/v1/namespaces/${MODELS}/pods`;
const SELECTOR = `app=${DEPLOYMENT}`;
const TERMINATION_MESSAGE = 'loading /models/iris.onnx: no such file or directory';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Pods and slices, as the kubelet and the EndpointSlice controller write them.

function podManifest(name: string, labels: Record<string, string> = { app: DEPLOYMENT }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { containers: [{ name: 'predictor', image: 'sluice:dev', ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
}

const crashLoopStatus = {
  phase: 'Running',
  podIP: '127.0.0.1',
  conditions: [
    { type: 'PodScheduled', status: 'True' },
    { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [predictor]' },
  ],
  containerStatuses: [
    {
      name: 'predictor',
      image: 'sluice:dev',
      imageID: '',
      ready: false,
      restartCount: 3,
      state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=predictor' } },
      lastState: {
        terminated: {
          exitCode: 1,
          reason: 'Error',
          message: TERMINATION_MESSAGE,
          startedAt: '2026-11-25T14:00:00Z',
          finishedAt: '2026-11-25T14:00:02Z',
        },
      },
    },
  ],
};

const readyStatus = {
  phase: 'Running',
  podIP: '127.0.0.1',
  conditions: [
    { type: 'PodScheduled', status: 'True' },
    { type: 'Ready', status: 'True' },
  ],
  containerStatuses: [
    {
      name: 'predictor',
      image: 'sluice:dev',
      imageID: '',
      ready: true,
      restartCount: 4,
      state: { running: { startedAt: '2026-11-25T14:01:00Z' } },
    },
  ],
};

/** Create a pod and set its status through the status subresource (a create's status is dropped, as on a real server). */
function putPod(fake: FakeKubeServer, name: string, status: object, labels?: Record<string, string>): void {
  if (!fake.store.tryGet(PODS, MODELS, name)) fake.store.create(PODS, MODELS, podManifest(name, labels));
  fake.store.mutate(PODS, MODELS, name, (p) => (p.status = structuredClone(status)), 'status');
}

/** The revision's Service's EndpointSlice: one endpoint at 127.0.0.1:port, ready or not. */
function putSlice(fake: FakeKubeServer, port: number, ready: boolean): void {
  const name = `${DEPLOYMENT}-x7k2p`;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, labels: { 'kubernetes.io/service-name': DEPLOYMENT } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['127.0.0.1'], conditions: { ready }, targetRef: { kind: 'Pod', namespace: MODELS, name: `${DEPLOYMENT}-abcde` } },
    ],
    ports: [{ name: 'http', port, protocol: 'TCP' }],
  };
  if (fake.store.tryGet(ENDPOINT_SLICES, MODELS, name)) fake.store.update(ENDPOINT_SLICES, MODELS, name, slice);
  else fake.store.create(ENDPOINT_SLICES, MODELS, slice);
}

/** The "pod": answers every request 200 with a small inference result. */
async function upstream(): Promise<number> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"model_name":"iris","outputs":[]}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

function podLists(fake: FakeKubeServer): ReturnType<FakeKubeServer['requests']> {
  return fake.requests({ method: 'GET', path: PODS_PATH });
}

// ---------------------------------------------------------------------------------------------

describe('PodPoller', () => {
  function poller(intervalMs = 5) {
    const calls: Array<{ selector: string; answer: (pods: V1Pod[]) => void; refuse: (err: unknown) => void }> = [];
    const seen: Array<readonly V1Pod[]> = [];
    const refused: unknown[] = [];
    let known = false;
    const p = new PodPoller({
      list: (selector) =>
        new Promise<V1PodList>((resolve, reject) => calls.push({ selector, answer: (items) => resolve({ items }), refuse: reject })),
      intervalMs,
      onPods: (pods) => seen.push(pods),
      onForbidden: (err) => refused.push(err),
      forbidden: () => known,
      log: pino({ level: 'silent' }),
    });
    cleanups.push(() => p.stop());
    return { p, calls, seen, refused, forbidNamespace: () => (known = true) };
  }
  const pod = (name: string): V1Pod => ({ metadata: { name } });

  it('lists at once, keeps one list in flight however long it takes, and the next an interval after it ends', async () => {
    const { p, calls, seen } = poller();
    p.want(SELECTOR);
    expect(calls.map((c) => c.selector)).toEqual([SELECTOR]);
    p.want(SELECTOR); // the same selector again: nothing new
    await sleep(50); // ten intervals
    expect(calls).toHaveLength(1);
    calls[0]!.answer([pod('a')]);
    await waitFor(() => calls.length === 2, 'the next list');
    expect(seen).toEqual([[pod('a')]]);
    expect(p.polling).toBe(true);
  });

  it('stopped: a list answered afterwards is dropped and no other starts; restarted with another selector: that one at once', async () => {
    const { p, calls, seen } = poller();
    p.want(SELECTOR);
    p.stop();
    expect(p.polling).toBe(false);
    calls[0]!.answer([pod('stale')]);
    await sleep(30);
    expect(seen).toEqual([]);
    expect(calls).toHaveLength(1);

    p.want('app=a');
    p.want('app=b'); // while app=a is out
    expect(calls.map((c) => c.selector)).toEqual([SELECTOR, 'app=a']);
    calls[1]!.answer([pod('for-a')]);
    await waitFor(() => calls.length === 3, 'the list for app=b');
    expect(calls[2]!.selector).toBe('app=b');
    expect(seen).toEqual([]); // app=a's answer came after app=b was wanted
  });

  it('a 403 ends it for good: told once, never listed again; a namespace already refused is never asked', async () => {
    const { p, calls, refused } = poller();
    p.want(SELECTOR);
    calls[0]!.refuse(new ApiException(403, 'Forbidden', '{"kind":"Status","reason":"Forbidden","code":403}', {}));
    await waitFor(() => refused.length === 1, 'the refusal');
    expect(p.polling).toBe(false);
    p.want('app=other');
    await sleep(30);
    expect(calls).toHaveLength(1);

    const other = poller();
    other.forbidNamespace();
    other.p.want(SELECTOR);
    expect(other.calls).toHaveLength(0);
  });

  it('other errors: tried again after the interval', async () => {
    const { p, calls, refused } = poller();
    p.want(SELECTOR);
    calls[0]!.refuse(new ApiException(503, 'Service Unavailable', '', {}));
    await waitFor(() => calls.length === 2, 'another list');
    expect(refused).toEqual([]);
    expect(p.polling).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The driver alone.

function kubeRevision(name = DEPLOYMENT): Revision {
  const spec = kubernetesRevisionSchema.parse({ name, backend: 'kubernetes', deployment: name, service: name });
  return { ...spec, scaling: {} } as unknown as Revision;
}

async function driverWorld() {
  const fake = await FakeKubeServer.start();
  cleanups.push(() => fake.close());
  fake.store.create(DEPLOYMENTS, MODELS, deploymentManifest(DEPLOYMENT, 0));
  const warnings: Array<{ msg: string; namespace?: string }> = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => void warnings.push(JSON.parse(line) as { msg: string; namespace?: string }) },
  );
  const driver = new KubernetesDriver({
    kubeConfig: await loadKubeConfig(fake.url),
    namespace: MODELS,
    backoff: { initialMs: 20, maxMs: 300 },
    podPollIntervalMs: 20,
    logger,
  });
  cleanups.push(() => driver.close());
  const told: Array<{ key: string; condition: RevisionCondition }> = [];
  driver.onCondition((key, condition) => told.push({ key, condition }));
  return { fake, driver, told, warnings };
}

describe('KubernetesDriver conditions', () => {
  it("lists the Deployment's pods only while replicas are wanted and none is ready, and tells each change once", async () => {
    const { fake, driver, told } = await driverWorld();
    driver.add(KEY, kubeRevision());
    expect(driver.condition(KEY)).toMatchObject({ status: 'Ready', reason: 'ScaledToZero' });
    await waitFor(() => fake.openWatches === 2, 'the informers');
    await sleep(100);
    expect(podLists(fake)).toEqual([]); // at zero: no list

    driver.setReplicas(KEY, 1);
    expect(driver.condition(KEY)).toMatchObject({ status: 'Activating', reason: 'Starting' });
    await waitFor(() => podLists(fake).length >= 3, 'pods listed over and over while starting');
    for (const list of podLists(fake)) expect(list.query).toMatchObject({ labelSelector: SELECTOR, limit: '100' });

    // Another Deployment's crashing pod is not this revision's; its own is.
    putPod(fake, 'other-5d8f7c-aaaaa', crashLoopStatus, { app: 'other' });
    await sleep(100);
    expect(driver.condition(KEY)).toMatchObject({ status: 'Activating', reason: 'Starting' });
    putPod(fake, `${DEPLOYMENT}-5d8f7c-abcde`, crashLoopStatus);
    await waitFor(() => driver.condition(KEY).status === 'Failed', 'Failed from the pod');
    expect(driver.condition(KEY)).toMatchObject({
      reason: 'CrashLoopBackOff',
      message: `pod ${DEPLOYMENT}-5d8f7c-abcde, container predictor: restarting after each crash, with back-off; last exit code 1 (Error), 3 restarts`,
      output: TERMINATION_MESSAGE,
    });

    // Ready: Serving, and no more lists.
    putPod(fake, `${DEPLOYMENT}-5d8f7c-abcde`, readyStatus);
    putSlice(fake, 9, true);
    await waitFor(() => driver.condition(KEY).reason === 'Serving', 'Serving');
    await sleep(100); // a list that was on its way arrives
    const whileServing = podLists(fake).length;
    await sleep(200); // ten intervals
    expect(podLists(fake)).toHaveLength(whileServing);

    // Not ready again: listed again; none wanted: ScaledToZero, and no more lists.
    putSlice(fake, 9, false);
    await waitFor(() => podLists(fake).length > whileServing, 'lists again once no endpoint is ready');
    driver.setReplicas(KEY, 0);
    expect(driver.condition(KEY)).toMatchObject({ status: 'Ready', reason: 'ScaledToZero' });
    await sleep(100);
    const atZero = podLists(fake).length;
    await sleep(200);
    expect(podLists(fake)).toHaveLength(atZero);

    // Told in order, each one different from the one before, as the gateway last read it.
    expect(told.every((t) => t.key === KEY)).toBe(true);
    const reasons = told.map((t) => t.condition.reason);
    expect(reasons.slice(0, 4)).toEqual(['Starting', 'CrashLoopBackOff', 'Serving', 'Starting']);
    expect(reasons.at(-1)).toBe('ScaledToZero');
    for (let i = 1; i < told.length; i++) expect(sameCondition(told[i - 1]!.condition, told[i]!.condition)).toBe(false);
    expect(told.at(-1)!.condition).toEqual(driver.condition(KEY));
  }, 30_000);

  it("a Deployment's ReplicaFailure: Failed with its reason while replicas are wanted", async () => {
    const { fake, driver } = await driverWorld();
    driver.add(KEY, kubeRevision());
    driver.setReplicas(KEY, 1);
    fake.store.mutate(
      DEPLOYMENTS,
      MODELS,
      DEPLOYMENT,
      (d) =>
        (d.status = {
          replicas: 0,
          conditions: [
            {
              type: 'ReplicaFailure',
              status: 'True',
              reason: 'FailedCreate',
              message: 'pods "iris-00001-5d8f7c-" is forbidden: exceeded quota: gpu',
            },
          ],
        }),
      'status',
    );
    await waitFor(() => driver.condition(KEY).status === 'Failed', 'Failed from the Deployment');
    expect(driver.condition(KEY)).toMatchObject({
      reason: 'FailedCreate',
      message: 'deployment iris-00001: pods "iris-00001-5d8f7c-" is forbidden: exceeded quota: gpu',
    });
  }, 20_000);

  it('pods refused (403): one warn line for the namespace naming the grant, and no list after the refusals', async () => {
    const { fake, driver, warnings } = await driverWorld();
    fake.store.create(DEPLOYMENTS, MODELS, deploymentManifest('iris-00002', 0));
    fake.forbid({ resource: PODS, verbs: ['list'], namespace: MODELS });
    driver.add(KEY, kubeRevision());
    driver.add('iris/iris-00002', kubeRevision('iris-00002'));
    await waitFor(() => fake.openWatches === 4, 'the informers');
    driver.setReplicas(KEY, 1);
    driver.setReplicas('iris/iris-00002', 1);
    await waitFor(() => warnings.length >= 1, 'the warning');
    await sleep(200); // ten intervals
    const lists = podLists(fake);
    expect(lists.length).toBeGreaterThanOrEqual(1);
    expect(lists.length).toBeLessThanOrEqual(2); // one per revision at most, both out before the first refusal came back
    expect(lists.every((r) => r.status === 403)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ namespace: MODELS });
    expect(warnings[0]!.msg).toBe(
      'listing pods is forbidden: grant verb "list" on resource "pods" (core API group "") in namespace "models"; ' +
        'until then, why a revision there does not start is told from its Deployment status only',
    );
    expect(driver.condition(KEY)).toMatchObject({ status: 'Activating', reason: 'Starting' });
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------
// Through `sluice gateway --configmap`.

const GATEWAY_YAML = `autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
services:
  - name: iris
    match:
      model: iris
    revisions:
      - name: ${DEPLOYMENT}
        backend: kubernetes
        namespace: ${MODELS}
        deployment: ${DEPLOYMENT}
        service: ${DEPLOYMENT}
    traffic:
      - revision: ${DEPLOYMENT}
        percent: 100
kubernetes:
  leaderElection:
    enabled: false
`;

/** Gateway "pod IPs", apart from the other suites' 127.0.200.x. */
let nextHost = 1;

async function gatewayWorld() {
  const fake = await FakeKubeServer.start();
  cleanups.push(() => fake.close());
  fake.store.create(DEPLOYMENTS, MODELS, deploymentManifest(DEPLOYMENT, 0));
  fake.store.create(CONFIG_MAPS, SYSTEM, configMapManifest(CM, { 'sluice.yaml': GATEWAY_YAML }));
  const host = `127.0.201.${nextHost++}`;
  const gateway = await startGatewayProcess({
    name: 'gw-a',
    host,
    adminPort: await portFreeOn([host]),
    kubeconfig: await writeKubeconfig(fake.url, SYSTEM, 'gw-a'),
    configMap: `${SYSTEM}/${CM}`,
    podNamespace: SYSTEM,
  });
  cleanups.push(() => gateway.stop('SIGKILL'));
  onTestFailed(() => {
    process.stderr.write(
      `--- gateway log (last 40 lines)\n${gateway.logs
        .slice(-40)
        .map((l) => JSON.stringify(l))
        .join('\n')}\n`,
    );
  });
  await waitFor(() => fake.openWatches >= 3, 'the gateway to watch its ConfigMap, the Deployment and its slices');
  return { fake, gateway };
}

interface Answer {
  status: number;
  body: { error?: { code: string; message: string } };
  revision?: string;
}

async function infer(gateway: GatewayProcess): Promise<Answer> {
  const res = await request(`${gateway.url}/v2/models/iris/infer`, {
    method: 'POST',
    body: JSON.stringify(IRIS_ROW),
    headers: { 'content-type': 'application/json' },
  });
  return {
    status: res.statusCode,
    body: (await res.body.json()) as Answer['body'],
    revision: res.headers['sluice-revision'] as string | undefined,
  };
}

type RevisionStatus = ServiceJson['revisions'][number];

async function revisionStatus(gateway: GatewayProcess): Promise<RevisionStatus> {
  const { body } = await gateway.get('/api/v1/services/iris');
  return (body as ServiceJson).revisions[0]!;
}

function specReplicas(fake: FakeKubeServer): number {
  return (fake.store.get(DEPLOYMENTS, MODELS, DEPLOYMENT).spec as { replicas: number }).replicas;
}

describe('sluice gateway --configmap: a revision that cannot start', () => {
  it('CrashLoopBackOff: the held request is answered 503 revision_failed saying why, the status API shows Failed; once a pod is ready it serves', async () => {
    const { fake, gateway } = await gatewayWorld();
    expect((await revisionStatus(gateway)).condition).toMatchObject({ status: 'Ready', reason: 'ScaledToZero' });

    const held = infer(gateway);
    await waitFor(() => specReplicas(fake) >= 1, 'the activation 0 → 1');
    await waitFor(async () => (await revisionStatus(gateway)).held === 1, 'the request held');
    putPod(fake, `${DEPLOYMENT}-5d8f7c-abcde`, crashLoopStatus);

    const failed = await held;
    expect(failed.status).toBe(503);
    expect(failed.body.error!.code).toBe('revision_failed');
    expect(failed.body.error!.message).toBe(
      `revision ${KEY} failed (CrashLoopBackOff): pod ${DEPLOYMENT}-5d8f7c-abcde, container predictor: restarting after each crash, ` +
        `with back-off; last exit code 1 (Error), 3 restarts; stderr: ${TERMINATION_MESSAGE}`,
    );
    const status = await revisionStatus(gateway);
    expect(status.condition).toMatchObject({ status: 'Failed', reason: 'CrashLoopBackOff', output: TERMINATION_MESSAGE });
    expect(Date.parse(status.condition.since)).not.toBeNaN();
    // A new request is not held for a revision that cannot start: answered at once, the same way.
    const next = await infer(gateway);
    expect(next.status).toBe(503);
    expect(next.body.error!.code).toBe('revision_failed');
    for (const list of podLists(fake)) expect(list).toMatchObject({ user: 'gw-a', query: { labelSelector: SELECTOR } });
    expect(gateway.logs.some((l) => l.level === 40 && l.msg.startsWith(`${KEY}: Failed (CrashLoopBackOff)`))).toBe(true);

    // The pod comes up: Ready/Serving, and requests are served.
    const port = await upstream();
    putPod(fake, `${DEPLOYMENT}-5d8f7c-abcde`, readyStatus);
    putSlice(fake, port, true);
    await waitFor(async () => (await revisionStatus(gateway)).condition.reason === 'Serving', 'Serving');
    expect((await revisionStatus(gateway)).condition.status).toBe('Ready');
    const served = await infer(gateway);
    expect(served).toMatchObject({ status: 200, revision: DEPLOYMENT });
  }, 60_000);

  it('pods not granted (403): one warn line naming the grant, the request stays held, and is served once a pod is ready', async () => {
    const { fake, gateway } = await gatewayWorld();
    fake.forbid({ resource: PODS, verbs: ['list'], namespace: MODELS });
    let answered = false;
    const held = infer(gateway).finally(() => (answered = true));
    const forbidden = () => gateway.logs.filter((l) => l.level === 40 && /pods/.test(l.msg));
    await waitFor(() => forbidden().length === 1, 'the warning');
    expect(forbidden()[0]!.msg).toContain('grant verb "list" on resource "pods" (core API group "") in namespace "models"');
    expect(forbidden()[0]!.msg).toContain('told from its Deployment status only');

    await sleep(2500); // two and a half default poll intervals: no list after the refusal
    expect(podLists(fake).map((r) => r.status)).toEqual([403]);
    expect(answered).toBe(false);
    const status = await revisionStatus(gateway);
    expect(status.held).toBe(1);
    expect(status.condition).toMatchObject({ status: 'Activating', reason: 'Starting' });

    const port = await upstream();
    putSlice(fake, port, true);
    expect(await held).toMatchObject({ status: 200, revision: DEPLOYMENT });
    expect(forbidden()).toHaveLength(1);
  }, 60_000);

  it("ProgressDeadlineExceeded on the Deployment: the held request is answered 503 revision_failed with the Deployment's message", async () => {
    const { fake, gateway } = await gatewayWorld();
    const held = infer(gateway);
    await waitFor(() => specReplicas(fake) >= 1, 'the activation 0 → 1');
    fake.store.mutate(
      DEPLOYMENTS,
      MODELS,
      DEPLOYMENT,
      (d) =>
        (d.status = {
          observedGeneration: d.metadata.generation,
          replicas: 1,
          unavailableReplicas: 1,
          conditions: [
            {
              type: 'Available',
              status: 'False',
              reason: 'MinimumReplicasUnavailable',
              message: 'Deployment does not have minimum availability.',
            },
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "iris-00001-5d8f7c" has timed out progressing.',
            },
          ],
        }),
      'status',
    );
    const failed = await held;
    expect(failed.status).toBe(503);
    expect(failed.body.error).toMatchObject({
      code: 'revision_failed',
      message: `revision ${KEY} failed (ProgressDeadlineExceeded): deployment ${DEPLOYMENT}: ReplicaSet "iris-00001-5d8f7c" has timed out progressing.`,
    });
    expect((await revisionStatus(gateway)).condition).toMatchObject({ status: 'Failed', reason: 'ProgressDeadlineExceeded' });
  }, 60_000);
});

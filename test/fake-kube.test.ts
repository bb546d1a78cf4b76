/**
 * The fake API server driven by the real @kubernetes/client-node client over HTTP: CRUD, optimistic
 * concurrency (409 on a stale resourceVersion), watch streams, 410 on a too-old resourceVersion, the
 * scale subresource, MicroTime, test hooks, and the simulated kubelet running real predictors.
 */
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  V1MicroTime,
  Watch,
  makeInformer,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ENDPOINT_SLICES,
  FakeKubeServer,
  PODS,
  FakeKubelet,
  configMapManifest,
  deploymentManifest,
  loadKubeConfig,
  waitFor,
  type FakeKubeOptions,
  type KubeletOptions,
} from './support/fake-kube/index.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const NS = 'default';
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: FakeKubeOptions = {}) {
  const fake = await FakeKubeServer.start(options);
  cleanups.push(() => fake.close());
  const kc = await loadKubeConfig(fake.url);
  return {
    fake,
    kc,
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

function kubelet(fake: FakeKubeServer, options: Partial<KubeletOptions> = {}): FakeKubelet {
  const k = new FakeKubelet(fake.store, { cli: CLI, ...options });
  cleanups.push(() => k.close());
  return k;
}

/** A Kubernetes Status object, as an API error's body carries it. */
interface Status {
  kind: string;
  reason: string;
  code: number;
  message: string;
}

/** The failed call's HTTP code and its Status body. */
async function failure(call: Promise<unknown>): Promise<{ code: number; status: Status }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiException) return { code: err.code, status: JSON.parse(err.body as string) as Status };
    throw err;
  }
  throw new Error('expected the call to fail');
}

type Seen = { type: string; name?: string; rv?: string; code?: number };

/** A raw watch with the client's Watch; collects events until stopped. */
async function watchRaw(kc: KubeConfig, path: string, query: Record<string, string | number | boolean>) {
  const events: Seen[] = [];
  let ended: unknown = undefined;
  let done = false;
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) =>
      events.push({ type, name: object.metadata?.name, rv: object.metadata?.resourceVersion, code: object.code }),
    (err) => {
      done = true;
      ended = err;
    },
  );
  cleanups.push(() => controller.abort());
  return { events, ended: () => ({ done, err: ended }), stop: () => controller.abort() };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('fake API server: objects', { timeout: 20_000 }, () => {
  it('creates, reads, lists, replaces, merge-patches and deletes Deployments with server-owned metadata', async () => {
    const { apps } = await setup();
    const created = await apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('iris-00001', 2) as V1Deployment });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.generation).toBe(1);
    expect(created.metadata?.namespace).toBe(NS);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const rv1 = Number(created.metadata?.resourceVersion);
    expect(rv1).toBeGreaterThan(0);

    await apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('other', 1, { app: 'other' }) as V1Deployment });
    const listed = await apps.listNamespacedDeployment({ namespace: NS, labelSelector: 'app=iris-00001' });
    expect(listed.items.map((d) => d.metadata?.name)).toEqual(['iris-00001']);
    expect(Number(listed.metadata?.resourceVersion)).toBeGreaterThan(rv1);

    const read = await apps.readNamespacedDeployment({ name: 'iris-00001', namespace: NS });
    read.spec!.replicas = 3;
    const replaced = await apps.replaceNamespacedDeployment({ name: 'iris-00001', namespace: NS, body: read });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(rv1);
    expect(replaced.metadata?.generation).toBe(2);
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);

    const patched = await apps.patchNamespacedDeployment(
      { name: 'iris-00001', namespace: NS, body: { metadata: { labels: { tier: 'gold' } } } },
      MERGE,
    );
    expect(patched.metadata?.labels).toEqual({ app: 'iris-00001', tier: 'gold' });
    expect(patched.metadata?.generation).toBe(2); // metadata only: no new generation

    // Writing what is already stored is a no-op: same resourceVersion.
    const again = await apps.patchNamespacedDeployment(
      { name: 'iris-00001', namespace: NS, body: { metadata: { labels: { tier: 'gold' } } } },
      MERGE,
    );
    expect(again.metadata?.resourceVersion).toBe(patched.metadata?.resourceVersion);

    await apps.deleteNamespacedDeployment({ name: 'iris-00001', namespace: NS });
    const gone = await failure(apps.readNamespacedDeployment({ name: 'iris-00001', namespace: NS }));
    expect(gone.code).toBe(404);
    expect(gone.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
    expect(gone.status.message).toBe('deployments.apps "iris-00001" not found');
  });

  it('answers 409 Conflict to a replace with a stale resourceVersion and 409 AlreadyExists to a second create', async () => {
    const { core } = await setup();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('sluice', { 'config.yaml': 'a' }) as V1ConfigMap });
    const first = await core.readNamespacedConfigMap({ name: 'sluice', namespace: NS });
    const second = await core.readNamespacedConfigMap({ name: 'sluice', namespace: NS });

    first.data = { 'config.yaml': 'b' };
    await core.replaceNamespacedConfigMap({ name: 'sluice', namespace: NS, body: first });
    second.data = { 'config.yaml': 'c' };
    const stale = await failure(core.replaceNamespacedConfigMap({ name: 'sluice', namespace: NS, body: second }));
    expect(stale.code).toBe(409);
    expect(stale.status.reason).toBe('Conflict');

    // A merge patch carrying a resourceVersion is a precondition too.
    const stalePatch = await failure(
      core.patchNamespacedConfigMap(
        {
          name: 'sluice',
          namespace: NS,
          body: { metadata: { resourceVersion: second.metadata!.resourceVersion }, data: { 'config.yaml': 'd' } },
        },
        MERGE,
      ),
    );
    expect(stalePatch.code).toBe(409);
    expect((await core.readNamespacedConfigMap({ name: 'sluice', namespace: NS })).data).toEqual({ 'config.yaml': 'b' });

    const dup = await failure(core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('sluice', {}) as V1ConfigMap }));
    expect(dup.code).toBe(409);
    expect(dup.status.reason).toBe('AlreadyExists');
  });

  it('stores Lease times as MicroTime and refuses millisecond precision like the API server', async () => {
    const { coordination } = await setup();
    const bad = await failure(
      coordination.createNamespacedLease({
        namespace: NS,
        body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', renewTime: new Date('2026-11-25T14:00:00.123Z') } },
      }),
    );
    expect(bad.code).toBe(400);

    // client-node's V1MicroTime pads milliseconds to six digits.
    await coordination.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: 'l' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new V1MicroTime('2026-11-25T14:00:00.123Z') },
      },
    });
    const read = await coordination.readNamespacedLease({ name: 'l', namespace: NS });
    // client-node 1.x leaves MicroTime fields as the string on the wire.
    expect(String(read.spec?.renewTime)).toBe('2026-11-25T14:00:00.123000Z');
  });

  it('serves the Deployment scale subresource: GET, merge PATCH, PUT with a resourceVersion precondition', async () => {
    const { apps, fake } = await setup();
    await apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('iris', 0) as V1Deployment });
    const scale = await apps.readNamespacedDeploymentScale({ name: 'iris', namespace: NS });
    expect(scale.kind).toBe('Scale');
    expect(scale.apiVersion).toBe('autoscaling/v1');
    expect(scale.spec?.replicas).toBe(0);
    expect(scale.status?.selector).toBe('app=iris');

    const patched = await apps.patchNamespacedDeploymentScale({ name: 'iris', namespace: NS, body: { spec: { replicas: 2 } } }, MERGE);
    expect(patched.spec?.replicas).toBe(2);
    expect((await apps.readNamespacedDeployment({ name: 'iris', namespace: NS })).spec?.replicas).toBe(2);

    const stale = await failure(
      apps.replaceNamespacedDeploymentScale({ name: 'iris', namespace: NS, body: { ...scale, spec: { replicas: 5 } } }),
    );
    expect(stale.code).toBe(409);
    const fresh = await apps.replaceNamespacedDeploymentScale({ name: 'iris', namespace: NS, body: { ...patched, spec: { replicas: 5 } } });
    expect(fresh.spec?.replicas).toBe(5);

    const [patch] = fake.requests({ method: 'PATCH', path: '/apis/apps/v1/namespaces/default/deployments/iris/scale' });
    expect(patch).toMatchObject({ contentType: 'application/merge-patch+json', body: { spec: { replicas: 2 } }, status: 200 });

    // Without the merge-patch content type the client sends json-patch, which the fake does not take.
    const wrongType = await failure(apps.patchNamespacedDeploymentScale({ name: 'iris', namespace: NS, body: { spec: { replicas: 1 } } }));
    expect(wrongType.code).toBe(415);
  });
});

describe('fake API server: pods', { timeout: 20_000 }, () => {
  const podBody = (name: string, app: string): V1Pod => ({
    metadata: { name, labels: { app } },
    spec: { containers: [{ name: 'predictor', image: 'sluice:dev' }] },
  });

  it('creates, reads, lists by label and watches pods; status only through the status subresource, as the kubelet writes it', async () => {
    const { core, kc } = await setup();
    const w = await watchRaw(kc, '/api/v1/namespaces/default/pods', { labelSelector: 'app=iris' });
    // A status sent with the create is dropped, as the API server does for a resource with a status subresource.
    const created = await core.createNamespacedPod({ namespace: NS, body: { ...podBody('iris-a', 'iris'), status: { phase: 'Running' } } });
    expect(created).toMatchObject({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'iris-a', namespace: NS }, status: {} });
    expect(created.status?.phase).toBeUndefined();
    await core.createNamespacedPod({ namespace: NS, body: podBody('other-a', 'other') });

    const read = await core.readNamespacedPod({ name: 'iris-a', namespace: NS });
    read.status = {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'predictor',
          image: 'sluice:dev',
          imageID: '',
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'no model' } },
        },
      ],
    };
    await core.replaceNamespacedPodStatus({ name: 'iris-a', namespace: NS, body: read });
    // A write to the main resource keeps the status the kubelet wrote.
    await core.patchNamespacedPod({ name: 'iris-a', namespace: NS, body: { metadata: { annotations: { note: 'x' } }, status: {} } }, MERGE);

    const listed = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=iris' });
    expect(listed.kind).toBe('PodList');
    expect(listed.items.map((p) => p.metadata?.name)).toEqual(['iris-a']);
    const status = listed.items[0]!.status!.containerStatuses![0]!;
    expect(status.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(status.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error', message: 'no model' });
    await waitFor(() => w.events.length >= 3, 'three events');
    expect(w.events.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED iris-a', 'MODIFIED iris-a', 'MODIFIED iris-a']);
  });

  it('pages a list with limit and continue, as the API server does', async () => {
    const { core } = await setup();
    for (const name of ['iris-a', 'iris-b', 'iris-c']) await core.createNamespacedPod({ namespace: NS, body: podBody(name, 'iris') });
    const first = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=iris', limit: 2 });
    expect(first.items.map((p) => p.metadata?.name)).toEqual(['iris-a', 'iris-b']);
    expect(first.metadata).toMatchObject({ remainingItemCount: 1 });
    const rest = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: 'app=iris',
      limit: 2,
      _continue: first.metadata!._continue!,
    });
    expect(rest.items.map((p) => p.metadata?.name)).toEqual(['iris-c']);
    expect(rest.metadata?._continue).toBeUndefined();
    expect((await core.listNamespacedPod({ namespace: NS, limit: 5 })).items).toHaveLength(3);
    expect((await failure(core.listNamespacedPod({ namespace: NS, _continue: 'not a token' }))).code).toBe(400);
  });

  it('forbid() refuses a verb on a resource with 403 and the message RBAC gives; other verbs, resources and namespaces pass', async () => {
    const { core, fake } = await setup();
    await core.createNamespacedPod({ namespace: NS, body: podBody('iris-a', 'iris') });
    fake.forbid({ resource: PODS, verbs: ['list'], namespace: NS });
    const refused = await failure(core.listNamespacedPod({ namespace: NS, labelSelector: 'app=iris' }));
    expect(refused.code).toBe(403);
    expect(refused.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
    expect(refused.status.message).toBe(
      'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    expect((await core.readNamespacedPod({ name: 'iris-a', namespace: NS })).metadata?.name).toBe('iris-a');
    expect((await core.listNamespacedPod({ namespace: 'models' })).items).toEqual([]);
    expect((await core.listNamespacedConfigMap({ namespace: NS })).items).toEqual([]);

    // Who asked is named; a subresource is granted apart from its resource.
    const named = (await loadKubeConfig(fake.url, NS, 'gw-a')).makeApiClient(CoreV1Api);
    fake.forbid({ resource: PODS, subresource: 'status', verbs: ['update'] });
    const pod = await named.readNamespacedPod({ name: 'iris-a', namespace: NS });
    const status = await failure(named.replaceNamespacedPodStatus({ name: 'iris-a', namespace: NS, body: pod }));
    expect(status.status.message).toBe(
      'pods/status "iris-a" is forbidden: User "gw-a" cannot update resource "pods/status" in API group "" in the namespace "default"',
    );
    await named.replaceNamespacedPod({ name: 'iris-a', namespace: NS, body: pod });

    fake.allowAll();
    expect((await core.listNamespacedPod({ namespace: NS })).items).toHaveLength(1);
  });
});

describe('fake API server: watches', { timeout: 20_000 }, () => {
  it('streams ADDED, MODIFIED and DELETED after a list, filtered by label selector, with bookmarks', async () => {
    const { core, kc, fake } = await setup({ bookmarkIntervalMs: 50 });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'before', labels: { app: 'x' } }, data: {} } });
    const list = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'app=x' });
    const w = await watchRaw(kc, '/api/v1/namespaces/default/configmaps', {
      resourceVersion: list.metadata!.resourceVersion!,
      labelSelector: 'app=x',
      allowWatchBookmarks: true,
    });

    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'a', labels: { app: 'x' } }, data: {} } });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'unrelated', labels: { app: 'y' } }, data: {} } });
    await core.patchNamespacedConfigMap({ name: 'a', namespace: NS, body: { data: { k: 'v' } } }, MERGE);
    // Leaving the selector reads as DELETED to this watch; entering it as ADDED.
    await core.patchNamespacedConfigMap({ name: 'a', namespace: NS, body: { metadata: { labels: { app: 'y' } } } }, MERGE);
    await core.patchNamespacedConfigMap({ name: 'unrelated', namespace: NS, body: { metadata: { labels: { app: 'x' } } } }, MERGE);
    await core.deleteNamespacedConfigMap({ name: 'unrelated', namespace: NS });

    const changes = () => w.events.filter((e) => e.type !== 'BOOKMARK');
    await waitFor(() => changes().length >= 5, 'five events');
    expect(changes().map((e) => `${e.type} ${e.name}`)).toEqual([
      'ADDED a',
      'MODIFIED a',
      'DELETED a',
      'ADDED unrelated',
      'DELETED unrelated',
    ]);
    const rvs = changes().map((e) => Number(e.rv));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    await waitFor(
      () => w.events.some((e) => e.type === 'BOOKMARK' && e.rv === fake.store.resourceVersion),
      'a bookmark at the latest resourceVersion',
    );
  });

  it('starts a watch without a resourceVersion with a synthetic ADDED per object, and ends watches on timeoutSeconds and closeWatches()', async () => {
    const { core, kc, fake } = await setup();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('one', {}) as V1ConfigMap });
    const w = await watchRaw(kc, '/api/v1/namespaces/default/configmaps', {});
    await waitFor(() => w.events.length === 1, 'the synthetic ADDED');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', name: 'one' });

    expect(fake.closeWatches()).toBe(1);
    await waitFor(() => w.ended().done, 'the watch to end');
    expect(w.ended().err).toBeNull();

    const timed = await watchRaw(kc, '/api/v1/namespaces/default/configmaps', { timeoutSeconds: 1 });
    await waitFor(() => timed.ended().done, 'the watch to time out', 5000);
  });

  it('answers a watch from a compacted resourceVersion with an ERROR event carrying 410 Expired, then ends it', async () => {
    const { core, kc, fake } = await setup();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('one', {}) as V1ConfigMap });
    const { metadata } = await core.listNamespacedConfigMap({ namespace: NS });
    await core.patchNamespacedConfigMap({ name: 'one', namespace: NS, body: { data: { k: '1' } } }, MERGE);
    fake.compact();
    const w = await watchRaw(kc, '/api/v1/namespaces/default/configmaps', { resourceVersion: metadata!.resourceVersion! });
    await waitFor(() => w.ended().done, 'the expired watch to end');
    expect(w.events).toEqual([{ type: 'ERROR', name: undefined, rv: undefined, code: 410 }]);
  });

  it('can answer a too-old watch with HTTP 410 instead', async () => {
    const { core, kc, fake } = await setup({ expiredAs: 'http', historyLimit: 2 });
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('one', {}) as V1ConfigMap });
    const { metadata } = await core.listNamespacedConfigMap({ namespace: NS });
    for (let i = 0; i < 3; i++)
      await core.patchNamespacedConfigMap({ name: 'one', namespace: NS, body: { data: { k: String(i) } } }, MERGE);
    const w = await watchRaw(kc, '/api/v1/namespaces/default/configmaps', { resourceVersion: metadata!.resourceVersion! });
    await waitFor(() => w.ended().done, 'the watch to fail');
    expect((w.ended().err as { statusCode?: number }).statusCode).toBe(410);
    expect(fake.requests({ path: '/api/v1/namespaces/default/configmaps' }).at(-1)?.status).toBe(410);
  });

  it("drives client-node's informer: it relists after 410 and sees changes made meanwhile", async () => {
    const { core, kc, fake } = await setup();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('one', {}) as V1ConfigMap });
    const informer = makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => core.listNamespacedConfigMap({ namespace: NS }));
    const names = new Set<string>();
    informer.on('add', (cm) => names.add(cm.metadata!.name!));
    informer.on('delete', (cm) => names.delete(cm.metadata!.name!));
    await informer.start();
    cleanups.push(() => informer.stop());
    await waitFor(() => names.has('one'), 'the informer to list');

    // Changes while the informer is not watching, then history is lost: its re-watch gets 410.
    await fake.stop();
    await fake.start();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('two', {}) as V1ConfigMap });
    await core.deleteNamespacedConfigMap({ name: 'one', namespace: NS });
    fake.compact();
    await informer.start(); // client-node informers do not restart themselves after an error
    await waitFor(() => names.has('two') && !names.has('one'), 'the informer to relist');
    const lists = fake.requests({ method: 'GET', path: '/api/v1/namespaces/default/configmaps' }).filter((r) => !r.watch);
    expect(lists.length).toBeGreaterThanOrEqual(2);
  });
});

describe('fake API server: test hooks', { timeout: 20_000 }, () => {
  it('fails the next N matching requests with a Status and logs every request', async () => {
    const { core, fake } = await setup();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('c', {}) as V1ConfigMap });
    fake.failNext({ method: 'PUT', path: /\/configmaps\/c$/, times: 2, code: 409 });
    const cm = await core.readNamespacedConfigMap({ name: 'c', namespace: NS });
    expect((await failure(core.replaceNamespacedConfigMap({ name: 'c', namespace: NS, body: cm }))).status.reason).toBe('Conflict');
    expect((await failure(core.replaceNamespacedConfigMap({ name: 'c', namespace: NS, body: cm }))).code).toBe(409);
    cm.data = { k: 'v' };
    await core.replaceNamespacedConfigMap({ name: 'c', namespace: NS, body: cm });
    expect(fake.requests({ method: 'PUT' }).map((r) => r.status)).toEqual([409, 409, 200]);
    expect(fake.requests({ method: 'PUT' })[2]!.body).toMatchObject({ data: { k: 'v' } });
  });

  it('stops and starts on the same port, keeping its objects', async () => {
    const { core, fake } = await setup();
    await core.createNamespacedConfigMap({ namespace: NS, body: configMapManifest('kept', {}) as V1ConfigMap });
    const port = fake.port;
    await fake.stop();
    await expect(core.readNamespacedConfigMap({ name: 'kept', namespace: NS })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await fake.start();
    expect(fake.port).toBe(port);
    expect((await core.readNamespacedConfigMap({ name: 'kept', namespace: NS })).metadata?.name).toBe('kept');
  });
});

describe('simulated kubelet', () => {
  it('starts a real predictor on a 127.0.0.x address when the scale subresource is patched, and publishes it ready', async () => {
    const { apps, discovery, fake } = await setup();
    const k = kubelet(fake);
    await apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('iris-00001', 0) as V1Deployment });
    k.manage({ namespace: NS, deployment: 'iris-00001', service: 'iris-00001' });
    await apps.patchNamespacedDeploymentScale({ name: 'iris-00001', namespace: NS, body: { spec: { replicas: 1 } } }, MERGE);

    const readySlices = async (): Promise<V1EndpointSlice[]> =>
      (await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=iris-00001' })).items;
    await waitFor(
      async () => (await readySlices()).some((s) => s.endpoints?.some((e) => e.conditions?.ready === true)),
      'a ready endpoint',
    );
    const [slice] = await readySlices();
    expect(slice!.addressType).toBe('IPv4');
    const port = slice!.ports?.find((p) => p.name === 'http')?.port;
    const address = slice!.endpoints[0]!.addresses[0]!;
    expect(address).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(address).not.toBe('127.0.0.1');
    expect(slice!.endpoints[0]!.targetRef?.kind).toBe('Pod');

    const health = await httpGet(`http://${address}:${port}/v2/health/ready`);
    expect(health.status).toBe(200);

    const deployment = await apps.readNamespacedDeployment({ name: 'iris-00001', namespace: NS });
    expect(deployment.status).toMatchObject({ replicas: 1, readyReplicas: 1 });

    // Scale to zero: the pod leaves the slice and its process exits.
    const pid = k.pods(NS, 'iris-00001')[0]!.pid!;
    await apps.patchNamespacedDeploymentScale({ name: 'iris-00001', namespace: NS, body: { spec: { replicas: 0 } } }, MERGE);
    await waitFor(() => k.pods(NS, 'iris-00001').length === 0, 'the pod to exit');
    expect(() => process.kill(pid, 0)).toThrow();
    const after = await readySlices();
    expect(after.flatMap((s) => s.endpoints ?? [])).toEqual([]);
    expect((await apps.readNamespacedDeployment({ name: 'iris-00001', namespace: NS })).status).toMatchObject({
      replicas: 0,
      readyReplicas: 0,
    });
  }, 30_000);

  it('gives every pod of a Deployment the same port on distinct addresses, split over several slices', async () => {
    const { apps, fake } = await setup();
    const k = kubelet(fake, { maxEndpointsPerSlice: 2 });
    await apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest('multi', 3) as V1Deployment });
    k.manage({ namespace: NS, deployment: 'multi', service: 'multi-svc' });
    await waitFor(() => k.pods(NS, 'multi').filter((p) => p.state === 'ready').length === 3, 'three ready pods', 20_000);
    const pods = k.pods(NS, 'multi');
    expect(new Set(pods.map((p) => p.port)).size).toBe(1);
    expect(new Set(pods.map((p) => p.host)).size).toBe(3);
    const slices = fake.store.list(ENDPOINT_SLICES, NS, 'kubernetes.io/service-name=multi-svc').items;
    expect(slices).toHaveLength(2);
    const listed = slices.flatMap((s) => (s.endpoints as Array<{ addresses: string[] }>).map((e) => e.addresses[0]));
    expect(listed.sort()).toEqual(pods.map((p) => p.host).sort());
  }, 30_000);
});

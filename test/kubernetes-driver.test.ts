/**
 * The Kubernetes driver against the fake API server with the real client, and the simulated kubelet
 * running real predictors on 127.0.0.x. Waits are for observable events with generous bounds; nothing
 * asserts how fast anything happened.
 */
import { fileURLToPath } from 'node:url';
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { Revision } from '../src/config/load.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/kube/backoff.js';
import { readyOrigins } from '../src/kube/endpoint-slices.js';
import { kubernetesRevisionSchema } from '../src/config/schema.js';
import type { Endpoint } from '../src/core/endpoint.js';
import { KubernetesDriver } from '../src/kube/deployment-driver.js';
import type { KubernetesDriverOptions } from '../src/kube/driver-options.js';
import {
  DEPLOYMENTS,
  FakeKubeServer,
  FakeKubelet,
  deploymentManifest,
  loadKubeConfig,
  waitFor,
  type KubeletOptions,
} from './support/fake-kube/index.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const NS = 'default';
const KEY = 'iris/iris-00001';
const DEPLOYMENT = 'iris-00001';
const SCALE_PATH = `/apis/apps/v1/namespaces/${NS}/deployments/${DEPLOYMENT}/scale`;
const IRIS_ROW = { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] };
const FAST_BACKOFF = { initialMs: 20, maxMs: 300 };

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A validated `backend: kubernetes` revision (the driver reads no autoscaling knobs). */
function kubeRevision(fields: Record<string, unknown> = {}): Revision {
  const spec = kubernetesRevisionSchema.parse({
    name: 'iris-00001',
    backend: 'kubernetes',
    deployment: DEPLOYMENT,
    service: 'iris-00001',
    ...fields,
  });
  return { ...spec, scaling: {} } as unknown as Revision;
}

interface World {
  fake: FakeKubeServer;
  kc: KubeConfig;
  apps: AppsV1Api;
  kubelet: FakeKubelet;
}

async function world(replicas = 0, kubeletOptions: Partial<KubeletOptions> = {}): Promise<World> {
  const fake = await FakeKubeServer.start();
  cleanups.push(() => fake.close());
  const kubelet = new FakeKubelet(fake.store, { cli: CLI, terminationGraceMs: 2000, ...kubeletOptions });
  cleanups.push(() => kubelet.close());
  const kc = await loadKubeConfig(fake.url);
  const apps = kc.makeApiClient(AppsV1Api);
  await apps.createNamespacedDeployment({ namespace: NS, body: deploymentManifest(DEPLOYMENT, replicas) as V1Deployment });
  kubelet.manage({ namespace: NS, deployment: DEPLOYMENT, service: 'iris-00001' });
  return { fake, kc, apps, kubelet };
}

function driverFor(w: World, options: Partial<KubernetesDriverOptions> = {}) {
  const driver = new KubernetesDriver({
    kubeConfig: w.kc,
    namespace: NS,
    backoff: FAST_BACKOFF,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...options,
  });
  cleanups.push(() => driver.close());
  let current: readonly Endpoint[] = [];
  const sets: Array<readonly Endpoint[]> = [];
  driver.onEndpoints((key, endpoints) => {
    if (key !== KEY) return;
    current = endpoints;
    sets.push(endpoints);
  });
  driver.add(KEY, kubeRevision());
  return { driver, sets, endpoints: () => current };
}

function specReplicas(w: World): number {
  return (w.fake.store.get(DEPLOYMENTS, NS, DEPLOYMENT).spec as { replicas: number }).replicas;
}

async function infer(endpoint: Endpoint): Promise<number> {
  const res = await request(`${endpoint.origin}/v2/models/iris/infer`, {
    method: 'POST',
    body: JSON.stringify(IRIS_ROW),
    headers: { 'content-type': 'application/json' },
  });
  await res.body.text();
  return res.statusCode;
}

describe('readyOrigins (pure)', () => {
  const slice = (
    name: string,
    ports: Array<{ name?: string; port: number }>,
    endpoints: Array<{ addresses: string[]; ready?: boolean }>,
  ) => ({
    metadata: { name },
    addressType: 'IPv4',
    ports,
    endpoints: endpoints.map((e) => ({ addresses: e.addresses, conditions: e.ready === undefined ? {} : { ready: e.ready } })),
  });
  const rows = [
    {
      label: 'ready and unknown-readiness endpoints are taken, not-ready ones are not',
      slices: [
        slice(
          's-a',
          [{ name: 'http', port: 8080 }],
          [{ addresses: ['10.0.0.1'], ready: true }, { addresses: ['10.0.0.2'], ready: false }, { addresses: ['10.0.0.3'] }],
        ),
      ],
      choice: { portName: 'http' },
      want: ['http://10.0.0.1:8080', 'http://10.0.0.3:8080'],
    },
    {
      label: 'port by name among several',
      slices: [
        slice(
          's-a',
          [
            { name: 'metrics', port: 9090 },
            { name: 'http', port: 8080 },
          ],
          [{ addresses: ['10.0.0.1'], ready: true }],
        ),
      ],
      choice: { portName: 'http' },
      want: ['http://10.0.0.1:8080'],
    },
    {
      label: 'an explicit port wins over the slice ports',
      slices: [slice('s-a', [{ name: 'http', port: 8080 }], [{ addresses: ['10.0.0.1'], ready: true }])],
      choice: { port: 8012, portName: 'http' },
      want: ['http://10.0.0.1:8012'],
    },
    {
      label: 'a single unnamed port is taken',
      slices: [slice('s-a', [{ port: 8080 }], [{ addresses: ['10.0.0.1'], ready: true }])],
      choice: { portName: 'http' },
      want: ['http://10.0.0.1:8080'],
    },
    {
      label: 'no matching port: nothing',
      slices: [slice('s-a', [{ name: 'grpc', port: 9000 }], [{ addresses: ['10.0.0.1'], ready: true }])],
      choice: { portName: 'http' },
      want: [],
    },
    {
      label: 'all slices of the service merge in slice-name order, duplicates once, IPv6 bracketed',
      slices: [
        slice(
          's-b',
          [{ name: 'http', port: 8080 }],
          [
            { addresses: ['fd00::2'], ready: true },
            { addresses: ['10.0.0.1'], ready: true },
          ],
        ),
        slice('s-a', [{ name: 'http', port: 8080 }], [{ addresses: ['10.0.0.1'], ready: true }]),
      ],
      choice: { portName: 'http' },
      want: ['http://10.0.0.1:8080', 'http://[fd00::2]:8080'],
    },
  ];
  for (const row of rows) {
    it(row.label, () => {
      expect(readyOrigins(row.slices, row.choice)).toEqual(row.want);
    });
  }
});

describe('backoffDelay (pure)', () => {
  const rows = [
    { label: 'first attempt, no jitter drawn', attempt: 0, random: 0, want: 200 },
    { label: 'first attempt, most jitter', attempt: 0, random: 0.999, want: 100 },
    { label: 'doubles per attempt', attempt: 3, random: 0, want: 1600 },
    { label: 'capped at the ceiling', attempt: 20, random: 0, want: 30_000 },
    { label: 'capped, half jitter', attempt: 20, random: 0.5, want: 22_500 },
  ];
  for (const row of rows) {
    it(row.label, () => expect(backoffDelay(DEFAULT_BACKOFF, row.attempt, row.random)).toBe(row.want));
  }
});

describe('kubernetesRevisionSchema', () => {
  it('fills defaults and refuses unknown fields and bad names', () => {
    const parsed = kubernetesRevisionSchema.parse({ name: 'r1', backend: 'kubernetes', deployment: 'iris.predictor', service: 'iris' });
    expect(parsed).toMatchObject({ portName: 'http', containerConcurrency: 0, timeoutSeconds: 300, annotations: {} });
    expect(kubernetesRevisionSchema.safeParse({ name: 'r1', backend: 'kubernetes', deployment: 'd', service: '1svc' }).success).toBe(false);
    expect(
      kubernetesRevisionSchema.safeParse({ name: 'r1', backend: 'kubernetes', deployment: 'd', service: 's', replicas: 3 }).success,
    ).toBe(false);
    expect(
      kubernetesRevisionSchema.safeParse({ name: 'r1', backend: 'kubernetes', deployment: 'd', service: 's', port: 70000 }).success,
    ).toBe(false);
  });
});

describe('KubernetesDriver', () => {
  it('scales up through the scale subresource; the kubelet starts a predictor; its endpoint is published and serves', async () => {
    const w = await world();
    const { driver, endpoints } = driverFor(w);
    driver.setReplicas(KEY, 1);
    expect(driver.replicas(KEY).desired).toBe(1);
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    const [endpoint] = endpoints();
    expect(endpoint!.origin).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+:\d+$/);
    expect(await infer(endpoint!)).toBe(200);

    const patches = w.fake.requests({ method: 'PATCH', path: SCALE_PATH });
    expect(patches).toHaveLength(1);
    expect(patches[0]).toMatchObject({ contentType: 'application/merge-patch+json', body: { spec: { replicas: 1 } }, status: 200 });
    await waitFor(() => driver.replicas(KEY).actual === 1, 'actual = 1 from the Deployment status');
    expect(driver.replicas(KEY)).toEqual({ desired: 1, actual: 1, ready: 1 });
    expect(driver.health().apiReachable).toBe(true);
  }, 30_000);

  it('keeps the same Endpoint object for an address that stays, and marks leavers draining on scale-down', async () => {
    const w = await world();
    const { driver, endpoints } = driverFor(w);
    driver.setReplicas(KEY, 1);
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    const first = endpoints()[0]!;
    first.inflight = 3; // as if the balancer had requests on it

    driver.setReplicas(KEY, 3);
    await waitFor(() => endpoints().length === 3, 'three ready endpoints', 20_000);
    expect(endpoints()[0]).toBe(first);
    expect(first.inflight).toBe(3);
    expect(new Set(endpoints().map((e) => e.id)).size).toBe(3);

    const before = [...endpoints()];
    driver.setReplicas(KEY, 1);
    await waitFor(() => endpoints().length === 1, 'one endpoint left');
    const left = before.filter((e) => !endpoints().includes(e));
    expect(left).toHaveLength(2);
    for (const e of left) expect(e.draining).toBe(true);
    expect(endpoints()[0]!.draining).toBe(false);
    expect(await infer(endpoints()[0]!)).toBe(200);

    driver.setReplicas(KEY, 0);
    await waitFor(() => endpoints().length === 0, 'no endpoint');
    await waitFor(() => w.kubelet.pods(NS, DEPLOYMENT).length === 0, 'every pod gone');
    await waitFor(() => driver.replicas(KEY).actual === 0, 'actual = 0');
    expect(specReplicas(w)).toBe(0);
  }, 40_000);

  it('activates from zero exactly once when replicas race: one PUT wins, replicas = n, not 2n', async () => {
    const w = await world();
    const a = driverFor(w);
    const b = driverFor(w);
    const results = await Promise.all([
      a.driver.activateFromZero(KEY, 2),
      b.driver.activateFromZero(KEY, 2),
      a.driver.activateFromZero(KEY, 2),
    ]);
    expect(results.filter((r) => r === 'activated')).toHaveLength(1);
    expect(results.filter((r) => r !== 'activated').every((r) => r === 'lost-race' || r === 'already-active')).toBe(true);
    expect(specReplicas(w)).toBe(2);
    const puts = w.fake.requests({ method: 'PUT', path: SCALE_PATH });
    expect(puts.filter((r) => r.status === 200)).toHaveLength(1);
    expect(puts.filter((r) => r.status !== 200).every((r) => r.status === 409)).toBe(true);
    for (const put of puts) expect((put.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toMatch(/^\d+$/);

    // Above zero, activation writes nothing.
    w.fake.clearRequests();
    expect(await b.driver.activateFromZero(KEY, 5)).toBe('already-active');
    expect(w.fake.requests({ method: 'PUT' })).toHaveLength(0);
    expect(specReplicas(w)).toBe(2);
    await waitFor(() => a.endpoints().length === 2 && b.endpoints().length === 2, 'both gateways see two endpoints', 20_000);
  }, 30_000);

  it('retries a failed scale patch with backoff and reports the API server unreachable meanwhile', async () => {
    const w = await world();
    const { driver } = driverFor(w);
    w.fake.failNext({ method: 'PATCH', path: SCALE_PATH, times: 3, code: 503 });
    driver.setReplicas(KEY, 1);
    await waitFor(() => !driver.health().apiReachable, 'health to show the API server unreachable');
    expect(driver.health().lastError).toMatch(/^503 /);
    await waitFor(() => specReplicas(w) === 1, 'the patch to land');
    expect(w.fake.requests({ method: 'PATCH', path: SCALE_PATH }).map((r) => r.status)).toEqual([503, 503, 503, 200]);
    await waitFor(() => driver.health().apiReachable, 'health to recover');
  }, 20_000);

  it('writes only the latest wish when asked several times during a failing patch', async () => {
    const w = await world();
    const { driver } = driverFor(w, { backoff: { initialMs: 200, maxMs: 200 } });
    w.fake.failNext({ method: 'PATCH', path: SCALE_PATH, times: 1, code: 500 });
    driver.setReplicas(KEY, 1);
    driver.setReplicas(KEY, 4);
    driver.setReplicas(KEY, 2);
    await waitFor(() => w.fake.requests({ method: 'PATCH', path: SCALE_PATH }).some((r) => r.status === 200), 'a successful patch');
    await new Promise((r) => setTimeout(r, 300));
    const bodies = w.fake
      .requests({ method: 'PATCH', path: SCALE_PATH })
      .map((r) => (r.body as { spec: { replicas: number } }).spec.replicas);
    expect(bodies).toEqual([1, 2]);
    expect(specReplicas(w)).toBe(2);
  }, 20_000);

  it('keeps endpoints published while the API server is down, and catches up after it returns', async () => {
    const w = await world();
    const { driver, endpoints, sets } = driverFor(w);
    driver.setReplicas(KEY, 1);
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    const published = sets.length;

    await w.fake.stop();
    await waitFor(() => !driver.health().apiReachable, 'the driver to notice the API server is gone');
    const since = driver.health().since!;
    expect(endpoints()).toHaveLength(1);
    expect(sets.length).toBe(published); // nothing withdrawn
    expect(await infer(endpoints()[0]!)).toBe(200); // warm traffic still flows

    driver.setReplicas(KEY, 2); // retried until the API server is back
    await new Promise((r) => setTimeout(r, 300));
    expect(specReplicas(w)).toBe(1);
    await w.fake.start();
    await waitFor(() => endpoints().length === 2, 'the second endpoint after the restart', 20_000);
    expect(specReplicas(w)).toBe(2);
    await waitFor(() => driver.health().apiReachable, 'reachable again');
    expect(driver.health().since!).toBeGreaterThanOrEqual(since);
  }, 40_000);

  it('relists after 410 Gone and sees what changed while it was not watching', async () => {
    const w = await world(1);
    const { driver, endpoints } = driverFor(w);
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    const listsBefore = w.fake.requests({ method: 'GET', path: /\/endpointslices$/ }).filter((r) => !r.watch).length;

    // API server down; meanwhile the Deployment is scaled elsewhere and history is compacted.
    await w.fake.stop();
    w.fake.store.mutate(DEPLOYMENTS, NS, DEPLOYMENT, (d) => ((d.spec as { replicas: number }).replicas = 2));
    await waitFor(
      () => w.kubelet.pods(NS, DEPLOYMENT).filter((p) => p.state === 'ready').length === 2,
      'a second pod behind the scenes',
      20_000,
    );
    expect(endpoints()).toHaveLength(1);
    w.fake.compact();
    await w.fake.start();

    await waitFor(() => endpoints().length === 2, 'both endpoints after the relist', 20_000);
    const watches = w.fake.requests({ method: 'GET', path: /\/endpointslices$/ }).filter((r) => r.watch);
    expect(watches.some((r) => r.status === 200 && r.query.resourceVersion !== undefined)).toBe(true);
    const listsAfter = w.fake.requests({ method: 'GET', path: /\/endpointslices$/ }).filter((r) => !r.watch).length;
    expect(listsAfter).toBeGreaterThan(listsBefore);
    // The change made elsewhere becomes the desired count.
    await waitFor(() => driver.replicas(KEY).desired === 2, 'desired follows the Deployment');
  }, 40_000);

  it('re-watches from where it was when watches are closed, without relisting', async () => {
    const w = await world(1);
    const { endpoints } = driverFor(w);
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    const lists = () => w.fake.requests({ method: 'GET', path: /\/endpointslices$/ }).filter((r) => !r.watch).length;
    const before = lists();
    expect(w.fake.closeWatches()).toBeGreaterThanOrEqual(2);
    await waitFor(() => w.fake.openWatches >= 2, 'the informers to re-watch');
    w.fake.store.mutate(DEPLOYMENTS, NS, DEPLOYMENT, (d) => ((d.spec as { replicas: number }).replicas = 2));
    await waitFor(() => endpoints().length === 2, 'the new endpoint through the new watch', 20_000);
    expect(lists()).toBe(before);
  }, 30_000);

  it('adopts the replica count of an existing Deployment as desired, and follows changes made elsewhere', async () => {
    const w = await world(1);
    const { driver, endpoints } = driverFor(w);
    await waitFor(() => driver.replicas(KEY).desired === 1, 'desired = 1 from the Deployment');
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    await w.apps.patchNamespacedDeploymentScale(
      { name: DEPLOYMENT, namespace: NS, body: { spec: { replicas: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(() => driver.replicas(KEY).desired === 2, 'desired follows the scale');
    await waitFor(() => endpoints().length === 2, 'two endpoints', 20_000);
    expect(w.fake.requests({ method: 'PATCH', path: SCALE_PATH })).toHaveLength(1); // only the one made here
  }, 30_000);

  it('remove() withdraws the endpoints and scales the Deployment to zero; add() refuses other backends', async () => {
    const w = await world(1);
    const { driver, endpoints } = driverFor(w);
    await waitFor(() => endpoints().length === 1, 'one ready endpoint', 20_000);
    const endpoint = endpoints()[0]!;
    await driver.remove(KEY);
    expect(endpoints()).toEqual([]);
    expect(endpoint.draining).toBe(true);
    expect(specReplicas(w)).toBe(0);
    expect(driver.replicas(KEY)).toEqual({ desired: 0, actual: 0, ready: 0 });
    expect(() => driver.add('x/y', { backend: 'local' } as unknown as Revision)).toThrow(/runs backend "kubernetes", not "local"/);
  }, 30_000);

  it('close() ends every watch', async () => {
    const w = await world(0);
    const { driver } = driverFor(w);
    await waitFor(() => w.fake.openWatches === 2, 'two watches (slices, deployment)');
    await driver.close();
    await waitFor(() => w.fake.openWatches === 0, 'no watch left');
  }, 20_000);

  it('close() while lists and watch requests are still on their way leaves no watch behind', async () => {
    const w = await world(0);
    for (let round = 0; round < 20; round++) {
      const { driver } = driverFor(w);
      // Let the requests get under way to a varying depth, then close.
      await new Promise((r) => setTimeout(r, round % 5));
      await driver.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(w.fake.openWatches).toBe(0);
  }, 20_000);
});

/**
 * Kubernetes mode end to end, against the fake API server with the real client:
 *
 * - the ConfigMap config source in this process (load, watch, write-back with resourceVersion
 *   preconditions and retries on 409);
 * - `sluice gateway --configmap` as real child processes (one per "pod", on its own 127.0.0.x),
 *   the simulated kubelet running real predictors: cold start through the scale subresource, one
 *   leader deciding on the sum of every replica's load, takeover after the leader is SIGKILLed, an
 *   API server outage that warm traffic does not notice, and traffic changes written back to the
 *   ConfigMap by several replicas at once.
 *
 * Each replica's kubeconfig carries its pod name as bearer token, so the fake's request log says
 * who asked. Waits are for observable events with generous bounds (multiples of the lease
 * duration); nothing asserts how fast anything happened.
 */
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { pino } from 'pino';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import type { ServiceJson } from '../src/admin/app.js';
import type { KubernetesCondition } from '../src/app/kubernetes-mode.js';
import { parseConfigText } from '../src/config/load.js';
import { kubernetesRevisionSchema, kubernetesSettingsSchema } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';
import { combineHealth } from '../src/kube/api-health.js';
import { ConfigMapConfigSource } from '../src/kube/configmap-source.js';
import { parseConfigMapRef } from '../src/kube/configmap-ref.js';
import { peerOrigins } from '../src/kube/peers.js';
import { KubernetesDriver } from '../src/kube/deployment-driver.js';
import type { Revision } from '../src/config/load.js';
import type { ConfigChange } from '../src/config/source.js';
import {
  CONFIG_MAPS,
  DEPLOYMENTS,
  ENDPOINT_SLICES,
  FakeKubeServer,
  FakeKubelet,
  LEASES,
  configMapManifest,
  deploymentManifest,
  loadKubeConfig,
  waitFor,
  writeKubeconfig,
} from './support/fake-kube/index.js';
import { CLI, IRIS_ROW } from './support/harness.js';
import { portFreeOn, startGatewayProcess, type GatewayProcess } from './support/kube-gateway.js';

const SYSTEM = 'sluice-system';
const MODELS = 'models';
const CM = 'sluice-config';
const CM_PATH = `/api/v1/namespaces/${SYSTEM}/configmaps/${CM}`;
const DEPLOYMENT = 'iris-00001';
const SCALE_PATH = `/apis/apps/v1/namespaces/${MODELS}/deployments/${DEPLOYMENT}/scale`;
const K = 'autoscaling.knative.dev/';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---------------------------------------------------------------------------------------------
// Pure pieces.

describe('parseConfigMapRef', () => {
  const rows = [
    { ref: 'sluice-system/sluice-config', want: { namespace: 'sluice-system', name: 'sluice-config' } },
    { ref: 'ns/config.v2', want: { namespace: 'ns', name: 'config.v2' } },
    { ref: 'sluice-config', want: 'want NAMESPACE/NAME (e.g. sluice-system/sluice-config), got "sluice-config"' },
    { ref: 'Ns/cfg', want: 'want NAMESPACE/NAME (e.g. sluice-system/sluice-config), got "Ns/cfg"' },
    { ref: 'a/b/c', want: 'want NAMESPACE/NAME (e.g. sluice-system/sluice-config), got "a/b/c"' },
  ];
  for (const row of rows) it(row.ref, () => expect(parseConfigMapRef(row.ref)).toEqual(row.want));
});

describe('peerOrigins (pure)', () => {
  const endpoint = (ip: string, name: string, ready?: boolean) => ({
    addresses: [ip],
    conditions: ready === undefined ? {} : { ready },
    targetRef: { kind: 'Pod', name },
  });
  const slice = (...endpoints: ReturnType<typeof endpoint>[]) => ({
    addressType: 'IPv4',
    endpoints,
    ports: [{ name: 'admin', port: 8081 }],
  });
  const rows = [
    {
      label: 'every ready replica but this one, by pod name',
      slices: [slice(endpoint('10.0.0.7', 'sluice-a', true), endpoint('10.0.0.8', 'sluice-b', true), endpoint('10.0.0.9', 'sluice-c'))],
      self: { name: 'sluice-a' },
      want: ['http://10.0.0.8:8081', 'http://10.0.0.9:8081'],
    },
    {
      label: 'this one recognised by its pod IP when no name matches',
      slices: [slice(endpoint('10.0.0.7', 'x', true), endpoint('10.0.0.8', 'y', true))],
      self: { ip: '10.0.0.8' },
      want: ['http://10.0.0.7:8081'],
    },
    {
      label: 'not-ready replicas (starting, draining) are not asked',
      slices: [slice(endpoint('10.0.0.7', 'sluice-a', true), endpoint('10.0.0.8', 'sluice-b', false))],
      self: { name: 'sluice-a' },
      want: [],
    },
    {
      label: 'several slices, duplicates once, sorted',
      slices: [slice(endpoint('10.0.0.9', 'c', true)), slice(endpoint('10.0.0.8', 'b', true), endpoint('10.0.0.9', 'c', true))],
      self: {},
      want: ['http://10.0.0.8:8081', 'http://10.0.0.9:8081'],
    },
  ];
  for (const row of rows) it(row.label, () => expect(peerOrigins(row.slices, 8081, row.self)).toEqual(row.want));
});

describe('combineHealth (pure)', () => {
  const rows = [
    {
      label: 'all reachable: since the latest recovery',
      views: [
        { apiReachable: true, since: 5 },
        { apiReachable: true, since: 9 },
      ],
      want: { apiReachable: true, since: 9 },
    },
    {
      label: 'one unreachable: unreachable, since it went',
      views: [
        { apiReachable: true, since: 5 },
        { apiReachable: false, since: 9, lastError: 'connect ECONNREFUSED' },
      ],
      want: { apiReachable: false, since: 9, lastError: 'connect ECONNREFUSED' },
    },
    {
      label: 'two unreachable: since the earlier',
      views: [
        { apiReachable: false, since: 12 },
        { apiReachable: false, since: 9 },
      ],
      want: { apiReachable: false, since: 9 },
    },
  ];
  for (const row of rows) it(row.label, () => expect(combineHealth(row.views)).toEqual(row.want));
});

describe('the kubernetes config block', () => {
  it('fills every default, field by field', () => {
    expect(kubernetesSettingsSchema.parse({})).toEqual({
      leaderElection: { enabled: true, leaseName: 'sluice-leader', leaseDurationSeconds: 15 },
      peers: { service: 'sluice-peers' },
    });
    const config = parseConfigText(
      'kubernetes:\n  namespace: models\n  leaderElection: { leaseDurationSeconds: 3 }\n  peers: { port: 9091 }\n',
    );
    expect(config.kubernetes).toEqual({
      namespace: 'models',
      leaderElection: { enabled: true, leaseName: 'sluice-leader', leaseDurationSeconds: 3 },
      peers: { service: 'sluice-peers', port: 9091 },
    });
  });

  it('names the bad field', () => {
    const problems = (text: string): string[] => {
      try {
        parseConfigText(text);
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(problems('kubernetes: { leaderElection: { leaseDurationSeconds: 1 } }')[0]).toMatch(
      /^kubernetes\.leaderElection\.leaseDurationSeconds: /,
    );
    expect(problems('kubernetes: { peers: { service: 1peers } }')[0]).toMatch(/^kubernetes\.peers\.service: must be a DNS-1035 label/);
    expect(problems('kubernetes: { leader: {} }')[0]).toMatch(/^kubernetes: /);
  });
});

// ---------------------------------------------------------------------------------------------
// The ConfigMap config source, in this process.

const SOURCE_YAML = `# The gateway config. This comment survives write-backs.
services:
  - name: shop
    match: { hosts: [shop.example.com] }
    revisions:
      - { name: shop-1, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: shop-2, backend: static, urls: ["http://127.0.0.1:9"] }
    traffic:
      - revision: shop-1 # stable
        percent: 100
      - { revision: shop-2, percent: 0 }
  - name: blog
    match: { hosts: [blog.example.com] }
    revisions:
      - { name: blog-1, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: blog-2, backend: static, urls: ["http://127.0.0.1:9"] }
    traffic:
      - { revision: blog-1, percent: 100 }
`;

async function configWorld(yaml = SOURCE_YAML) {
  const fake = await FakeKubeServer.start();
  cleanups.push(() => fake.close());
  fake.store.create(CONFIG_MAPS, SYSTEM, configMapManifest(CM, { 'sluice.yaml': yaml, 'other-key': 'kept' }));
  const source = async (user: string) => {
    const s = new ConfigMapConfigSource({
      kubeConfig: await loadKubeConfig(fake.url, SYSTEM, user),
      namespace: SYSTEM,
      name: CM,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      backoff: { initialMs: 20, maxMs: 300 },
    });
    cleanups.push(() => s.close());
    return s;
  };
  const text = () => (fake.store.get(CONFIG_MAPS, SYSTEM, CM).data as Record<string, string>)['sluice.yaml']!;
  const traffic = (service: string) => parseConfigText(text()).services.find((s) => s.name === service)!.traffic;
  /** Replace the YAML as `kubectl apply` would. */
  const edit = (next: string) =>
    fake.store.mutate(CONFIG_MAPS, SYSTEM, CM, (cm) => ((cm.data as Record<string, string>)['sluice.yaml'] = next));
  return { fake, source, text, traffic, edit };
}

describe('ConfigMapConfigSource', () => {
  it('loads the config from the key; a missing ConfigMap, key or bad YAML is a ConfigError naming it', async () => {
    const w = await configWorld();
    const source = await w.source('gw-a');
    expect(source.description).toBe('configmap sluice-system/sluice-config');
    const config = await source.load();
    expect(config.services.map((s) => s.name)).toEqual(['shop', 'blog']);
    expect(w.fake.requests({ method: 'GET', path: CM_PATH })).toHaveLength(1);

    const missing = new ConfigMapConfigSource({ kubeConfig: await loadKubeConfig(w.fake.url), namespace: SYSTEM, name: 'nope' });
    await expect(missing.load()).rejects.toThrow(new ConfigError(['configmap sluice-system/nope: not found']));
    const otherKey = new ConfigMapConfigSource({
      kubeConfig: await loadKubeConfig(w.fake.url),
      namespace: SYSTEM,
      name: CM,
      key: 'gateway.yaml',
    });
    await expect(otherKey.load()).rejects.toThrow(
      new ConfigError(['configmap sluice-system/sluice-config: no key "gateway.yaml" in data']),
    );
    w.edit('services: [');
    await expect(source.load()).rejects.toThrow(/^configmap sluice-system\/sluice-config key sluice\.yaml: YAML syntax/);
  }, 20_000);

  it('watches only its ConfigMap (field selector, as RBAC by name needs), reports foreign changes and invalid ones, never its own write-back', async () => {
    const w = await configWorld();
    const source = await w.source('gw-a');
    await source.load();
    const changes: ConfigChange[] = [];
    source.watch((change) => changes.push(change));
    await waitFor(() => w.fake.openWatches === 1, 'the watch to open');
    const watches = w.fake.requests({ path: `/api/v1/namespaces/${SYSTEM}/configmaps` });
    expect(watches.length).toBeGreaterThanOrEqual(2); // list + watch
    for (const r of watches) expect(r.query.fieldSelector).toBe(`metadata.name=${CM}`);

    // Its own write-back: persisted, comments kept, not reported as a change.
    const written = await source.updateTraffic('shop', [
      { revision: 'shop-1', percent: 90 },
      { revision: 'shop-2', percent: 10, tag: 'canary' },
    ]);
    expect(written.services[0]!.traffic).toEqual([
      { revision: 'shop-1', percent: 90 },
      { revision: 'shop-2', percent: 10, tag: 'canary' },
    ]);
    expect(w.traffic('shop')).toEqual(written.services[0]!.traffic);
    expect(w.text()).toContain('# The gateway config. This comment survives write-backs.');
    expect((w.fake.store.get(CONFIG_MAPS, SYSTEM, CM).data as Record<string, string>)['other-key']).toBe('kept');
    const put = w.fake.requests({ method: 'PUT', path: CM_PATH });
    expect(put).toHaveLength(1);
    expect(put[0]).toMatchObject({ status: 200, user: 'gw-a', query: { fieldManager: 'sluice' } });
    expect((put[0]!.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toMatch(/^\d+$/);

    // A foreign change (another replica, kubectl apply): reported with the parsed config.
    w.edit(w.text().replace('blog-1, percent: 100', 'blog-1, percent: 60 }\n      - { revision: blog-2, percent: 40'));
    await waitFor(() => changes.length === 1, 'the foreign change');
    expect(changes[0]!.config!.services[1]!.traffic).toEqual([
      { revision: 'blog-1', percent: 60 },
      { revision: 'blog-2', percent: 40 },
    ]);

    // An invalid one: reported as the ConfigError (the gateway keeps its running config).
    w.edit(w.text().replace('percent: 60', 'percent: 50'));
    await waitFor(() => changes.length === 2, 'the invalid change');
    expect(changes[1]!.error).toBeInstanceOf(ConfigError);
    expect(changes[1]!.error!.problems).toEqual(['services[1].traffic: percents sum to 90, want 100']);

    // The watch ending (API server restart, timeout) relists the same text: nothing new reported.
    w.fake.closeWatches();
    await waitFor(() => w.fake.openWatches === 1, 'the watch to reopen');
    await new Promise((r) => setTimeout(r, 200));
    expect(changes).toHaveLength(2);
  }, 20_000);

  it('refuses a traffic change that makes the config invalid, writing nothing', async () => {
    const w = await configWorld();
    const source = await w.source('gw-a');
    await expect(source.updateTraffic('shop', [{ revision: 'shop-1', percent: 90 }])).rejects.toThrow(
      new ConfigError(['services[0].traffic: percents sum to 90, want 100']),
    );
    await expect(source.updateTraffic('nope', [{ revision: 'x', percent: 100 }])).rejects.toThrow(
      new ConfigError(['services: no service named "nope"']),
    );
    expect(w.fake.requests({ method: 'PUT' })).toHaveLength(0);
  }, 20_000);

  it('on 409 reads again and redoes the edit on the newer text: both changes land', async () => {
    const w = await configWorld();
    const source = await w.source('gw-a');
    // The first write is refused as stale; meanwhile someone else changes blog (a new resourceVersion).
    w.fake.failNext({ method: 'PUT', path: CM_PATH, code: 409, reason: 'Conflict' });
    const pending = source.updateTraffic('shop', [
      { revision: 'shop-1', percent: 0 },
      { revision: 'shop-2', percent: 100 },
    ]);
    await waitFor(() => w.fake.requests({ method: 'PUT', path: CM_PATH }).length === 1, 'the first write');
    w.edit(w.text().replace('blog-1, percent: 100', 'blog-1, percent: 70 }\n      - { revision: blog-2, percent: 30'));
    await pending;
    const statuses = w.fake.requests({ method: 'PUT', path: CM_PATH }).map((p) => p.status);
    // 409 (injected), then 200 — or one more 409 if the foreign edit fell between a re-read and its write.
    expect(statuses[0]).toBe(409);
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.every((s) => s === 409 || s === 200)).toBe(true);
    expect(w.traffic('shop')).toEqual([
      { revision: 'shop-1', percent: 0 },
      { revision: 'shop-2', percent: 100 },
    ]);
    expect(w.traffic('blog')).toEqual([
      { revision: 'blog-1', percent: 70 },
      { revision: 'blog-2', percent: 30 },
    ]);
  }, 20_000);

  it('two replicas writing different services at once: every change lands, however they interleave', async () => {
    const w = await configWorld();
    const a = await w.source('gw-a');
    const b = await w.source('gw-b');
    for (let round = 0; round < 5; round++) {
      const shop = 10 * (round + 1);
      const blog = 5 * (round + 1);
      await Promise.all([
        a.updateTraffic('shop', [
          { revision: 'shop-1', percent: 100 - shop },
          { revision: 'shop-2', percent: shop },
        ]),
        b.updateTraffic('blog', [
          { revision: 'blog-1', percent: 100 - blog },
          { revision: 'blog-2', percent: blog },
        ]),
      ]);
      expect(w.traffic('shop'), `round ${round}`).toEqual([
        { revision: 'shop-1', percent: 100 - shop },
        { revision: 'shop-2', percent: shop },
      ]);
      expect(w.traffic('blog'), `round ${round}`).toEqual([
        { revision: 'blog-1', percent: 100 - blog },
        { revision: 'blog-2', percent: blog },
      ]);
    }
    const puts = w.fake.requests({ method: 'PUT', path: CM_PATH });
    expect(puts.filter((p) => p.status === 200)).toHaveLength(10);
    expect(puts.every((p) => p.status === 200 || p.status === 409)).toBe(true);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// The driver's activation poke.

describe('KubernetesDriver.activate', () => {
  it('wakes a revision at zero once however often it is poked, and never throws', async () => {
    const fake = await FakeKubeServer.start();
    cleanups.push(() => fake.close());
    fake.store.create(DEPLOYMENTS, MODELS, deploymentManifest(DEPLOYMENT, 0));
    const driver = new KubernetesDriver({
      kubeConfig: await loadKubeConfig(fake.url),
      namespace: MODELS,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    cleanups.push(() => driver.close());
    const spec = kubernetesRevisionSchema.parse({ name: DEPLOYMENT, backend: 'kubernetes', deployment: DEPLOYMENT, service: DEPLOYMENT });
    driver.add('iris/a', { ...spec, scaling: {} } as unknown as Revision);

    expect(() => driver.activate('iris/unknown', 1)).not.toThrow();
    for (let i = 0; i < 20; i++) driver.activate('iris/a', 2); // a burst of held requests
    await waitFor(() => (fake.store.get(DEPLOYMENTS, MODELS, DEPLOYMENT).spec as { replicas: number }).replicas === 2, 'replicas 0 → 2');
    await waitFor(() => fake.requests({ method: 'GET', path: SCALE_PATH }).every((r) => r.status !== 0), 'every read answered');
    expect(fake.requests({ method: 'PUT', path: SCALE_PATH })).toHaveLength(1);
    expect(fake.requests({ method: 'GET', path: SCALE_PATH })).toHaveLength(1);
    expect(() => driver.activate('iris/a', 0)).not.toThrow();

    // The API server away: the failure is logged, not thrown.
    await fake.stop();
    expect(() => driver.activate('iris/a', 1)).not.toThrow();
    await new Promise((r) => setTimeout(r, 300));
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------
// `sluice gateway` flags for Kubernetes mode.

function runGateway(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.SLUICE_CONFIG;
    const child = spawn(
      process.execPath,
      [CLI, 'gateway', ...args, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-format', 'json'],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('sluice gateway flags', () => {
  const rows = [
    {
      label: 'neither --config nor --configmap',
      args: [],
      wantCode: 2,
      wantStderr: '--config FILE or --configmap NAMESPACE/NAME is required',
    },
    {
      label: 'both',
      args: ['--config', 'x.yaml', '--configmap', 'a/b'],
      wantCode: 2,
      wantStderr: 'give --config or --configmap, not both',
    },
    {
      label: 'a ConfigMap without namespace',
      args: ['--configmap', 'sluice-config'],
      wantCode: 2,
      wantStderr: '--configmap: want NAMESPACE/NAME',
    },
    {
      label: 'a kubeconfig that is not there',
      args: ['--configmap', 'a/b', '--kubeconfig', '/nonexistent/kubeconfig'],
      wantCode: 2,
      wantStderr: '--kubeconfig: ',
    },
  ];
  it.each(rows)(
    '$label → exit $wantCode',
    async (row) => {
      const { code, stderr } = await runGateway(row.args);
      expect(code).toBe(row.wantCode);
      expect(stderr).toContain(row.wantStderr);
    },
    30_000,
  );

  it('a ConfigMap that does not exist, or an invalid config in it → exit 2 naming it', async () => {
    const fake = await FakeKubeServer.start();
    cleanups.push(() => fake.close());
    fake.store.create(CONFIG_MAPS, SYSTEM, configMapManifest('bad', { 'sluice.yaml': 'services: 3\n' }));
    const kubeconfig = await writeKubeconfig(fake.url);
    const missing = await runGateway(['--configmap', `${SYSTEM}/nope`, '--kubeconfig', kubeconfig]);
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toContain('invalid config (configmap sluice-system/nope):\n  - configmap sluice-system/nope: not found');
    const invalid = await runGateway(['--configmap', `${SYSTEM}/bad`, '--kubeconfig', kubeconfig]);
    expect(invalid).toMatchObject({ code: 2 });
    expect(invalid.stderr).toContain('  - services: ');
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// `sluice gateway --configmap` processes.

interface GatewayConfig {
  leaseDurationSeconds: number;
  /** Extra services (YAML list items) after iris. */
  extraServices?: string;
}

function gatewayYaml(c: GatewayConfig): string {
  return `# Kubernetes mode test config.
autoscaler:
  stable-window: 6s
  scale-to-zero-grace-period: 4s
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
        annotations:
          ${K}target: "1"
          ${K}target-utilization-percentage: "100"
          ${K}max-scale: "4"
    traffic:
      - revision: ${DEPLOYMENT}
        percent: 100
${c.extraServices ?? ''}
kubernetes:
  leaderElection:
    leaseDurationSeconds: ${c.leaseDurationSeconds}
  peers:
    service: sluice-peers
`;
}

const STATIC_SERVICES = `  - name: shop
    match: { hosts: [shop.example.com] }
    revisions:
      - { name: shop-1, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: shop-2, backend: static, urls: ["http://127.0.0.1:9"] }
    traffic:
      - { revision: shop-1, percent: 100 } # stable
      - { revision: shop-2, percent: 0 }
  - name: blog
    match: { hosts: [blog.example.com] }
    revisions:
      - { name: blog-1, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: blog-2, backend: static, urls: ["http://127.0.0.1:9"] }
    traffic:
      - { revision: blog-1, percent: 100 }
      - { revision: blog-2, percent: 0 }
`;

/** Gateway "pod IPs": 127.0.200.x, apart from the kubelet's predictors. */
let nextGatewayHost = 1;

interface Cluster {
  fake: FakeKubeServer;
  kubelet: FakeKubelet;
  gateways: GatewayProcess[];
  /** The Lease holder in the store ('' or undefined when none). */
  holder(): string | undefined;
  specReplicas(): number;
  readyPods(): number;
  /** PATCH/PUT requests on the scale subresource, optionally only by one gateway. */
  scaleWrites(user?: string): ReturnType<FakeKubeServer['requests']>;
  /** Mark a gateway's peer endpoint not ready, as the endpoint controller does for a dead pod. */
  peerGone(name: string): void;
}

async function cluster(names: string[], config: GatewayConfig): Promise<Cluster> {
  const fake = await FakeKubeServer.start();
  cleanups.push(() => fake.close());
  const kubelet = new FakeKubelet(fake.store, { cli: CLI, predictorArgs: ['--latency', '250'], terminationGraceMs: 2000 });
  cleanups.push(() => kubelet.close());
  fake.store.create(DEPLOYMENTS, MODELS, deploymentManifest(DEPLOYMENT, 0));
  kubelet.manage({ namespace: MODELS, deployment: DEPLOYMENT, service: DEPLOYMENT });
  fake.store.create(CONFIG_MAPS, SYSTEM, configMapManifest(CM, { 'sluice.yaml': gatewayYaml(config) }));

  const hosts = names.map(() => `127.0.200.${nextGatewayHost++}`);
  const adminPort = await portFreeOn(hosts);
  // The headless Service's EndpointSlice over the gateway pods, as the endpoint controller writes it.
  const peerEndpoints = names.map((name, i) => ({
    addresses: [hosts[i]!],
    conditions: { ready: true },
    targetRef: { kind: 'Pod', namespace: SYSTEM, name },
  }));
  fake.store.create(ENDPOINT_SLICES, SYSTEM, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'sluice-peers-x7k2p', labels: { 'kubernetes.io/service-name': 'sluice-peers' } },
    addressType: 'IPv4',
    endpoints: peerEndpoints,
    ports: [{ name: 'admin', port: adminPort, protocol: 'TCP' }],
  });

  const gateways = await Promise.all(
    names.map(async (name, i) =>
      startGatewayProcess({
        name,
        host: hosts[i]!,
        adminPort,
        kubeconfig: await writeKubeconfig(fake.url, SYSTEM, name),
        configMap: `${SYSTEM}/${CM}`,
        podNamespace: SYSTEM,
      }),
    ),
  );
  cleanups.push(() => Promise.all(gateways.map((g) => g.stop('SIGKILL'))));
  onTestFailed(() => {
    for (const g of gateways)
      process.stderr.write(
        `--- ${g.name} (last 40 log lines)\n${g.logs
          .slice(-40)
          .map((l) => JSON.stringify(l))
          .join('\n')}\n`,
      );
  });

  return {
    fake,
    kubelet,
    gateways,
    holder: () => (fake.store.tryGet(LEASES, SYSTEM, 'sluice-leader')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity,
    specReplicas: () => (fake.store.get(DEPLOYMENTS, MODELS, DEPLOYMENT).spec as { replicas: number }).replicas,
    readyPods: () => kubelet.pods(MODELS, DEPLOYMENT).filter((p) => p.state === 'ready').length,
    scaleWrites: (user) => fake.requests({ path: SCALE_PATH, user }).filter((r) => r.method === 'PATCH' || r.method === 'PUT'),
    peerGone(name) {
      fake.store.mutate(ENDPOINT_SLICES, SYSTEM, 'sluice-peers-x7k2p', (slice) => {
        for (const e of slice.endpoints as Array<{ targetRef: { name: string }; conditions: { ready: boolean } }>)
          if (e.targetRef.name === name) e.conditions.ready = false;
      });
    },
  };
}

/** What `/readyz` and a service's status show in Kubernetes mode. */
interface Conditions {
  conditions: { kubernetes: KubernetesCondition };
}

/** A gateway's `/readyz`: its status word and the Kubernetes condition. */
async function readyz(g: GatewayProcess): Promise<{ status: number; body: { status: string } & Conditions }> {
  const { status, body } = await g.get('/readyz');
  return { status, body: body as { status: string } & Conditions };
}

/** Wait until exactly one gateway leads; returns it and the others. */
async function leaderOf(c: Cluster, timeoutMs = 20_000): Promise<{ leader: GatewayProcess; others: GatewayProcess[] }> {
  await waitFor(() => c.gateways.some((g) => g.name === c.holder()), 'a gateway to hold the Lease', timeoutMs);
  const leader = c.gateways.find((g) => g.name === c.holder())!;
  await waitFor(
    async () => (await readyz(leader)).body.conditions.kubernetes.leading === true,
    `${leader.name} to know it leads`,
    timeoutMs,
  );
  return { leader, others: c.gateways.filter((g) => g !== leader) };
}

async function infer(gateway: GatewayProcess): Promise<{ status: number; coldStart?: string; revision?: string }> {
  const res = await request(`${gateway.url}/v2/models/iris/infer`, {
    method: 'POST',
    body: JSON.stringify(IRIS_ROW),
    headers: { 'content-type': 'application/json' },
  });
  await res.body.text();
  return {
    status: res.statusCode,
    coldStart: res.headers['sluice-cold-start'] as string | undefined,
    revision: res.headers['sluice-revision'] as string | undefined,
  };
}

/** `clients` loops of back-to-back requests through `gateway` until stopped; every status is kept. */
function load(gateway: GatewayProcess, clients: number) {
  const statuses: number[] = [];
  const errors: string[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        statuses.push((await infer(gateway)).status);
      } catch (err) {
        errors.push((err as Error).message);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  const stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  cleanups.push(stop);
  return { statuses, errors, stop };
}

async function revisionStatus(
  gateway: GatewayProcess,
): Promise<{ stableConcurrency: number; panicConcurrency: number; replicas: { desired: number; ready: number } }> {
  const { body } = await gateway.get('/api/v1/services/iris');
  return (body as ServiceJson).revisions[0]!;
}

describe('sluice gateway --configmap', () => {
  it('cold start: a request held at zero scales the Deployment, the kubelet starts a pod, the request is answered; SIGTERM hands the Lease back', async () => {
    const c = await cluster(['gw-a'], { leaseDurationSeconds: 3 });
    const [gw] = c.gateways;
    const { leader } = await leaderOf(c);
    expect(leader).toBe(gw);
    expect(c.specReplicas()).toBe(0);

    const answer = await infer(gw!);
    expect(answer.status).toBe(200);
    expect(answer.revision).toBe(DEPLOYMENT);
    expect(Number(answer.coldStart)).toBeGreaterThan(0);
    const writes = c.scaleWrites('gw-a');
    expect(writes.length).toBeGreaterThanOrEqual(1);
    expect(writes[0]).toMatchObject({ status: 200, body: { spec: { replicas: 1 } } });
    expect(c.specReplicas()).toBeGreaterThanOrEqual(1);
    expect(c.kubelet.pods(MODELS, DEPLOYMENT).length).toBeGreaterThanOrEqual(1);

    // The service status and /readyz carry the Kubernetes condition.
    const body = (await gw!.get('/api/v1/services/iris')).body as Conditions;
    expect(body.conditions.kubernetes).toMatchObject({ apiReachable: true, identity: 'gw-a', leading: true, leader: 'gw-a' });
    expect(Date.parse(body.conditions.kubernetes.since!)).not.toBeNaN();
    const ready = await gw!.get('/readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', conditions: { kubernetes: { apiReachable: true } } } });

    // An orderly stop releases the Lease, so another replica need not wait for it to expire.
    expect(await gw!.stop('SIGTERM')).toBe(0);
    expect(c.holder()).toBe('');
  }, 60_000);

  it("two gateways, one leader: it decides on the sum of both replicas' load; the other only activates", async () => {
    const c = await cluster(['gw-a', 'gw-b'], { leaseDurationSeconds: 10 });
    const { leader, others } = await leaderOf(c);
    const follower = others[0]!;
    await waitFor(async () => (await readyz(follower)).body.conditions.kubernetes.leader === leader.name, 'the follower to see who leads');
    expect((await readyz(follower)).body.conditions.kubernetes).toMatchObject({ leading: false, identity: follower.name });

    // Two clients on each gateway, 250 ms per request: each replica alone never has more than 2 in
    // flight, so a leader deciding on its own share would want at most 2 pods (target 1 per pod).
    const onLeader = load(leader, 2);
    const onFollower = load(follower, 2);
    // The stable window (6 s) reads the peers' seconds; the freshest second, which the 1 s panic
    // window reads, often has only the leader's own count yet (peers report completed seconds).
    await waitFor(
      async () => (await revisionStatus(leader)).stableConcurrency > 2.2,
      'the leader to see more than its own 2 in flight (peer stats added)',
      30_000,
    );
    await waitFor(() => c.specReplicas() >= 3, 'the leader to scale to 3 or more on the sum', 30_000);
    expect((await revisionStatus(follower)).stableConcurrency).toBeLessThanOrEqual(2);
    await onLeader.stop();
    await onFollower.stop();
    expect([...onLeader.statuses, ...onFollower.statuses].every((s) => s === 200)).toBe(true);

    // Scale decisions (merge PATCH) came from the leader alone; the follower wrote at most the
    // guarded 0 → N activation (PUT with a resourceVersion precondition).
    expect(c.scaleWrites(leader.name).filter((r) => r.method === 'PATCH' && r.status === 200).length).toBeGreaterThanOrEqual(1);
    const followerWrites = c.scaleWrites(follower.name);
    expect(followerWrites.filter((r) => r.method === 'PATCH')).toEqual([]);
    for (const put of followerWrites)
      expect((put.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toMatch(/^\d+$/);
    // The leader read the follower's stats with the admin token (a 401 would have left the sum at 2).
    expect(c.holder()).toBe(leader.name);
  }, 90_000);

  it('the leader SIGKILLed: the other takes the Lease within the lease duration (plus a retry) and starts deciding', async () => {
    const LEASE_S = 3;
    const c = await cluster(['gw-a', 'gw-b'], { leaseDurationSeconds: LEASE_S });
    const { leader, others } = await leaderOf(c);
    const survivor = others[0]!;
    const traffic = load(survivor, 2);
    await waitFor(() => c.readyPods() >= 1, 'a ready pod', 30_000);

    await leader.stop('SIGKILL');
    const killedAt = Date.now();
    c.peerGone(leader.name);
    await waitFor(() => c.holder() === survivor.name, `${survivor.name} to take the Lease`, 30_000);
    const takeoverMs = Date.now() - killedAt;
    // Expired 3 s after the last renewal seen, taken on the next attempt (a retry period, 1 s + 20 %
    // jitter); a wide margin for a busy machine, still well short of "never".
    expect(takeoverMs).toBeLessThan((LEASE_S + 1.2) * 1000 + 8000);
    await waitFor(async () => (await readyz(survivor)).body.conditions.kubernetes.leading === true, 'the survivor to know it leads');

    // It decides now: more load on it → it patches the Deployment up.
    const since = Date.now();
    const more = load(survivor, 2);
    await waitFor(
      () => c.scaleWrites(survivor.name).some((r) => r.method === 'PATCH' && r.status === 200 && r.at >= since),
      'a scale decision (PATCH) from the new leader',
      30_000,
    );
    await waitFor(() => c.specReplicas() >= 3, 'the new leader to scale to its 4 clients', 30_000);
    await more.stop();
    await traffic.stop();
    expect([...traffic.statuses, ...more.statuses].every((s) => s === 200)).toBe(true);
  }, 90_000);

  it('the API server stopped: warm traffic flows on and /readyz stays 200 showing apiReachable false; back: it recovers and scale changes flow again', async () => {
    const c = await cluster(['gw-a'], { leaseDurationSeconds: 3 });
    const [gw] = c.gateways;
    await leaderOf(c);
    const warm = load(gw!, 2);
    await waitFor(() => c.readyPods() >= 1 && warm.statuses.filter((s) => s === 200).length >= 5, 'warm traffic', 30_000);

    await c.fake.stop();
    const before = warm.statuses.length;
    await waitFor(
      async () => (await readyz(gw!)).body.conditions.kubernetes.apiReachable === false,
      'the outage to show in /readyz',
      20_000,
    );
    const during = await readyz(gw!);
    expect(during.status).toBe(200);
    expect(during.body.status).toBe('ready');
    expect(Date.parse(during.body.conditions.kubernetes.since!)).not.toBeNaN();
    expect(during.body.conditions.kubernetes.lastError).toBeTypeOf('string');
    // A few seconds of traffic with the API server away: every request still answered.
    await new Promise((r) => setTimeout(r, 4000));
    const inOutage = warm.statuses.slice(before);
    expect(inOutage.length).toBeGreaterThan(10);
    expect(inOutage.every((s) => s === 200)).toBe(true);
    expect(warm.errors).toEqual([]);

    await c.fake.start();
    const restartedAt = Date.now();
    await waitFor(
      async () => (await readyz(gw!)).body.conditions.kubernetes.apiReachable === true,
      'the recovery to show in /readyz',
      45_000,
    );
    await waitFor(async () => (await readyz(gw!)).body.conditions.kubernetes.leading === true, 'leading again', 20_000);

    // A scale change flows again: the traffic stops, the revision goes down to zero.
    await warm.stop();
    expect(warm.statuses.every((s) => s === 200)).toBe(true);
    await waitFor(() => c.specReplicas() === 0, 'the Deployment scaled to zero after the grace', 45_000);
    expect(c.scaleWrites('gw-a').some((r) => r.method === 'PATCH' && r.status === 200 && r.at >= restartedAt)).toBe(true);
    await waitFor(() => c.kubelet.pods(MODELS, DEPLOYMENT).length === 0, 'the pods gone', 20_000);
  }, 120_000);

  it("traffic changes through the admin API are written back to the ConfigMap: a 409 is retried, two replicas writing at once both land, each sees the other's", async () => {
    const c = await cluster(['gw-a', 'gw-b'], { leaseDurationSeconds: 10, extraServices: STATIC_SERVICES });
    const [a, b] = c.gateways as [GatewayProcess, GatewayProcess];
    const text = () => (c.fake.store.get(CONFIG_MAPS, SYSTEM, CM).data as Record<string, string>)['sluice.yaml']!;
    const percents = async (g: GatewayProcess, service: string) =>
      ((await g.get(`/api/v1/services/${service}`)).body as ServiceJson).revisions.map((r) => r.percent);

    c.fake.failNext({ method: 'PUT', path: CM_PATH, code: 409, reason: 'Conflict' });
    const res = await a.put('/api/v1/services/shop/traffic', {
      traffic: [
        { revision: 'shop-1', percent: 50 },
        { revision: 'shop-2', percent: 50 },
      ],
    });
    expect(res.status).toBe(200);
    expect(c.fake.requests({ method: 'PUT', path: CM_PATH, user: 'gw-a' }).map((r) => r.status)).toEqual([409, 200]);
    expect(parseConfigText(text()).services[1]!.traffic.map((t) => t.percent)).toEqual([50, 50]);
    expect(text()).toContain('# Kubernetes mode test config.');
    expect(await percents(a, 'shop')).toEqual([50, 50]);
    await waitFor(async () => (await percents(b, 'shop')).join() === '50,50', 'the other replica to pick the change up from its watch');
    // The writer's own change is not reloaded as a foreign one; the other replica reloads it.
    expect(a.logs.filter((l) => l.msg === 'config reloaded')).toEqual([]);
    expect(b.logs.filter((l) => l.msg === 'config reloaded').length).toBeGreaterThanOrEqual(1);

    const [ra, rb] = await Promise.all([
      a.put('/api/v1/services/shop/traffic', {
        traffic: [
          { revision: 'shop-1', percent: 0 },
          { revision: 'shop-2', percent: 100 },
        ],
      }),
      b.put('/api/v1/services/blog/traffic', {
        traffic: [
          { revision: 'blog-1', percent: 30 },
          { revision: 'blog-2', percent: 70 },
        ],
      }),
    ]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const final = parseConfigText(text());
    expect(final.services.find((s) => s.name === 'shop')!.traffic.map((t) => t.percent)).toEqual([0, 100]);
    expect(final.services.find((s) => s.name === 'blog')!.traffic.map((t) => t.percent)).toEqual([30, 70]);
    for (const g of [a, b]) {
      await waitFor(
        async () => (await percents(g, 'shop')).join() === '0,100' && (await percents(g, 'blog')).join() === '30,70',
        `${g.name} to show both changes`,
      );
    }
  }, 60_000);
});

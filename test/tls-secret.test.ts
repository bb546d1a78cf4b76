/**
 * TLS certificates from `kubernetes.io/tls` Secrets (Kubernetes mode), read and watched through the
 * fake API server with the real client: served by SNI beside a certificate from files, replaced when
 * the Secret changes, a bad new version refused with the one in use kept, a missing one failing the start.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fingerprint, makeCa, served, type Leaf, type TestCa } from './support/certificates.js';
import { FakeKubeServer, SECRETS, kubeconfigYaml, tlsSecretManifest } from './support/fake-kube/index.js';
import { startGateway, until, type TestGateway } from './support/harness.js';

vi.setConfig({ testTimeout: 30_000 });

let ca: TestCa;
let a: Leaf;
let b: Leaf;
let fake: FakeKubeServer;
let kubeConfig: KubeConfig;

beforeAll(async () => {
  ca = makeCa();
  a = ca.leaf('a', { cn: 'a.example.test', dns: ['a.example.test'] });
  b = ca.leaf('b', { cn: 'b.example.test', dns: ['b.example.test'] });
  fake = await FakeKubeServer.start();
  const file = join(ca.dir, 'kubeconfig');
  writeFileSync(file, kubeconfigYaml(fake.url, 'models'), { mode: 0o600 });
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(file);
});

afterAll(async () => {
  await fake.close();
  ca.close();
});

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  for (const s of fake.store.list(SECRETS, undefined).items) fake.store.delete(SECRETS, s.metadata.namespace!, s.metadata.name);
});

/** A config in Kubernetes mode with one decider and no peers, and the given certificates. */
const yaml = `kubernetes:\n  namespace: models\n  leaderElection:\n    enabled: false\nservices: []\n`;

describe('certificates from Secrets', () => {
  it('a Secret in the default namespace and one named NAMESPACE/NAME are served by SNI, beside files', async () => {
    fake.store.create(SECRETS, 'models', tlsSecretManifest('a-tls', a));
    fake.store.create(SECRETS, 'edge', tlsSecretManifest('b-tls', b));
    const wild = ca.leaf('wild', { cn: 'wild', dns: ['*.wild.example.test'] });
    gw = await startGateway(yaml, {
      kubeConfig,
      tls: { certificates: [{ secret: 'a-tls' }, { secret: 'edge/b-tls' }, { certFile: wild.certFile, keyFile: wild.keyFile }] },
    });
    expect((await served(gw.tlsPort!, ca.ca, 'a.example.test')).fingerprint256).toBe(fingerprint(a));
    expect((await served(gw.tlsPort!, ca.ca, 'b.example.test')).fingerprint256).toBe(fingerprint(b));
    expect((await served(gw.tlsPort!, ca.ca, 'x.wild.example.test')).fingerprint256).toBe(fingerprint(wild));
    expect((await served(gw.tlsPort!, ca.ca)).fingerprint256).toBe(fingerprint(a));
  });

  it('a changed Secret is served on the next handshake; a bad new version is refused, the one in use kept', async () => {
    fake.store.create(SECRETS, 'models', tlsSecretManifest('a-tls', a));
    const lines: { level: number; msg: string; why?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
    gw = await startGateway(yaml, { kubeConfig, logger, tls: { certificates: [{ secret: 'a-tls' }] } });
    const port = gw.tlsPort!;

    const next = ca.leaf('a-next', { cn: 'a.example.test', dns: ['a.example.test'] });
    fake.store.update(SECRETS, 'models', 'a-tls', tlsSecretManifest('a-tls', next));
    await until(async () => (await served(port, ca.ca, 'a.example.test')).fingerprint256 === fingerprint(next), 'the new Secret version');
    expect(
      lines.some(
        (l) => l.msg.startsWith('TLS certificate loaded for a.example.test from Secret models/a-tls') && l.why === 'secret change',
      ),
    ).toBe(true);

    // A certificate with another's key.
    fake.store.update(SECRETS, 'models', 'a-tls', tlsSecretManifest('a-tls', { cert: b.cert, key: next.key }));
    await until(() => lines.some((l) => l.level === 50), 'the refusal');
    expect(lines.find((l) => l.level === 50)!.msg).toBe(
      'TLS certificate refused, keeping the one in use: Secret models/a-tls: the key does not belong to the certificate (CN=b.example.test)',
    );
    expect((await served(port, ca.ca, 'a.example.test')).fingerprint256).toBe(fingerprint(next));

    // Deleted: refused as well, still served.
    fake.store.delete(SECRETS, 'models', 'a-tls');
    await until(() => lines.filter((l) => l.level === 50).length === 2, 'the second refusal');
    expect(lines.filter((l) => l.level === 50)[1]!.msg).toBe(
      'TLS certificate refused, keeping the one in use: Secret models/a-tls: not found',
    );
    expect((await served(port, ca.ca, 'a.example.test')).fingerprint256).toBe(fingerprint(next));

    // Stopping the gateway ends its watch of the Secret.
    expect(fake.requests({ path: '/api/v1/namespaces/models/secrets' }).some((r) => r.watch)).toBe(true);
    await gw.close();
    gw = undefined;
    await until(() => fake.openWatches === 0, 'no watch left open');
  });

  it('a missing Secret, or one without tls.key, fails the start with exit code 2 naming it', async () => {
    await expect(startGateway(yaml, { kubeConfig, tls: { certificates: [{ secret: 'edge/nothing' }] } })).rejects.toMatchObject({
      name: 'StartFailure',
      exitCode: 2,
      message: 'tls.certificates[0]: Secret edge/nothing: not found',
    });
    fake.store.create(SECRETS, 'models', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'half' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': a.cert.toString('base64') },
    });
    await expect(startGateway(yaml, { kubeConfig, tls: { certificates: [{ secret: 'half' }] } })).rejects.toMatchObject({
      exitCode: 2,
      message: 'tls.certificates[0]: Secret models/half key tls.key: missing from the Secret’s data',
    });
  });

  it('outside Kubernetes mode a Secret certificate fails the start naming the field', async () => {
    await expect(startGateway('services: []\n', { tls: { certificates: [{ secret: 'a-tls' }] } })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/^tls\.certificates\[0\]\.secret: a Secret is read through the Kubernetes API/) as string,
    });
  });
});

/**
 * A Kubernetes revision's protocol from its Service port: the pure mapping (appProtocol, then the
 * port's name) and the port choice as tables, then the fake API server with the real client — at
 * start through the gateway, and on each config the wrapped source hands out.
 */
import type { KubeConfig, V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load.js';
import { MemoryConfigSource } from '../src/config/memory-source.js';
import type { ConfigChange } from '../src/config/source.js';
import { ConfigError } from '../src/errors.js';
import { portProtocol, servicePort } from '../src/kube/port-protocol.js';
import { ServiceProtocols } from '../src/kube/service-protocols.js';
import { FakeKubeServer, loadKubeConfig, SERVICES } from './support/fake-kube/index.js';
import { startGateway, until, type TestGateway } from './support/harness.js';

describe('portProtocol: appProtocol first, then the name', () => {
  it.each([
    { label: 'appProtocol kubernetes.io/h2c', port: { name: 'http', appProtocol: 'kubernetes.io/h2c' }, want: 'h2c' },
    { label: 'appProtocol grpc', port: { appProtocol: 'grpc' }, want: 'h2c' },
    { label: 'appProtocol h2c, any case', port: { appProtocol: 'H2C' }, want: 'h2c' },
    { label: 'appProtocol http wins over a grpc name', port: { name: 'grpc', appProtocol: 'http' }, want: 'http1' },
    { label: 'appProtocol kubernetes.io/ws', port: { appProtocol: 'kubernetes.io/ws' }, want: 'http1' },
    { label: 'appProtocol https: TLS only the config can set up', port: { name: 'https', appProtocol: 'https' }, want: undefined },
    { label: 'an unknown appProtocol falls back to the name', port: { name: 'grpc', appProtocol: 'example.com/custom' }, want: 'h2c' },
    { label: 'KServe gRPC port name h2c', port: { name: 'h2c' }, want: 'h2c' },
    { label: 'name grpc', port: { name: 'grpc' }, want: 'h2c' },
    { label: 'name grpc-predictor', port: { name: 'grpc-predictor' }, want: 'h2c' },
    { label: 'name h2c-port', port: { name: 'h2c-port' }, want: 'h2c' },
    { label: 'name http2', port: { name: 'http2' }, want: 'h2c' },
    { label: 'name http', port: { name: 'http' }, want: undefined },
    { label: 'name grpcweb is not grpc', port: { name: 'grpcweb' }, want: undefined },
    { label: 'name my-grpc does not start with grpc', port: { name: 'my-grpc' }, want: undefined },
    { label: 'no name, no appProtocol', port: {}, want: undefined },
  ])('$label', ({ port, want }) => {
    expect(portProtocol(port)).toBe(want);
  });
});

function service(ports: NonNullable<V1Service['spec']>['ports']): V1Service {
  return { spec: { ports } };
}

describe('servicePort: the port a revision uses', () => {
  const two = service([
    { name: 'http', port: 80, targetPort: 8080 },
    { name: 'h2c', port: 81, targetPort: 8081 },
  ]);
  it.each([
    { label: 'by portName', svc: two, choice: { portName: 'h2c' }, wantName: 'h2c' },
    { label: 'by pod port (targetPort)', svc: two, choice: { port: 8081, portName: 'http' }, wantName: 'h2c' },
    { label: 'a pod port no Service port targets', svc: two, choice: { port: 9000, portName: 'http' }, wantName: undefined },
    { label: 'a name the Service lacks', svc: two, choice: { portName: 'grpc' }, wantName: undefined },
    { label: 'a single unnamed port', svc: service([{ port: 80 }]), choice: { portName: 'http' }, wantPort: 80 },
    { label: 'no ports', svc: service(undefined), choice: { portName: 'http' }, wantName: undefined },
  ])('$label', ({ svc, choice, wantName, wantPort }) => {
    const port = servicePort(svc, choice);
    if (wantPort !== undefined) expect(port?.port).toBe(wantPort);
    else expect(port?.name).toBe(wantName);
  });
});

describe('Service ports through the fake API server', () => {
  let fake: FakeKubeServer;
  let kubeConfig: KubeConfig;
  let gw: TestGateway | undefined;

  beforeAll(async () => {
    fake = await FakeKubeServer.start();
    kubeConfig = await loadKubeConfig(fake.url, 'models');
    const svc = (name: string, ports: object[]) =>
      fake.store.create(SERVICES, 'models', { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports } });
    svc('iris-grpc-predictor', [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'h2c', port: 81, targetPort: 8081 },
    ]);
    svc('iris-app', [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'kubernetes.io/h2c' }]);
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  const revision = (name: string, service: string, extra: string) => `
      - name: ${name}
        backend: kubernetes
        deployment: ${name}
        service: ${service}
${extra}`;

  const yaml = `kubernetes:
  namespace: models
  leaderElection:
    enabled: false
services:
  - name: iris
    match: { hosts: [iris.test] }
    revisions:${revision('by-name', 'iris-grpc-predictor', '        portName: h2c')}${revision('by-app-protocol', 'iris-app', '')}${revision(
      'rest-port',
      'iris-grpc-predictor',
      '        portName: http',
    )}${revision('declared', 'iris-grpc-predictor', '        portName: h2c\n        protocol: http1')}${revision('no-service', 'nothing-here', '')}
    traffic:
      - revision: by-name
        percent: 100
`;

  it('the gateway starts with each revision speaking what its Service port declares, unless the config says', async () => {
    gw = await startGateway(yaml, { kubeConfig });
    const protocolOf = (name: string) => gw!.revision('iris', name).spec.protocol;
    expect(protocolOf('by-name')).toBe('h2c');
    expect(protocolOf('by-app-protocol')).toBe('h2c');
    expect(protocolOf('rest-port')).toBe('http1');
    expect(protocolOf('declared')).toBe('http1');
    expect(protocolOf('no-service')).toBe('http1');
  });

  it('every config the wrapped source hands out is resolved: load and a traffic change', async () => {
    const protocols = new ServiceProtocols({ kubeConfig, namespace: 'models', logger: pino({ level: 'silent' }) });
    const source = protocols.wrap(new MemoryConfigSource(yaml));
    const loaded = await source.load();
    expect(loaded.services[0]!.revisions.map((r) => [r.name, r.protocol])).toEqual([
      ['by-name', 'h2c'],
      ['by-app-protocol', 'h2c'],
      ['rest-port', 'http1'],
      ['declared', 'http1'],
      ['no-service', 'http1'],
    ]);
    const changed = await source.updateTraffic('iris', [{ revision: 'by-app-protocol', percent: 100 }]);
    expect(changed.services[0]!.revisions.find((r) => r.name === 'by-app-protocol')!.protocol).toBe('h2c');
    source.close();
  });

  it('watched changes arrive resolved and in the order they came; a rejected one passes through', async () => {
    const protocols = new ServiceProtocols({ kubeConfig, namespace: 'models', logger: pino({ level: 'silent' }) });
    let emit: ((change: ConfigChange) => void) | undefined;
    const inner = new MemoryConfigSource(yaml);
    const source = protocols.wrap({
      ...inner,
      description: 'test',
      load: () => inner.load(),
      watch: (fn) => (emit = fn),
      close: () => {},
      updateTraffic: (s, t) => inner.updateTraffic(s, t),
    });
    const seen: ConfigChange[] = [];
    source.watch((change) => seen.push(change));
    const error = new ConfigError(['services: bad']);
    emit!({ config: parseConfigText(yaml) });
    emit!({ error });
    emit!({ config: parseConfigText(yaml.replace('portName: h2c\n        protocol: http1', 'portName: h2c')) });
    await until(() => seen.length === 3, 'three changes');
    expect(seen[0]!.config!.services[0]!.revisions[0]!.protocol).toBe('h2c');
    expect(seen[1]!.error).toBe(error);
    // The third no longer declares `declared`'s protocol: its Service port (h2c) decides now.
    expect(seen[2]!.config!.services[0]!.revisions.find((r) => r.name === 'declared')!.protocol).toBe('h2c');
  });
});

/**
 * Every YAML file under deploy/kubernetes/ and deploy/kserve/, checked without a cluster:
 * - each Kubernetes object validates against the OpenAPI schema of its kind (kubernetes-models),
 *   and carries no field its kind does not have (the check `kubectl apply --validate=strict` makes
 *   on the server; the field lists come from @kubernetes/client-node's models);
 * - KServe InferenceServices, which neither library covers, are checked by hand;
 * - every kustomization's resources and patches exist;
 * - pods run non-root on a read-only root filesystem; RBAC grants exactly what the gateway needs,
 *   with no wildcards;
 * - the Sluice config inside each ConfigMap has the expected shape (checked here by hand: this file
 *   does not depend on the config parser).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as clientNode from '@kubernetes/client-node';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ANNOTATION_KEYS } from '../src/config/annotations.js';
import { AUTOSCALER_KEYS } from '../src/config/autoscaler-defaults.js';
import { portProtocol } from '../src/kube/port-protocol.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOTS = ['deploy/kubernetes', 'deploy/kserve'];

// ---------------------------------------------------------------------------------------------
// Kinds: apiVersion/kind → the schema to validate against and the client-node model that lists
// the kind's fields. An object of any other kind fails the test.

interface Validatable {
  validate(): void;
}
interface Kind {
  model: new (data: never) => Validatable;
  /** @kubernetes/client-node model class whose attribute map lists the kind's fields. */
  fields: string;
}

const KINDS: Record<string, Kind> = {
  'v1/Namespace': { model: Namespace, fields: 'V1Namespace' },
  'v1/ServiceAccount': { model: ServiceAccount, fields: 'V1ServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, fields: 'V1ConfigMap' },
  'v1/Secret': { model: Secret, fields: 'V1Secret' },
  'v1/Service': { model: Service, fields: 'V1Service' },
  'apps/v1/Deployment': { model: Deployment, fields: 'V1Deployment' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, fields: 'V1PodDisruptionBudget' },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, fields: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, fields: 'V1RoleBinding' },
};

/** Custom resources neither library has a schema for; each gets its own checks below. */
const CUSTOM_KINDS = new Set(['serving.kserve.io/v1beta1/InferenceService', 'monitoring.coreos.com/v1/PodMonitor']);

const kindKey = (o: K8sObject): string => `${o.apiVersion}/${o.kind}`;

// ---------------------------------------------------------------------------------------------
// Loading.

/** A manifest as parsed (YAML, checked by the tests below): each kind is read through its type in Kinds. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: clientNode.V1ObjectMeta & { name: string };
}

/** The part of a KServe InferenceService checked here: its predictor is a pod spec with replica bounds. */
interface InferenceService extends K8sObject {
  spec: { predictor: clientNode.V1PodSpec & { minReplicas?: number; canaryTrafficPercent?: number } };
}

/** The part of a Prometheus Operator PodMonitor checked here. */
interface PodMonitor extends K8sObject {
  spec: {
    jobLabel?: string;
    selector: clientNode.V1LabelSelector;
    podMetricsEndpoints: Array<{
      port: string;
      path: string;
      scheme?: string;
      interval?: string;
      authorization?: { type: string; credentials: { name: string; key: string } };
    }>;
  };
}

/** Each kind read below, as client-node types it. */
interface Kinds {
  PodMonitor: PodMonitor;
  ConfigMap: clientNode.V1ConfigMap;
  Deployment: clientNode.V1Deployment;
  InferenceService: InferenceService;
  PodDisruptionBudget: clientNode.V1PodDisruptionBudget;
  Role: clientNode.V1Role;
  RoleBinding: clientNode.V1RoleBinding;
  Service: clientNode.V1Service;
  ServiceAccount: clientNode.V1ServiceAccount;
}
type Manifest<K extends keyof Kinds> = Kinds[K] & K8sObject;

interface Doc<T extends K8sObject = K8sObject> {
  file: string;
  index: number;
  object: T;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.ya?ml$/.test(name) ? [path] : [];
    });
}

function loadDocs(path: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const objects: K8sObject[] = [];
  for (const doc of list) {
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
    if (problems.length > 0) throw new Error(`${rel(path)}: ${problems.join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

const rel = (path: string): string => relative(REPO, path);

const FILES = ROOTS.flatMap((root) => yamlFiles(join(REPO, root)));
const KUSTOMIZATIONS = FILES.filter((f) => basename(f) === 'kustomization.yaml');

interface Kustomization {
  apiVersion: string;
  kind: string;
  namespace?: string;
  resources?: string[];
  patches?: { path?: string; patch?: string; target?: Record<string, string> }[];
}

const kustomizations = new Map(KUSTOMIZATIONS.map((f) => [f, loadDocs(f)[0] as unknown as Kustomization]));

/** Files a kustomization applies as patches: partial objects, checked for known fields only. */
const PATCH_FILES = new Set(
  [...kustomizations].flatMap(([file, k]) => (k.patches ?? []).flatMap((p) => (p.path ? [resolve(dirname(file), p.path)] : []))),
);

const MANIFEST_FILES = FILES.filter((f) => !kustomizations.has(f) && !PATCH_FILES.has(f));

const docsOf = (files: string[]): Doc[] =>
  files.flatMap((file) => loadDocs(file).map((object, index) => ({ file: rel(file), index, object })));

const DOCS = docsOf(MANIFEST_FILES);
const PATCH_DOCS = docsOf([...PATCH_FILES]);

const label = (d: Doc): string => `${d.file}#${d.index} ${d.object.kind}/${d.object.metadata?.name}`;
const isKind =
  <K extends keyof Kinds>(kind: K) =>
  (d: Doc): d is Doc<Manifest<K>> =>
    d.object.kind === kind;
const ofKind = <K extends keyof Kinds>(kind: K): Doc<Manifest<K>>[] => DOCS.filter(isKind(kind));
const named = <K extends keyof Kinds>(kind: K, name: string, namespace?: string): Manifest<K> => {
  const found = ofKind(kind).find(
    (d) => d.object.metadata.name === name && (namespace === undefined || d.object.metadata.namespace === namespace),
  );
  if (!found) throw new Error(`no ${kind} ${namespace ?? '*'}/${name} under ${ROOTS.join(', ')}`);
  return found.object;
};

/** Objects a kustomization directory renders (its resources, recursively), before patches. */
function kustomizeResources(dir: string): K8sObject[] {
  const k = kustomizations.get(join(dir, 'kustomization.yaml'));
  if (!k) throw new Error(`${rel(dir)}: no kustomization.yaml`);
  return (k.resources ?? []).flatMap((r) => {
    const path = resolve(dir, r);
    return statSync(path).isDirectory() ? kustomizeResources(path) : loadDocs(path);
  });
}

// ---------------------------------------------------------------------------------------------
// Unknown fields: walk an object along client-node's attribute maps.

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };
const MODELS = clientNode as unknown as Record<string, ModelClass | undefined>;

/**
 * Paths of fields that `type` does not have, e.g. `spec.template.spec.containers[0].imagee`.
 * Types are client-node's: `V1Deployment`, `Array<V1Container>`, `{ [key: string]: string; }`;
 * anything else (string, number, IntOrString, Date) is a leaf.
 */
function unknownFields(value: unknown, type: string, path: string, out: string[] = []): string[] {
  if (value === null || value === undefined) return out;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`, out));
    return out;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) unknownFields(v, map[1]!, `${path}.${k}`, out);
    return out;
  }
  const model = MODELS[type];
  if (typeof model?.getAttributeTypeMap !== 'function' || typeof value !== 'object' || Array.isArray(value)) return out;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = fields.get(k);
    if (t === undefined) out.push(path ? `${path}.${k}` : k);
    else unknownFields(v, t, path ? `${path}.${k}` : k, out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('the files', () => {
  it('are found (both roots hold manifests and kustomizations)', () => {
    for (const root of ROOTS)
      expect(
        FILES.some((f) => rel(f).startsWith(root + '/')),
        root,
      ).toBe(true);
    expect(KUSTOMIZATIONS.length).toBeGreaterThanOrEqual(3);
    expect(DOCS.length).toBeGreaterThanOrEqual(15);
  });

  it.each(FILES.map((f) => [rel(f), f]))('%s parses as YAML, every document an object with apiVersion and kind', (_, file) => {
    const objects = loadDocs(file);
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      expect(typeof o.apiVersion, 'apiVersion').toBe('string');
      expect(typeof o.kind, 'kind').toBe('string');
    }
  });
});

describe('each Kubernetes object validates against its kind', () => {
  const objects = DOCS.filter((d) => !CUSTOM_KINDS.has(kindKey(d.object)));

  it.each(objects.map((d) => [label(d), d]))('%s', (_, d) => {
    const kind = KINDS[kindKey(d.object)];
    expect(kind, `unknown kind ${kindKey(d.object)}: add it to KINDS`).toBeDefined();
    expect(d.object.metadata?.name, 'metadata.name').toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(() => new kind!.model(d.object as never).validate()).not.toThrow();
    expect(unknownFields(d.object, kind!.fields, '')).toEqual([]);
  });

  it('every namespaced object names its namespace (kustomizations set none)', () => {
    for (const d of objects.filter((x) => x.object.kind !== 'Namespace')) {
      expect(d.object.metadata.namespace, label(d)).toMatch(/^[a-z0-9-]+$/);
    }
  });
});

describe('kustomize patches', () => {
  it.each(PATCH_DOCS.map((d) => [label(d), d]))('%s: a known kind with no unknown fields', (_, d) => {
    const kind = KINDS[kindKey(d.object)];
    expect(kind, `unknown kind ${kindKey(d.object)}`).toBeDefined();
    expect(unknownFields(d.object, kind!.fields, '')).toEqual([]);
  });
});

describe('kustomizations', () => {
  it.each(KUSTOMIZATIONS.map((f) => [rel(f), f]))('%s: resources and patches exist', (_, file) => {
    const k = kustomizations.get(file)!;
    expect(k.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
    expect(k.kind).toBe('Kustomization');
    expect(k.namespace, 'a top-level namespace would move the models Role').toBeUndefined();
    expect(k.resources?.length ?? 0).toBeGreaterThan(0);
    for (const r of k.resources ?? []) {
      const path = resolve(dirname(file), r);
      expect(() => statSync(path), `${r} (from ${rel(file)})`).not.toThrow();
      if (statSync(path).isDirectory()) expect(() => statSync(join(path, 'kustomization.yaml')), `${r}/kustomization.yaml`).not.toThrow();
    }
    for (const p of k.patches ?? []) {
      expect(p.path !== undefined || p.patch !== undefined, 'a patch needs path or patch').toBe(true);
      if (p.path) expect(() => statSync(resolve(dirname(file), p.path!)), p.path).not.toThrow();
    }
  });

  it.each(KUSTOMIZATIONS.map((f) => [rel(f), dirname(f)]))('%s ships no Secret (the admin token is created by hand)', (_, dir) => {
    expect(kustomizeResources(dir).filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('the base holds the whole gateway', () => {
    const kinds = kustomizeResources(join(REPO, 'deploy/kubernetes/base'))
      .map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)
      .sort();
    expect(kinds).toEqual([
      'ConfigMap/sluice-system/sluice-config',
      'Deployment/sluice-system/sluice',
      'Namespace//sluice-system',
      'PodDisruptionBudget/sluice-system/sluice',
      'Role/models/sluice-scaler',
      'Role/sluice-system/sluice-gateway',
      'RoleBinding/models/sluice-scaler',
      'RoleBinding/sluice-system/sluice-gateway',
      'Service/sluice-system/sluice',
      'Service/sluice-system/sluice-peers',
      'ServiceAccount/sluice-system/sluice',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Pods: every container of every Deployment and InferenceService predictor.

interface PodSpecAt {
  at: string;
  pod: clientNode.V1PodSpec;
}

const POD_SPECS: PodSpecAt[] = [
  ...ofKind('Deployment').map((d) => ({ at: label(d), pod: d.object.spec!.template.spec! })),
  ...ofKind('InferenceService').map((d) => ({ at: label(d), pod: d.object.spec.predictor })),
];

describe('pods run non-root with a read-only root filesystem', () => {
  it.each(
    POD_SPECS.flatMap((p) =>
      p.pod.containers.map((c): [string, clientNode.V1PodSpec, clientNode.V1Container] => [`${p.at} container ${c.name}`, p.pod, c]),
    ),
  )('%s', (_, pod, c) => {
    const sc = { ...pod.securityContext, ...c.securityContext };
    expect(sc.runAsNonRoot, 'runAsNonRoot').toBe(true);
    expect(sc.runAsUser, 'runAsUser: numeric and not root').toBeGreaterThan(0);
    expect(sc.allowPrivilegeEscalation, 'allowPrivilegeEscalation').toBe(false);
    expect(sc.readOnlyRootFilesystem, 'readOnlyRootFilesystem').toBe(true);
    expect(sc.capabilities?.drop, 'capabilities.drop').toEqual(['ALL']);
    expect(sc.privileged ?? false, 'privileged').toBe(false);
  });
});

describe('the gateway Deployment', () => {
  const dep = named('Deployment', 'sluice', 'sluice-system');
  const pod = dep.spec!.template.spec!;
  const c = pod.containers[0]!;
  const port = (name: string): number | undefined => c.ports!.find((p) => p.name === name)?.containerPort;
  const env = (name: string): clientNode.V1EnvVar | undefined => c.env!.find((e) => e.name === name);

  it('runs 2 replicas of one container, as the sluice ServiceAccount', () => {
    expect(dep.spec!.replicas).toBe(2);
    expect(pod.containers).toHaveLength(1);
    expect(pod.serviceAccountName).toBe('sluice');
    expect(c.image).toBe('ghcr.io/sluice-gateway/sluice:0.1.0');
  });

  it('has the pod-level security context: uid 10001, RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext!.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('runs `gateway` with the config from the ConfigMap through the API, data port 8080 and admin port 8081 on all interfaces', () => {
    expect(c.args).toEqual([
      'gateway',
      '--configmap',
      'sluice-system/sluice-config',
      '--listen',
      '0.0.0.0:8080',
      '--admin',
      '0.0.0.0:8081',
    ]);
    expect(port('http')).toBe(8080);
    expect(port('admin')).toBe(8081);
  });

  it('mounts no ConfigMap (the config comes through the API, a mount would lag) and an emptyDir at /tmp', () => {
    const mount = (path: string) => c.volumeMounts!.find((m) => m.mountPath === path);
    const volume = (name: string) => pod.volumes!.find((v) => v.name === name);
    expect(pod.volumes!.filter((v) => v.configMap !== undefined)).toEqual([]);
    expect(named('ConfigMap', 'sluice-config', 'sluice-system').data!['sluice.yaml']).toBeTypeOf('string');
    expect(volume(mount('/tmp')!.name)!.emptyDir).toBeDefined();
  });

  it.each([
    ['SLUICE_ADMIN_TOKEN', { secretKeyRef: { name: 'sluice-admin', key: 'token' } }],
    ['POD_NAME', { fieldRef: { fieldPath: 'metadata.name' } }],
    ['POD_NAMESPACE', { fieldRef: { fieldPath: 'metadata.namespace' } }],
    ['POD_IP', { fieldRef: { fieldPath: 'status.podIP' } }],
  ])('env %s comes from %j', (name, wantFrom) => {
    expect(env(name)?.valueFrom).toEqual(wantFrom);
  });

  it.each<['livenessProbe' | 'readinessProbe', string]>([
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ])('%s GETs %s on the admin port', (probe, path) => {
    const get = c[probe]!.httpGet!;
    expect(get.path).toBe(path);
    expect(get.port === 'admin' || get.port === 8081).toBe(true);
  });

  it('sleeps in preStop so endpoints deregister, within a 40 s grace period that leaves time to drain', () => {
    expect(pod.terminationGracePeriodSeconds).toBe(40);
    const command: string[] = c.lifecycle!.preStop!.exec!.command!;
    expect(command[0]).toBe('sleep');
    const sleepSeconds = Number(command[1]);
    expect(sleepSeconds).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds! - sleepSeconds).toBeGreaterThanOrEqual(20);
  });

  it('sets requests and limits for cpu and memory', () => {
    for (const kind of ['requests', 'limits'] as const) {
      expect(Object.keys(c.resources![kind]!).sort(), kind).toEqual(['cpu', 'memory']);
    }
  });

  it('spreads replicas: preferred anti-affinity by hostname and a topology spread constraint', () => {
    const term = pod.affinity!.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!;
    expect(term.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(term.podAffinityTerm.labelSelector!.matchLabels).toEqual(dep.spec!.selector.matchLabels);
    expect(pod.topologySpreadConstraints![0]!.labelSelector!.matchLabels).toEqual(dep.spec!.selector.matchLabels);
  });

  it('selects its own pod template', () => {
    expect(dep.spec!.template.metadata!.labels).toMatchObject(dep.spec!.selector.matchLabels!);
  });
});

describe('the gateway Services and PodDisruptionBudget', () => {
  const dep = named('Deployment', 'sluice', 'sluice-system');
  const podLabels = dep.spec!.template.metadata!.labels;
  const containerPorts = new Map(dep.spec!.template.spec!.containers[0]!.ports!.map((p) => [p.name, p.containerPort]));

  it.each<[string, number, string, boolean]>([
    // service, want port, want target port, headless
    ['sluice', 80, 'http', false],
    ['sluice-peers', 8081, 'admin', true],
  ])('%s: port %i → container port %s (headless: %s)', (name, wantPort, wantTarget, headless) => {
    const svc = named('Service', name, 'sluice-system');
    expect(podLabels).toMatchObject(svc.spec!.selector!);
    expect(svc.spec!.ports).toHaveLength(1);
    expect(svc.spec!.ports![0]).toMatchObject({ port: wantPort, targetPort: wantTarget });
    expect(containerPorts.has(wantTarget)).toBe(true);
    expect(svc.spec!.clusterIP === 'None').toBe(headless);
  });

  it('sluice-peers lists ready gateways only', () => {
    expect(named('Service', 'sluice-peers', 'sluice-system').spec!.publishNotReadyAddresses).toBe(false);
  });

  it('the PodDisruptionBudget keeps one gateway up', () => {
    const pdb = named('PodDisruptionBudget', 'sluice', 'sluice-system');
    expect(pdb.spec!.minAvailable).toBe(1);
    expect(podLabels).toMatchObject(pdb.spec!.selector!.matchLabels!);
  });
});

// ---------------------------------------------------------------------------------------------

describe('RBAC', () => {
  const roles = ofKind('Role');
  const rules = roles.flatMap((d) => d.object.rules!.map((r, i) => [`${label(d)} rules[${i}]`, r] as const));

  it('grants nothing cluster-wide', () => {
    expect(DOCS.filter((d) => /^Cluster/.test(d.object.kind)).map(label)).toEqual([]);
  });

  it.each(rules)('%s has no wildcard', (_, rule) => {
    for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames', 'nonResourceURLs'] as const) {
      for (const v of rule[field] ?? []) expect(v, field).not.toContain('*');
    }
  });

  it.each(rules)('%s restricts by name only verbs that can be restricted (not create, deletecollection)', (_, rule) => {
    if (!rule.resourceNames) return;
    expect(rule.verbs).not.toContain('create');
    expect(rule.verbs).not.toContain('deletecollection');
  });

  /** One row per (namespace, group, resource): exactly these verbs, on exactly these names. */
  const WANT: { namespace: string; group: string; resource: string; verbs: string[]; names?: string[] }[] = [
    { namespace: 'models', group: 'apps', resource: 'deployments/scale', verbs: ['get', 'patch', 'update'] },
    { namespace: 'models', group: 'apps', resource: 'deployments', verbs: ['get', 'list', 'watch'] },
    { namespace: 'models', group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
    { namespace: 'models', group: '', resource: 'services', verbs: ['get'] },
    { namespace: 'models', group: '', resource: 'pods', verbs: ['get', 'list'] },
    { namespace: 'sluice-system', group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['get', 'list', 'watch'] },
    { namespace: 'sluice-system', group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'update'], names: ['sluice-leader'] },
    { namespace: 'sluice-system', group: 'coordination.k8s.io', resource: 'leases', verbs: ['create'] },
    {
      namespace: 'sluice-system',
      group: '',
      resource: 'configmaps',
      verbs: ['get', 'list', 'patch', 'update', 'watch'],
      names: ['sluice-config'],
    },
  ];

  it('grants exactly the table, nothing more', () => {
    const got = roles.flatMap((d) =>
      d.object.rules!.flatMap((r) =>
        r.apiGroups!.flatMap((group) =>
          r.resources!.map((resource) => ({
            namespace: d.object.metadata.namespace,
            group,
            resource,
            verbs: [...r.verbs].sort(),
            ...(r.resourceNames ? { names: [...r.resourceNames].sort() } : {}),
          })),
        ),
      ),
    );
    const key = (g: object): string => JSON.stringify(g);
    expect(got.map(key).sort()).toEqual(WANT.map((w) => key({ ...w, verbs: [...w.verbs].sort() })).sort());
  });

  it.each(ofKind('RoleBinding').map((d) => [label(d), d]))(
    '%s binds a Role of its namespace to ServiceAccount sluice-system/sluice',
    (_, d) => {
      const b = d.object;
      expect(b.roleRef).toMatchObject({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role' });
      expect(() => named('Role', b.roleRef.name, b.metadata.namespace)).not.toThrow();
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'sluice', namespace: 'sluice-system' }]);
      expect(() => named('ServiceAccount', 'sluice', 'sluice-system')).not.toThrow();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// The Sluice config inside each ConfigMap (manifests and patches).

const TOP_LEVEL_KEYS = ['listen', 'admin', 'autoscaler', 'services', 'kubernetes'];
const SERVICE_KEYS = ['name', 'match', 'revisions', 'traffic', 'stickiness'];
const KUBERNETES_REVISION_KEYS = [
  'name',
  'backend',
  'containerConcurrency',
  'timeoutSeconds',
  'activationTimeoutSeconds',
  'queueDepth',
  'annotations',
  'deployment',
  'service',
  'namespace',
  'port',
  'portName',
];
const TRAFFIC_KEYS = ['revision', 'percent', 'tag'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The Sluice config as the checks below read it (by hand, see the top of the file). */
interface SluiceConfigDoc {
  listen?: unknown;
  admin?: unknown;
  autoscaler?: Record<string, unknown>;
  kubernetes?: { leaderElection: { leaseName: string }; peers: { service: string; port: number } };
  services: Array<{
    name: string;
    match?: { model?: string };
    revisions: Array<{ name: string; namespace?: string; annotations?: Record<string, unknown>; [field: string]: unknown }>;
    traffic: Array<{ revision: string; percent: number; tag?: string }>;
  }>;
}

const CONFIG_DOCS = [...DOCS, ...PATCH_DOCS].filter(isKind('ConfigMap')).filter((d) => d.object.data?.['sluice.yaml'] !== undefined);
const sluiceConfig = (d: Doc<Manifest<'ConfigMap'>>): SluiceConfigDoc => parse(d.object.data!['sluice.yaml']!) as SluiceConfigDoc;

describe('the Sluice config in each ConfigMap', () => {
  it('is found in the base and in the KServe example', () => {
    expect(CONFIG_DOCS.map((d) => d.file).sort()).toEqual([
      'deploy/kserve/sluice/sluice-config.yaml',
      'deploy/kubernetes/base/sluice-config.yaml',
    ]);
  });

  it('the base config names the Lease the gateway may renew and the headless peers Service, on the admin port', () => {
    const kube = sluiceConfig(CONFIG_DOCS.find((d) => d.file === 'deploy/kubernetes/base/sluice-config.yaml')!).kubernetes!;
    const leaseRule = ofKind('Role')
      .flatMap((r) => r.object.rules!)
      .find((rule) => rule.resources!.includes('leases') && rule.resourceNames);
    expect(leaseRule!.resourceNames).toEqual([kube.leaderElection.leaseName]);
    const peers = named('Service', kube.peers.service, 'sluice-system');
    expect(peers.spec!.clusterIP).toBe('None');
    expect(peers.spec!.ports!.map((p) => p.port)).toContain(kube.peers.port);
  });

  it.each(CONFIG_DOCS.map((d) => [d.file, d]))('%s: only known top-level keys, services present, ports as the Deployment says', (_, d) => {
    const config = sluiceConfig(d);
    expect(Object.keys(config).filter((k) => !TOP_LEVEL_KEYS.includes(k))).toEqual([]);
    expect(config.listen).toBe('0.0.0.0:8080');
    expect(config.admin).toBe('0.0.0.0:8081');
    expect(Array.isArray(config.services) && config.services.length > 0).toBe(true);
    expect(Object.keys(config.autoscaler ?? {}).filter((k) => !AUTOSCALER_KEYS.includes(k))).toEqual([]);
  });

  it.each(CONFIG_DOCS.map((d) => [d.file, d]))('%s: every service is well formed and its traffic sums to 100', (_, d) => {
    for (const svc of sluiceConfig(d).services) {
      expect(
        Object.keys(svc).filter((k) => !SERVICE_KEYS.includes(k)),
        svc.name,
      ).toEqual([]);
      expect(svc.name).toMatch(DNS_LABEL);
      const names = svc.revisions.map((r) => r.name);
      expect(new Set(names).size, 'unique revision names').toBe(names.length);
      for (const t of svc.traffic) {
        expect(Object.keys(t).filter((k) => !TRAFFIC_KEYS.includes(k))).toEqual([]);
        expect(names, `traffic to unknown revision ${t.revision}`).toContain(t.revision);
      }
      expect(svc.traffic.reduce((sum, t) => sum + t.percent, 0)).toBe(100);
    }
  });

  it.each(CONFIG_DOCS.map((d) => [d.file, d]))(
    '%s: kubernetes revisions name a Deployment, a Service, a namespace the gateway may scale in, and a port',
    (_, d) => {
      const scalable = new Set(
        ofKind('Role')
          .filter((r) => r.object.rules!.some((x) => x.resources!.includes('deployments/scale')))
          .map((r) => r.object.metadata.namespace),
      );
      const revisions = sluiceConfig(d).services.flatMap((s) => s.revisions);
      expect(revisions.length).toBeGreaterThan(0);
      for (const r of revisions) {
        expect(r.backend, r.name).toBe('kubernetes');
        expect(
          Object.keys(r).filter((k) => !KUBERNETES_REVISION_KEYS.includes(k)),
          r.name,
        ).toEqual([]);
        for (const field of ['name', 'deployment', 'namespace', 'portName']) expect(r[field], `${r.name}.${field}`).toMatch(DNS_LABEL);
        expect(r.service, `${r.name}.service: a Service name starts with a letter`).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
        expect(scalable, `no Role grants deployments/scale in ${r.namespace}`).toContain(r.namespace);
        expect(
          Object.keys(r.annotations ?? {}).filter((k) => !ANNOTATION_KEYS.includes(k)),
          r.name,
        ).toEqual([]);
        for (const v of Object.values(r.annotations ?? {})) expect(v, 'annotation values are strings').toBeTypeOf('string');
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('the KServe RawDeployment example', () => {
  const isvcs = ofKind('InferenceService');
  const config = sluiceConfig(CONFIG_DOCS.find((d) => d.file === 'deploy/kserve/sluice/sluice-config.yaml')!);

  it('defines iris, its canary and the gRPC predictor', () => {
    expect(isvcs.map((d) => d.object.metadata.name).sort()).toEqual(['iris', 'iris-canary', 'iris-grpc']);
  });

  it('the gRPC predictor declares its port as KServe does, and the gateway reads it as h2c', () => {
    const grpc = isvcs.find((d) => d.object.metadata.name === 'iris-grpc')!.object.spec.predictor.containers[0]!;
    const port = grpc.ports![0]!;
    expect(port).toMatchObject({ name: 'h2c', containerPort: 8081 });
    expect(grpc.args).toEqual(expect.arrayContaining(['--grpc-port', String(port.containerPort)]));
    expect(grpc.readinessProbe?.grpc?.port).toBe(port.containerPort);
    // The Service port KServe names after the container's: what src/kube/port-protocol.ts maps.
    expect(portProtocol({ name: port.name })).toBe('h2c');
    const rev = config.services.flatMap((s) => s.revisions).find((r) => r.deployment === 'iris-grpc-predictor')!;
    expect(rev.protocol, 'left to the Service port').toBeUndefined();
  });

  it.each(isvcs.map((d) => [label(d), d]))('%s has the required fields, raw mode and an external autoscaler', (_, d) => {
    const o = d.object;
    expect(o.apiVersion).toBe('serving.kserve.io/v1beta1');
    expect(o.metadata.name).toMatch(DNS_LABEL);
    expect(o.metadata.namespace).toBe('models');
    expect(o.metadata.annotations).toMatchObject({
      'serving.kserve.io/deploymentMode': 'RawDeployment',
      'serving.kserve.io/autoscalerClass': 'external',
    });
    expect(o.spec.predictor.minReplicas).toBe(0);
    expect(o.spec.predictor.canaryTrafficPercent, 'raw mode ignores it; Sluice splits traffic').toBeUndefined();
    const c = o.spec.predictor.containers[0]!;
    expect(c.name).toBe('kserve-container');
    expect(c.ports![0]!.name).toMatch(DNS_LABEL);
    // The predictor container is a plain Container: check its fields like any other.
    expect(unknownFields(c, 'V1Container', 'container')).toEqual([]);
  });

  it.each(isvcs.map((d) => [d.object.metadata.name, d]))('the Sluice config routes to %s-predictor, KServe’s raw-mode names', (name, d) => {
    const revisions = config.services.flatMap((s) => s.revisions);
    const rev = revisions.find((r) => r.deployment === `${name}-predictor`);
    expect(rev, `no revision for Deployment ${name}-predictor`).toBeDefined();
    expect(rev!.service).toBe(`${name}-predictor`);
    expect(rev!.namespace).toBe(d.object.metadata.namespace);
    // KServe names the predictor Service's port after the container's first port.
    expect(rev!.portName).toBe(d.object.spec.predictor.containers[0]!.ports![0]!.name);
  });

  it('splits model iris 90/10 between iris and iris-canary, the canary tagged canary', () => {
    const svc = config.services.find((s) => s.match?.model === 'iris');
    expect(svc!.traffic).toEqual([
      { revision: 'iris', percent: 90 },
      { revision: 'iris-canary', percent: 10, tag: 'canary' },
    ]);
  });

  it('both predictors serve the model under the name clients call, iris', () => {
    for (const d of isvcs) {
      const args: string[] = d.object.spec.predictor.containers[0]!.args!;
      expect(args[args.indexOf('--model') + 1], d.object.metadata.name).toBe('iris');
    }
  });
});

describe('the unknown-field check itself', () => {
  it.each<[string, object, string, string[]]>([
    // label, object, type, want
    ['a clean Deployment', { spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } }, 'V1Deployment', []],
    [
      'a typo in a container',
      { spec: { template: { spec: { containers: [{ name: 'a', imagee: 'x' }] } } } },
      'V1Deployment',
      ['spec.template.spec.containers[0].imagee'],
    ],
    ['a typo at the top of a spec', { spec: { replicaz: 2 } }, 'V1Deployment', ['spec.replicaz']],
    ['map values are free-form', { metadata: { labels: { anything: 'goes' } } }, 'V1ConfigMap', []],
    ['a misspelt Service field', { spec: { publishNotReadyAddress: false } }, 'V1Service', ['spec.publishNotReadyAddress']],
  ])('%s', (_, object, type, want) => {
    expect(unknownFields(object, type, '')).toEqual(want);
  });
});

describe('the PodMonitor example', () => {
  const monitors = ofKind('PodMonitor');
  const gateway = named('Deployment', 'sluice', 'sluice-system');
  const podLabels = gateway.spec!.template.metadata!.labels!;
  const container = gateway.spec!.template.spec!.containers.find((c) => c.ports?.some((p) => p.name === 'admin'))!;

  it('is there, once, beside the gateway', () => {
    expect(monitors).toHaveLength(1);
    expect(monitors[0]!.object.metadata.namespace).toBe(gateway.metadata.namespace);
  });

  it("selects the gateway's pods and nothing the labels do not say", () => {
    const { selector } = monitors[0]!.object.spec;
    expect(selector.matchExpressions).toBeUndefined();
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) expect(podLabels[k], k).toBe(v);
    expect(monitors[0]!.object.spec.jobLabel && podLabels[monitors[0]!.object.spec.jobLabel]).toBeDefined();
  });

  it("scrapes /metrics on the admin port with the admin token's Secret", () => {
    const [endpoint, ...more] = monitors[0]!.object.spec.podMetricsEndpoints;
    expect(more).toEqual([]);
    expect(endpoint!.port).toBe('admin');
    expect(container.ports!.find((p) => p.name === 'admin')!.containerPort).toBe(8081);
    expect(endpoint!.path).toBe('/metrics');
    expect(endpoint!.interval).toMatch(/^\d+s$/);
    const token = container.env!.find((e) => e.name === 'SLUICE_ADMIN_TOKEN')!.valueFrom!.secretKeyRef!;
    expect(endpoint!.authorization).toEqual({ type: 'Bearer', credentials: { name: token.name, key: token.key } });
  });
});

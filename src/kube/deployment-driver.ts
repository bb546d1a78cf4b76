/**
 * The Kubernetes scaler driver: each `backend: kubernetes` revision is a Deployment, scaled through
 * its scale subresource (deployment-scale.ts), and a Service whose EndpointSlices give the ready pods
 * the gateway sends requests to, straight to pod IPs (ready-endpoints.ts). Two informers per revision
 * keep both views current; while a revision starts, its pods are listed to tell why it does not
 * (condition-tracker.ts). Design notes: docs/kubernetes.md#the-deployment-driver.
 */
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, type V1Deployment, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Revision } from '../config/load.js';
import type { KubernetesRevision } from '../config/schema.js';
import { derivedCondition, type ConditionListener, type RevisionCondition } from '../core/condition.js';
import type { Endpoint } from '../core/endpoint.js';
import type { ReplicaCounts, RevisionKey } from '../core/revision.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EndpointsListener, ScalerDriver } from '../scaler/driver.js';
import { describeApiError } from './api-error.js';
import { ApiHealth, type ApiHealthView } from './api-health.js';
import { ConditionTracker } from './condition-tracker.js';
import { DeploymentScale, type ActivationResult } from './deployment-scale.js';
import { resolveKubernetesOptions, type KubernetesDriverOptions, type ResolvedKubernetesOptions } from './driver-options.js';
import { readyOrigins, SERVICE_NAME_LABEL } from './endpoint-slices.js';
import { RestartingInformer } from './informer.js';
import { PodPoller } from './pod-poller.js';
import { ReadyEndpoints } from './ready-endpoints.js';

/**
 * Pods per list while a revision starts: one failing pod says why, so 500 crash-looping replicas
 * cost one page of 100 a second, not all 500.
 */
const PODS_PER_LIST = 100;

interface ManagedRevision {
  key: RevisionKey;
  spec: KubernetesRevision;
  namespace: string;
  log: Logger;
  scale: DeploymentScale;
  endpoints: ReadyEndpoints;
  slices: RestartingInformer<V1EndpointSlice>;
  deployment: RestartingInformer<V1Deployment>;
  conditions: ConditionTracker;
  removed: boolean;
}

function sameTarget(a: ManagedRevision, spec: KubernetesRevision, namespace: string): boolean {
  const b = a.spec;
  return (
    a.namespace === namespace &&
    b.deployment === spec.deployment &&
    b.service === spec.service &&
    b.port === spec.port &&
    b.portName === spec.portName
  );
}

export class KubernetesDriver implements ScalerDriver {
  private readonly opts: ResolvedKubernetesOptions;
  private readonly log: Logger;
  private readonly apps: AppsV1Api;
  private readonly discovery: DiscoveryV1Api;
  private readonly core: CoreV1Api;
  private readonly revisions = new Map<RevisionKey, ManagedRevision>();
  private readonly listeners: EndpointsListener[] = [];
  private readonly conditionListeners: ConditionListener[] = [];
  /** Namespaces where listing pods was refused (403): told once, never asked again. */
  private readonly podsForbidden = new Set<string>();
  private readonly apiHealth: ApiHealth;
  /** Revisions with an activate() call in flight. */
  private readonly activating = new Set<RevisionKey>();
  private closed = false;

  constructor(options: KubernetesDriverOptions) {
    this.opts = resolveKubernetesOptions(options);
    this.log = this.opts.logger;
    this.apps = this.opts.kubeConfig.makeApiClient(AppsV1Api);
    this.discovery = this.opts.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.core = this.opts.kubeConfig.makeApiClient(CoreV1Api);
    this.apiHealth = new ApiHealth((reachable, error) => {
      if (reachable) this.log.info('API server reachable again');
      else this.log.warn({ error }, 'API server unreachable; keeping the last known endpoints');
    });
  }

  add(key: RevisionKey, revision: Revision): void {
    if (revision.backend !== 'kubernetes') {
      throw new SluiceError('invalid_config', 400, `${key}: the kubernetes driver runs backend "kubernetes", not "${revision.backend}"`);
    }
    if (this.closed) throw new SluiceError('invalid_config', 400, `${key}: the kubernetes driver is closed`);
    const spec: KubernetesRevision = revision;
    const namespace = spec.namespace ?? this.opts.namespace;
    const existing = this.revisions.get(key);
    if (existing && sameTarget(existing, spec, namespace)) {
      existing.spec = spec;
      return;
    }
    if (existing) void this.forget(existing);
    this.revisions.set(key, this.manage(key, spec, namespace));
  }

  setReplicas(key: RevisionKey, n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new SluiceError('bad_request', 400, `${key}: replicas: want an integer ≥ 0, got ${n}`);
    const rev = this.revision(key);
    rev.scale.set(n);
    rev.conditions.refresh();
  }

  replicas(key: RevisionKey): ReplicaCounts {
    const rev = this.revisions.get(key);
    if (!rev) return { desired: 0, actual: 0, ready: 0 };
    return { desired: rev.scale.desired, actual: rev.scale.actual, ready: rev.endpoints.endpoints.length };
  }

  onEndpoints(listener: EndpointsListener): void {
    this.listeners.push(listener);
  }

  /**
   * Ready/Serving, Ready/ScaledToZero, Activating/Starting, or Failed with what Kubernetes says
   * (revision-condition.ts) while replicas are wanted and none is ready.
   */
  condition(key: RevisionKey): RevisionCondition {
    return this.revisions.get(key)?.conditions.condition ?? derivedCondition(this.replicas(key), Date.now());
  }

  onCondition(listener: ConditionListener): void {
    this.conditionListeners.push(listener);
  }

  /**
   * The 0 → n patch any gateway replica may make (deployment-scale.ts): 'activated', or
   * 'already-active' / 'lost-race' when another writer got there first. Throws after
   * activationAttempts failures of other kinds.
   */
  async activateFromZero(key: RevisionKey, n: number): Promise<ActivationResult> {
    if (!Number.isInteger(n) || n < 1)
      throw new SluiceError('bad_request', 400, `${key}: activation replicas: want an integer ≥ 1, got ${n}`);
    const rev = this.revision(key);
    try {
      return await rev.scale.activateFromZero(n);
    } finally {
      rev.conditions.refresh();
    }
  }

  /**
   * The loop's activation poke (ScalerDriver.activate): activateFromZero without waiting, logging
   * the outcome and never throwing, so every gateway replica may wake a revision without the leader.
   * A failure leaves the held requests waiting; the next held request pokes again, the leader's
   * tick scales from its own windows.
   */
  activate(key: RevisionKey, n: number): void {
    // A burst of held requests pokes once per request: one activation in flight per revision.
    if (this.activating.has(key)) return;
    this.activating.add(key);
    this.activateFromZero(key, n)
      .finally(() => this.activating.delete(key))
      .then(
        (result) => this.log.debug({ revision: key, replicas: n, result }, `activation of ${key}: ${result}`),
        (err: unknown) => this.log.warn({ revision: key, replicas: n, error: describeApiError(err) }, `activation of ${key} failed`),
      );
  }

  /** Whether the API server answers this driver's calls and watches; the endpoint sets stay published either way. */
  health(): ApiHealthView {
    return this.apiHealth.view();
  }

  async remove(key: RevisionKey): Promise<void> {
    const rev = this.revisions.get(key);
    if (!rev) return;
    this.revisions.delete(key);
    await this.forget(rev);
    await rev.scale.scaleToZero();
  }

  /** Stop informers, watches and retry timers. Deployments are left as they are: other gateway replicas use them. */
  async close(): Promise<void> {
    this.closed = true;
    const revisions = [...this.revisions.values()];
    this.revisions.clear();
    await Promise.all(revisions.map((rev) => this.forget(rev)));
  }

  // --- internals ---

  private revision(key: RevisionKey): ManagedRevision {
    const rev = this.revisions.get(key);
    if (!rev) throw new SluiceError('not_found', 404, `${key}: not managed by the kubernetes driver`);
    return rev;
  }

  private manage(key: RevisionKey, spec: KubernetesRevision, namespace: string): ManagedRevision {
    const log = this.log.child({ revision: key });
    const onHealth = (ok: boolean, err?: unknown) => (ok ? this.apiHealth.answered() : this.apiHealth.failed(err));
    const rev: ManagedRevision = {
      key,
      spec,
      namespace,
      log,
      scale: new DeploymentScale({
        apps: this.apps,
        key,
        name: spec.deployment,
        namespace,
        health: this.apiHealth,
        requestTimeoutMs: this.opts.requestTimeoutMs,
        backoff: this.opts.backoff,
        activationAttempts: this.opts.activationAttempts,
        closed: () => this.closed,
        log,
      }),
      endpoints: new ReadyEndpoints(),
      conditions: new ConditionTracker({
        deployment: spec.deployment,
        counts: () => ({ desired: rev.scale.desired, actual: rev.scale.actual, ready: rev.endpoints.endpoints.length }),
        pods: new PodPoller({
          list: (labelSelector) =>
            this.apiHealth.call(
              this.core.listNamespacedPod({ namespace, labelSelector, limit: PODS_PER_LIST }),
              this.opts.requestTimeoutMs,
              `list pods in ${namespace}`,
            ),
          intervalMs: this.opts.podPollIntervalMs,
          onPods: (pods) => rev.conditions.observePods(pods),
          onForbidden: (err) => this.refusedPods(namespace, err),
          forbidden: () => this.podsForbidden.has(namespace),
          log,
        }),
        onChange: (condition, previous) => this.tell(rev, condition, previous),
      }),
      removed: false,
      slices: new RestartingInformer<V1EndpointSlice>({
        kubeConfig: this.opts.kubeConfig,
        path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        labelSelector: `${SERVICE_NAME_LABEL}=${spec.service}`,
        list: () => this.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `${SERVICE_NAME_LABEL}=${spec.service}` }),
        backoff: this.opts.backoff,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
        onChange: (slices) => this.observeSlices(rev, slices),
        onHealth,
        log,
      }),
      deployment: new RestartingInformer<V1Deployment>({
        kubeConfig: this.opts.kubeConfig,
        path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
        fieldSelector: `metadata.name=${spec.deployment}`,
        list: () => this.apps.listNamespacedDeployment({ namespace, fieldSelector: `metadata.name=${spec.deployment}` }),
        backoff: this.opts.backoff,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
        onChange: (deployments) => {
          rev.scale.observe(deployments);
          rev.conditions.observeDeployment(deployments);
        },
        onHealth,
        log,
      }),
    };
    rev.slices.start();
    rev.deployment.start();
    return rev;
  }

  /** Stop a revision's informers and timers and withdraw its endpoints. */
  private async forget(rev: ManagedRevision): Promise<void> {
    rev.removed = true;
    rev.scale.stop();
    rev.conditions.stop();
    if (rev.endpoints.clear()) this.publish(rev);
    await Promise.all([rev.slices.stop(), rev.deployment.stop()]);
  }

  private observeSlices(rev: ManagedRevision, slices: readonly V1EndpointSlice[]): void {
    if (rev.removed) return;
    const origins = readyOrigins(slices, { port: rev.spec.port, portName: rev.spec.portName ?? 'http' });
    if (rev.endpoints.update(origins)) this.publish(rev);
    rev.conditions.refresh();
  }

  /** Listing pods in `namespace` was refused: say once which grant is missing. */
  private refusedPods(namespace: string, err: unknown): void {
    if (this.podsForbidden.has(namespace)) return;
    this.podsForbidden.add(namespace);
    this.log.warn(
      { namespace, error: describeApiError(err) },
      `listing pods is forbidden: grant verb "list" on resource "pods" (core API group "") in namespace "${namespace}"; ` +
        `until then, why a revision there does not start is told from its Deployment status only`,
    );
  }

  private tell(rev: ManagedRevision, condition: RevisionCondition, previous: RevisionCondition): void {
    if (rev.removed) return;
    // Failing and recovering are worth a line; a cold start's steps and one more restart are not.
    const news = condition.status !== previous.status || condition.reason !== previous.reason;
    const line = `${rev.key}: ${condition.status} (${condition.reason}): ${condition.message}`;
    if (news && condition.status === 'Failed') rev.log.warn({ condition }, line);
    else if (news && previous.status === 'Failed') rev.log.info({ condition }, line);
    else rev.log.debug({ condition }, line);
    for (const listener of this.conditionListeners) {
      try {
        listener(rev.key, condition);
      } catch (err) {
        rev.log.error({ err }, 'condition listener failed');
      }
    }
  }

  private publish(rev: ManagedRevision): void {
    const endpoints: readonly Endpoint[] = rev.endpoints.endpoints;
    rev.log.debug({ endpoints: endpoints.map((e) => e.id) }, 'ready endpoints changed');
    for (const listener of this.listeners) {
      try {
        listener(rev.key, endpoints);
      } catch (err) {
        rev.log.error({ err }, 'endpoints listener failed');
      }
    }
  }
}

/**
 * The Kubernetes driver: each `backend: kubernetes` revision is a Deployment, scaled through its scale
 * subresource, and a Service, whose EndpointSlices give the ready pods the gateway sends requests to
 * (straight to pod IPs, no kube-proxy hop).
 *
 * - setReplicas merge-patches `/scale` with `{"spec":{"replicas":n}}`; a failed patch is retried with
 *   backoff, always with the latest wish, until it lands or another wish replaces it.
 * - activateFromZero is the 0 → N patch any gateway replica may make: read the Scale, and only if it
 *   says 0, PUT n with the read resourceVersion as precondition. Two replicas racing: one wins, the
 *   other gets 409 and is content — the Deployment ends at n, not 2n, and a leader's later scale-up
 *   is never overwritten by a stale activation.
 * - Per revision two informers: the EndpointSlices of the Service (ready endpoints) and the
 *   Deployment (actual replicas, and the desired count when someone else changed it). They restart
 *   with backoff after errors; while the API server is away the last known endpoints stay published,
 *   so warm traffic keeps flowing.
 * - An address that stays ready keeps its Endpoint object, so its in-flight count survives updates.
 */
import {
  AppsV1Api,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Scale,
} from '@kubernetes/client-node';
import type { Revision } from '../config/load.js';
import type { KubernetesRevision } from '../config/schema.js';
import { SluiceError } from '../errors.js';
import { apiStatusCode, describeApiError, isConflict } from '../kube/api-error.js';
import { Backoff, backoffDelay } from '../kube/backoff.js';
import { resolveKubernetesOptions, type KubernetesDriverOptions, type ResolvedKubernetesOptions } from '../kube/driver-options.js';
import { readyOrigins, SERVICE_NAME_LABEL } from '../kube/endpoint-slices.js';
import { RestartingInformer } from '../kube/informer.js';
import type { Logger } from '../log.js';
import type { EndpointsListener, ScalerDriver } from './driver.js';
import type { ReplicaCounts, RevisionKey } from '../core/revision.js';
import { createEndpoint, type Endpoint } from '../core/endpoint.js';

export type { KubernetesDriverOptions } from '../kube/driver-options.js';

/** What activateFromZero did: scaled 0 → n, found it already above 0, or lost the race to another writer. */
export type ActivationResult = 'activated' | 'already-active' | 'lost-race';

export interface KubernetesHealth {
  /** The API server answered the last call (or informer start) that reached a verdict; 5xx counts as no answer. */
  apiReachable: boolean;
  /** The most recent failure, kept after recovery. */
  lastError?: string;
  /** Wall-clock ms since apiReachable has had its current value. */
  since?: number;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface ManagedRevision {
  key: RevisionKey;
  spec: KubernetesRevision;
  namespace: string;
  log: Logger;
  /** Last asked here, or the Deployment's spec.replicas when changed elsewhere; undefined until either. */
  desired: number | undefined;
  /** Pods of the Deployment (status.replicas). */
  actual: number;
  /** A wish not yet written to the API server. */
  patchPending: boolean;
  patching: boolean;
  patchTimer: NodeJS.Timeout | undefined;
  patchBackoff: Backoff;
  /** resourceVersion of this driver's latest write; older Deployment observations are stale. */
  lastWriteRv: number;
  /** Ready endpoints by origin. */
  endpoints: Map<string, Endpoint>;
  /** The last set handed to listeners. */
  published: readonly Endpoint[];
  slices: RestartingInformer<V1EndpointSlice>;
  deployment: RestartingInformer<V1Deployment>;
  removed: boolean;
}

function sameTarget(a: ManagedRevision, spec: KubernetesRevision, namespace: string): boolean {
  const b = a.spec;
  return a.namespace === namespace && b.deployment === spec.deployment && b.service === spec.service && b.port === spec.port && b.portName === spec.portName;
}

/** Numeric resourceVersion, or NaN when the server uses opaque ones (then nothing is judged stale). */
function rvNumber(rv: string | undefined): number {
  return rv === undefined ? Number.NaN : Number(rv);
}

export class KubernetesDriver implements ScalerDriver {
  private readonly opts: ResolvedKubernetesOptions;
  private readonly log: Logger;
  private readonly apps: AppsV1Api;
  private readonly discovery: DiscoveryV1Api;
  private readonly revisions = new Map<RevisionKey, ManagedRevision>();
  private readonly listeners: EndpointsListener[] = [];
  private readonly state: KubernetesHealth = { apiReachable: true, since: Date.now() };
  /** Revisions with an activate() call in flight. */
  private readonly activating = new Set<RevisionKey>();
  private closed = false;

  constructor(options: KubernetesDriverOptions) {
    this.opts = resolveKubernetesOptions(options);
    this.log = this.opts.logger;
    this.apps = this.opts.kubeConfig.makeApiClient(AppsV1Api);
    this.discovery = this.opts.kubeConfig.makeApiClient(DiscoveryV1Api);
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
    rev.desired = n;
    rev.patchPending = true;
    if (!rev.patching && rev.patchTimer === undefined) void this.patch(rev);
  }

  replicas(key: RevisionKey): ReplicaCounts {
    const rev = this.revisions.get(key);
    if (!rev) return { desired: 0, actual: 0, ready: 0 };
    return { desired: rev.desired ?? 0, actual: rev.actual, ready: rev.published.length };
  }

  onEndpoints(listener: EndpointsListener): void {
    this.listeners.push(listener);
  }

  /**
   * Scale 0 → n unless someone else already did: read the Scale; only if spec.replicas is 0, replace
   * it with n, the read resourceVersion as precondition. A 409 means another writer got there first.
   * Other errors are retried (activationAttempts) and then thrown.
   */
  async activateFromZero(key: RevisionKey, n: number): Promise<ActivationResult> {
    if (!Number.isInteger(n) || n < 1) throw new SluiceError('bad_request', 400, `${key}: activation replicas: want an integer ≥ 1, got ${n}`);
    const rev = this.revision(key);
    const name = rev.spec.deployment;
    const namespace = rev.namespace;
    for (let attempt = 0; ; attempt++) {
      try {
        const scale = await this.call(this.apps.readNamespacedDeploymentScale({ name, namespace }), `read ${namespace}/${name}/scale`);
        if ((scale.spec?.replicas ?? 0) !== 0) {
          this.observeWrite(rev, scale);
          return 'already-active';
        }
        const body: V1Scale = {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: { name, namespace, resourceVersion: scale.metadata?.resourceVersion },
          spec: { replicas: n },
        };
        const written = await this.call(this.apps.replaceNamespacedDeploymentScale({ name, namespace, body }), `activate ${namespace}/${name}`, true);
        // A scale-down still on its way must not undo the activation; a pending scale-up may stand.
        if (!rev.patchPending || (rev.desired ?? 0) === 0) rev.desired = n;
        this.observeWrite(rev, written);
        rev.log.info({ replicas: n }, `activated ${rev.key}: 0 → ${n}`);
        return 'activated';
      } catch (err) {
        if (isConflict(err)) {
          rev.log.debug('activation: another writer changed the scale first');
          return 'lost-race';
        }
        if (attempt + 1 >= this.opts.activationAttempts || this.closed || rev.removed) {
          throw new SluiceError('upstream_unreachable', 503, `${key}: activating ${namespace}/${name} failed: ${describeApiError(err)}`, { cause: err });
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(this.opts.backoff, attempt)));
      }
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
    this.activateFromZero(key, n).finally(() => this.activating.delete(key)).then(
      (result) => this.log.debug({ revision: key, replicas: n, result }, `activation of ${key}: ${result}`),
      (err: unknown) => this.log.warn({ revision: key, replicas: n, error: describeApiError(err) }, `activation of ${key} failed`),
    );
  }

  /** Whether the API server answers; the endpoint sets stay published either way. */
  health(): KubernetesHealth {
    return { ...this.state };
  }

  async remove(key: RevisionKey): Promise<void> {
    const rev = this.revisions.get(key);
    if (!rev) return;
    this.revisions.delete(key);
    await this.forget(rev);
    // Scale the Deployment to zero: a few attempts, then leave it to whoever manages it.
    for (let attempt = 0; attempt < this.opts.activationAttempts && !this.closed; attempt++) {
      try {
        await this.call(
          this.apps.patchNamespacedDeploymentScale({ name: rev.spec.deployment, namespace: rev.namespace, body: { spec: { replicas: 0 } } }, MERGE_PATCH),
          `scale ${rev.namespace}/${rev.spec.deployment}`,
        );
        rev.log.info(`removed ${key}: scaled ${rev.namespace}/${rev.spec.deployment} to 0`);
        return;
      } catch (err) {
        rev.log.warn({ error: describeApiError(err) }, 'scaling a removed revision to zero failed');
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(this.opts.backoff, attempt)));
      }
    }
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
    const rev: ManagedRevision = {
      key,
      spec,
      namespace,
      log,
      desired: undefined,
      actual: 0,
      patchPending: false,
      patching: false,
      patchTimer: undefined,
      patchBackoff: new Backoff(this.opts.backoff),
      lastWriteRv: 0,
      endpoints: new Map(),
      published: [],
      removed: false,
      slices: new RestartingInformer<V1EndpointSlice>({
        kubeConfig: this.opts.kubeConfig,
        path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        labelSelector: `${SERVICE_NAME_LABEL}=${spec.service}`,
        list: () => this.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `${SERVICE_NAME_LABEL}=${spec.service}` }),
        backoff: this.opts.backoff,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
        onChange: (slices) => this.observeSlices(rev, slices),
        onHealth: (ok, err) => (ok ? this.answered() : this.failed(err)),
        log,
      }),
      deployment: new RestartingInformer<V1Deployment>({
        kubeConfig: this.opts.kubeConfig,
        path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
        fieldSelector: `metadata.name=${spec.deployment}`,
        list: () => this.apps.listNamespacedDeployment({ namespace, fieldSelector: `metadata.name=${spec.deployment}` }),
        backoff: this.opts.backoff,
        watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
        onChange: (deployments) => this.observeDeployment(rev, deployments),
        onHealth: (ok, err) => (ok ? this.answered() : this.failed(err)),
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
    clearTimeout(rev.patchTimer);
    rev.patchTimer = undefined;
    for (const endpoint of rev.endpoints.values()) endpoint.draining = true;
    rev.endpoints.clear();
    this.publish(rev, []);
    await Promise.all([rev.slices.stop(), rev.deployment.stop()]);
  }

  /** Write the latest wish; on failure retry with backoff (the retry writes whatever is latest then). */
  private async patch(rev: ManagedRevision): Promise<void> {
    if (this.closed || rev.removed || rev.desired === undefined) return;
    rev.patching = true;
    const n = rev.desired;
    let ok = false;
    try {
      const scale = await this.call(
        this.apps.patchNamespacedDeploymentScale({ name: rev.spec.deployment, namespace: rev.namespace, body: { spec: { replicas: n } } }, MERGE_PATCH),
        `scale ${rev.namespace}/${rev.spec.deployment}`,
      );
      ok = true;
      rev.patchBackoff.reset();
      if (rev.desired === n) rev.patchPending = false;
      this.observeWrite(rev, scale);
      rev.log.info({ replicas: n }, `scaled ${rev.namespace}/${rev.spec.deployment} to ${n}`);
    } catch (err) {
      const delay = rev.patchBackoff.next();
      rev.log.warn({ replicas: n, error: describeApiError(err), retryInMs: delay }, 'scale patch failed; retrying');
      if (!this.closed && !rev.removed) {
        rev.patchTimer = setTimeout(() => {
          rev.patchTimer = undefined;
          void this.patch(rev);
        }, delay);
      }
    } finally {
      rev.patching = false;
    }
    // Asked again while this patch was in flight.
    if (ok && rev.patchPending && rev.patchTimer === undefined) void this.patch(rev);
  }

  /** A Scale this driver wrote or read: its resourceVersion makes older Deployment events stale. */
  private observeWrite(rev: ManagedRevision, scale: V1Scale): void {
    const rv = rvNumber(scale.metadata?.resourceVersion);
    if (Number.isFinite(rv) && rv > rev.lastWriteRv) rev.lastWriteRv = rv;
    if (scale.status?.replicas !== undefined) rev.actual = scale.status.replicas;
  }

  private observeDeployment(rev: ManagedRevision, deployments: readonly V1Deployment[]): void {
    if (rev.removed) return;
    const deployment = deployments.find((d) => d.metadata?.name === rev.spec.deployment);
    if (!deployment) {
      rev.actual = 0;
      return;
    }
    const rv = rvNumber(deployment.metadata?.resourceVersion);
    if (Number.isFinite(rv) && rv < rev.lastWriteRv) return;
    rev.actual = deployment.status?.replicas ?? 0;
    // A change made elsewhere (another gateway replica's activation, `kubectl scale`) becomes the
    // desired count — unless a wish of this driver is still on its way.
    if (!rev.patchPending && !rev.patching) rev.desired = deployment.spec?.replicas ?? 1;
  }

  private observeSlices(rev: ManagedRevision, slices: readonly V1EndpointSlice[]): void {
    if (rev.removed) return;
    const origins = readyOrigins(slices, { port: rev.spec.port, portName: rev.spec.portName ?? 'http' });
    const next = new Map<string, Endpoint>();
    for (const origin of origins) next.set(origin, rev.endpoints.get(origin) ?? createEndpoint(origin));
    // Survivors keep their place; newcomers go last.
    const ordered = rev.published.filter((e) => next.get(e.origin) === e);
    for (const endpoint of next.values()) if (!ordered.includes(endpoint)) ordered.push(endpoint);
    for (const [origin, endpoint] of rev.endpoints) if (!next.has(origin)) endpoint.draining = true;
    rev.endpoints = next;
    this.publish(rev, ordered);
  }

  private publish(rev: ManagedRevision, endpoints: readonly Endpoint[]): void {
    const before = rev.published;
    if (endpoints.length === before.length && endpoints.every((e, i) => e === before[i])) return;
    rev.published = endpoints;
    rev.log.debug({ endpoints: endpoints.map((e) => e.id) }, 'ready endpoints changed');
    for (const listener of this.listeners) {
      try {
        listener(rev.key, endpoints);
      } catch (err) {
        rev.log.error({ err }, 'endpoints listener failed');
      }
    }
  }

  /** One API call with a deadline; its outcome feeds health() (a 409 too, unless `conflictExpected`). */
  private async call<T>(request: Promise<T>, what: string, conflictExpected = false): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer from the API server in ${this.opts.requestTimeoutMs} ms`)), this.opts.requestTimeoutMs);
    });
    try {
      const result = await Promise.race([request, deadline]);
      this.answered();
      return result;
    } catch (err) {
      if (conflictExpected && isConflict(err)) this.answered();
      else this.failed(err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private answered(): void {
    if (this.state.apiReachable) return;
    this.state.apiReachable = true;
    this.state.since = Date.now();
    this.log.info('API server reachable again');
  }

  private failed(err: unknown): void {
    this.state.lastError = describeApiError(err);
    const code = apiStatusCode(err);
    const answered = code !== undefined && code < 500;
    if (answered) return this.answered();
    if (!this.state.apiReachable) return;
    this.state.apiReachable = false;
    this.state.since = Date.now();
    this.log.warn({ error: this.state.lastError }, 'API server unreachable; keeping the last known endpoints');
  }
}

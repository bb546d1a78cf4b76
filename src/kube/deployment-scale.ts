/**
 * One Deployment's replica count, written through its scale subresource and read back from its
 * informer: the latest wish is merge-patched until it lands, the 0 → N activation is a replace
 * guarded by resourceVersion, and older observations than this writer's own write are ignored.
 * Design notes: docs/kubernetes.md#the-deployment-driver.
 */
import { PatchStrategy, setHeaderOptions, type AppsV1Api, type V1Deployment, type V1Scale } from '@kubernetes/client-node';
import type { RevisionKey } from '../core/revision.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { describeApiError, isConflict } from './api-error.js';
import type { ApiHealth } from './api-health.js';
import { Backoff, backoffDelay, type BackoffPolicy } from './backoff.js';

/** What activateFromZero did: scaled 0 → n, found it already above 0, or lost the race to another writer. */
export type ActivationResult = 'activated' | 'already-active' | 'lost-race';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface DeploymentScaleOptions {
  apps: AppsV1Api;
  /** The revision, for messages. */
  key: RevisionKey;
  name: string;
  namespace: string;
  /** Every call's verdict goes here. */
  health: ApiHealth;
  requestTimeoutMs: number;
  /** Delays between retries of patches, activations and the scale to zero on removal. */
  backoff: BackoffPolicy;
  /** Attempts of one activation, and of the scale to zero on removal. */
  activationAttempts: number;
  /** The driver was closed: stop retrying. */
  closed: () => boolean;
  log: Logger;
}

/** Numeric resourceVersion, or NaN when the server uses opaque ones (then nothing is judged stale). */
function rvNumber(rv: string | undefined): number {
  return rv === undefined ? Number.NaN : Number(rv);
}

export class DeploymentScale {
  /** Last asked here, or the Deployment's spec.replicas when changed elsewhere; undefined until either. */
  private desiredCount: number | undefined;
  /** Pods of the Deployment (status.replicas). */
  private actualCount = 0;
  /** A wish not yet written to the API server. */
  private patchPending = false;
  private patching = false;
  private patchTimer: NodeJS.Timeout | undefined;
  private readonly patchBackoff: Backoff;
  /** resourceVersion of this writer's latest write; older Deployment observations are stale. */
  private lastWriteRv = 0;
  private stopped = false;

  constructor(private readonly options: DeploymentScaleOptions) {
    this.patchBackoff = new Backoff(options.backoff);
  }

  get desired(): number {
    return this.desiredCount ?? 0;
  }

  get actual(): number {
    return this.actualCount;
  }

  /** Ask for `n` replicas: written at once unless a write is in flight or waiting to retry (it then writes the latest wish). */
  set(n: number): void {
    this.desiredCount = n;
    this.patchPending = true;
    if (!this.patching && this.patchTimer === undefined) void this.patch();
  }

  /**
   * Scale 0 → n unless someone else already did: read the Scale; only if spec.replicas is 0, replace
   * it with n, the read resourceVersion as precondition. A 409 means another writer got there first.
   * Other errors are retried (activationAttempts) and then thrown.
   */
  async activateFromZero(n: number): Promise<ActivationResult> {
    const { apps, name, namespace } = this.options;
    for (let attempt = 0; ; attempt++) {
      try {
        const scale = await this.call(apps.readNamespacedDeploymentScale({ name, namespace }), `read ${namespace}/${name}/scale`);
        if ((scale.spec?.replicas ?? 0) !== 0) {
          this.observeWrite(scale);
          return 'already-active';
        }
        const body: V1Scale = {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: { name, namespace, resourceVersion: scale.metadata?.resourceVersion },
          spec: { replicas: n },
        };
        const written = await this.call(
          apps.replaceNamespacedDeploymentScale({ name, namespace, body }),
          `activate ${namespace}/${name}`,
          true,
        );
        // A scale-down still on its way must not undo the activation; a pending scale-up may stand.
        if (!this.patchPending || (this.desiredCount ?? 0) === 0) this.desiredCount = n;
        this.observeWrite(written);
        this.options.log.info({ replicas: n }, `activated ${this.options.key}: 0 → ${n}`);
        return 'activated';
      } catch (err) {
        if (isConflict(err)) {
          this.options.log.debug('activation: another writer changed the scale first');
          return 'lost-race';
        }
        if (attempt + 1 >= this.options.activationAttempts || this.done) {
          throw new SluiceError(
            'upstream_unreachable',
            503,
            `${this.options.key}: activating ${namespace}/${name} failed: ${describeApiError(err)}`,
            { cause: err },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(this.options.backoff, attempt)));
      }
    }
  }

  /** The Deployment as its informer sees it: actual pods, and a desired count someone else set. */
  observe(deployments: readonly V1Deployment[]): void {
    if (this.stopped) return;
    const deployment = deployments.find((d) => d.metadata?.name === this.options.name);
    if (!deployment) {
      this.actualCount = 0;
      return;
    }
    const rv = rvNumber(deployment.metadata?.resourceVersion);
    if (Number.isFinite(rv) && rv < this.lastWriteRv) return;
    this.actualCount = deployment.status?.replicas ?? 0;
    // A change made elsewhere (another gateway replica's activation, `kubectl scale`) becomes the
    // desired count — unless a wish of this writer is still on its way.
    if (!this.patchPending && !this.patching) this.desiredCount = deployment.spec?.replicas ?? 1;
  }

  /** Stop writing: no more patches or retries. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.patchTimer);
    this.patchTimer = undefined;
  }

  /** After stop(), for a removed revision: scale to zero, a few attempts, then leave it to whoever manages it. */
  async scaleToZero(): Promise<void> {
    const { apps, name, namespace } = this.options;
    for (let attempt = 0; attempt < this.options.activationAttempts && !this.options.closed(); attempt++) {
      try {
        await this.call(
          apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas: 0 } } }, MERGE_PATCH),
          `scale ${namespace}/${name}`,
        );
        this.options.log.info(`removed ${this.options.key}: scaled ${namespace}/${name} to 0`);
        return;
      } catch (err) {
        this.options.log.warn({ error: describeApiError(err) }, 'scaling a removed revision to zero failed');
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(this.options.backoff, attempt)));
      }
    }
  }

  // --- internals ---

  private get done(): boolean {
    return this.stopped || this.options.closed();
  }

  private call<T>(request: Promise<T>, what: string, conflictExpected = false): Promise<T> {
    return this.options.health.call(request, this.options.requestTimeoutMs, what, conflictExpected);
  }

  /** Write the latest wish; on failure retry with backoff (the retry writes whatever is latest then). */
  private async patch(): Promise<void> {
    if (this.done || this.desiredCount === undefined) return;
    const { apps, name, namespace } = this.options;
    this.patching = true;
    const n = this.desiredCount;
    let ok = false;
    try {
      const scale = await this.call(
        apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas: n } } }, MERGE_PATCH),
        `scale ${namespace}/${name}`,
      );
      ok = true;
      this.patchBackoff.reset();
      if (this.desiredCount === n) this.patchPending = false;
      this.observeWrite(scale);
      this.options.log.info({ replicas: n }, `scaled ${namespace}/${name} to ${n}`);
    } catch (err) {
      const delay = this.patchBackoff.next();
      this.options.log.warn({ replicas: n, error: describeApiError(err), retryInMs: delay }, 'scale patch failed; retrying');
      if (!this.done) {
        this.patchTimer = setTimeout(() => {
          this.patchTimer = undefined;
          void this.patch();
        }, delay);
      }
    } finally {
      this.patching = false;
    }
    // Asked again while this patch was in flight.
    if (ok && this.patchPending && this.patchTimer === undefined) void this.patch();
  }

  /** A Scale this writer wrote or read: its resourceVersion makes older Deployment events stale. */
  private observeWrite(scale: V1Scale): void {
    const rv = rvNumber(scale.metadata?.resourceVersion);
    if (Number.isFinite(rv) && rv > this.lastWriteRv) this.lastWriteRv = rv;
    if (scale.status?.replicas !== undefined) this.actualCount = scale.status.replicas;
  }
}

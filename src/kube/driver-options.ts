/**
 * Options of the Kubernetes scaler driver, each with its default, checked once up front.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { SluiceError } from '../errors.js';
import { resolveBackoff, type BackoffPolicy } from './backoff.js';

export interface KubernetesDriverOptions {
  /** Where the API server is and how to authenticate (in a pod: `loadFromCluster()`). */
  kubeConfig: KubeConfig;
  /** Namespace of revisions that name none. */
  namespace: string;
  /** Scale calls (info), retries and informer restarts (warn), endpoint changes (debug). Default: silent. */
  logger?: Logger;
  /** Delays between retries of scale patches and informer restarts. Default 200 ms doubling to 30 s, jitter 0.5. */
  backoff?: Partial<BackoffPolicy>;
  /** Server-side timeout asked for on each watch; the informer re-watches after it. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** One scale call gives up after this long (client-node sets no timeout of its own). Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** activateFromZero tries this many times on errors other than 409 before it throws. Default 3. */
  activationAttempts?: number;
  /** Pods of a revision that wants replicas and has none ready are listed this often, to tell why. Default 1000 ms. */
  podPollIntervalMs?: number;
}

export interface ResolvedKubernetesOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  logger: Logger;
  backoff: BackoffPolicy;
  watchTimeoutSeconds: number;
  requestTimeoutMs: number;
  activationAttempts: number;
  podPollIntervalMs: number;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new SluiceError('invalid_config', 400, `kubernetes driver: ${name}: want an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

export function resolveKubernetesOptions(options: KubernetesDriverOptions): ResolvedKubernetesOptions {
  if (options.kubeConfig === undefined || options.kubeConfig === null) {
    throw new SluiceError('invalid_config', 400, 'kubernetes driver: kubeConfig: want a KubeConfig');
  }
  if (options.kubeConfig.getCurrentCluster() === null) {
    throw new SluiceError('invalid_config', 400, 'kubernetes driver: kubeConfig: has no current cluster');
  }
  if (typeof options.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(options.namespace)) {
    throw new SluiceError(
      'invalid_config',
      400,
      `kubernetes driver: namespace: want a DNS label, got ${JSON.stringify(options.namespace)}`,
    );
  }
  return {
    kubeConfig: options.kubeConfig,
    namespace: options.namespace,
    logger: options.logger ?? pino({ level: 'silent' }),
    backoff: resolveBackoff(options.backoff, 'kubernetes driver'),
    watchTimeoutSeconds: positiveInteger('watchTimeoutSeconds', options.watchTimeoutSeconds, 300, 86_400),
    requestTimeoutMs: positiveInteger('requestTimeoutMs', options.requestTimeoutMs, 10_000, 2 ** 31 - 1),
    activationAttempts: positiveInteger('activationAttempts', options.activationAttempts, 3, 100),
    podPollIntervalMs: positiveInteger('podPollIntervalMs', options.podPollIntervalMs, 1000, 2 ** 31 - 1),
  };
}

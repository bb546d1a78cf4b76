/**
 * A `kubernetes.io/tls` Secret as the source of one TLS certificate (Kubernetes mode): `tls.crt` and
 * `tls.key`, read through the API server on every reload and watched there, as the ConfigMap is,
 * rather than through a volume that lags the Secret by up to a minute. A change to the Secret calls
 * back, and the certificate store reads it again and checks it before serving it.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { CertificateProblem, type CertificatePart, type CertificatePem } from '../downstream/certificate-pair.js';
import type { CertificateSource } from '../downstream/certificate-source.js';
import type { Logger } from '../log.js';
import { describeApiError, isNotFound } from './api-error.js';
import { resolveBackoff, type BackoffPolicy } from './backoff.js';
import { withDeadline } from './deadline.js';
import { RestartingInformer } from './informer.js';

export interface TlsSecretSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  logger: Logger;
  /** Informer restarts. Default 200 ms doubling to 30 s, jitter 0.5. */
  backoff?: Partial<BackoffPolicy>;
  /** One read gives up after this long. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Server-side timeout of each watch. Default 300 s. */
  watchTimeoutSeconds?: number;
}

const KEYS: Record<'cert' | 'key', string> = { cert: 'tls.crt', key: 'tls.key' };

export class TlsSecretSource implements CertificateSource {
  readonly id: string;
  private readonly api: CoreV1Api;
  private readonly log: Logger;

  constructor(private readonly options: TlsSecretSourceOptions) {
    this.id = `secret:${options.namespace}/${options.name}`;
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.log = options.logger.child({ secret: `${options.namespace}/${options.name}` });
  }

  describe(part: CertificatePart): string {
    const secret = `Secret ${this.options.namespace}/${this.options.name}`;
    return part === 'pair' ? secret : `${secret} key ${KEYS[part]}`;
  }

  async read(): Promise<CertificatePem> {
    const { namespace, name } = this.options;
    let secret: V1Secret;
    try {
      secret = await withDeadline(
        this.api.readNamespacedSecret({ name, namespace }),
        this.options.requestTimeoutMs ?? 10_000,
        `read ${this.describe('pair')}`,
      );
    } catch (err) {
      throw new CertificateProblem('pair', isNotFound(err) ? 'not found' : `cannot read: ${describeApiError(err)}`, { cause: err });
    }
    return { cert: this.part(secret, 'cert'), key: this.part(secret, 'key') };
  }

  /** Calls `onChange` after each change to the Secret seen through the API; returns the stop function. */
  watch(onChange: () => void): () => void {
    const { namespace, name } = this.options;
    const fieldSelector = `metadata.name=${name}`;
    let version: string | undefined;
    const informer = new RestartingInformer<V1Secret>({
      kubeConfig: this.options.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector,
      list: () => this.api.listNamespacedSecret({ namespace, fieldSelector }),
      backoff: resolveBackoff(this.options.backoff, 'tls secret'),
      watchTimeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
      onChange: (objects) => {
        // A relist of the version seen last is no change; the first list may differ from what was
        // loaded at start (read again: the same PEMs are no change to the store either).
        const seen = objects.find((o) => o.metadata?.name === name)?.metadata?.resourceVersion;
        if (seen === version) return;
        version = seen;
        onChange();
      },
      log: this.log,
    });
    informer.start();
    return () => void informer.stop();
  }

  private part(secret: V1Secret, part: 'cert' | 'key'): Buffer {
    const value = secret.data?.[KEYS[part]];
    if (value === undefined || value === '') throw new CertificateProblem(part, 'missing from the Secret’s data');
    return Buffer.from(value, 'base64');
  }
}

/**
 * A ConfigMap as the config source (Kubernetes mode): the config YAML is one key of the ConfigMap
 * (default `sluice.yaml`), read and watched through the API server rather than a mounted file — a
 * mount lags the ConfigMap by up to a minute and is read-only. Traffic write-backs are guarded by
 * resourceVersion and redone on a 409, so concurrent writers never lose a change. Design notes:
 * docs/kubernetes.md#the-configmap-source.
 */
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { replaceTraffic } from '../config/file-source.js';
import { parseConfigText, type Config } from '../config/load.js';
import type { TrafficTarget } from '../config/schema.js';
import type { ConfigChange, ConfigSource } from '../config/source.js';
import { ConfigError, SluiceError } from '../errors.js';
import type { Logger } from '../log.js';
import { apiStatusCode, describeApiError, isConflict, isNotFound } from './api-error.js';
import { ApiHealth, type ApiHealthView } from './api-health.js';
import { Backoff, resolveBackoff, type BackoffPolicy } from './backoff.js';
import { RestartingInformer } from './informer.js';

export interface ConfigMapSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** Data key holding the config YAML. Default `sluice.yaml`. */
  key?: string;
  /** Reloads and write retries (info/warn), informer restarts (warn). Default: silent. */
  logger?: Logger;
  /** Informer restarts. Default 200 ms doubling to 30 s, jitter 0.5. */
  backoff?: Partial<BackoffPolicy>;
  /** Waits between attempts of one read or write-back (conflicts, no answer). Default 50 ms doubling to 2 s, jitter 0.5. */
  writeBackoff?: Partial<BackoffPolicy>;
  /** Attempts of one load or traffic write-back before it fails. Default 10. */
  attempts?: number;
  /** Server-side timeout of each watch. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** One API call gives up after this long. Default 10 000 ms. */
  requestTimeoutMs?: number;
}

/** Field manager recorded in the ConfigMap's managedFields for the gateway's writes. */
const FIELD_MANAGER = 'sluice';

export class ConfigMapConfigSource implements ConfigSource {
  readonly description: string;
  private readonly api: CoreV1Api;
  private readonly key: string;
  private readonly log: Logger;
  private readonly health = new ApiHealth((ok, error) => {
    if (ok) this.log.info('API server reachable again (config source)');
    else this.log.warn({ error }, 'API server unreachable (config source); keeping the running config');
  });
  private readonly writeBackoff: BackoffPolicy;
  private readonly attempts: number;
  private readonly requestTimeoutMs: number;
  private informer: RestartingInformer<V1ConfigMap> | undefined;
  /** The text of the running config (loaded, reloaded or written here): seeing it again is no change. */
  private known: string | undefined;
  /** The text of a write in flight: its watch event may arrive before the write's answer. */
  private writing: string | undefined;
  /** Write-backs are serialised: each one starts from the text the previous one wrote. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ConfigMapSourceOptions) {
    this.key = options.key ?? 'sluice.yaml';
    this.description = `configmap ${options.namespace}/${options.name}`;
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ configmap: `${options.namespace}/${options.name}` });
    this.writeBackoff = resolveBackoff({ initialMs: 50, maxMs: 2000, ...options.writeBackoff }, 'configmap source');
    this.attempts = options.attempts ?? 10;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    if (!Number.isInteger(this.attempts) || this.attempts < 1)
      throw new SluiceError('invalid_config', 400, `configmap source: attempts: want an integer ≥ 1, got ${this.attempts}`);
  }

  /** Namespace of the ConfigMap. */
  get namespace(): string {
    return this.options.namespace;
  }

  /** Whether the API server answered this source's last call or watch. */
  apiHealth(): ApiHealthView {
    return this.health.view();
  }

  /** Read and parse the config now. Rejects with a ConfigError when it is missing or invalid. */
  async load(): Promise<Config> {
    const text = this.textOf(await this.read());
    const config = this.parse(text);
    this.known = text;
    return config;
  }

  watch(onChange: (change: ConfigChange) => void): void {
    if (this.informer) return;
    const { namespace, name } = this.options;
    const fieldSelector = `metadata.name=${name}`;
    this.informer = new RestartingInformer<V1ConfigMap>({
      kubeConfig: this.options.kubeConfig,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      fieldSelector,
      list: () => this.api.listNamespacedConfigMap({ namespace, fieldSelector }),
      backoff: resolveBackoff(this.options.backoff, 'configmap source'),
      watchTimeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
      onChange: (objects) => this.observe(objects, onChange),
      onHealth: (ok, err) => (ok ? this.health.answered() : this.health.failed(err)),
      log: this.log,
    });
    this.informer.start();
  }

  updateTraffic(service: string, traffic: TrafficTarget[]): Promise<Config> {
    const run = this.queue.then(() => this.writeTraffic(service, traffic));
    this.queue = run.catch(() => {});
    return run;
  }

  close(): void {
    const informer = this.informer;
    this.informer = undefined;
    void informer?.stop();
  }

  // --- internals ---

  private observe(objects: readonly V1ConfigMap[], onChange: (change: ConfigChange) => void): void {
    const configMap = objects.find((o) => o.metadata?.name === this.options.name);
    if (configMap === undefined) {
      this.log.warn('the ConfigMap is gone; keeping the running config');
      return;
    }
    const text = configMap.data?.[this.key];
    if (text !== undefined && (text === this.known || text === this.writing)) {
      this.known = text;
      return;
    }
    let change: ConfigChange;
    try {
      change = { config: this.parse(this.textOf(configMap)) };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      change = { error: err };
    }
    // Remembered even when invalid: a relist of the same bad text is not reported again.
    this.known = text;
    onChange(change);
  }

  private async writeTraffic(service: string, traffic: TrafficTarget[]): Promise<Config> {
    const { namespace, name } = this.options;
    const backoff = new Backoff(this.writeBackoff);
    for (let attempt = 1; ; attempt++) {
      const current = await this.read();
      const edit = replaceTraffic(this.textOf(current), service);
      edit.set(traffic);
      const next = edit.text();
      const config = this.parse(next); // the whole config, validated: a ConfigError writes nothing
      const body = this.withText(current, next);
      this.writing = next;
      try {
        await this.call(
          this.api.replaceNamespacedConfigMap({ name, namespace, body, fieldManager: FIELD_MANAGER }),
          `write ${this.description}`,
        );
        this.known = next;
        return config;
      } catch (err) {
        if (!isConflict(err) && !retryable(err)) throw writeError(this.description, err);
        if (attempt >= this.attempts) {
          throw isConflict(err)
            ? new SluiceError(
                'conflict',
                409,
                `${this.description}: still changing under this write after ${attempt} attempts; try again`,
                { cause: err },
              )
            : writeError(this.description, err);
        }
        const delay = backoff.next();
        this.log.info(
          { service, attempt, retryInMs: delay, error: describeApiError(err) },
          isConflict(err) ? 'config changed since read; reading again' : 'config write-back failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      } finally {
        this.writing = undefined;
      }
    }
  }

  /** GET the ConfigMap, retrying while the API server does not answer. */
  private async read(): Promise<V1ConfigMap> {
    const { namespace, name } = this.options;
    const backoff = new Backoff(this.writeBackoff);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.call(this.api.readNamespacedConfigMap({ name, namespace }), `read ${this.description}`);
      } catch (err) {
        if (isNotFound(err)) throw new ConfigError([`${this.description}: not found`]);
        if (!retryable(err) || attempt >= this.attempts) {
          throw new SluiceError('unavailable', 503, `${this.description}: cannot read: ${describeApiError(err)}`, { cause: err });
        }
        await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      }
    }
  }

  private call<T>(request: Promise<T>, what: string): Promise<T> {
    return this.health.call(request, this.requestTimeoutMs, what);
  }

  private textOf(configMap: V1ConfigMap): string {
    const text = configMap.data?.[this.key];
    if (text === undefined) throw new ConfigError([`${this.description}: no key "${this.key}" in data`]);
    return text;
  }

  private parse(text: string): Config {
    return parseConfigText(text, `${this.description} key ${this.key}`);
  }

  /** The ConfigMap as read, with the new text: its resourceVersion is the write's precondition. */
  private withText(read: V1ConfigMap, text: string): V1ConfigMap {
    const { managedFields: _managed, ...metadata } = read.metadata ?? {};
    return { ...read, apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { ...read.data, [this.key]: text } };
  }
}

/** No answer, or a 5xx / 429: worth another attempt. */
function retryable(err: unknown): boolean {
  const code = apiStatusCode(err);
  return code === undefined || code >= 500 || code === 429;
}

function writeError(description: string, err: unknown): SluiceError {
  const code = apiStatusCode(err);
  if (code === 403) return new SluiceError('unauthorized', 403, `${description}: write refused: ${describeApiError(err)}`, { cause: err });
  return new SluiceError('unavailable', 503, `${description}: write failed: ${describeApiError(err)}`, { cause: err });
}

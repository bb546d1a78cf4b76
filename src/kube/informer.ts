/**
 * A list-watch informer that keeps going: client-node's informer (ListWatch) re-watches when a watch
 * ends and relists after 410 Gone, but after any other error (API server down, connection cut, list
 * failed) it stops for good. This one restarts it with backoff, resuming from the last
 * resourceVersion, so a restarted API server with history intact costs no relist.
 *
 * Each watch asks for bookmarks (the resourceVersion stays fresh on quiet collections, so a re-watch
 * rarely lands on 410) and a server-side timeout; a watch that outlives that timeout by 30 s is cut
 * on this side, so a half-open connection cannot hide an API server that went away.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { describeApiError } from './api-error.js';
import { Backoff, type BackoffPolicy } from './backoff.js';

export interface RestartingInformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices`. */
  path: string;
  /** The list call for the same collection and selectors. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Delays between restarts after errors. */
  backoff: BackoffPolicy;
  /** Server-side timeout asked for on each watch; the informer re-watches after it. */
  watchTimeoutSeconds: number;
  /** The whole cached set, after each burst of changes (one call per burst, not per object). */
  onChange: (objects: readonly T[]) => void;
  /** A list or watch start succeeded (true) or a failure happened (false, with the error). */
  onHealth?: (ok: boolean, err?: unknown) => void;
  log: Logger;
}

/**
 * A Watch that asks for bookmarks and a timeout, reports each watch that got under way, and can be
 * closed for good. ListWatch.stop() aborts only a watch whose request has already been answered; a
 * stop while the list or the watch request is still on its way would leave that watch running.
 */
class ObservedWatch extends Watch {
  private current: AbortController | undefined;
  private closed = false;

  constructor(
    config: KubeConfig,
    private readonly timeoutSeconds: number,
    private readonly onStarted: () => void,
  ) {
    super(config);
  }

  open(): void {
    this.closed = false;
  }

  /** Abort the running watch, and any that would start from now on until open(). */
  close(): void {
    this.closed = true;
    this.current?.abort();
    this.current = undefined;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void, // eslint-disable-line @typescript-eslint/no-explicit-any
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.closed) {
      const aborted = new AbortController();
      aborted.abort();
      return aborted;
    }
    let finished = false;
    let guard: NodeJS.Timeout | undefined;
    const query = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds };
    const controller = await super.watch(path, query, callback, (err: unknown) => {
      finished = true;
      clearTimeout(guard);
      done(err);
    });
    if (this.closed) {
      controller.abort();
      return controller;
    }
    this.current = controller;
    if (!finished) {
      guard = setTimeout(() => controller.abort(), (this.timeoutSeconds + 30) * 1000);
      guard.unref();
      this.onStarted();
    }
    return controller;
  }
}

export class RestartingInformer<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private readonly watch: ObservedWatch;
  private readonly backoff: Backoff;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private changePending = false;

  constructor(private readonly options: RestartingInformerOptions<T>) {
    this.backoff = new Backoff(options.backoff);
    this.watch = new ObservedWatch(options.kubeConfig, options.watchTimeoutSeconds, () => this.healthy());
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await options.list();
      this.healthy();
      return result;
    };
    this.listWatch = new ListWatch<T>(options.path, this.watch, list, false, options.labelSelector, options.fieldSelector);
    this.listWatch.on('add', () => this.changed());
    this.listWatch.on('update', () => this.changed());
    this.listWatch.on('delete', () => this.changed());
    this.listWatch.on('error', (err?: unknown) => this.failed(err));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.watch.open();
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.watch.close();
    await this.listWatch.stop();
  }

  /** The cached objects (kept through errors: the last known state). */
  objects(): readonly T[] {
    return this.listWatch.list();
  }

  private run(): void {
    this.listWatch.start().catch((err: unknown) => this.failed(err));
  }

  private healthy(): void {
    if (this.stopped) return;
    this.backoff.reset();
    this.options.onHealth?.(true);
  }

  private failed(err: unknown): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    const delay = this.backoff.next();
    this.options.log.warn({ path: this.options.path, error: describeApiError(err), restartInMs: delay }, 'informer failed; restarting');
    this.options.onHealth?.(false, err);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.run();
    }, delay);
  }

  private changed(): void {
    if (this.changePending) return;
    this.changePending = true;
    queueMicrotask(() => {
      this.changePending = false;
      if (!this.stopped) this.options.onChange(this.listWatch.list());
    });
  }
}

/**
 * One revision's pods, listed every `intervalMs` while someone wants them (a revision that wants
 * replicas and has none ready) and not at all otherwise: a list, not a watch, because pods matter
 * only for the seconds a revision is starting, and a watch per revision on every pod change would
 * cost the API server far more. At most one list is in flight; the next starts `intervalMs` after
 * the last one ended. A 403 ends polling for good: the caller is told once, and conditions then
 * rest on the Deployment alone.
 */
import type { V1Pod, V1PodList } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { apiStatusCode, describeApiError } from './api-error.js';

export interface PodPollerOptions {
  /** One list call for the pods matching `labelSelector` (its deadline and health verdict included). */
  list: (labelSelector: string) => Promise<V1PodList>;
  /** Between the end of one list and the start of the next. */
  intervalMs: number;
  /** Each list's pods, while still wanted with the same selector. */
  onPods: (pods: readonly V1Pod[]) => void;
  /** The API server refused (403): polling has stopped for good. */
  onForbidden: (err: unknown) => void;
  /** Already known to be refused (another revision in the namespace was): never list. */
  forbidden: () => boolean;
  log: Logger;
}

export class PodPoller {
  private selector: string | undefined;
  /** Bumped on every start and stop, so a list answered after either is dropped. */
  private generation = 0;
  private inFlight = false;
  private timer: NodeJS.Timeout | undefined;
  private refused = false;

  constructor(private readonly options: PodPollerOptions) {}

  /** Whether pods are being listed. */
  get polling(): boolean {
    return this.selector !== undefined;
  }

  /** Poll the pods matching `selector` (the first list at once), or stop with undefined; the same selector again is a no-op. */
  want(selector: string | undefined): void {
    if (selector === this.selector) return;
    if (selector !== undefined && (this.refused || this.options.forbidden())) return;
    this.selector = selector;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (selector !== undefined && !this.inFlight) void this.poll();
  }

  stop(): void {
    this.want(undefined);
  }

  private async poll(): Promise<void> {
    const selector = this.selector;
    if (selector === undefined) return;
    const generation = this.generation;
    this.inFlight = true;
    try {
      const list = await this.options.list(selector);
      if (generation === this.generation) this.options.onPods(list.items);
    } catch (err) {
      if (apiStatusCode(err) === 403) {
        this.refused = true;
        this.stop();
        this.options.onForbidden(err);
      } else {
        this.options.log.debug({ error: describeApiError(err) }, 'listing pods failed; trying again');
      }
    } finally {
      this.inFlight = false;
    }
    if (this.selector === undefined) return;
    // Restarted with another selector while this list was out: list at once for it.
    if (generation !== this.generation) void this.poll();
    else
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.poll();
      }, this.options.intervalMs);
  }
}

/**
 * Whether the API server answers, as one component sees it: every call or informer start that
 * reached a verdict reports here. An HTTP answer below 500 (a 404 or a 409 included) proves the
 * server is there; no answer (refused, reset, timed out) or a 5xx does not.
 */
import { apiStatusCode, describeApiError, isConflict } from './api-error.js';
import { withDeadline } from './deadline.js';

export interface ApiHealthView {
  /** The API server answered the last call (or informer start) that reached a verdict; 5xx counts as no answer. */
  apiReachable: boolean;
  /** The most recent failure, kept after recovery. */
  lastError?: string;
  /** Wall-clock ms since apiReachable has had its current value. */
  since?: number;
}

export class ApiHealth {
  private readonly state: ApiHealthView;

  constructor(
    private readonly onChange: (reachable: boolean, lastError: string | undefined) => void = () => {},
    now: number = Date.now(),
  ) {
    this.state = { apiReachable: true, since: now };
  }

  answered(): void {
    if (this.state.apiReachable) return;
    this.state.apiReachable = true;
    this.state.since = Date.now();
    this.onChange(true, this.state.lastError);
  }

  failed(err: unknown): void {
    this.state.lastError = describeApiError(err);
    const code = apiStatusCode(err);
    if (code !== undefined && code < 500) return this.answered();
    if (!this.state.apiReachable) return;
    this.state.apiReachable = false;
    this.state.since = Date.now();
    this.onChange(false, this.state.lastError);
  }

  /**
   * One API call under a deadline, its verdict recorded here. A 409 the caller expects (a write
   * guarded by resourceVersion that lost a race) proves the server answered without becoming the
   * last error.
   *
   * @example const scale = await health.call(apps.readNamespacedDeploymentScale({ name, namespace }), 10_000, `read ${namespace}/${name}/scale`);
   */
  async call<T>(request: Promise<T>, timeoutMs: number, what: string, conflictExpected = false): Promise<T> {
    try {
      const result = await withDeadline(request, timeoutMs, what);
      this.answered();
      return result;
    } catch (err) {
      if (conflictExpected && isConflict(err)) this.answered();
      else this.failed(err);
      throw err;
    }
  }

  view(): ApiHealthView {
    return { ...this.state };
  }
}

/**
 * Several components' views as one: unreachable when any of them says so, since the earliest of
 * those that do; reachable since the latest recovery otherwise.
 *
 * @example combineHealth([{ apiReachable: true, since: 5 }, { apiReachable: false, since: 9 }]) // → { apiReachable: false, since: 9 }
 */
export function combineHealth(views: readonly ApiHealthView[]): ApiHealthView {
  const down = views.filter((v) => !v.apiReachable);
  const pick = down.length > 0 ? down : views;
  const sinces = pick.map((v) => v.since).filter((s): s is number => s !== undefined);
  const since = sinces.length === 0 ? undefined : down.length > 0 ? Math.min(...sinces) : Math.max(...sinces);
  const errors = views.filter((v) => v.lastError !== undefined);
  const lastError = (down.find((v) => v.lastError !== undefined) ?? errors[0])?.lastError;
  const out: ApiHealthView = { apiReachable: down.length === 0 };
  if (since !== undefined) out.since = since;
  if (lastError !== undefined) out.lastError = lastError;
  return out;
}

/**
 * The one way traffic changes: from the admin API, the CLI and the rollout controller alike.
 * A change is validated, pre-warmed when it is a blue/green flip, persisted to the config source,
 * then applied to the gateway in one step. Changes are serialised.
 *
 * Blue/green: when a revision goes to 100 % and has fewer ready replicas than the revisions it
 * takes over from (blue), it is first scaled to blue's ready count and the flip waits until those
 * replicas are ready; blue then keeps its replicas for `keepWarmMs`, so flipping back is instant.
 * Worked example: blue has 4 ready, green 0 → green floor 4, wait for 4 ready green endpoints, flip,
 * blue floor 4 for 2 minutes. A green revision that is Failed (it cannot start), or goes Failed while
 * it is pre-warmed, is refused at once with 409 revision_failed naming why; traffic stays as it was.
 */
import { parseTraffic, type Config, type Service } from '../config/load.js';
import type { TrafficTarget } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { SluiceError } from '../errors.js';
import { quote } from '../quote.js';
import type { Gateway } from '../gateway/gateway.js';
import type { RevisionRuntime } from '../gateway/revision.js';
import type { Logger } from '../log.js';
import { failedCondition, revisionFailedError } from './revision-failure.js';

export interface TrafficChangeOptions {
  /** How long revisions that lost all traffic keep their replicas. Default: the controller's. */
  keepWarmMs?: number;
  /** How long a blue/green flip waits for green's replicas before giving up. Default: the controller's. */
  prewarmTimeoutMs?: number;
  /** Why (for logs and events): `api`, `rollout`, `rollback`… */
  reason?: string;
  /**
   * Pre-warm a revision taking 100 % (blue/green), and refuse it when it is Failed. Default true; a
   * rollback or an abort skips both: the stable revision was kept warm, and sending traffic back
   * must neither wait nor be refused.
   */
  prewarm?: boolean;
}

export interface TrafficControllerOptions {
  gateway: Gateway;
  source: ConfigSource;
  logger: Logger;
  /** Default 120 000 ms. */
  keepWarmMs?: number;
  /** Default 120 000 ms. */
  prewarmTimeoutMs?: number;
  /** Called after every applied change (rollout bookkeeping, events). */
  onChange?: (service: string, traffic: TrafficTarget[], reason: string) => void;
}

export class TrafficController {
  private current: Config;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: TrafficControllerOptions,
    initial: Config,
  ) {
    this.current = initial;
  }

  get config(): Config {
    return this.current;
  }

  service(name: string): Service {
    const svc = this.current.services.find((s) => s.name === name);
    if (!svc) throw new SluiceError('not_found', 404, `service ${quote(name)} not found`);
    return svc;
  }

  /** A whole new config (file watch, SIGHUP, ConfigMap): applied as it is. */
  reload(config: Config): void {
    this.options.gateway.apply(config);
    this.current = config;
  }

  /**
   * Validate and apply a new traffic block for `service`. Rejects with a ConfigError (400) naming
   * each problem, leaving the running traffic untouched.
   */
  setTraffic(service: string, body: unknown, opts: TrafficChangeOptions = {}): Promise<TrafficTarget[]> {
    const run = this.queue.then(() => this.change(service, body, opts));
    this.queue = run.catch(() => {});
    return run;
  }

  private async change(name: string, body: unknown, opts: TrafficChangeOptions): Promise<TrafficTarget[]> {
    const svc = this.service(name);
    const traffic = parseTraffic(svc, body);
    const reason = opts.reason ?? 'api';
    if (opts.prewarm ?? (reason !== 'rollback' && reason !== 'abort')) await this.prewarm(name, svc.traffic, traffic, opts);
    const config = await this.options.source.updateTraffic(name, traffic);
    this.keepWarm(name, svc.traffic, traffic, opts);
    this.reload(config);
    this.options.logger.info(
      { service: name, traffic, reason },
      `traffic for ${name}: ${traffic.map((t) => `${t.revision}=${t.percent}`).join(' ')} (${reason})`,
    );
    this.options.onChange?.(name, traffic, reason);
    return traffic;
  }

  private revision(service: string, name: string): RevisionRuntime | undefined {
    for (const rev of this.options.gateway.revisions()) if (rev.service === service && rev.name === name) return rev;
    return undefined;
  }

  /** Blue/green: before a revision takes 100 %, give it as many ready replicas as blue has. */
  private async prewarm(service: string, before: TrafficTarget[], after: TrafficTarget[], opts: TrafficChangeOptions): Promise<void> {
    const green = after.find((t) => t.percent === 100);
    if (!green || before.find((t) => t.revision === green.revision)?.percent === 100) return;
    const rev = this.revision(service, green.revision);
    if (rev === undefined) return;
    // Everything to a revision that cannot start would answer every request 503 revision_failed.
    const failed = failedCondition(rev);
    if (failed !== undefined) throw revisionFailedError(rev.key, failed);
    let blueReady = 0;
    for (const t of before)
      if (t.percent > 0 && t.revision !== green.revision) blueReady += this.revision(service, t.revision)?.endpoints.length ?? 0;
    // A static revision has the endpoints it has: nothing to scale, nothing to wait for.
    if (rev.spec.backend === 'static' || blueReady === 0 || rev.endpoints.length >= blueReady) return;
    // Green cannot go past its own max-scale.
    if (rev.spec.scaling.maxScale > 0) blueReady = Math.min(blueReady, rev.spec.scaling.maxScale);
    if (rev.endpoints.length >= blueReady) return;
    const timeoutMs = opts.prewarmTimeoutMs ?? this.options.prewarmTimeoutMs ?? 120_000;
    const keepMs = opts.keepWarmMs ?? this.options.keepWarmMs ?? 120_000;
    rev.floor = { replicas: blueReady, until: Date.now() + timeoutMs + keepMs };
    if (rev.replicas.desired < blueReady) rev.driver.setReplicas(rev.key, blueReady);
    this.options.logger.info(
      { service, revision: green.revision, replicas: blueReady },
      `pre-warming ${green.revision} to ${blueReady} ready replicas`,
    );
    const deadline = Date.now() + timeoutMs;
    while (rev.endpoints.length < blueReady) {
      // Checked every 20 ms, as the ready count is: a green that cannot start is refused now, not at the deadline.
      const failing = failedCondition(rev);
      if (failing !== undefined) {
        rev.floor = undefined;
        throw revisionFailedError(
          rev.key,
          failing,
          `pre-warming ${green.revision} to ${blueReady} ready ${blueReady === 1 ? 'replica' : 'replicas'}`,
        );
      }
      if (Date.now() > deadline) {
        rev.floor = undefined;
        throw new SluiceError(
          'activation_timeout',
          504,
          `${green.revision} had ${rev.endpoints.length} of ${blueReady} ready replicas after ${timeoutMs} ms; traffic unchanged`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Revisions that just lost all their traffic keep their replicas for a while (instant rollback). */
  private keepWarm(service: string, before: TrafficTarget[], after: TrafficTarget[], opts: TrafficChangeOptions): void {
    const keepMs = opts.keepWarmMs ?? this.options.keepWarmMs ?? 120_000;
    if (keepMs <= 0) return;
    for (const t of before) {
      if (t.percent === 0 || (after.find((a) => a.revision === t.revision)?.percent ?? 0) > 0) continue;
      const rev = this.revision(service, t.revision);
      if (rev && rev.endpoints.length > 0) rev.floor = { replicas: rev.endpoints.length, until: Date.now() + keepMs };
    }
  }
}

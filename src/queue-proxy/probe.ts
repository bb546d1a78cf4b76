/**
 * The app's readiness, as the kubelet sees it through the queue-proxy: `GET upstream + readinessPath`,
 * 200–399 = ready, bounded by a timeout. Probed in the background every second (so state changes are
 * logged and /healthz can show the app), and on demand when /readyz asks and the last answer is older
 * than `cacheMs`; concurrent askers share one probe in flight.
 */
import { Agent } from 'node:http';
import type { Logger } from '../log.js';
import { probe, type ProbeResult } from '../scaler/readiness-probe.js';

export interface AppProbeOptions {
  /** The app's origin, `http://HOST:PORT`. */
  upstream: string;
  /** Readiness path, starting with `/`. */
  path: string;
  /** A probe with no response head in this time counts as not ready. Default 1000 ms. */
  timeoutMs?: number;
  /** An answer younger than this is reused by /readyz. Default 100 ms. */
  cacheMs?: number;
  /** Background probe period; 0 = on demand only. Default 1000 ms. */
  intervalMs?: number;
  logger: Logger;
}

export type AppState = ProbeResult | 'unknown';

export class AppProbe {
  /** Last answer: `ready`, `not-ready` (answered otherwise, or timed out), `refused` (nothing listens). */
  state: AppState = 'unknown';
  /** When `state` was measured (ms); 0 = never. */
  checkedAt = 0;
  private inFlight: Promise<AppState> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  // One keep-alive socket: a probe every 100 ms reuses it instead of leaving sockets in TIME_WAIT.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly options: AppProbeOptions) {
    const url = new URL(options.upstream);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || 80);
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.cacheMs = options.cacheMs ?? 100;
  }

  start(): void {
    const interval = this.options.intervalMs ?? 1000;
    if (interval <= 0 || this.timer !== undefined) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.agent.destroy();
  }

  /** Whether the app is ready now: the cached answer when fresh, else a new probe. */
  async ready(now = Date.now()): Promise<boolean> {
    if (this.checkedAt !== 0 && now - this.checkedAt < this.cacheMs) return this.state === 'ready';
    return (await this.check()) === 'ready';
  }

  /** Probe now (joining one already in flight). Never rejects. */
  check(): Promise<AppState> {
    this.inFlight ??= probe({
      host: this.host,
      port: this.port,
      path: this.options.path,
      agent: this.agent,
      timeoutMs: this.timeoutMs,
    }).then((result) => {
      this.inFlight = undefined;
      if (result !== this.state) this.options.logger.info({ app: result, was: this.state }, `app is ${result}`);
      this.state = result;
      this.checkedAt = Date.now();
      return result;
    });
    return this.inFlight;
  }
}

/**
 * Polls a set of `GET /api/v1/stats` URLs once a second: the one reader behind both sources of
 * outside samples — the leader reading its peer gateways (autoscaler/peer-stats.ts) and a gateway
 * reading each endpoint's queue-proxy (autoscaler/queue-proxy-reader.ts). What to ask and what an
 * answer must look like come from the caller; the polling, deadlines, token and bookkeeping are here.
 *
 * Rounds start `offsetMs` after each wall-clock second, so each reads the second that just ended
 * (clocks agree to a few ms under NTP). Every target is asked in parallel within one deadline; one
 * that does not answer in time, refuses, or answers something that is not stats is left out of that
 * round and counted `silent`, never fatal. A round still running at the next boundary (every target
 * slow) is not doubled up.
 *
 * An answer carries the last few seconds, so the seconds of a missed poll arrive with the next one
 * (late, but not lost); `fresh()` passes each second of a target on exactly once.
 *
 * @example
 * const scraper = new StatsScraper({ targets: () => urls, parse: queueProxySample, onRound: (round) => … });
 * scraper.start();
 */
import type { Agent } from 'undici';
import type { Logger } from '../log.js';

/** One target's good answer. */
export interface Scraped<T> {
  url: string;
  stats: T;
  /** Scraper's clock when the answer arrived. */
  receivedAt: number;
}

export interface ScrapeRound<T> {
  /** Scraper's clock when the round started. */
  at: number;
  /** The targets that answered, in target order. */
  answers: Scraped<T>[];
  /** Targets that did not. */
  silent: number;
}

export interface StatsScraperOptions<T> {
  /** The stats URLs to ask, read at the start of every round. */
  targets: () => readonly string[];
  /** A 200 answer's JSON as the caller wants it, or undefined when it is not stats (the target is silent). */
  parse: (body: unknown) => T | undefined;
  /** Called after every round, timed or poll(). */
  onRound?: (round: ScrapeRound<T>) => void;
  /** Round period. Default 1000 ms. */
  intervalMs?: number;
  /** A round starts this long after each period boundary. Default 100 ms. */
  offsetMs?: number;
  /** Per-target deadline for the whole answer. Default 500 ms (a round ends well within its second). */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer <token>`, when the targets require one. */
  token?: string;
  /** Wall clock, ms. Default Date.now. */
  now?: () => number;
  /** Why a target was silent, at debug level. */
  logger?: Pick<Logger, 'debug'>;
}

export class StatsScraper<T> {
  /** Per current target, and per part of its answers (e.g. a revision): the newest second passed on. */
  private readonly taken = new Map<string, Map<string, number>>();
  private readonly lastAnswers = new Map<string, Scraped<T>>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<ScrapeRound<T>> | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly offsetMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly headers: Record<string, string>;
  // Keep-alive connections, one or two per target: a round costs no connect once warm. undici is
  // loaded with the first round: most gateways never poll anything.
  private agent: Agent | undefined;
  private undici: Promise<typeof import('undici')> | undefined;

  constructor(private readonly options: StatsScraperOptions<T>) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.offsetMs = options.offsetMs ?? 100;
    this.timeoutMs = options.timeoutMs ?? 500;
    this.now = options.now ?? Date.now;
    this.headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
  }

  /** Poll every interval until stop() or close(). */
  start(): void {
    if (this.timer !== undefined || this.closed) return;
    this.schedule();
  }

  /** Stop polling; start() resumes. Connections stay open until they idle out. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stop for good: waits for a running round and closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    await this.round?.catch(() => {});
    await this.agent?.close();
  }

  /** One round now (joins one already running). */
  poll(): Promise<ScrapeRound<T>> {
    this.round ??= this.runRound().finally(() => (this.round = undefined));
    return this.round;
  }

  /** Each current target's last good answer (also of those silent since; see `receivedAt`). */
  last(): ReadonlyMap<string, Scraped<T>> {
    return this.lastAnswers;
  }

  /** Forget what is kept for targets no longer listed (done at every round; call it to do it now). */
  retain(): void {
    this.keepOnly(this.options.targets());
  }

  private keepOnly(urls: readonly string[]): void {
    const keep = new Set(urls);
    for (const url of this.taken.keys()) {
      if (keep.has(url)) continue;
      this.taken.delete(url);
      this.lastAnswers.delete(url);
    }
  }

  /**
   * The seconds of `seconds` (oldest first) newer than any passed on before for this target and
   * `part`; nothing for a target no longer listed. Answers that overlap (a poll every second, five
   * seconds in each) so give each second once.
   */
  fresh<S extends { second: number }>(url: string, seconds: readonly S[], part = ''): S[] {
    const taken = this.taken.get(url);
    if (taken === undefined) return [];
    const last = taken.get(part) ?? -Infinity;
    let newest = last;
    const out: S[] = [];
    for (const s of seconds) {
      if (s.second <= last) continue;
      out.push(s);
      newest = Math.max(newest, s.second);
    }
    taken.set(part, newest);
    return out;
  }

  private schedule(): void {
    const now = this.now();
    // Next boundary + offset: interval 1000, offset 100, now …4.950 → …5.100.
    const next = Math.floor((now - this.offsetMs) / this.intervalMs + 1) * this.intervalMs + this.offsetMs;
    this.timer = setTimeout(() => {
      if (this.closed) return;
      if (this.round === undefined) void this.poll();
      this.schedule();
    }, next - now);
    this.timer.unref();
  }

  private async runRound(): Promise<ScrapeRound<T>> {
    const at = this.now();
    const urls = [...this.options.targets()];
    this.keepOnly(urls);
    for (const url of urls) if (!this.taken.has(url)) this.taken.set(url, new Map());
    const answers = await Promise.all(urls.map((url) => this.read(url)));
    const round: ScrapeRound<T> = { at, answers: [], silent: 0 };
    for (const answer of answers) {
      if (answer === undefined) {
        round.silent++;
        continue;
      }
      round.answers.push(answer);
      // A target dropped while the round ran keeps nothing.
      if (this.taken.has(answer.url)) this.lastAnswers.set(answer.url, answer);
    }
    this.options.onRound?.(round);
    return round;
  }

  /** One target's answer, or undefined when it is silent (no answer in time, not 200, or not stats). */
  private async read(url: string): Promise<Scraped<T> | undefined> {
    try {
      const { Agent, request } = await (this.undici ??= import('undici'));
      if (this.closed) return undefined;
      this.agent ??= new Agent({ connections: 2, keepAliveTimeout: 10_000, connect: { timeout: this.timeoutMs } });
      const res = await request(url, {
        dispatcher: this.agent,
        headers: this.headers,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        this.options.logger?.debug({ url, status: res.statusCode }, 'stats refused');
        return undefined;
      }
      const stats = this.options.parse(await res.body.json());
      if (stats === undefined) this.options.logger?.debug({ url }, 'not a stats answer');
      return stats === undefined ? undefined : { url, stats, receivedAt: this.now() };
    } catch (err) {
      this.options.logger?.debug({ url, err: (err as Error).message }, 'stats unavailable');
      return undefined;
    }
  }
}

/**
 * Peer aggregation: the leader asks every other gateway replica for its recent per-second
 * concurrency and request counts (`GET /api/v1/stats` on their admin port) once a second and adds
 * them to its own, so the decider sees the revision-wide total. Polling and silent peers are the
 * StatsScraper's: a silent or failing peer is skipped for that round, never fatal.
 *
 * Worked example: replicas A (leader) and B each hold 10 requests to iris for a whole second →
 * A's windows read 20 for that second.
 */
import type { RevisionKey } from '../core/revision.js';
import type { Logger } from '../log.js';
import type { ExternalBuckets } from '../stats/external-buckets.js';
import { gatewaySample, type GatewayStatsSample } from '../stats/stats-json.js';
import { StatsScraper, type ScrapeRound } from '../stats/stats-scraper.js';

/** What this reads of a revision (the gateway's RevisionRuntime). */
export interface PeerStatsRevision {
  readonly key: RevisionKey;
  external(): ExternalBuckets;
}

export interface PeerStatsOptions {
  /** Admin base URLs of the other replicas (not this one), e.g. `http://10.0.0.7:8081`. */
  peers: () => readonly string[];
  revisions: () => Iterable<PeerStatsRevision>;
  /** Bearer token for the peers' admin APIs. */
  token?: string;
  logger: Logger;
  /** Default 1000 ms. */
  intervalMs?: number;
  /** Per-peer deadline for the whole answer. Default 500 ms. */
  timeoutMs?: number;
}

export class PeerStatsCollector {
  private readonly scraper: StatsScraper<GatewayStatsSample>;
  /** Peers that answered in the last round (for status). */
  lastAnswered = 0;

  constructor(private readonly options: PeerStatsOptions) {
    this.scraper = new StatsScraper({
      targets: () => options.peers().map((peer) => `${peer}/api/v1/stats`),
      parse: gatewaySample,
      onRound: (round) => this.take(round),
      intervalMs: options.intervalMs,
      timeoutMs: options.timeoutMs,
      token: options.token,
      logger: options.logger,
    });
  }

  start(): void {
    this.scraper.start();
  }

  stop(): void {
    this.scraper.stop();
  }

  /** One round: ask every peer, add what is new. Public so tests can drive it. */
  async collect(): Promise<void> {
    await this.scraper.poll();
  }

  /** Each peer's seconds not added before go on top of this gateway's own (`external()`). */
  private take(round: ScrapeRound<GatewayStatsSample>): void {
    const byKey = new Map<string, PeerStatsRevision>();
    for (const rev of this.options.revisions()) byKey.set(rev.key, rev);
    this.lastAnswered = round.answers.length;
    for (const { url, stats } of round.answers) {
      for (const r of stats.revisions) {
        const key = `${r.service}/${r.revision}`;
        const rev = byKey.get(key);
        if (rev === undefined) continue;
        const external = rev.external();
        for (const s of this.scraper.fresh(url, r.seconds, key)) external.add(s.second, s.concurrency, s.requests);
      }
    }
  }
}

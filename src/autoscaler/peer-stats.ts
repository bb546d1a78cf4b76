/**
 * Peer aggregation: the leader asks every other gateway replica for its recent per-second
 * concurrency and request counts (`GET /api/v1/stats` on their admin port) once a second and adds
 * them to its own, so the decider sees the revision-wide total. A silent or failing peer is skipped
 * for that round, never fatal.
 *
 * Worked example: replicas A (leader) and B each hold 10 requests to iris for a whole second →
 * A's windows read 20 for that second.
 */
import { request } from 'undici';
import type { RevisionRuntime } from '../gateway/revision.js';
import type { Logger } from '../log.js';

interface PeerSecond {
  second: number;
  concurrency: number;
  requests: number;
}

interface PeerAnswer {
  revisions: Array<{ service: string; revision: string; seconds: PeerSecond[] }>;
}

export interface PeerStatsOptions {
  /** Admin base URLs of the other replicas (not this one), e.g. `http://10.0.0.7:8081`. */
  peers: () => readonly string[];
  revisions: () => Iterable<RevisionRuntime>;
  /** Bearer token for the peers' admin APIs. */
  token?: string;
  logger: Logger;
  /** Default 1000 ms. */
  intervalMs?: number;
  /** Per-peer request timeout. Default 500 ms. */
  timeoutMs?: number;
}

export class PeerStatsCollector {
  /** Per peer and revision key: the last second already added, so repeats are not counted twice. */
  private readonly seen = new Map<string, Map<string, number>>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Peers that answered in the last round (for status). */
  lastAnswered = 0;

  constructor(private readonly options: PeerStatsOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.collect(), this.options.intervalMs ?? 1000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: ask every peer, add what is new. Public so tests can drive it. */
  async collect(): Promise<void> {
    if (this.running) return; // a slow round is not stacked on
    this.running = true;
    try {
      const peers = this.options.peers();
      const byKey = new Map<string, RevisionRuntime>();
      for (const rev of this.options.revisions()) byKey.set(rev.key, rev);
      const answers = await Promise.all(peers.map((peer) => this.ask(peer)));
      this.lastAnswered = 0;
      answers.forEach((answer, i) => {
        if (answer === undefined) return;
        this.lastAnswered++;
        const peer = peers[i]!;
        let seen = this.seen.get(peer);
        if (!seen) this.seen.set(peer, (seen = new Map()));
        for (const r of answer.revisions) {
          const key = `${r.service}/${r.revision}`;
          const rev = byKey.get(key);
          if (!rev) continue;
          const external = rev.external(true);
          let last = seen.get(key) ?? -Infinity;
          for (const s of r.seconds) {
            if (s.second <= last) continue;
            external.add(s.second, s.concurrency, s.requests);
            last = s.second;
          }
          seen.set(key, last);
        }
      });
      for (const peer of this.seen.keys()) if (!peers.includes(peer)) this.seen.delete(peer);
    } finally {
      this.running = false;
    }
  }

  private async ask(peer: string): Promise<PeerAnswer | undefined> {
    const timeout = this.options.timeoutMs ?? 500;
    try {
      const res = await request(`${peer}/api/v1/stats`, {
        headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout * 2),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        this.options.logger.debug({ peer, status: res.statusCode }, 'peer stats refused');
        return undefined;
      }
      return (await res.body.json()) as PeerAnswer;
    } catch (err) {
      this.options.logger.debug({ peer, err: (err as Error).message }, 'peer stats unavailable');
      return undefined;
    }
  }
}

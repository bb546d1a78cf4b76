/**
 * What every request the gateway serves does as it leaves its endpoint and once its outcome is
 * known — a proxied exchange (exchange.ts), an HTTP/1.1 upgrade (upgrade.ts) and a WebSocket over
 * HTTP/2 (websocket-tunnel.ts) alike — and the headers that name the revision on its answer.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { RevisionRuntime } from './revision.js';

/** The part of the gateway that releases held requests once an endpoint has room (ExchangeContext). */
interface Releaser {
  released(rev: RevisionRuntime, now: number): void;
}

/** The endpoint and the revision have one request fewer in flight; held requests may go. */
export function leaveEndpoint(ctx: Releaser, rev: RevisionRuntime, endpoint: Endpoint): void {
  endpoint.inflight--;
  rev.stats.end();
  ctx.released(rev, Date.now());
}

/** The request's status and duration in the revision's statistics. */
export function recordOutcome(rev: RevisionRuntime, status: number, startedAt: number): void {
  const now = Date.now();
  rev.stats.record(status, (now - startedAt) / 1000, now);
}

/**
 * Headers the gateway adds to an answer: Sluice-Revision (and Sluice-Cold-Start after a cold start)
 * when it announces the revision, and a sticky session's new cookie.
 */
export function announcedHeaders(announce: boolean, revision: string, coldStartMs: number, setCookie: string | undefined): string[] {
  const extra = !announce
    ? []
    : coldStartMs >= 0
      ? ['sluice-revision', revision, 'sluice-cold-start', String(coldStartMs)]
      : ['sluice-revision', revision];
  if (setCookie !== undefined) extra.push('set-cookie', setCookie);
  return extra;
}

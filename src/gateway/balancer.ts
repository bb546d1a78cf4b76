/**
 * Endpoint choice within a revision: the endpoint with the fewest requests in flight among those
 * with free capacity (a limit per endpoint, 0 = unbounded: containerConcurrency, or the
 * activator's share during a cold start); ties take turns. Up to 16 endpoints a linear scan is
 * cheapest; beyond that, power of two random choices, falling back to a scan when both are full.
 */
import type { Endpoint } from '../core/endpoint.js';

const SCAN_LIMIT = 16;

function hasRoom(ep: Endpoint, cc: number): boolean {
  // The clock is read only for an ejected endpoint (rare), never on the common path.
  return !ep.draining && (cc === 0 || ep.inflight < cc) && (ep.ejectedUntil === 0 || ejectionOver(ep));
}

function ejectionOver(ep: Endpoint): boolean {
  if (Date.now() < ep.ejectedUntil) return false;
  ep.ejectedUntil = 0;
  return true;
}

/** Rotates where a scan starts, so ties (idle endpoints under light load) take turns. */
let rotation = 0;

function scan(endpoints: readonly Endpoint[], cc: number): Endpoint | undefined {
  const n = endpoints.length;
  const start = n > 1 ? rotation++ % n : 0;
  let best: Endpoint | undefined;
  for (let k = 0; k < n; k++) {
    const ep = endpoints[(start + k) % n]!;
    if (hasRoom(ep, cc) && (best === undefined || ep.inflight < best.inflight)) best = ep;
  }
  return best;
}

/** The endpoint to send the next request to, or undefined when none has room (hold the request). */
export function pickEndpoint(endpoints: readonly Endpoint[], cc: number): Endpoint | undefined {
  const n = endpoints.length;
  if (n <= SCAN_LIMIT) return scan(endpoints, cc);
  const a = endpoints[(Math.random() * n) | 0]!;
  const b = endpoints[(Math.random() * n) | 0]!;
  const pick = a.inflight <= b.inflight ? a : b;
  if (hasRoom(pick, cc)) return pick;
  const other = pick === a ? b : a;
  return hasRoom(other, cc) ? other : scan(endpoints, cc);
}

/** Like pickEndpoint, skipping the endpoints in `except` (ones a request already failed on). Retry path only. */
export function pickEndpointExcept(endpoints: readonly Endpoint[], cc: number, ...except: Endpoint[]): Endpoint | undefined {
  let best: Endpoint | undefined;
  for (const ep of endpoints) {
    if (!except.includes(ep) && hasRoom(ep, cc) && (best === undefined || ep.inflight < best.inflight)) best = ep;
  }
  return best;
}

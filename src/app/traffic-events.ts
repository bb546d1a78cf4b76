/**
 * `traffic` events: one for a change made through the traffic controller, and one per service whose
 * traffic block a reloaded config changed (a service added counts; one removed is not told).
 */
import type { Config } from '../config/load.js';
import type { TrafficTarget } from '../config/schema.js';
import type { EventInput } from '../core/gateway-event.js';

/** `{ revision, percent, tag? }` per target, the tag left out when there is none. */
function targets(traffic: readonly TrafficTarget[]): Array<{ revision: string; percent: number; tag?: string }> {
  return traffic.map((t) =>
    t.tag === undefined ? { revision: t.revision, percent: t.percent } : { revision: t.revision, percent: t.percent, tag: t.tag },
  );
}

function changed(service: string, traffic: readonly TrafficTarget[]): EventInput {
  return { type: 'traffic', service, fields: { traffic: targets(traffic) } };
}

/** Events for the services whose traffic differs between two configs, in `after`'s order. */
function between(before: Config, after: Config): EventInput[] {
  const old = new Map(before.services.map((s) => [s.name, JSON.stringify(targets(s.traffic))]));
  return after.services.filter((s) => old.get(s.name) !== JSON.stringify(targets(s.traffic))).map((s) => changed(s.name, s.traffic));
}

export const trafficEvents = { changed, between };

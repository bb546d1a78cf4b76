import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/core/event-bus.js';
import type { EventInput, EventType, GatewayEvent } from '../src/core/gateway-event.js';

const T0 = Date.UTC(2026, 11, 2, 6, 1, 2, 345);

/** Event n of a sequence: types cycle scale, cold_start, config_reload so filters have something to pick. */
function input(n: number): EventInput {
  switch (n % 3) {
    case 0:
      return { type: 'scale', service: 'demo', revision: 'demo-00001', fields: { from: n, to: n + 1, reason: 'decider' } };
    case 1:
      return { type: 'cold_start', service: 'demo', revision: 'demo-00001', fields: { heldMs: n, held: 1 } };
    default:
      return { type: 'config_reload', fields: { ok: true } };
  }
}

describe('EventBus', () => {
  const rows: Array<{
    label: string;
    capacity: number;
    published: number;
    after: number;
    types?: EventType[];
    wantIds: number[];
  }> = [
    { label: 'nothing published', capacity: 5, published: 0, after: 0, wantIds: [] },
    { label: 'everything, ids from 1', capacity: 5, published: 3, after: 0, wantIds: [1, 2, 3] },
    { label: 'after an id: only later ones', capacity: 5, published: 4, after: 2, wantIds: [3, 4] },
    { label: 'after the newest: none', capacity: 5, published: 4, after: 4, wantIds: [] },
    { label: 'after an id from the future: none', capacity: 5, published: 4, after: 99, wantIds: [] },
    { label: 'ring full: the oldest are gone', capacity: 5, published: 12, after: 0, wantIds: [8, 9, 10, 11, 12] },
    { label: 'ring full, after an id still kept', capacity: 5, published: 12, after: 9, wantIds: [10, 11, 12] },
    { label: 'ring full, after an id already gone', capacity: 5, published: 12, after: 3, wantIds: [8, 9, 10, 11, 12] },
    // ids 1..9 are types cold_start, config_reload, scale, cold_start, …: scale at 3, 6, 9.
    { label: 'type filter', capacity: 20, published: 9, after: 0, types: ['scale'], wantIds: [3, 6, 9] },
    { label: 'type filter and an id', capacity: 20, published: 9, after: 4, types: ['scale', 'cold_start'], wantIds: [6, 7, 9] },
    { label: 'capacity 1000, 1500 published', capacity: 1000, published: 1500, after: 100, wantIds: range(501, 1500) },
  ];

  for (const row of rows) {
    it(row.label, () => {
      const bus = new EventBus({ capacity: row.capacity, now: () => T0 });
      for (let n = 1; n <= row.published; n++) bus.publish(input(n));
      const got = bus.since(row.after, row.types === undefined ? undefined : new Set(row.types));
      expect(got.map((e) => e.id)).toEqual(row.wantIds);
      for (const e of got) expect(e.type).toBe(input(e.id).type);
      expect(bus.latestId).toBe(row.published);
    });
  }

  it('gives each event an id, its time, and the contract’s keys in order; gateway-wide events have no service or revision keys', () => {
    let now = T0;
    const bus = new EventBus({ now: () => now });
    bus.publish({ type: 'scale', service: 'demo', revision: 'demo-00001', fields: { from: 0, to: 1, reason: 'activation' } });
    now += 1000;
    bus.publish({ type: 'config_reload', fields: { ok: false, error: 'services[0].traffic: percents sum to 90, want 100' } });
    const [scale, reload] = bus.since(0);
    expect(JSON.stringify(scale)).toBe(
      '{"id":1,"type":"scale","time":"2026-12-02T06:01:02.345Z","service":"demo","revision":"demo-00001","fields":{"from":0,"to":1,"reason":"activation"}}',
    );
    expect(Object.keys(reload!)).toEqual(['id', 'type', 'time', 'fields']);
    expect(reload!.time).toBe('2026-12-02T06:01:03.345Z');
  });

  it('hands every event to every subscriber in order until it unsubscribes; a throwing subscriber stops no one', () => {
    const bus = new EventBus({ capacity: 3 });
    const a: number[] = [];
    const b: number[] = [];
    bus.subscribe(() => {
      throw new Error('broken subscriber');
    });
    const stopA = bus.subscribe((e: GatewayEvent) => a.push(e.id));
    bus.subscribe((e: GatewayEvent) => b.push(e.id));
    expect(bus.subscribers).toBe(3);
    for (let n = 1; n <= 4; n++) bus.publish(input(n));
    stopA();
    bus.publish(input(5));
    expect(a).toEqual([1, 2, 3, 4]);
    expect(b).toEqual([1, 2, 3, 4, 5]);
    expect(bus.subscribers).toBe(2);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * The event bus behind the feed: events get consecutive ids and go into a ring of the last
 * `capacity` (default 1,000), then to every subscriber, synchronously. A client that reconnects
 * with `Last-Event-ID: N` is given what the ring still holds after N (since()), then live events.
 *
 * Cost: publish is one Date, one object, one array store and one call per subscriber; since() is
 * O(events returned): ids are consecutive, so the oldest wanted one's slot is computed, not searched.
 */
import type { EventInput, EventSink, EventType, GatewayEvent } from './gateway-event.js';

/** Events kept for reconnecting clients. At about 200 bytes each, 1,000 events are ~200 KB. */
export const EVENT_RING_SIZE = 1000;

export type EventListener = (event: GatewayEvent) => void;

export interface EventBusOptions {
  /** Events kept. Default EVENT_RING_SIZE. */
  capacity?: number;
  /** Wall clock, ms. Default Date.now. */
  now?: () => number;
}

export class EventBus implements EventSink {
  private readonly ring: Array<GatewayEvent | undefined>;
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly listeners = new Set<EventListener>();
  /** The id the last event got; 0 before the first. */
  private lastId = 0;

  constructor(options: EventBusOptions = {}) {
    this.capacity = Math.max(1, options.capacity ?? EVENT_RING_SIZE);
    this.now = options.now ?? Date.now;
    this.ring = new Array<GatewayEvent | undefined>(this.capacity);
  }

  /** The id of the newest event; 0 when none was published. */
  get latestId(): number {
    return this.lastId;
  }

  /** Subscribers now (the admin feed's open streams). */
  get subscribers(): number {
    return this.listeners.size;
  }

  publish(input: EventInput): void {
    const id = ++this.lastId;
    // Key order is the order the feed's JSON shows: id, type, time, service, revision, fields.
    const event: Record<string, unknown> = { id, type: input.type, time: new Date(this.now()).toISOString() };
    if (input.service !== undefined) event.service = input.service;
    if (input.revision !== undefined) event.revision = input.revision;
    event.fields = input.fields;
    this.ring[id % this.capacity] = event as GatewayEvent;
    for (const listener of this.listeners) {
      try {
        listener(event as GatewayEvent);
      } catch {
        // A subscriber's failure is its own (the feed drops that client); the publisher goes on.
      }
    }
  }

  /**
   * Events after `afterId` still in the ring, oldest first, of `types` when given. With 1,000 kept
   * and 1,500 published, since(100) gives 501…1500 (101…500 are gone) and since(1400) 1401…1500.
   */
  since(afterId: number, types?: ReadonlySet<EventType>): GatewayEvent[] {
    const first = Math.max(afterId + 1, this.lastId - this.capacity + 1, 1);
    const out: GatewayEvent[] = [];
    for (let id = first; id <= this.lastId; id++) {
      const event = this.ring[id % this.capacity]!;
      if (types === undefined || types.has(event.type)) out.push(event);
    }
    return out;
  }

  /** Call `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

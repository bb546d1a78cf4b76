/**
 * The gateway's events as the feed (`GET /api/v1/events`) carries them: what happened, to which
 * service and revision, and the few fields that say how. Layers that have something to tell get
 * the narrow EventSink port and nothing else; the composition root (src/app/) hands them the bus
 * (core/event-bus.ts), and code that is built without one gets NO_EVENTS.
 */

/** Fields by event type: the feed's contract (README, "Event feed"). */
export interface EventFields {
  /** The desired replica count changed (reason: activation, activation_burst, decider, panic, scale_to_zero, …). */
  scale: { from: number; to: number; reason: string };
  /** Panic mode entered or left. */
  panic: { panic: boolean; desired: number; ready: number };
  /** Held requests released by a revision that was at zero: how long the oldest waited, and how many went. */
  cold_start: { heldMs: number; held: number };
  /** The ready endpoint set changed. */
  endpoints: { ready: number; added: string[]; removed: string[] };
  /** A revision's condition changed (core/condition.ts). */
  condition: { status: string; reason: string; message: string };
  /** A service's traffic targets changed. */
  traffic: { traffic: Array<{ revision: string; percent: number; tag?: string }> };
  /** A rollout step, verdict, completion or rollback (phase: the rollout's event type). */
  rollout: { phase: string; step?: number; percent?: number; verdict?: string; reason?: string };
  /** The config was read again: applied, or refused with why. */
  config_reload: { ok: boolean; error?: string };
}

export type EventType = keyof EventFields;

export const EVENT_TYPES: readonly EventType[] = [
  'scale',
  'panic',
  'cold_start',
  'endpoints',
  'condition',
  'traffic',
  'rollout',
  'config_reload',
];

/** What a publisher says; `service` and `revision` are left out for gateway-wide events. */
export type EventInput = {
  [T in EventType]: { type: T; service?: string; revision?: string; fields: EventFields[T] };
}[EventType];

/** An event as published: a per-process id (1, 2, 3, …) and the wall-clock time it was published. */
export type GatewayEvent = EventInput & { id: number; time: string };

/** The port publishers get. publish() is O(1) and never throws. */
export interface EventSink {
  publish(event: EventInput): void;
}

/** For code run without a feed (unit tests, the queue-proxy's inner gateway). */
export const NO_EVENTS: EventSink = { publish() {} };

/**
 * `service/revision` split at its first slash, as events carry them.
 *
 * @example revisionFields('shop/shop-00002') // { service: 'shop', revision: 'shop-00002' }
 */
export function revisionFields(key: string): { service: string; revision: string } {
  const slash = key.indexOf('/');
  return { service: key.slice(0, slash), revision: key.slice(slash + 1) };
}

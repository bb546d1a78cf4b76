/**
 * `GET /api/v1/events`: the event bus (core/event-bus.ts) as Server-Sent Events, through Hono's
 * streamSSE. `?types=scale,cold_start` keeps those types; `Last-Event-ID: N` replays what the ring
 * still holds after N (0: all of it), then live events follow, with nothing missed or repeated in
 * between (the replay and the subscription happen in one synchronous step). Without the header a
 * client gets live events only.
 *
 * A slow client is bounded: events for it wait in its own queue while its socket does not drain
 * (the Node adapter stops reading the stream until the socket's 'drain', and writes wait for
 * that), and once more than `maxQueuedBytes` wait it is dropped: unsubscribed, its stream aborted
 * and its socket destroyed. 1 MiB is about 5,000 events of 200 bytes: a dashboard that has stopped
 * reading for that long is not going to catch up, and 100 such clients cost at most ~100 MB.
 */
import type { HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { EVENT_TYPES, type EventType, type GatewayEvent } from '../core/gateway-event.js';
import { SluiceError } from '../errors.js';
import { quote } from '../quote.js';

/** What the route reads the events from: the bus, or anything shaped like it. */
export interface EventFeedSource {
  since(afterId: number, types?: ReadonlySet<EventType>): GatewayEvent[];
  subscribe(listener: (event: GatewayEvent) => void): () => void;
}

export interface EventFeedOptions {
  /** A client with more than this many bytes waiting is dropped. Default MAX_QUEUED_BYTES. */
  maxQueuedBytes?: number;
  /** A comment line this often keeps proxies from closing an idle stream. Default HEARTBEAT_MS. */
  heartbeatMs?: number;
}

/** Default bound on what waits for one client: 1 MiB. */
export const MAX_QUEUED_BYTES = 1024 * 1024;

/** Default heartbeat: 15 s, under the 30–60 s idle timeouts of common proxies. */
export const HEARTBEAT_MS = 15_000;

/** How long a browser's EventSource waits before reconnecting, ms (sent once, as `retry:`). */
const RETRY_MS = 1000;

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * The `types` query as a set; undefined when absent or empty. An unknown type is a 400 naming it.
 *
 * @example parseTypes('scale,cold_start') // Set { 'scale', 'cold_start' }
 */
export function parseTypes(query: string | undefined): Set<EventType> | undefined {
  if (query === undefined || query.trim() === '') return undefined;
  const types = new Set<EventType>();
  for (const raw of query.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    if (!KNOWN_TYPES.has(t))
      throw new SluiceError('bad_request', 400, `types: unknown event type ${quote(t)}; want ${EVENT_TYPES.join(', ')}`);
    types.add(t as EventType);
  }
  return types.size === 0 ? undefined : types;
}

/**
 * `Last-Event-ID` as a number; undefined when absent (live events only, no replay). Anything but a
 * non-negative integer is a 400. `0` asks for everything the ring holds.
 */
export function parseLastEventId(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const t = header.trim();
  if (!/^\d{1,15}$/.test(t)) throw new SluiceError('bad_request', 400, `Last-Event-ID: want a non-negative integer, got ${quote(t)}`);
  return Number(t);
}

/** Frames already made: an event goes to every open stream, and is serialised once for all of them. */
const frames = new WeakMap<GatewayEvent, string>();

/** One SSE message, in the contract's field order. JSON has no raw newline, so `data` is one line. */
export function eventFrame(event: GatewayEvent): string {
  let frame = frames.get(event);
  if (frame === undefined) {
    frame = `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    frames.set(event, frame);
  }
  return frame;
}

/** Add the route to `app`. */
export function eventFeedRoute(app: Hono, feed: EventFeedSource, options: EventFeedOptions = {}): void {
  const maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;

  app.get('/api/v1/events', (c) => {
    // Both checked before the stream starts, so bad input gets its 400 as JSON.
    const types = parseTypes(c.req.query('types'));
    const after = parseLastEventId(c.req.header('last-event-id'));
    // The Node adapter's response, when served by it (app.request() in unit tests has none).
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;

    return streamSSE(c, async (stream) => {
      let queue: string[] = [`retry: ${RETRY_MS}\n\n`];
      let queuedBytes = 0;
      let writingBytes = 0;
      let ended = false;
      let wake: (() => void) | undefined;
      let unsubscribe = (): void => {};
      const heartbeat = setInterval(() => enqueue(': keep-alive\n\n'), heartbeatMs);
      heartbeat.unref();

      const end = (): void => {
        if (ended) return;
        ended = true;
        unsubscribe();
        clearInterval(heartbeat);
        wake?.();
      };
      const enqueue = (frame: string): void => {
        if (ended) return;
        queue.push(frame);
        queuedBytes += frame.length;
        if (queuedBytes + writingBytes > maxQueuedBytes) {
          // Not draining: drop it rather than buffer without end.
          end();
          stream.abort();
          outgoing?.destroy();
          return;
        }
        wake?.();
      };

      if (after !== undefined) for (const event of feed.since(after, types)) enqueue(eventFrame(event));
      if (ended) return; // the replay alone was more than the bound
      unsubscribe = feed.subscribe((event) => {
        if (types === undefined || types.has(event.type)) enqueue(eventFrame(event));
      });
      stream.onAbort(end);

      while (!ended) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        // Everything waiting goes as one chunk: one write however many events piled up.
        const chunk = queue.length === 1 ? queue[0]! : queue.join('');
        queue = [];
        writingBytes = queuedBytes;
        queuedBytes = 0;
        await stream.write(chunk);
        writingBytes = 0;
      }
    });
  });
}

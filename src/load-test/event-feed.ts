/**
 * A client of the gateway's event feed (`GET /api/v1/events`, server-sent events): every event
 * after the last one seen, through reconnects (`Last-Event-ID`), until stopped. A gateway without
 * the feed answers 404: the state becomes `absent` and the caller falls back to status polling.
 */
import { request } from 'undici';
import { SseParser } from './sse-parser.js';

/** One event as the feed sends it (`data:` of one SSE message). */
export interface GatewayEvent {
  id: number;
  type: string;
  /** ISO 8601. */
  time: string;
  service?: string;
  revision?: string;
  fields: Record<string, unknown>;
}

/** connecting: no answer yet; live: streaming; absent: the gateway has no feed; lost: reconnecting. */
export type FeedState = 'connecting' | 'live' | 'absent' | 'lost';

export interface FeedOptions {
  /** The admin API, `http://127.0.0.1:8081`. */
  adminUrl: string;
  token: string | undefined;
  /** Event types to ask for (`?types=`); all when empty. */
  types: readonly string[];
  onEvent(event: GatewayEvent): void;
  signal: AbortSignal;
  /** Wait before a reconnect. Default 1 s. */
  retryMs?: number;
}

export interface Feed {
  state(): FeedState;
  /** True once the feed has answered 200 at least once. */
  everLive(): boolean;
  /** Resolves when stopped (signal) or found absent. */
  done: Promise<void>;
}

/** Parse one message's data; null when it is not an event of the contract. */
export function parseEvent(data: string): GatewayEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  const e = value as Partial<GatewayEvent> | null;
  if (e === null || typeof e !== 'object' || !Number.isSafeInteger(e.id) || typeof e.type !== 'string' || typeof e.time !== 'string')
    return null;
  if (e.fields === null || typeof e.fields !== 'object') return null;
  return e as GatewayEvent;
}

/** Statuses that mean the gateway has no event feed (an older one). */
const ABSENT = new Set([404, 405, 501]);

export function followEvents(options: FeedOptions): Feed {
  let state: FeedState = 'connecting';
  let live = false;
  let lastId = -1;
  const retryMs = options.retryMs ?? 1000;
  const { signal } = options;
  const query = options.types.length > 0 ? `?types=${options.types.map(encodeURIComponent).join(',')}` : '';

  const once = async (): Promise<'again' | 'stop'> => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (lastId >= 0) headers['last-event-id'] = String(lastId);
    const res = await request(`${options.adminUrl}/api/v1/events${query}`, { headers, signal, bodyTimeout: 0, headersTimeout: 10_000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      if (ABSENT.has(res.statusCode)) {
        state = 'absent';
        return 'stop';
      }
      state = 'lost';
      return 'again';
    }
    state = 'live';
    live = true;
    const parser = new SseParser((message) => {
      const event = parseEvent(message.data);
      // A reconnect replays from the ring: whatever was already seen is skipped.
      if (event === null || event.id <= lastId) return;
      lastId = event.id;
      options.onEvent(event);
    });
    // A multi-byte character may be split across chunks: the decoder keeps its first bytes.
    const decoder = new TextDecoder();
    for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
    state = 'lost';
    return 'again';
  };

  const done = (async () => {
    while (!signal.aborted) {
      try {
        if ((await once()) === 'stop') return;
      } catch {
        if (signal.aborted) return;
        state = 'lost';
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  })();
  return { state: () => state, everLive: () => live, done };
}

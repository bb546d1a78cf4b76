/**
 * A Server-Sent Events client for the tests, on a plain node:http request (a real socket): every
 * event the feed sends is parsed and kept in arrival order, with the raw text beside it.
 */
import { request, type IncomingMessage } from 'node:http';
import type { GatewayEvent } from '../../src/core/gateway-event.js';
import { until } from './harness.js';

export interface FeedClient {
  response: IncomingMessage;
  /** Events received so far, in order. */
  events: GatewayEvent[];
  /** Everything received, as text. */
  text(): string;
  /** Resolves once an event matching `match` has arrived (or fails after the harness's timeout). */
  waitFor(match: (e: GatewayEvent) => boolean, what: string): Promise<GatewayEvent>;
  close(): void;
}

/** GET `url` (the feed) with `headers`; resolves once the response head has arrived. */
export function openFeed(url: string, headers: Record<string, string> = {}): Promise<FeedClient> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      let raw = '';
      let pending = '';
      const events: GatewayEvent[] = [];
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        raw += chunk;
        pending += chunk;
        for (let i = pending.indexOf('\n\n'); i >= 0; i = pending.indexOf('\n\n')) {
          const block = pending.slice(0, i);
          pending = pending.slice(i + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6));
          if (data.length > 0) events.push(JSON.parse(data.join('\n')) as GatewayEvent);
        }
      });
      response.on('error', () => {});
      resolve({
        response,
        events,
        text: () => raw,
        async waitFor(match, what) {
          await until(() => events.some(match), what);
          return events.find(match)!;
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

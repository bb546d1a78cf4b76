/**
 * The event feed client (src/load-test/event-feed.ts, sse-parser.ts): the parser as a table of
 * byte streams, and the client against a small SSE server in this test that keeps the feed's
 * contract — `id`/`event`/`data` messages, `?types=` filtering, a ring replayed after
 * `Last-Event-ID` — and against one without the feed (404).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { followEvents, parseEvent, type GatewayEvent } from '../src/load-test/event-feed.js';
import type { LoadtestResults } from '../src/load-test/results.js';
import { MAX_LINE_CHARS, SseParser, type SseMessage } from '../src/load-test/sse-parser.js';
import { until } from './support/harness.js';
import { loadtest } from './support/loadtest-cli.js';

describe('SseParser', () => {
  const rows: Array<{ label: string; chunks: string[]; want: SseMessage[] }> = [
    { label: 'one event', chunks: ['id: 1\nevent: scale\ndata: {"a":1}\n\n'], want: [{ id: '1', event: 'scale', data: '{"a":1}' }] },
    { label: 'split anywhere', chunks: ['id: 4\nev', 'ent: scale\nda', 'ta: x\n', '\n'], want: [{ id: '4', event: 'scale', data: 'x' }] },
    {
      label: 'CRLF, and CR then LF across chunks',
      chunks: ['data: a\r', '\ndata: b\r\n\r\n'],
      want: [{ id: '', event: 'message', data: 'a\nb' }],
    },
    {
      label: 'comments and unknown fields skipped',
      chunks: [': keep-alive\nretry: 10\nfoo: bar\ndata: x\n\n'],
      want: [{ id: '', event: 'message', data: 'x' }],
    },
    { label: 'no space after the colon', chunks: ['data:x\n\n'], want: [{ id: '', event: 'message', data: 'x' }] },
    {
      label: 'an event without data is not dispatched',
      chunks: ['event: scale\n\ndata: y\n\n'],
      want: [{ id: '', event: 'message', data: 'y' }],
    },
    {
      label: 'id persists, event does not',
      chunks: ['id: 7\nevent: scale\ndata: a\n\ndata: b\n\n'],
      want: [
        { id: '7', event: 'scale', data: 'a' },
        { id: '7', event: 'message', data: 'b' },
      ],
    },
    {
      label: 'an overlong line drops its event',
      chunks: ['data: ', 'x'.repeat(MAX_LINE_CHARS + 1), '\n\ndata: ok\n\n'],
      want: [{ id: '', event: 'message', data: 'ok' }],
    },
  ];
  for (const row of rows) {
    it(row.label, () => {
      const got: SseMessage[] = [];
      const parser = new SseParser((m) => got.push(m));
      for (const c of row.chunks) parser.feed(c);
      expect(got).toEqual(row.want);
    });
  }
});

describe('parseEvent', () => {
  const rows = [
    {
      label: 'an event of the contract',
      data: '{"id":3,"type":"scale","time":"2026-12-02T06:01:02.345Z","service":"demo","fields":{"from":0,"to":1}}',
      ok: true,
    },
    { label: 'not JSON', data: '{', ok: false },
    { label: 'no id', data: '{"type":"scale","time":"t","fields":{}}', ok: false },
    { label: 'fields not an object', data: '{"id":1,"type":"scale","time":"t","fields":3}', ok: false },
    { label: 'null', data: 'null', ok: false },
  ];
  for (const row of rows) it(row.label, () => expect(parseEvent(row.data) !== null).toBe(row.ok));
});

/** A feed as the contract has it: a ring of events, `?types=`, `Last-Event-ID`, live events pushed. */
class FeedServer {
  readonly ring: GatewayEvent[] = [];
  readonly clients = new Set<{ res: ServerResponse; types: Set<string> | null }>();
  readonly lastEventIds: Array<string | undefined> = [];
  readonly authorizations: Array<string | undefined> = [];
  server: Server;
  url = '';

  constructor(private readonly present = true) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  publish(type: string, fields: Record<string, unknown>): void {
    const e: GatewayEvent = {
      id: this.ring.length + 1,
      type,
      time: new Date().toISOString(),
      service: 'demo',
      revision: 'demo-00001',
      fields,
    };
    this.ring.push(e);
    for (const c of this.clients) if (c.types === null || c.types.has(type)) c.res.write(this.message(e));
  }

  /** Drop every open stream, as a gateway restart or a proxy timeout would. */
  dropAll(): void {
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((r) => this.server.close(() => r()));
  }

  private message(e: GatewayEvent): string {
    return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    // Enough of the rest of the admin API (and a target) for a whole `sluice loadtest` run.
    const answers: Record<string, unknown> = {
      '/api/v1/services': { services: [{ name: 'demo', revisions: [] }] },
      '/api/v1/stats': { now: 0, revisions: [] },
      '/work': { ok: true },
    };
    if (answers[url.pathname] !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers[url.pathname]));
      return;
    }
    if (!this.present || url.pathname !== '/api/v1/events') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
      return;
    }
    const last = req.headers['last-event-id'];
    this.lastEventIds.push(typeof last === 'string' ? last : undefined);
    this.authorizations.push(req.headers.authorization);
    const types = url.searchParams.get('types');
    const client = { res, types: types === null ? null : new Set(types.split(',')) };
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': connected\n\n');
    const after = typeof last === 'string' ? Number(last) : Infinity;
    for (const e of this.ring) if (e.id > after && (client.types === null || client.types.has(e.type))) res.write(this.message(e));
    this.clients.add(client);
    req.on('close', () => this.clients.delete(client));
  }
}

let feedServer: FeedServer | undefined;
let stop = new AbortController();
afterEach(async () => {
  stop.abort();
  stop = new AbortController();
  await feedServer?.close();
  feedServer = undefined;
});

describe('followEvents', () => {
  it('streams the asked-for types, and after a dropped stream resumes from Last-Event-ID without repeats', async () => {
    feedServer = new FeedServer();
    await feedServer.listen();
    const got: GatewayEvent[] = [];
    const controller = new AbortController();
    const feed = followEvents({
      adminUrl: feedServer.url,
      token: 'secret',
      types: ['scale', 'cold_start'],
      onEvent: (e) => got.push(e),
      signal: controller.signal,
      retryMs: 20,
    });
    await until(() => feed.state() === 'live' && feedServer!.clients.size === 1, 'the feed connected');
    feedServer.publish('scale', { from: 0, to: 1, reason: 'activation' });
    feedServer.publish('endpoints', { ready: 1, added: ['a'], removed: [] });
    feedServer.publish('cold_start', { heldMs: 812, held: 5 });
    await until(() => got.length === 2, 'two events');
    feedServer.dropAll();
    // Published while the client is away: replayed from the ring on reconnect.
    feedServer.publish('scale', { from: 1, to: 3, reason: 'panic' });
    await until(() => got.length === 3, 'the missed event after the reconnect');
    feedServer.publish('scale', { from: 3, to: 0, reason: 'scale_to_zero' });
    await until(() => got.length === 4, 'a live event after the reconnect');
    controller.abort();
    await feed.done;
    expect(got.map((e) => [e.id, e.type, e.fields.to ?? e.fields.held])).toEqual([
      [1, 'scale', 1],
      [3, 'cold_start', 5],
      [4, 'scale', 3],
      [5, 'scale', 0],
    ]);
    expect(feedServer.lastEventIds).toEqual([undefined, '3']);
    expect(feedServer.authorizations).toEqual(['Bearer secret', 'Bearer secret']);
    expect(feed.everLive()).toBe(true);
  });

  it('is absent on a gateway without the feed (404), and ends', async () => {
    feedServer = new FeedServer(false);
    await feedServer.listen();
    const feed = followEvents({ adminUrl: feedServer.url, token: undefined, types: [], onEvent: () => {}, signal: stop.signal });
    await feed.done;
    expect(feed.state()).toBe('absent');
    expect(feed.everLive()).toBe(false);
  });
});

describe('sluice loadtest with an event feed', () => {
  it('takes scale decisions and cold starts from the feed, with their reasons (needs a current build)', async () => {
    feedServer = new FeedServer();
    await feedServer.listen();
    const dir = await mkdtemp(join(tmpdir(), 'sluice-feed-'));
    try {
      const file = join(dir, 'feed.yaml');
      await writeFile(
        file,
        `target: { url: "${feedServer.url}/work" }\nadmin: { url: "${feedServer.url}" }\nphases:\n  - { type: constant, duration: 3s, rate: 20, connections: 2 }\n`,
      );
      const run = loadtest([file, '--out', dir], 30_000);
      await until(() => feedServer!.clients.size === 1, 'the run follows the feed');
      feedServer.publish('scale', { from: 0, to: 1, reason: 'activation' });
      feedServer.publish('cold_start', { heldMs: 812, held: 5 });
      feedServer.publish('panic', { panic: true, desired: 4, ready: 1 });
      const { code } = await run.done;
      expect(code).toBe(0);
      const g = (JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as LoadtestResults).gateway!;
      expect(g.source).toBe('events');
      expect(g.scaleDecisions.map((d) => [d.service, d.revision, d.from, d.to, d.reason])).toEqual([
        ['demo', 'demo-00001', 0, 1, 'activation'],
      ]);
      expect(g.coldStarts.map((c) => [c.heldMs, c.held])).toEqual([[812, 5]]);
      expect(g.panics.map((p) => p.panic)).toEqual([true]);
      expect(feedServer.lastEventIds).toEqual([undefined]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

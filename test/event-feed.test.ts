/**
 * The event feed over real sockets: the admin app served on 127.0.0.1:0 with a real bus, read by a
 * node:http client (test/support/sse.ts) and, for the slow client, by a socket that never reads.
 */
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminApp } from '../src/admin/app.js';
import { startAdminServer, type AdminServer } from '../src/admin/server.js';
import { EventBus } from '../src/core/event-bus.js';
import type { EventInput } from '../src/core/gateway-event.js';
import type { StatusSource } from '../src/core/status.js';
import { until } from './support/harness.js';
import { openFeed, type FeedClient } from './support/sse.js';

const STATUS: StatusSource = { services: () => [], ready: () => true };

let servers: AdminServer[] = [];
let clients: FeedClient[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serveFeed(options: { token?: string; maxQueuedBytes?: number; capacity?: number } = {}) {
  const bus = new EventBus({ capacity: options.capacity });
  const app = createAdminApp({
    status: STATUS,
    registry: new Registry(),
    token: options.token,
    events: bus,
    eventFeed: { maxQueuedBytes: options.maxQueuedBytes },
  });
  const server = await startAdminServer({ app, host: '127.0.0.1', port: 0, token: options.token, closeGraceMs: 100 });
  servers.push(server);
  return { bus, url: `http://127.0.0.1:${server.address.port}`, port: server.address.port };
}

async function feed(url: string, headers: Record<string, string> = {}): Promise<FeedClient> {
  const client = await openFeed(url, headers);
  clients.push(client);
  return client;
}

const scale = (to: number): EventInput => ({
  type: 'scale',
  service: 'demo',
  revision: 'demo-00001',
  fields: { from: to - 1, to, reason: 'decider' },
});

describe('GET /api/v1/events', () => {
  it('streams every event in publish order, each one SSE message in the contract’s form', async () => {
    const { bus, url } = await serveFeed();
    const client = await feed(`${url}/api/v1/events`);
    expect(client.response.statusCode).toBe(200);
    expect(client.response.headers['content-type']).toMatch(/^text\/event-stream/);
    await until(() => bus.subscribers === 1, 'the client subscribed');
    for (let n = 1; n <= 50; n++) bus.publish(scale(n));
    bus.publish({ type: 'config_reload', fields: { ok: true } });
    await client.waitFor((e) => e.id === 51, 'all 51 events');
    expect(client.events.map((e) => e.id)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(client.events.slice(0, 50).map((e) => (e.type === 'scale' ? e.fields.to : -1))).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const first = bus.since(0)[0]!;
    expect(client.text()).toContain(
      `id: 1\nevent: scale\ndata: {"id":1,"type":"scale","time":"${first.time}","service":"demo","revision":"demo-00001","fields":{"from":0,"to":1,"reason":"decider"}}\n\n`,
    );
    expect(client.text()).toContain('id: 51\nevent: config_reload\ndata: {"id":51,"type":"config_reload","time":');
  });

  it('replays what a reconnecting client missed (Last-Event-ID), then goes on live, nothing repeated', async () => {
    const { bus, url } = await serveFeed();
    const first = await feed(`${url}/api/v1/events`);
    await until(() => bus.subscribers === 1, 'the first client subscribed');
    for (let n = 1; n <= 10; n++) bus.publish(scale(n));
    await first.waitFor((e) => e.id === 10, 'ten events');
    first.close();
    await until(() => bus.subscribers === 0, 'the first client gone');
    for (let n = 11; n <= 15; n++) bus.publish(scale(n)); // missed while away

    const again = await feed(`${url}/api/v1/events`, { 'last-event-id': '10' });
    await again.waitFor((e) => e.id === 15, 'the missed events');
    bus.publish(scale(16));
    await again.waitFor((e) => e.id === 16, 'a live event');
    expect(again.events.map((e) => e.id)).toEqual([11, 12, 13, 14, 15, 16]);
  });

  it('gives a client without Last-Event-ID live events only, and one with Last-Event-ID: 0 the whole ring first', async () => {
    const { bus, url } = await serveFeed();
    for (let n = 1; n <= 3; n++) bus.publish(scale(n));
    const fresh = await feed(`${url}/api/v1/events`);
    const everything = await feed(`${url}/api/v1/events`, { 'last-event-id': '0' });
    await until(() => bus.subscribers === 2, 'both clients subscribed');
    bus.publish(scale(4));
    await fresh.waitFor((e) => e.id === 4, 'the live event');
    await everything.waitFor((e) => e.id === 4, 'the live event');
    expect(fresh.events.map((e) => e.id)).toEqual([4]);
    expect(everything.events.map((e) => e.id)).toEqual([1, 2, 3, 4]);
  });

  it('replays only what the ring still holds', async () => {
    const { bus, url } = await serveFeed({ capacity: 5 });
    for (let n = 1; n <= 12; n++) bus.publish(scale(n));
    const client = await feed(`${url}/api/v1/events`, { 'last-event-id': '2' });
    await client.waitFor((e) => e.id === 12, 'the ring');
    expect(client.events.map((e) => e.id)).toEqual([8, 9, 10, 11, 12]);
  });

  it('keeps only the types asked for, replay and live alike', async () => {
    const { bus, url } = await serveFeed();
    bus.publish(scale(1));
    bus.publish({ type: 'cold_start', service: 'demo', revision: 'demo-00001', fields: { heldMs: 420, held: 3 } });
    bus.publish({ type: 'config_reload', fields: { ok: true } });
    const client = await feed(`${url}/api/v1/events?types=cold_start,config_reload`, { 'last-event-id': '0' });
    await client.waitFor((e) => e.id === 3, 'the replay');
    bus.publish(scale(2));
    bus.publish({ type: 'config_reload', fields: { ok: false, error: 'bad' } });
    await client.waitFor((e) => e.id === 5, 'the live reload');
    expect(client.events.map((e) => [e.id, e.type])).toEqual([
      [2, 'cold_start'],
      [3, 'config_reload'],
      [5, 'config_reload'],
    ]);
  });

  it('answers bad input with a 400 that names it', async () => {
    const { url } = await serveFeed();
    const unknown = await fetch(`${url}/api/v1/events?types=scale,nope`);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/types: unknown event type "nope"/);
    const badId = await fetch(`${url}/api/v1/events`, { headers: { 'last-event-id': '12abc' } });
    expect(badId.status).toBe(400);
    expect(((await badId.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });

  it('needs the admin bearer token when one is configured', async () => {
    const { bus, url } = await serveFeed({ token: 'feed-token' });
    const refused = await fetch(`${url}/api/v1/events`);
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    const client = await feed(`${url}/api/v1/events`, { authorization: 'Bearer feed-token' });
    expect(client.response.statusCode).toBe(200);
    await until(() => bus.subscribers === 1, 'the client subscribed');
    bus.publish(scale(1));
    await client.waitFor((e) => e.id === 1, 'an event');
  });

  it('drops a client that never reads once its queue passes the bound; other clients and the port carry on', async () => {
    const { bus, url, port } = await serveFeed({ maxQueuedBytes: 256 * 1024, capacity: 10 });
    const healthy = await feed(`${url}/api/v1/events`);

    // The slow client: sends its request and never reads a byte.
    const slow = connect(port, '127.0.0.1');
    slow.pause();
    let slowClosed = false;
    slow.on('close', () => (slowClosed = true));
    slow.on('error', () => {});
    slow.write('GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    await until(() => bus.subscribers === 2, 'both clients subscribed');

    // 64 KiB events, each one read by the healthy client before the next: only the slow one falls behind.
    const big = 'x'.repeat(64 * 1024);
    const published = 400; // 25.6 MB: more than the socket buffers and the bound together
    for (let n = 1; n <= published && bus.subscribers === 2; n++) {
      bus.publish({ type: 'config_reload', fields: { ok: false, error: big } });
      await healthy.waitFor((e) => e.id === n, `event ${n} at the healthy client`);
    }
    await until(() => bus.subscribers === 1, 'the slow client dropped');
    const droppedAt = bus.latestId;
    expect(droppedAt).toBeLessThan(published);

    // The rest still flows to the healthy client, and the port answers.
    for (let n = 0; n < 5; n++) bus.publish(scale(n + 1));
    await healthy.waitFor((e) => e.id === droppedAt + 5, 'events after the drop');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // The slow client's connection was closed by the server: reading what was sent ends in a close.
    let received = 0;
    slow.on('data', (chunk: Buffer) => (received += chunk.length));
    slow.resume();
    await until(() => slowClosed, 'the slow client’s connection closed');
    expect(received).toBeLessThan(droppedAt * big.length);
  });
});

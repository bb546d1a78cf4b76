/**
 * Peer aggregation: the leader's windows see the sum of every gateway replica's traffic.
 * Two real gateways, a real admin API on the peer, real sockets.
 */
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createAdminApp } from '../src/admin/app.js';
import { startAdminServer, type AdminServer } from '../src/admin/server.js';
import { PeerStatsCollector } from '../src/autoscaler/peer-stats.js';
import { createMetrics } from '../src/stats/metrics.js';
import { startGateway, type TestGateway } from './support/harness.js';

const gateways: TestGateway[] = [];
const closers: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function slowBackend(ms: number): Promise<number> {
  const server: Server = createServer((_req, res) => setTimeout(() => res.end('ok'), ms));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return (server.address() as { port: number }).port;
}

const config = (port: number) => `
services:
  - name: shop
    revisions: [{ name: shop-1, backend: static, urls: ["http://127.0.0.1:${port}"] }]
    traffic: [{ revision: shop-1, percent: 100 }]
`;

describe('PeerStatsCollector', () => {
  it('adds a peer gateway’s per-second concurrency to the leader’s buckets', async () => {
    const port = await slowBackend(2500);
    const leader = await startGateway(config(port));
    const peer = await startGateway(config(port));
    gateways.push(leader, peer);
    const admin: AdminServer = await startAdminServer({
      app: createAdminApp({ status: peer.gateway, registry: createMetrics(peer.gateway, { defaultMetrics: false }).registry }),
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => admin.close());

    // 10 requests held on each gateway for 2.5 s: at least one whole second with 10 active on each.
    const load = (gw: TestGateway) => Array.from({ length: 10 }, () => request(`${gw.url}/`).then((r) => r.body.text()));
    const all = [...load(leader), ...load(peer)];
    const collector = new PeerStatsCollector({
      peers: () => [`http://127.0.0.1:${admin.address.port}`],
      revisions: () => leader.gateway.revisions(),
      logger: pino({ level: 'silent' }),
    });
    // Poll during the load, as the leader does every second.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 700));
      await collector.collect();
    }
    await Promise.all(all);
    await collector.collect();
    expect(collector.lastAnswered).toBe(1);

    const rev = leader.revision('shop', 'shop-1');
    const now = Date.now();
    const buckets = rev.metricBuckets;
    const last = buckets.lastCompleteSecond(now);
    let maxCombined = 0;
    let maxLocal = 0;
    for (let s = last - 5; s <= last; s++) {
      const i = ((s % buckets.size) + buckets.size) % buckets.size;
      maxCombined = Math.max(maxCombined, buckets.concurrency[i]!);
      maxLocal = Math.max(maxLocal, rev.stats.concurrency[((s % rev.stats.size) + rev.stats.size) % rev.stats.size]!);
    }
    expect(maxLocal).toBeCloseTo(10, 0);
    expect(maxCombined).toBeCloseTo(20, 0);
  }, 20_000);

  it('skips a silent peer without failing the round', async () => {
    const port = await slowBackend(10);
    const leader = await startGateway(config(port));
    gateways.push(leader);
    const collector = new PeerStatsCollector({
      peers: () => ['http://127.0.0.1:1'],
      revisions: () => leader.gateway.revisions(),
      logger: pino({ level: 'silent' }),
      timeoutMs: 200,
    });
    await collector.collect();
    expect(collector.lastAnswered).toBe(0);
    expect(leader.revision('shop', 'shop-1').metricBuckets).toBe(leader.revision('shop', 'shop-1').stats);
  });

  it('counts a peer that answers something other than stats as silent', async () => {
    const port = await slowBackend(10);
    const leader = await startGateway(config(port));
    gateways.push(leader);
    const notAGateway: Server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}'),
    );
    await new Promise<void>((r) => notAGateway.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => notAGateway.close(r)));
    const collector = new PeerStatsCollector({
      peers: () => [`http://127.0.0.1:${(notAGateway.address() as { port: number }).port}`],
      revisions: () => leader.gateway.revisions(),
      logger: pino({ level: 'silent' }),
    });
    await collector.collect();
    expect(collector.lastAnswered).toBe(0);
    expect(leader.revision('shop', 'shop-1').metricBuckets).toBe(leader.revision('shop', 'shop-1').stats);
  });
});

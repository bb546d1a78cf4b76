/**
 * The request path end to end: real gateway, real local processes, real sockets on 127.0.0.1.
 */
import { connect, type Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import type { ErrorBody, InferBody } from './support/bodies.js';
import { countingRevision, IRIS_ROW, predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';

let gw: TestGateway | undefined;
const servers: Server[] = [];

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function service(revisions: string, extra = '', traffic?: string): string {
  const first = /name: (\S+)/.exec(revisions)![1];
  return `
autoscaler:
  scale-to-zero-grace-period: 1s
  allow-zero-initial-scale: true
  initial-scale: 0
${extra}
services:
  - name: iris
    match:
      model: iris
    revisions:${revisions}
    traffic:
${traffic ?? `      - revision: ${first}\n        percent: 100`}
`;
}

async function infer(url: string, headers: Record<string, string> = {}) {
  const res = await request(`${url}/v2/models/iris/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(IRIS_ROW),
  });
  return { status: res.statusCode, headers: res.headers, body: await res.body.json() };
}

/** A raw HTTP/1.1 exchange on a fresh socket; resolves with the whole response text. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    setTimeout(() => socket.end(), 1000);
  });
}

describe('scale from zero', () => {
  it('holds every request that arrives at zero and answers all of them after activation', async () => {
    gw = await startGateway(service(predictorRevision('iris-1', { args: ['--startup-delay', '300'] })));
    const rev = gw.revision('iris', 'iris-1');
    expect(rev.replicas.desired).toBe(0);
    const results = await Promise.all(Array.from({ length: 20 }, () => infer(gw!.url)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.headers['sluice-revision']).toBe('iris-1');
      expect((r.body as InferBody).outputs[0]!.data).toEqual([2]);
    }
    // Every one of them waited for the cold start and says how long.
    expect(results.filter((r) => r.headers['sluice-cold-start'] !== undefined).length).toBe(20);
    expect(rev.stats.coldStarts).toBe(20);
    // A warm request carries no cold-start header.
    const warm = await infer(gw.url);
    expect(warm.status).toBe(200);
    expect(warm.headers['sluice-cold-start']).toBeUndefined();
  });

  it('answers 503 queue_full with Retry-After beyond queueDepth', async () => {
    gw = await startGateway(service(predictorRevision('iris-1', { args: ['--startup-delay', '800'], body: '        queueDepth: 2' })));
    const results = await Promise.all(Array.from({ length: 5 }, () => infer(gw!.url)));
    const full = results.filter((r) => r.status === 503);
    expect(full.length).toBe(3);
    for (const r of full) {
      expect(r.headers['retry-after']).toBe('1');
      expect((r.body as ErrorBody).error.code).toBe('queue_full');
      expect((r.body as ErrorBody).error.revision).toBe('iris-1');
    }
    expect(results.filter((r) => r.status === 200).length).toBe(2);
  });

  it('answers 504 activation_timeout to a request held past its deadline', async () => {
    gw = await startGateway(
      service(predictorRevision('iris-1', { args: ['--startup-delay', '60000'], body: '        activationTimeoutSeconds: 0.3' })),
    );
    const r = await infer(gw.url);
    expect(r.status).toBe(504);
    expect((r.body as ErrorBody).error.code).toBe('activation_timeout');
    expect(gw.revision('iris', 'iris-1').stats.held).toBe(0);
  });

  it('drops a held request from the queue as soon as its client goes away', async () => {
    gw = await startGateway(service(predictorRevision('iris-1', { args: ['--startup-delay', '60000'] })));
    const rev = gw.revision('iris', 'iris-1');
    const controller = new AbortController();
    const pending = request(`${gw.url}/v2/models/iris/infer`, {
      method: 'POST',
      body: JSON.stringify(IRIS_ROW),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await until(() => rev.stats.held === 1, 'request held');
    controller.abort();
    await pending;
    await until(() => rev.stats.held === 0, 'held count back to 0');
    // The revision never became ready: the request left the queue because its client left.
    expect(rev.endpoints.length).toBe(0);
    expect(rev.stats.codes.get(0)).toBe(1);
  });

  it('goes back to zero after the idle grace and cold-starts again on the next request', async () => {
    gw = await startGateway(
      service(predictorRevision('iris-1', { body: '        annotations:\n          autoscaling.knative.dev/window: 6s' })),
      { tickMs: 100 },
    );
    const rev = gw.revision('iris', 'iris-1');
    const first = await infer(gw.url);
    expect(first.headers['sluice-cold-start']).toBeDefined();
    await until(() => rev.replicas.desired === 0 && rev.replicas.actual === 0, 'scaled to zero', 20_000);
    expect(rev.endpoints.length).toBe(0);
    const again = await infer(gw.url);
    expect(again.status).toBe(200);
    expect(again.headers['sluice-cold-start']).toBeDefined();
  }, 30_000);
});

describe('endpoints', () => {
  it('never exceeds containerConcurrency on any endpoint', async () => {
    gw = await startGateway(
      service(
        countingRevision(
          'count-1',
          '        containerConcurrency: 2\n        annotations:\n          autoscaling.knative.dev/min-scale: "2"\n          autoscaling.knative.dev/max-scale: "2"',
        ),
        '',
      ).replace('model: iris', 'pathPrefix: /'),
    );
    const rev = gw.revision('iris', 'count-1');
    await until(() => rev.endpoints.length === 2, 'two ready endpoints');
    const results = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const res = await request(`${gw!.url}/work?ms=50`);
        await res.body.dump();
        return res.statusCode;
      }),
    );
    expect(results.every((s) => s === 200)).toBe(true);
    let total = 0;
    for (const ep of rev.endpoints) {
      const stats = (await (await request(`${ep.origin}/stats`)).body.json()) as { max: number; total: number };
      expect(stats.max).toBeLessThanOrEqual(2);
      expect(stats.max).toBeGreaterThan(0);
      total += stats.total;
    }
    expect(total).toBe(24);
  });

  it('replaces a replica killed with SIGKILL; held requests not yet sent go to the survivor', async () => {
    gw = await startGateway(
      service(
        countingRevision(
          'count-1',
          '        containerConcurrency: 1\n        annotations:\n          autoscaling.knative.dev/min-scale: "2"\n          autoscaling.knative.dev/max-scale: "2"',
        ),
      ).replace('model: iris', 'pathPrefix: /'),
    );
    const rev = gw.revision('iris', 'count-1');
    await until(() => rev.endpoints.length === 2, 'two ready endpoints');
    const work = (ms: number, method: 'GET' | 'POST') =>
      request(`${gw!.url}/work?ms=${ms}`, { method, body: method === 'POST' ? 'x' : undefined }).then(async (r) => {
        const text = await r.body.text();
        return { status: r.statusCode, pid: r.statusCode === 200 ? (JSON.parse(text) as { pid: number }).pid : 0, text };
      });
    // Both endpoints busy (cc=1) with long POSTs (not idempotent); four GETs are held.
    const longOnes = [work(1500, 'POST'), work(1500, 'POST')];
    await until(() => rev.stats.inflight === 2, 'both endpoints busy');
    const held = [work(10, 'GET'), work(10, 'GET'), work(10, 'GET'), work(10, 'GET')];
    await until(() => rev.stats.held === 4, 'four requests held');
    const victim = Number(((await (await request(`${rev.endpoints[0]!.origin}/stats`)).body.json()) as { pid: number }).pid);
    process.kill(victim, 'SIGKILL');
    // The POST the victim was serving was delivered, so it fails (never sent twice). The held GETs
    // were not sent yet; one released to the victim as it died (its listening socket can outlive
    // the connections by a moment) is idempotent and goes to the survivor instead.
    const longResults = await Promise.all(longOnes);
    expect(longResults.map((r) => r.status).sort()).toEqual([200, 502]);
    // The held requests were not sent yet: all answered, none by the dead process.
    const heldResults = await Promise.all(held);
    expect(heldResults.filter((r) => r.status !== 200)).toEqual([]);
    expect(heldResults.some((r) => r.pid === victim)).toBe(false);
    // The driver replaced the dead replica.
    await until(() => rev.endpoints.length === 2, 'replacement ready');
    const pids = await Promise.all(
      rev.endpoints.map(async (ep) => ((await (await request(`${ep.origin}/stats`)).body.json()) as { pid: number }).pid),
    );
    expect(pids).not.toContain(victim);
    expect(new Set(pids).size).toBe(2);
  });

  it('retries a request whose connection was refused on another endpoint, body and all', async () => {
    const live = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => res.end(`live ${body}`));
    });
    servers.push(live);
    await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise((r) => dead.close(r)); // nothing listens there now: connections are refused
    gw = await startGateway(`
services:
  - name: pair
    revisions:
      - name: pair-1
        backend: static
        urls: ["http://127.0.0.1:${deadPort}", "http://127.0.0.1:${(live.address() as { port: number }).port}"]
    traffic: [{ revision: pair-1, percent: 100 }]
`);
    const bodies = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await request(`${gw!.url}/x`, { method: 'POST', body: 'payload' });
        return `${res.statusCode} ${await res.body.text()}`;
      }),
    );
    expect(bodies).toEqual(Array(10).fill('200 live payload'));
  });
});

describe('streaming and upgrades', () => {
  it('streams a server-sent event response chunk by chunk', async () => {
    gw = await startGateway(
      service(predictorRevision('iris-1', { body: '        annotations:\n          autoscaling.knative.dev/min-scale: "1"' })),
    );
    const res = await request(`${gw.url}/v2/models/iris/generate_stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text_input: 'hi', parameters: { max_tokens: 5, interval_ms: 150 } }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const arrivals: Array<{ at: number; text: string }> = [];
    for await (const chunk of res.body as AsyncIterable<Buffer>) arrivals.push({ at: Date.now(), text: chunk.toString() });
    const events = arrivals
      .map((a) => a.text)
      .join('')
      .split('\n\n')
      .filter((e) => e.startsWith('data:'));
    expect(events.length).toBe(5);
    // Not buffered: the events arrived in several separate reads spread over time.
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThan(200);
  });

  it('proxies a WebSocket echo', async () => {
    const backend = createServer();
    const wss = new WebSocketServer({ server: backend });
    wss.on('connection', (ws, req) =>
      ws.on('message', (m) => ws.send(`echo:${(m as Buffer).toString()}:${String(req.headers['x-forwarded-for'] ?? '')}`)),
    );
    servers.push(backend);
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as { port: number }).port;
    gw = await startGateway(`
services:
  - name: chat
    match: { pathPrefix: /ws }
    revisions:
      - name: chat-1
        backend: static
        urls: [http://127.0.0.1:${port}]
    traffic:
      - { revision: chat-1, percent: 100 }
`);
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve((m as Buffer).toString())));
    ws.send('hello');
    expect(await reply).toBe('echo:hello:127.0.0.1');
    const rev = gw.revision('chat', 'chat-1');
    expect(rev.stats.inflight).toBe(1);
    ws.close();
    await until(() => rev.stats.inflight === 0, 'socket closed');
  });
});

describe('routing and safety', () => {
  async function canary(): Promise<{ port: number; hits: () => number }> {
    let hits = 0;
    const server = createServer((_req, res) => (hits++, res.end('canary')));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as { port: number }).port, hits: () => hits };
  }

  it('answers 404 route_not_found for an unknown host', async () => {
    const target = await canary();
    gw = await startGateway(`
services:
  - name: shop
    match: { hosts: [shop.example.com] }
    revisions: [{ name: shop-1, backend: static, urls: ["http://127.0.0.1:${target.port}"] }]
    traffic: [{ revision: shop-1, percent: 100 }]
`);
    const ok = await request(`${gw.url}/`, { headers: { host: 'shop.example.com' } });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toBe('canary');
    const res = await request(`${gw.url}/`, { headers: { host: 'evil.example.com' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/json');
    const body = (await res.body.json()) as ErrorBody;
    expect(body.error.code).toBe('route_not_found');
    expect(target.hits()).toBe(1);
  });

  it('never forwards an absolute-form request target anywhere', async () => {
    const target = await canary();
    const foreign = await canary();
    gw = await startGateway(`
services:
  - name: shop
    revisions: [{ name: shop-1, backend: static, urls: ["http://127.0.0.1:${target.port}"] }]
    traffic: [{ revision: shop-1, percent: 100 }]
`);
    const text = await rawRequest(
      gw.port,
      `GET http://127.0.0.1:${foreign.port}/steal HTTP/1.1\r\nHost: 127.0.0.1:${foreign.port}\r\nConnection: close\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('"code":"bad_request"');
    const connectText = await rawRequest(gw.port, `CONNECT 127.0.0.1:${foreign.port} HTTP/1.1\r\nHost: 127.0.0.1:${foreign.port}\r\n\r\n`);
    expect(connectText).not.toMatch(/^HTTP\/1\.1 200/);
    expect(foreign.hits()).toBe(0);
    expect(target.hits()).toBe(0);
  });

  it('sets forwarding headers, keeps traceparent and strips hop-by-hop headers', async () => {
    gw = await startGateway(
      service(countingRevision('count-1', '        annotations:\n          autoscaling.knative.dev/min-scale: "1"')).replace(
        'model: iris',
        'pathPrefix: /',
      ),
    );
    const res = await request(`${gw.url}/headers?x=1`, {
      method: 'POST',
      headers: {
        host: 'models.example.com',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'x-forwarded-for': '203.0.113.7',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
      },
      body: 'payload',
    });
    const echo = (await res.body.json()) as { url: string; body: string; headers: Record<string, string> };
    expect(res.headers['sluice-revision']).toBe('count-1');
    expect(echo.url).toBe('/headers?x=1');
    expect(echo.body).toBe('payload');
    expect(echo.headers.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe('models.example.com');
    expect(echo.headers.forwarded).toBe('for=127.0.0.1;host="models.example.com";proto=http');
    expect(echo.headers['proxy-authorization']).toBeUndefined();
    // A header named in Connection is hop-by-hop too (HTTP clients refuse to send one, so raw bytes).
    const raw = await rawRequest(
      gw.port,
      'GET /headers HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: hop\r\nX-Kept: yes\r\n\r\n',
    );
    const rawEcho = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> };
    expect(rawEcho.headers['x-kept']).toBe('yes');
    expect(rawEcho.headers['x-secret']).toBeUndefined();
  });
});

/**
 * Traffic management end to end: a real gateway backed by a config file (FileConfigSource, the
 * TrafficController, the admin API), static backends served by this test, local predictors for the
 * blue/green flip.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServiceJson } from '../src/admin/app.js';
import type { TrafficTarget } from '../src/config/schema.js';
import { stickyPoint } from '../src/gateway/sticky.js';
import type { ErrorBody } from './support/bodies.js';
import {
  failingRevision,
  IRIS_ROW,
  predictorRevision,
  startGateway,
  until,
  type StartOptions,
  type TestGateway,
} from './support/harness.js';

// Integration tests over real sockets: give a busy machine room.
vi.setConfig({ testTimeout: 30_000 });

let dir: string;
let gw: TestGateway | undefined;
const servers: Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-traffic-'));
});

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

/** A static backend answering its own name. */
async function backend(name: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
  });
  server.keepAliveTimeout = 65_000;
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Static revisions named `names`, each with its own backend. */
async function staticRevisions(...names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = await backend(n);
  return out;
}

function shopYaml(urls: Record<string, string>, traffic: string, extra = ''): string {
  const revisions = Object.entries(urls)
    .map(([name, url]) => `      - { name: ${name}, backend: static, urls: ["${url}"] }`)
    .join('\n');
  return `# the shop service
services:
  - name: shop
    match:
      hosts: [shop.example.com]
    revisions:
${revisions}
    traffic: ${traffic}
${extra}`;
}

async function start(yaml: string, options: StartOptions = {}): Promise<TestGateway> {
  gw = await startGateway(yaml, { configFile: join(dir, 'sluice.yaml'), ...options });
  return gw;
}

async function get(g: TestGateway, headers: Record<string, string> = {}) {
  const res = await request(`${g.url}/`, { headers: { host: 'shop.example.com', ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, revision: res.headers['sluice-revision'] as string | undefined };
}

/** `n` requests, `concurrency` at a time; served counts per Sluice-Revision. */
async function split(g: TestGateway, n: number, headers: Record<string, string> = {}, concurrency = 8): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let left = n;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left > 0) {
        left--;
        const r = await get(g, headers);
        expect(r.status).toBe(200);
        expect(r.text).toBe(r.revision);
        counts[r.revision!] = (counts[r.revision!] ?? 0) + 1;
      }
    }),
  );
  return counts;
}

async function putTraffic(g: TestGateway, body: unknown, service = 'shop'): Promise<{ status: number; json: unknown }> {
  const res = await request(`${g.adminUrl}/api/v1/services/${service}/traffic`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, json: await res.body.json() };
}

/** Write the way editors and ConfigMap mounts do: a temp file renamed over the config. */
async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

interface Sample {
  status: number;
  revision: string | undefined;
  at: number;
  error?: string;
}

/** Back-to-back requests from `workers` clients until stop(), at most `maxMs`. */
function steadyLoad(send: () => Promise<{ status: number; revision: string | undefined }>, workers = 4, maxMs = 40_000) {
  const samples: Sample[] = [];
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped && Date.now() < deadline) {
      try {
        samples.push({ ...(await send()), at: Date.now() });
      } catch (err) {
        samples.push({ status: -1, revision: undefined, at: Date.now(), error: String(err) });
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  });
  return {
    samples,
    async stop(): Promise<Sample[]> {
      stopped = true;
      await Promise.all(loops);
      return samples;
    },
  };
}

describe('weighted split', () => {
  it('90/10 over 1,000 requests is exactly 900/100', async () => {
    const urls = await staticRevisions('blue', 'green');
    const g = await start(shopYaml(urls, '[{ revision: blue, percent: 90 }, { revision: green, percent: 10 }]'));
    expect(await split(g, 1000)).toEqual({ blue: 900, green: 100 });
  });

  it('follows a PUT at once: 30/70 over the next 100 requests', async () => {
    const urls = await staticRevisions('blue', 'green');
    const g = await start(shopYaml(urls, '[{ revision: blue, percent: 90 }, { revision: green, percent: 10 }]'));
    const res = await putTraffic(g, [
      { revision: 'blue', percent: 30 },
      { revision: 'green', percent: 70 },
    ]);
    expect(res).toEqual({
      status: 200,
      json: {
        traffic: [
          { revision: 'blue', percent: 30 },
          { revision: 'green', percent: 70 },
        ],
      },
    });
    expect(await split(g, 100)).toEqual({ blue: 30, green: 70 });
  });
});

describe('tags', () => {
  it('routes by Sluice-Tag header and by tag host, a 0 % revision included; an unknown tag is a 404', async () => {
    const urls = await staticRevisions('blue', 'green', 'next');
    const g = await start(
      shopYaml(
        urls,
        '[{ revision: blue, percent: 100, tag: current }, { revision: green, percent: 0, tag: canary }, { revision: next, percent: 0 }]',
      ),
    );
    expect(await split(g, 50)).toEqual({ blue: 50 });
    expect(await split(g, 20, { 'sluice-tag': 'canary' })).toEqual({ green: 20 });
    expect(await split(g, 20, { host: 'canary-shop.example.com' })).toEqual({ green: 20 });
    expect(await split(g, 20, { host: 'current-shop.example.com:8080' })).toEqual({ blue: 20 });
    // The header wins over the host.
    expect(await split(g, 5, { host: 'current-shop.example.com', 'Sluice-Tag': 'canary' })).toEqual({ green: 5 });

    const unknown = await get(g, { 'sluice-tag': 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toBe('application/json');
    // The gateway answers an unknown tag with the contract's route_not_found (ErrorCode's tag_not_found is unused).
    expect((JSON.parse(unknown.text) as ErrorBody).error).toMatchObject({
      code: 'route_not_found',
      message: 'service "shop" has no revision tagged "nope"',
    });
    const unknownHost = await get(g, { host: 'nope-shop.example.com' });
    expect(unknownHost.status).toBe(404);
    expect((JSON.parse(unknownHost.text) as ErrorBody).error.code).toBe('route_not_found');

    // Tags move with a PUT: `next` takes the canary tag, green loses it.
    expect(
      (
        await putTraffic(g, [
          { revision: 'blue', percent: 100 },
          { revision: 'green', percent: 0 },
          { revision: 'next', percent: 0, tag: 'canary' },
        ])
      ).status,
    ).toBe(200);
    expect(await split(g, 10, { 'sluice-tag': 'canary' })).toEqual({ next: 10 });
    expect((await get(g, { host: 'current-shop.example.com' })).status).toBe(404);
  });
});

describe('sticky sessions', () => {
  it('header mode: a key stays on one revision; 90/10 → 80/20 moves exactly the keys in [80, 90)', async () => {
    const urls = await staticRevisions('blue', 'green');
    const g = await start(
      shopYaml(urls, '[{ revision: blue, percent: 90 }, { revision: green, percent: 10 }]', '    stickiness:\n      header: x-user-id\n'),
    );
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    const assignment = async () => {
      const out = new Map<string, string>();
      const queue = [...keys];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
            const seen = await split(g, 4, { 'x-user-id': key }, 1);
            expect(Object.keys(seen)).toHaveLength(1); // the key never changed revision
            out.set(key, Object.keys(seen)[0]!);
          }
        }),
      );
      return out;
    };
    const before = await assignment();
    for (const key of keys) expect(before.get(key)).toBe(stickyPoint(key) < 90 ? 'blue' : 'green');

    expect(
      (
        await putTraffic(g, [
          { revision: 'blue', percent: 80 },
          { revision: 'green', percent: 20 },
        ])
      ).status,
    ).toBe(200);
    const after = await assignment();
    const moved = keys.filter((k) => before.get(k) !== after.get(k)).sort();
    const want = keys.filter((k) => stickyPoint(k) >= 80 && stickyPoint(k) < 90).sort();
    expect(want.length).toBeGreaterThan(10);
    expect(moved).toEqual(want);
    for (const k of moved) expect(`${before.get(k)}→${after.get(k)}`).toBe('blue→green');

    // Without a key, the plain split applies.
    expect(await split(g, 100)).toEqual({ blue: 80, green: 20 });
  });

  it('cookie mode: sets the cookie when absent, then keeps the client on one revision', async () => {
    const urls = await staticRevisions('blue', 'green');
    const g = await start(
      shopYaml(
        urls,
        '[{ revision: blue, percent: 50 }, { revision: green, percent: 50 }]',
        '    stickiness:\n      cookie: shop-session\n',
      ),
    );
    for (let client = 0; client < 10; client++) {
      const first = await get(g);
      const setCookie = String(first.headers['set-cookie']);
      const m = /^shop-session=([0-9a-f-]{36}); Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/.exec(setCookie);
      expect(m, setCookie).not.toBeNull();
      const key = m![1]!;
      expect(first.revision).toBe(stickyPoint(key) < 50 ? 'blue' : 'green');
      for (let i = 0; i < 5; i++) {
        const again = await get(g, { cookie: `theme=dark; shop-session=${key}` });
        expect(again.revision).toBe(first.revision);
        expect(again.headers['set-cookie']).toBeUndefined();
      }
    }
  });
});

describe('traffic API validation', () => {
  const rows: Array<{ label: string; body: unknown; wantProblems: string[] }> = [
    {
      label: 'percents that do not sum to 100',
      body: [
        { revision: 'blue', percent: 60 },
        { revision: 'green', percent: 30 },
      ],
      wantProblems: ['traffic: percents sum to 90, want 100'],
    },
    {
      label: 'an unknown revision',
      body: [
        { revision: 'blue', percent: 50 },
        { revision: 'purple', percent: 50 },
      ],
      wantProblems: ['traffic[1].revision: unknown revision "purple"'],
    },
    {
      label: 'a revision listed twice',
      body: [
        { revision: 'blue', percent: 50 },
        { revision: 'blue', percent: 50 },
      ],
      wantProblems: ['traffic[1].revision: revision "blue" listed twice'],
    },
    {
      label: 'a tag that is not a DNS-1035 label',
      body: [
        { revision: 'blue', percent: 100, tag: 'Canary_1' },
        { revision: 'green', percent: 0 },
      ],
      wantProblems: [
        'traffic[0].tag: must be a DNS-1035 label: a lowercase letter, then lowercase letters, digits or "-", not ending in "-"',
      ],
    },
    {
      label: 'a duplicate tag',
      body: [
        { revision: 'blue', percent: 100, tag: 'x' },
        { revision: 'green', percent: 0, tag: 'x' },
      ],
      wantProblems: ['traffic[1].tag: duplicate tag "x"'],
    },
    { label: 'an empty list', body: [], wantProblems: ['traffic: Too small: expected array to have >=1 items'] },
    {
      label: 'keepWarmSeconds not a number',
      body: { traffic: [{ revision: 'blue', percent: 100 }], keepWarmSeconds: 'long' },
      wantProblems: ['keepWarmSeconds: want a number of seconds ≥ 0, got "long"'],
    },
  ];

  it('answers 400 naming the field, and the old traffic keeps serving', async () => {
    const urls = await staticRevisions('blue', 'green');
    const g = await start(shopYaml(urls, '[{ revision: blue, percent: 90 }, { revision: green, percent: 10 }]'));
    const file = join(dir, 'sluice.yaml');
    const text = await readFile(file, 'utf8');
    for (const row of rows) {
      const res = await putTraffic(g, row.body);
      expect(res.status, row.label).toBe(400);
      expect((res.json as ErrorBody).error.code, row.label).toBe('invalid_config');
      expect((res.json as ErrorBody).error.problems, row.label).toEqual(row.wantProblems);
      expect(await split(g, 100), row.label).toEqual({ blue: 90, green: 10 });
    }
    expect(await readFile(file, 'utf8')).toBe(text);
    expect((await putTraffic(g, [{ revision: 'blue', percent: 100 }], 'nope')).status).toBe(404);
    const notJson = await request(`${g.adminUrl}/api/v1/services/shop/traffic`, { method: 'PUT', body: '{' });
    expect(notJson.statusCode).toBe(400);
    expect(((await notJson.body.json()) as ErrorBody).error.code).toBe('bad_request');
  });
});

describe('persistence', () => {
  it('a PUT survives a restart from the same file, comments kept', async () => {
    const urls = await staticRevisions('blue', 'green');
    let g = await start(shopYaml(urls, '[{ revision: blue, percent: 100 }, { revision: green, percent: 0 }]'));
    const want: TrafficTarget[] = [
      { revision: 'blue', percent: 20 },
      { revision: 'green', percent: 80, tag: 'canary' },
    ];
    expect((await putTraffic(g, want)).status).toBe(200);
    await g.close();
    gw = undefined;

    const text = await readFile(join(dir, 'sluice.yaml'), 'utf8');
    expect(text.startsWith('# the shop service\n')).toBe(true);
    g = await start('');
    expect(g.traffic.service('shop').traffic).toEqual(want);
    const view = (await (await request(`${g.adminUrl}/api/v1/services/shop`)).body.json()) as ServiceJson;
    expect(view.revisions.map((r) => [r.name, r.percent, r.tag])).toEqual([
      ['blue', 20, null],
      ['green', 80, 'canary'],
    ]);
    expect(await split(g, 100)).toEqual({ blue: 20, green: 80 });
    expect(await split(g, 5, { 'sluice-tag': 'canary' })).toEqual({ green: 5 });
  });
});

describe('hot reload', () => {
  it('rewrites under continuous load fail no request; an invalid file is rejected and the running config stays', async () => {
    const urls = await staticRevisions('a', 'b', 'c');
    const file = join(dir, 'sluice.yaml');
    const only = (...names: string[]) => Object.fromEntries(names.map((n) => [n, urls[n]!]));
    const g = await start(shopYaml(only('a'), '[{ revision: a, percent: 100 }]'));
    const load = steadyLoad(async () => {
      const r = await get(g);
      if (r.text !== r.revision) throw new Error(`body ${r.text} from ${r.revision}`);
      return r;
    });
    /** Wait until `n` responses after now all come from `want` (a set of revisions). */
    const servedOnlyBy = async (want: string[], n = 40) => {
      const from = load.samples.length;
      await until(
        () => {
          const recent = load.samples.slice(from);
          const tail = recent.slice(-n);
          return (
            tail.length === n && tail.every((s) => want.includes(s.revision!)) && want.every((w) => tail.some((s) => s.revision === w))
          );
        },
        `only ${want.join(', ')} serving`,
      );
    };

    await servedOnlyBy(['a']);
    await replaceFile(file, shopYaml(only('a', 'b'), '[{ revision: a, percent: 50 }, { revision: b, percent: 50 }]'));
    await until(() => g.reloads.length === 1, 'reload 1');
    await servedOnlyBy(['a', 'b']);
    // Remove a revision.
    await replaceFile(file, shopYaml(only('b'), '[{ revision: b, percent: 100 }]'));
    await until(() => g.reloads.length === 2, 'reload 2');
    await servedOnlyBy(['b']);
    await until(() => [...g.gateway.revisions()].every((r) => r.name !== 'a'), 'revision a swept');
    // Add one.
    await replaceFile(file, shopYaml(only('b', 'c'), '[{ revision: b, percent: 50 }, { revision: c, percent: 50 }]'));
    await until(() => g.reloads.length === 3, 'reload 3');
    await servedOnlyBy(['b', 'c']);
    // An invalid file: rejected, the running config stays.
    await replaceFile(file, shopYaml(only('b', 'c'), '[{ revision: b, percent: 50 }, { revision: c, percent: 40 }]'));
    await until(() => g.reloadErrors.length === 1, 'invalid config rejected');
    expect(g.reloadErrors[0]!.problems).toEqual(['services[0].traffic: percents sum to 90, want 100']);
    await servedOnlyBy(['b', 'c']);
    expect(g.traffic.service('shop').traffic).toEqual([
      { revision: 'b', percent: 50 },
      { revision: 'c', percent: 50 },
    ]);
    // And a valid one after it is taken again.
    await replaceFile(file, shopYaml(only('c'), '[{ revision: c, percent: 100 }]'));
    await until(() => g.reloads.length === 4, 'reload 4');
    await servedOnlyBy(['c']);

    const samples = await load.stop();
    expect(samples.length).toBeGreaterThan(200);
    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
    expect(g.reloads).toHaveLength(4);
  }, 40_000);
});

describe('blue/green flip', () => {
  it("pre-warms green to blue's ready replicas before the flip; no request fails; blue stays warm", async () => {
    const flips: Array<{ traffic: string; greenReady: number; blueReady: number }> = [];
    const yaml = `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('blue', { body: '        annotations:\n          autoscaling.knative.dev/min-scale: "2"' })}${predictorRevision('green')}
    traffic:
      - revision: blue
        percent: 100
      - revision: green
        percent: 0
`;
    const g = await start(yaml, {
      onTrafficChange: (_service, traffic) =>
        flips.push({
          traffic: traffic.map((t) => `${t.revision}=${t.percent}`).join(' '),
          greenReady: gw!.revision('iris', 'green').endpoints.length,
          blueReady: gw!.revision('iris', 'blue').endpoints.length,
        }),
    });
    const blue = g.revision('iris', 'blue');
    const green = g.revision('iris', 'green');
    await until(() => blue.endpoints.length === 2, 'blue at 2 ready', 20_000);
    expect(green.replicas.desired).toBe(0);
    const body = JSON.stringify(IRIS_ROW);
    const load = steadyLoad(async () => {
      const res = await request(`${g.url}/v2/models/iris/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.body.dump();
      return { status: res.statusCode, revision: res.headers['sluice-revision'] as string | undefined };
    });
    await until(() => load.samples.length >= 50, 'load running');

    const res = await putTraffic(
      g,
      [
        { revision: 'blue', percent: 0 },
        { revision: 'green', percent: 100 },
      ],
      'iris',
    );
    expect(res.status).toBe(200);
    // Right after the flip: blue still has its replicas and a keep-warm floor.
    expect(blue.endpoints.length).toBe(2);
    expect(blue.floor?.replicas).toBe(2);
    // The flip was applied only once green had as many ready replicas as blue.
    expect(flips).toEqual([{ traffic: 'blue=0 green=100', greenReady: 2, blueReady: 2 }]);
    const flippedAt = Date.now();
    await until(() => load.samples.filter((s) => s.at > flippedAt + 50).length >= 50, 'load after the flip');
    const samples = await load.stop();

    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
    expect(samples.filter((s) => s.at > flippedAt + 50).every((s) => s.revision === 'green')).toBe(true);
    expect(samples.some((s) => s.revision === 'blue')).toBe(true);
  }, 40_000);
});

describe('a flip to a revision that cannot start', () => {
  it('is refused with 409 and why, at once while pre-warming and again once it is Failed; traffic stays on blue', async () => {
    // green starts only when asked for (initial scale 0): the first flip's pre-warm starts it.
    const yaml = `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('blue', { body: '        annotations:\n          autoscaling.knative.dev/min-scale: "1"' })}
${failingRevision('green')}
    traffic:
      - revision: blue
        percent: 100
      - revision: green
        percent: 0
`;
    const g = await start(yaml);
    await until(() => g.revision('iris', 'blue').endpoints.length === 1, 'blue ready', 20_000);
    const file = join(dir, 'sluice.yaml');
    const text = await readFile(file, 'utf8');
    const flip = [
      { revision: 'blue', percent: 0 },
      { revision: 'green', percent: 100 },
    ];
    const why = 'iris/green failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; stderr: model file not found';

    // The pre-warm would wait 120 s for a ready replica; it answers as soon as green is Failed.
    const prewarmed = await putTraffic(g, flip, 'iris');
    expect(prewarmed).toEqual({
      status: 409,
      json: { error: { code: 'revision_failed', message: `pre-warming green to 1 ready replica: ${why}; traffic unchanged` } },
    });
    // Now that it is Failed, a flip is refused before anything is asked of it (restarts may have
    // gone on meanwhile: the count of starts is the driver's at the time).
    const again = await putTraffic(g, flip, 'iris');
    expect(again.status).toBe(409);
    expect((again.json as ErrorBody).error).toEqual({
      code: 'revision_failed',
      message: expect.stringMatching(
        /^iris\/green failed \(ExitCode\): exited with code 1 before it was ready, \d+ starts in a row; stderr: model file not found; traffic unchanged$/,
      ) as unknown,
    });

    expect(g.traffic.service('iris').traffic).toEqual([
      { revision: 'blue', percent: 100 },
      { revision: 'green', percent: 0 },
    ]);
    expect(await readFile(file, 'utf8')).toBe(text);
    const res = await request(`${g.url}/v2/models/iris/infer`, { method: 'POST', body: JSON.stringify(IRIS_ROW) });
    await res.body.dump();
    expect([res.statusCode, res.headers['sluice-revision']]).toEqual([200, 'blue']);
    // The status API shows why.
    const view = (await (await request(`${g.adminUrl}/api/v1/services/iris`)).body.json()) as ServiceJson;
    expect(view.revisions.map((r) => [r.name, r.condition.status, r.condition.reason, r.condition.output])).toEqual([
      ['blue', 'Ready', 'Serving', undefined],
      ['green', 'Failed', 'ExitCode', 'model file not found'],
    ]);
  });
});

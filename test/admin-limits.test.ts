/**
 * The admin API's input limits: a body size limit (413), a nesting limit (400), messages that name
 * the field without echoing what was sent, and never a 500 for client input. The pure parts are
 * tables; the HTTP part is a real gateway backed by a config file (harness: FileConfigSource, the
 * traffic and rollout controllers, the admin app on startAdminServer, 127.0.0.1:0), real requests.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { createAdminApp, MAX_BODY_BYTES } from '../src/admin/app.js';
import { startAdminServer } from '../src/admin/server.js';
import { jsonDepth, MAX_JSON_DEPTH, parseJsonBody } from '../src/admin/json-body.js';
import { boundProblems, formatPath, issueProblems, MAX_PROBLEMS } from '../src/config/problems.js';
import { SluiceError } from '../src/errors.js';
import { quote, truncate } from '../src/quote.js';
import { startGateway, type TestGateway } from './support/harness.js';

vi.setConfig({ testTimeout: 30_000 });

const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);

describe('jsonDepth', () => {
  const rows: Array<{ label: string; text: string; want: number; stopAbove?: number }> = [
    { label: 'a scalar', text: '42', want: 0 },
    { label: 'empty text', text: '', want: 0 },
    { label: 'an empty object', text: '{}', want: 1 },
    { label: 'siblings do not add up', text: '[[1],[2],{"a":[3]}]', want: 3 },
    { label: 'brackets inside a string', text: '{"a":"[[[[{{{{"}', want: 1 },
    { label: 'an escaped quote does not end the string', text: '["\\"[[[["]', want: 1 },
    { label: 'an escaped backslash does end it', text: '["\\\\",[[1]]]', want: 3 },
    { label: '10,000 deep', text: nested(10_000), want: 10_000 },
    { label: 'stops once past the bound', text: nested(10_000), stopAbove: 32, want: 33 },
    { label: 'not JSON still gets a number', text: '[[[', want: 3 },
  ];
  for (const row of rows) {
    it(row.label, () => expect(jsonDepth(row.text, row.stopAbove)).toBe(row.want));
  }
});

describe('parseJsonBody', () => {
  it(`takes ${MAX_JSON_DEPTH} levels, refuses ${MAX_JSON_DEPTH + 1} naming the limit`, () => {
    expect(parseJsonBody(nested(MAX_JSON_DEPTH))).toHaveLength(1);
    const refused = () => parseJsonBody(nested(MAX_JSON_DEPTH + 1));
    expect(refused).toThrow(SluiceError);
    expect(refused).toThrow(
      `request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep; the limit is ${MAX_JSON_DEPTH}`,
    );
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseJsonBody('{')).toThrow(new SluiceError('bad_request', 400, 'request body must be JSON'));
    expect(() => parseJsonBody('')).toThrow('request body must be JSON');
  });
});

describe('quote and truncate', () => {
  const long = 'x'.repeat(100_000);
  const rows: Array<{ label: string; value: unknown; want: string }> = [
    { label: 'a short string', value: 'long', want: '"long"' },
    { label: 'a long string: cut, with its length', value: long, want: `"${'x'.repeat(40)}…" (100000 chars)` },
    { label: 'control characters escaped', value: 'a\nb"c', want: '"a\\nb\\"c"' },
    { label: 'a surrogate pair is not split', value: 'x'.repeat(39) + '😀' + 'y', want: `"${'x'.repeat(39)}…" (42 chars)` },
    { label: 'a number', value: 1.5, want: '1.5' },
    { label: 'Infinity (JSON 1e400)', value: Infinity, want: 'Infinity' },
    { label: 'a boolean', value: false, want: 'false' },
    { label: 'null', value: null, want: 'null' },
    { label: 'undefined', value: undefined, want: 'nothing' },
    { label: 'an array, not serialised', value: [[[[1]]]], want: 'an array' },
    { label: 'an object, not serialised', value: { a: long }, want: 'an object' },
  ];
  for (const row of rows) {
    it(row.label, () => expect(quote(row.value)).toBe(row.want));
  }

  it('quotes a value nested 100,000 deep without walking it', () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(quote({ keepWarmSeconds: deep })).toBe('an object');
  });

  it('truncate keeps a short text and cuts a long one', () => {
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abcdef', 3)).toBe('abc…');
  });
});

describe('problems', () => {
  it('formatPath quotes a long or unusual key and keeps plain ones', () => {
    const rows: Array<{ path: PropertyKey[]; want: string }> = [
      { path: ['annotations', 'autoscaling.knative.dev/max-scale'], want: 'annotations.autoscaling.knative.dev/max-scale' },
      { path: ['annotations', 'a\nb'], want: 'annotations["a\\nb"]' },
      { path: ['traffic', 0, 'k'.repeat(1000)], want: `traffic[0]["${'k'.repeat(40)}…" (1000 chars)]` },
    ];
    for (const row of rows) expect(formatPath(row.path)).toBe(row.want);
  });

  it('names unknown keys quoted and cut, five at most', () => {
    const schema = z.object({ to: z.string() }).strict();
    const one = schema.safeParse({ to: 'b', speed: 'fast' });
    expect(issueProblems(one.error!.issues)).toEqual(['(root): Unrecognized key: "speed"']);
    const keys = Object.fromEntries(['k'.repeat(5000), 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => [k, 1]));
    const many = schema.safeParse({ to: 'b', ...keys });
    expect(issueProblems(many.error!.issues, ['rollout'])).toEqual([
      `rollout: Unrecognized keys: "${'k'.repeat(40)}…" (5000 chars), "b", "c", "d", "e" and 2 more`,
    ]);
  });

  it(`boundProblems keeps ${MAX_PROBLEMS} and counts the rest`, () => {
    const rows = [
      { problems: ['a'], max: 2, want: ['a'] },
      { problems: ['a', 'b'], max: 2, want: ['a', 'b'] },
      { problems: ['a', 'b', 'c'], max: 2, want: ['a', 'b', '… and 1 more problem'] },
      { problems: ['a', 'b', 'c', 'd'], max: 2, want: ['a', 'b', '… and 2 more problems'] },
    ];
    for (const row of rows) expect(boundProblems(row.problems, row.max)).toEqual(row.want);
  });
});

describe('admin API over HTTP', () => {
  let dir: string;
  let gw: TestGateway;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-admin-limits-'));
    file = join(dir, 'sluice.yaml');
    // Static revisions whose endpoints are never contacted: these tests only talk to the admin API.
    gw = await startGateway(
      `services:
  - name: shop
    match:
      hosts: [shop.example.com]
    revisions:
      - { name: blue, backend: static, urls: ["http://127.0.0.1:1"] }
      - { name: green, backend: static, urls: ["http://127.0.0.1:1"] }
    traffic:
      - { revision: blue, percent: 90 }
      - { revision: green, percent: 10 }
`,
      { configFile: file },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  });

  interface Answer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
    json: { error?: { code: string; message: string; problems?: string[] } } & Record<string, unknown>;
  }

  async function send(method: 'PUT' | 'POST' | 'DELETE', path: string, body?: string | Buffer | AsyncIterable<Buffer>): Promise<Answer> {
    // undici sends an async iterable chunked (its docs list Iterable and AsyncIterable bodies); its types stop at Readable.
    const res = await request(`${gw.adminUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body as Dispatcher.RequestOptions['body'],
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) as Answer['json'] };
  }

  /** `size` bytes: a valid traffic body padded with spaces to exactly that length. */
  function trafficBody(size: number): Buffer {
    const json = JSON.stringify([
      { revision: 'blue', percent: 90 },
      { revision: 'green', percent: 10 },
    ]);
    return Buffer.concat([Buffer.from(json), Buffer.alloc(size - json.length, 0x20)]);
  }

  /** The same bytes with no Content-Length: undici sends an async iterable chunked, 64 KiB a chunk. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async so that it is an AsyncIterable body, which undici streams chunked
  async function* chunked(bytes: Buffer): AsyncIterable<Buffer> {
    for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
  }

  async function percents(): Promise<Record<string, number>> {
    const res = await request(`${gw.adminUrl}/api/v1/services/shop`);
    const view = (await res.body.json()) as { revisions: Array<{ name: string; percent: number }> };
    return Object.fromEntries(view.revisions.map((r) => [r.name, r.percent]));
  }

  describe('body size', () => {
    const rows = [
      { label: '2 MiB with Content-Length', body: () => trafficBody(2 * MAX_BODY_BYTES), want: 413 },
      { label: '2 MiB chunked', body: () => chunked(trafficBody(2 * MAX_BODY_BYTES)), want: 413 },
      { label: '1 byte over, with Content-Length', body: () => trafficBody(MAX_BODY_BYTES + 1), want: 413 },
      { label: '1 byte over, chunked', body: () => chunked(trafficBody(MAX_BODY_BYTES + 1)), want: 413 },
      { label: 'exactly 1 MiB with Content-Length', body: () => trafficBody(MAX_BODY_BYTES), want: 200 },
      { label: 'exactly 1 MiB chunked', body: () => chunked(trafficBody(MAX_BODY_BYTES)), want: 200 },
    ];
    for (const row of rows) {
      it(`${row.label} → ${row.want}`, async () => {
        const res = await send('PUT', '/api/v1/services/shop/traffic', row.body());
        expect(res.status).toBe(row.want);
        if (row.want === 413) {
          expect(res.json.error).toEqual({
            code: 'payload_too_large',
            message: `request body over ${MAX_BODY_BYTES} bytes, the admin API's limit`,
          });
          // The rest of the body was never read: the connection is not offered for reuse.
          expect(res.headers.connection).toBe('close');
        } else {
          expect(res.json).toEqual({
            traffic: [
              { revision: 'blue', percent: 90 },
              { revision: 'green', percent: 10 },
            ],
          });
        }
        expect(await percents()).toEqual({ blue: 90, green: 10 });
      });
    }

    it('holds on the rollout route too', async () => {
      const res = await send('POST', '/api/v1/services/shop/rollout', chunked(Buffer.alloc(2 * MAX_BODY_BYTES, 0x20)));
      expect(res.status).toBe(413);
      expect(res.json.error!.code).toBe('payload_too_large');
    });
  });

  describe('bad input is a 400 that names the field, short, never a 500', () => {
    const huge = 'x'.repeat(500_000);
    const rows: Array<{
      label: string;
      method: 'PUT' | 'POST';
      path: string;
      body: string;
      wantCode: string;
      wantMessage?: string;
      wantProblems?: string[];
    }> = [
      {
        label: 'traffic nested 10,000 deep',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: `{"traffic":${nested(10_000)}}`,
        wantCode: 'bad_request',
        wantMessage: `request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep; the limit is ${MAX_JSON_DEPTH}`,
      },
      {
        label: 'keepWarmSeconds nested 10,000 deep',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: `{"traffic":[{"revision":"blue","percent":100}],"keepWarmSeconds":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`,
        wantCode: 'bad_request',
        wantMessage: `request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep; the limit is ${MAX_JSON_DEPTH}`,
      },
      {
        label: 'a rollout nested 10,000 deep',
        method: 'POST',
        path: '/api/v1/services/shop/rollout',
        body: `{"to":${nested(10_000)}}`,
        wantCode: 'bad_request',
        wantMessage: `request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep; the limit is ${MAX_JSON_DEPTH}`,
      },
      {
        label: 'keepWarmSeconds nested within the limit: named, not serialised',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: JSON.stringify({ traffic: [{ revision: 'blue', percent: 100 }], keepWarmSeconds: { a: [[huge]] } }),
        wantCode: 'invalid_config',
        wantProblems: ['keepWarmSeconds: want a number of seconds ≥ 0, got an object'],
      },
      {
        label: 'a huge revision name',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: JSON.stringify([{ revision: huge, percent: 100 }]),
        wantCode: 'invalid_config',
        wantProblems: ['traffic[0].revision: Too big: expected string to have <=63 characters'],
      },
      {
        label: 'a huge keepWarmSeconds string',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: JSON.stringify({ traffic: [{ revision: 'blue', percent: 100 }], keepWarmSeconds: huge }),
        wantCode: 'invalid_config',
        wantProblems: [`keepWarmSeconds: want a number of seconds ≥ 0, got "${'x'.repeat(40)}…" (500000 chars)`],
      },
      {
        label: 'keepWarmSeconds 1e400 (Infinity once parsed)',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: '{"traffic":[{"revision":"blue","percent":100}],"keepWarmSeconds":1e400}',
        wantCode: 'invalid_config',
        wantProblems: ['keepWarmSeconds: want a number of seconds ≥ 0, got Infinity'],
      },
      {
        label: 'a huge unknown key',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: JSON.stringify([{ revision: 'blue', percent: 100, [huge]: 1 }]),
        wantCode: 'invalid_config',
        wantProblems: [`traffic[0]: Unrecognized key: "${'x'.repeat(40)}…" (500000 chars)`],
      },
      {
        label: 'a percent of the wrong type',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: JSON.stringify([{ revision: 'blue', percent: '100' }]),
        wantCode: 'invalid_config',
        wantProblems: ['traffic[0].percent: Invalid input: expected number, received string'],
      },
      {
        label: 'traffic of the wrong type',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: JSON.stringify({ traffic: 'blue=100' }),
        wantCode: 'invalid_config',
        wantProblems: ['traffic: Invalid input: expected array, received string'],
      },
      {
        label: 'a body that is a bare number',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: '7',
        wantCode: 'invalid_config',
        wantProblems: ['(root): want a list of traffic targets or an object with "traffic", got 7'],
      },
      {
        label: '100,000 bad targets: the first 20 problems and a count',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: `[${Array(100_000).fill('1').join(',')}]`,
        wantCode: 'invalid_config',
        wantProblems: [
          ...Array.from({ length: 20 }, (_, i) => `traffic[${i}]: Invalid input: expected object, received number`),
          '… and 99980 more problems',
        ],
      },
      {
        label: 'a rollout to a huge revision name',
        method: 'POST',
        path: '/api/v1/services/shop/rollout',
        body: JSON.stringify({ to: huge }),
        wantCode: 'invalid_config',
        wantProblems: [`to: unknown revision "${'x'.repeat(40)}…" (500000 chars)`],
      },
      {
        label: 'rollout steps of the wrong type',
        method: 'POST',
        path: '/api/v1/services/shop/rollout',
        body: JSON.stringify({ to: 'green', steps: '10,50' }),
        wantCode: 'invalid_config',
        wantProblems: ['steps: Invalid input: expected array, received string'],
      },
      {
        label: 'a rollout body that is an array',
        method: 'POST',
        path: '/api/v1/services/shop/rollout',
        body: '[]',
        wantCode: 'invalid_config',
        wantProblems: ['(root): Invalid input: expected object, received array'],
      },
      {
        label: 'not JSON',
        method: 'PUT',
        path: '/api/v1/services/shop/traffic',
        body: `{"traffic": ${huge}`,
        wantCode: 'bad_request',
        wantMessage: 'request body must be JSON',
      },
    ];
    for (const row of rows) {
      it(row.label, async () => {
        const fileText = await readFile(file, 'utf8');
        const res = await send(row.method, row.path, row.body);
        expect(res.status).toBe(400);
        expect(res.json.error!.code).toBe(row.wantCode);
        if (row.wantMessage !== undefined) expect(res.json.error!.message).toBe(row.wantMessage);
        if (row.wantProblems !== undefined) expect(res.json.error!.problems).toEqual(row.wantProblems);
        // Whatever came in, the answer stays small.
        expect(res.text.length).toBeLessThan(4096);
        expect(await percents()).toEqual({ blue: 90, green: 10 });
        expect(await readFile(file, 'utf8')).toBe(fileText);
      });
    }
  });

  it('an unknown service with a long name is a short 404', async () => {
    const res = await send('PUT', `/api/v1/services/${'s'.repeat(8000)}/traffic`, '[{"revision":"blue","percent":100}]');
    expect(res.status).toBe(404);
    expect(res.json.error).toEqual({ code: 'not_found', message: `service "${'s'.repeat(40)}…" (8000 chars) not found` });
  });

  it('no rollout to abort is a 404, and the API still serves after all of the above', async () => {
    const res = await send('DELETE', '/api/v1/services/shop/rollout');
    expect(res.status).toBe(404);
    expect(res.json.error!.code).toBe('not_found');
    expect(await percents()).toEqual({ blue: 90, green: 10 });
  });
});

describe('admin API with a token', () => {
  it('refuses a client without the token before reading its body, and limits one with it', async () => {
    const control = {
      setTraffic: (_service: string, body: unknown) => Promise.resolve(body),
      startRollout: () => Promise.resolve({}),
      stopRollout: () => Promise.resolve({}),
      rollout: () => null,
    };
    const status = { services: () => [], ready: () => true };
    const app = createAdminApp({ status, registry: new Registry(), token: 't0ken', control });
    const server = await startAdminServer({ app, host: '127.0.0.1', port: 0, token: 't0ken' });
    try {
      const url = `http://127.0.0.1:${server.address.port}/api/v1/services/shop/traffic`;
      const big = Buffer.alloc(2 * MAX_BODY_BYTES, 0x20);
      const anonymous = await request(url, { method: 'PUT', body: big });
      expect(anonymous.statusCode).toBe(401);
      expect(((await anonymous.body.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      const known = await request(url, { method: 'PUT', body: big, headers: { authorization: 'Bearer t0ken' } });
      expect(known.statusCode).toBe(413);
      expect(((await known.body.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    } finally {
      await server.close();
    }
  });
});

/**
 * `sluice queue-proxy` end to end: the built CLI runs as a child process in front of a small app in
 * this process (which counts its own concurrency and can hold requests until the test lets them go)
 * or in front of the demo predictor, with real sockets on 127.0.0.1. Build first: `npx tsc -p .`.
 *
 * Nothing here depends on speed: requests are held open by the app until the test has measured,
 * and "a whole second with 20 requests active" is recognised from the queue-proxy's own clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { Service, type IService } from 'kubernetes-models/v1';
import { Agent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseQueueProxyArgs } from '../src/queue-proxy/options.js';
import type { QueueProxyStatsJson, SecondStats } from '../src/stats/stats-json.js';
import { QueueProxyStatsReader, type QueueProxyTotals } from '../src/autoscaler/queue-proxy-reader.js';
import type { ErrorBody, InferBody } from './support/bodies.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const IRIS_ROW = { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] };

// --- cleanup: every process, server, agent and reader a test starts ---

const children: ChildProcess[] = [];
const servers: Server[] = [];
const readers: QueueProxyStatsReader[] = [];
let agent = new Agent();

beforeAll(() => {
  if (!existsSync(CLI) || !existsSync(new URL('../dist/queue-proxy/main.js', import.meta.url))) {
    throw new Error('dist/ is missing the queue-proxy: build first with `npx tsc -p .`');
  }
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(readers.splice(0).map((r) => r.close()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await agent.destroy();
  agent = new Agent();
});

// --- helpers ---

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the text when it is not JSON. */
  body: unknown;
}

async function call(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const res = await request(url, {
    dispatcher: agent,
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
  });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (metrics text)
  }
  return { status: res.statusCode, headers: res.headers, body };
}

/** Starts `calls` and records each reply as it lands, so a test can look at early ones before the rest. */
function inFlight(calls: Array<() => Promise<Reply>>) {
  const done: Reply[] = [];
  const all = Promise.all(calls.map((c) => c().then((r) => (done.push(r), r))));
  return { done, all };
}

/** A test app: `/ready` answers `readyStatus`; `/hold` waits for release(); anything else answers at once. */
interface TestApp {
  url: string;
  port: number;
  inflight: number;
  max: number;
  total: number;
  readyStatus: number;
  /** `sluice-proxied` header values seen on held requests. */
  proxiedSeen: Array<string | undefined>;
  /** Answer every held request, and from now on hold each new one only `ms` (0 = not at all). */
  release(ms?: number): void;
}

async function startApp(): Promise<TestApp> {
  const parked: Array<() => void> = [];
  let holdMs = -1; // -1: park until release()
  const app: TestApp = {
    url: '',
    port: 0,
    inflight: 0,
    max: 0,
    total: 0,
    readyStatus: 200,
    proxiedSeen: [],
    release(ms = 0) {
      holdMs = ms;
      for (const answer of parked.splice(0)) answer();
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ready') {
      res.writeHead(app.readyStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: app.readyStatus === 200 }));
      return;
    }
    if (path !== '/hold') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    app.inflight++;
    app.total++;
    app.max = Math.max(app.max, app.inflight);
    app.proxiedSeen.push(req.headers['sluice-proxied'] as string | undefined);
    req.resume();
    const answer = () => {
      app.inflight--;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"held":true}');
    };
    if (holdMs < 0) parked.push(answer);
    else setTimeout(answer, holdMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.port = (server.address() as AddressInfo).port;
  app.url = `http://127.0.0.1:${app.port}`;
  return app;
}

interface Child {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): { stdout: string; stderr: string };
}

function launch(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(process.execPath, [CLI, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, exited, output: () => ({ stdout, stderr }) };
}

/** Resolves with the first stdout match of `pattern`, or rejects when the process exits first. */
function waitForLine(child: Child, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(child.output().stdout);
      if (m) resolve(m);
    };
    child.proc.stdout!.on('data', check);
    check();
    void child.exited.then(({ code }) =>
      reject(new Error(`process exited (${code}) early: ${child.output().stderr}${child.output().stdout}`)),
    );
  });
}

interface QueueProxyChild extends Child {
  url: string;
  admin: string;
  stats(window?: number): Promise<QueueProxyStatsJson>;
}

async function startQueueProxy(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<QueueProxyChild> {
  const child = launch('queue-proxy', ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-format', 'json', ...args], env);
  const m = await waitForLine(child, /"listen":"([^"]+)","admin":"([^"]+)"/);
  const admin = `http://${m[2]}`;
  return {
    ...child,
    url: `http://${m[1]}`,
    admin,
    async stats(window?: number) {
      const r = await call(`${admin}/api/v1/stats${window ? `?window=${window}` : ''}`);
      expect(r.status).toBe(200);
      return r.body as QueueProxyStatsJson;
    },
  };
}

async function startPredictor(latencyMs: number): Promise<string> {
  const child = launch('predictor', ['--port', '0', '--latency', String(latencyMs)]);
  return (await waitForLine(child, /listening on (http:\/\/\S+)/))[1]!;
}

/**
 * The stats of a second during which `n` requests were active the whole time: waits until the
 * queue-proxy reports them all active, then until its last completed second began after that.
 */
async function wholeSecondWith(qp: QueueProxyChild, n: number): Promise<QueueProxyStatsJson> {
  let allActiveAt = 0;
  await until(async () => {
    const s = await qp.stats();
    if (s.inflight + s.held === n) allActiveAt = s.now;
    return allActiveAt > 0;
  }, `${n} requests active`);
  let stats: QueueProxyStatsJson | undefined;
  await until(async () => {
    stats = await qp.stats();
    return stats.lastSecond.second * 1000 >= allActiveAt;
  }, 'a whole second after all were active');
  return stats!;
}

const infer = (url: string) => () =>
  call(`${url}/v2/models/iris/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(IRIS_ROW) });

// --- tests ---

describe('options', () => {
  const rows: Array<{ label: string; args: string[]; want?: Record<string, unknown>; wantError?: RegExp }> = [
    {
      label: 'defaults',
      args: [],
      want: {
        upstream: 'http://127.0.0.1:8080',
        containerConcurrency: 0,
        listen: { host: '0.0.0.0', port: 8012 },
        admin: { host: '0.0.0.0', port: 9091 },
        readinessPath: '/',
        drainQuietSeconds: 30,
        drainTimeoutSeconds: 300,
        timeoutSeconds: 300,
      },
    },
    {
      label: 'everything set',
      args: [
        '--upstream',
        'http://localhost:9000/',
        '--container-concurrency',
        '4',
        '--listen',
        ':8013',
        '--admin',
        '127.0.0.1:9092',
        '--readiness-path',
        '/v2/health/ready',
        '--drain-quiet-seconds',
        '0.5',
        '--drain-timeout-seconds',
        '10',
      ],
      want: {
        upstream: 'http://localhost:9000',
        containerConcurrency: 4,
        listen: { host: '0.0.0.0', port: 8013 },
        admin: { host: '127.0.0.1', port: 9092 },
        readinessPath: '/v2/health/ready',
        drainQuietSeconds: 0.5,
        drainTimeoutSeconds: 10,
      },
    },
    {
      label: 'cc not a number',
      args: ['--container-concurrency', 'four'],
      wantError: /--container-concurrency: want an integer 0\.\.1000/,
    },
    { label: 'cc above the schema limit', args: ['--container-concurrency', '1001'], wantError: /--container-concurrency/ },
    { label: 'https upstream', args: ['--upstream', 'https://127.0.0.1:8443'], wantError: /--upstream: want an http:\/\/ URL/ },
    {
      label: 'upstream with a path',
      args: ['--upstream', 'http://127.0.0.1:8080/api'],
      wantError: /--upstream: want an origin without path/,
    },
    { label: 'relative readiness path', args: ['--readiness-path', 'ready'], wantError: /--readiness-path/ },
    { label: 'bad listen', args: ['--listen', '8012'], wantError: /--listen: expected HOST:PORT/ },
    { label: 'negative quiet period', args: ['--drain-quiet-seconds', '-1'], wantError: /--drain-quiet-seconds/ },
    { label: 'zero request timeout', args: ['--timeout-seconds', '0'], wantError: /--timeout-seconds: want seconds > 0/ },
    { label: 'unknown option', args: ['--port', '1'], wantError: /Unknown option '--port'/ },
  ];
  for (const row of rows) {
    it(row.label, () => {
      if (row.wantError) {
        expect(() => parseQueueProxyArgs(row.args)).toThrow(row.wantError);
      } else {
        expect(parseQueueProxyArgs(row.args)).toMatchObject(row.want!);
      }
    });
  }

  it('--help prints the usage and exits 0; a bad option exits 2 naming it', { timeout: 30_000 }, async () => {
    const help = launch('queue-proxy', ['--help']);
    expect((await help.exited).code).toBe(0);
    expect(help.output().stdout).toMatch(/usage: sluice queue-proxy --upstream URL --container-concurrency N/);
    const bad = launch('queue-proxy', ['--container-concurrency', 'x']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.output().stderr).toMatch(/--container-concurrency/);
  });
});

describe('breaker', () => {
  it('keeps at most cc requests at the app, 10 × cc waiting, and answers 503 queue_full beyond', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url, '--container-concurrency', '2', '--readiness-path', '/ready']);
    const load = inFlight(Array.from({ length: 27 }, () => () => call(`${qp.url}/hold`)));
    // 2 at the app, 20 waiting; the other 5 are refused at once.
    await until(() => load.done.length === 5 && app.inflight === 2, 'five refusals and two at the app');
    const stats = await qp.stats();
    expect(stats).toMatchObject({ inflight: 2, held: 20, containerConcurrency: 2 });
    for (const r of load.done) {
      expect(r.status).toBe(503);
      expect((r.body as ErrorBody).error.code).toBe('queue_full');
      expect(r.headers['retry-after']).toBe('1');
    }
    // Let them through, each held 5 ms at the app from now on: never more than 2 at once.
    app.release(5);
    const replies = await load.all;
    expect(replies.filter((r) => r.status === 200)).toHaveLength(22);
    expect(app.max).toBe(2);
    expect(app.total).toBe(22);
    // The inner gateway's own revision header does not leak out of the sidecar.
    for (const r of replies) expect(r.headers['sluice-revision']).toBeUndefined();
  });

  it('with containerConcurrency 0 sets no limit', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url, '--container-concurrency', '0']);
    const load = inFlight(Array.from({ length: 40 }, () => () => call(`${qp.url}/hold`)));
    await until(() => app.inflight === 40, 'all 40 at the app');
    expect((await qp.stats()).held).toBe(0);
    app.release();
    expect((await load.all).every((r) => r.status === 200)).toBe(true);
  });

  it('forwards to the demo predictor: body, status and headers', { timeout: 30_000 }, async () => {
    const predictor = await startPredictor(0);
    const qp = await startQueueProxy(['--upstream', predictor, '--container-concurrency', '4', '--readiness-path', '/v2/health/ready']);
    const r = await infer(qp.url)();
    expect(r.status).toBe(200);
    expect((r.body as InferBody).outputs[0]!.data).toEqual([2]);
    expect(r.headers['predictor-pid']).toBeDefined();
  });
});

describe('stats', () => {
  it('a second with 20 requests active all through averages 20', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url, '--container-concurrency', '0']);
    const load = inFlight(Array.from({ length: 20 }, () => () => call(`${qp.url}/hold`)));
    const stats = await wholeSecondWith(qp, 20);
    expect(stats.lastSecond).toMatchObject({
      averageConcurrency: 20,
      averageProxiedConcurrency: 0,
      requestCount: 0,
      proxiedRequestCount: 0,
    });
    expect(stats.window).toMatchObject({ seconds: 60, requestCount: 20, proxiedRequestCount: 0 });
    expect(stats.seconds).toHaveLength(5);
    expect(stats.seconds.map((s) => s.second)).toEqual([0, 1, 2, 3, 4].map((i) => stats.lastSecond.second - 4 + i));
    expect(stats.seconds[4]).toEqual(stats.lastSecond);
    expect(stats).toMatchObject({ inflight: 20, held: 0, requestsTotal: 20, proxiedRequestsTotal: 0 });
    // The same second in Prometheus form (still all 20 active: nothing was released yet).
    const metrics = (await call(`${qp.admin}/metrics`)).body as string;
    expect(metrics).toMatch(/^sluice_queue_average_concurrency 20$/m);
    expect(metrics).toMatch(/^sluice_queue_inflight 20$/m);
    expect(metrics).toMatch(/^process_cpu_seconds_total /m);
    app.release();
    expect((await load.all).every((r) => r.status === 200)).toBe(true);
    await until(async () => (await qp.stats()).lastSecond.averageConcurrency === 0, 'a quiet second');
  });

  it('counts requests through a Sluice gateway in both total and proxied, direct ones only in total', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url, '--container-concurrency', '0']);
    const direct = Array.from({ length: 12 }, () => () => call(`${qp.url}/hold`));
    const proxied = Array.from({ length: 8 }, () => () => call(`${qp.url}/hold`, { headers: { 'sluice-proxied': '1' } }));
    const load = inFlight([...direct, ...proxied]);
    const stats = await wholeSecondWith(qp, 20);
    expect(stats.lastSecond).toMatchObject({ averageConcurrency: 20, averageProxiedConcurrency: 8 });
    expect(stats.window).toMatchObject({ requestCount: 20, proxiedRequestCount: 8 });
    expect(stats).toMatchObject({ requestsTotal: 20, proxiedRequestsTotal: 8 });
    // The sidecar's own hop marks every request it forwards, as the gateway does.
    expect(app.proxiedSeen.every((v) => v !== undefined && v.includes('1'))).toBe(true);
    app.release();
    await load.all;
    await until(async () => (await qp.stats()).window.averageProxiedConcurrency > 0, 'window holds the proxied seconds');
    const metrics = (await call(`${qp.admin}/metrics`)).body as string;
    expect(metrics).toMatch(/^sluice_queue_proxied_requests_total 8$/m);
    expect(metrics).toMatch(/^sluice_queue_requests_total\{code="200"\} 20$/m);
  });

  it('rejects a window the buckets do not hold', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url]);
    expect((await qp.stats(6)).window.seconds).toBe(6);
    const r = await call(`${qp.admin}/api/v1/stats?window=61`);
    expect(r.status).toBe(400);
    expect((r.body as ErrorBody).error.code).toBe('bad_request');
  });
});

describe('probes and admin', () => {
  it('/readyz follows the app readiness path; /healthz stays 200 and shows the app', { timeout: 30_000 }, async () => {
    const app = await startApp();
    app.readyStatus = 503;
    const qp = await startQueueProxy(['--upstream', app.url, '--readiness-path', '/ready']);
    expect(await call(`${qp.admin}/readyz`)).toMatchObject({ status: 503, body: { status: 'not ready', app: 'not-ready' } });
    app.readyStatus = 200;
    await until(async () => (await call(`${qp.admin}/readyz`)).status === 200, 'ready once the app is');
    expect(await call(`${qp.admin}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok', app: 'ready', draining: false } });
  });

  it('with no app listening: not ready, still live', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const gone = app.url;
    await new Promise((r) => servers.pop()!.close(r));
    const qp = await startQueueProxy(['--upstream', gone]);
    expect(await call(`${qp.admin}/readyz`)).toMatchObject({ status: 503, body: { app: 'refused' } });
    expect(await call(`${qp.admin}/healthz`)).toMatchObject({ status: 200, body: { app: 'refused' } });
  });

  it('with SLUICE_ADMIN_TOKEN, /metrics and /api/v1/stats need it; probes do not', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url, '--readiness-path', '/ready'], {
      ...process.env,
      SLUICE_ADMIN_TOKEN: 's3cret',
    });
    for (const path of ['/metrics', '/api/v1/stats']) {
      expect((await call(`${qp.admin}${path}`)).status).toBe(401);
      expect((await call(`${qp.admin}${path}`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await call(`${qp.admin}${path}`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    }
    expect((await call(`${qp.admin}/healthz`)).status).toBe(200);
    expect((await call(`${qp.admin}/readyz`)).status).toBe(200);
  });
});

describe('drain on SIGTERM', () => {
  it('fails readiness at once, serves the quiet period, finishes every request and exits 0', { timeout: 60_000 }, async () => {
    const predictor = await startPredictor(300);
    const qp = await startQueueProxy([
      '--upstream',
      predictor,
      '--container-concurrency',
      '2',
      '--readiness-path',
      '/v2/health/ready',
      '--drain-quiet-seconds',
      '2',
    ]);
    expect((await call(`${qp.admin}/readyz`)).status).toBe(200);
    const before = inFlight(Array.from({ length: 10 }, () => infer(qp.url)));
    await until(async () => {
      const s = await qp.stats();
      return s.inflight === 2 && s.held === 8;
    }, '2 at the predictor and 8 waiting');

    qp.proc.kill('SIGTERM');
    await until(async () => (await call(`${qp.admin}/readyz`)).status === 503, 'readiness fails');
    expect(((await call(`${qp.admin}/readyz`)).body as { status: string }).status).toBe('draining');
    expect((await qp.stats()).draining).toBe(true);
    // Still in the quiet period: the port serves new requests (fresh connections included).
    expect(qp.output().stdout).not.toContain('drain: settling');
    const during = inFlight(Array.from({ length: 5 }, () => infer(qp.url)));

    const replies = [...(await before.all), ...(await during.all)];
    expect(replies.map((r) => r.status)).toEqual(Array(15).fill(200));
    expect(replies.every((r) => (r.body as InferBody).outputs[0]!.data[0] === 2)).toBe(true);
    expect(await qp.exited).toEqual({ code: 0, signal: null });
    expect(qp.output().stdout).toContain('drain: settling');
  });

  it('/wait-for-drain answers only once the quiet period is over and no request is left', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url, '--container-concurrency', '1', '--drain-quiet-seconds', '0.3']);
    const held = call(`${qp.url}/hold`);
    await until(() => app.inflight === 1, 'one request at the app');
    let heldDone = false;
    void held.then(() => (heldDone = true));
    let waitDone = false;
    const wait = call(`${qp.admin}/wait-for-drain`).then((r) => {
      waitDone = true;
      return { ...r, heldDoneFirst: heldDone };
    });

    qp.proc.kill('SIGTERM');
    await until(() => qp.output().stdout.includes('drain: settling'), 'quiet period over');
    // The port no longer accepts; the request at the app still runs, so the hook still waits.
    await expect(call(`${qp.url}/hold`)).rejects.toThrow();
    expect(waitDone).toBe(false);
    app.release();
    // Answered in full, and its connection is not kept for another request.
    expect(await held).toMatchObject({ status: 200, headers: { connection: 'close' } });
    expect(await wait).toMatchObject({ status: 200, body: { status: 'drained' }, heldDoneFirst: true });
    expect((await qp.exited).code).toBe(0);
  });

  it('after the drain timeout fails what is left and still exits 0', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy([
      '--upstream',
      app.url,
      '--container-concurrency',
      '1',
      '--drain-quiet-seconds',
      '0',
      '--drain-timeout-seconds',
      '0.5',
    ]);
    const atApp = call(`${qp.url}/hold`).catch((err: Error) => err);
    await until(() => app.inflight === 1, 'one request at the app');
    const waiting = call(`${qp.url}/hold`);
    await until(async () => (await qp.stats()).held === 1, 'one waiting');
    qp.proc.kill('SIGTERM');
    // The app never answers: the waiting one is refused, the one at the app cut off.
    expect(await waiting).toMatchObject({ status: 503, body: { error: { code: 'queue_full' } } });
    const cut = await atApp;
    if (!(cut instanceof Error)) expect(cut.status).toBe(502);
    expect(await qp.exited).toEqual({ code: 0, signal: null });
  });
});

describe('QueueProxyStatsReader', () => {
  /** A stats endpoint answering `body` (or hanging when body is 'hang'). */
  async function fakeEndpoint(body: unknown, status = 200): Promise<string> {
    const server = createServer((_req, res) => {
      if (body === 'hang') return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/stats`;
  }

  const pod = (second: number, c: number, pc: number, n: number, pn: number): Partial<QueueProxyStatsJson> => ({
    now: second * 1000 + 1100,
    lastSecond: { second, averageConcurrency: c, averageProxiedConcurrency: pc, requestCount: n, proxiedRequestCount: pn },
    inflight: Math.round(c),
    held: 1,
    draining: false,
  });

  const second = (s: number) => ({
    second: s,
    averageConcurrency: 1,
    averageProxiedConcurrency: 0,
    requestCount: 1,
    proxiedRequestCount: 0,
  });

  it('sums the endpoints that answer and counts the silent ones', { timeout: 15_000 }, async () => {
    const a = await fakeEndpoint(pod(100, 4.5, 1.5, 30, 10));
    const b = await fakeEndpoint(pod(101, 2, 2, 7, 7));
    const hang = await fakeEndpoint('hang');
    const notFound = await fakeEndpoint({ error: { code: 'not_found' } }, 404);
    const notStats = await fakeEndpoint({ hello: 'world' });
    const refused = await (async () => {
      const url = await fakeEndpoint({});
      const s = servers.pop()!;
      await new Promise((r) => s.close(r));
      return url;
    })();
    const reader = new QueueProxyStatsReader({ urls: [a, b, hang, notFound, notStats, refused], timeoutMs: 200 });
    readers.push(reader);
    const totals = await reader.poll();
    expect(totals).toMatchObject({
      second: 101,
      reporting: 2,
      silent: 4,
      averageConcurrency: 6.5,
      averageProxiedConcurrency: 3.5,
      requestCount: 37,
      proxiedRequestCount: 17,
      inflight: 7,
      held: 2,
    });
    expect(reader.latest()).toBe(totals);
    expect([...reader.endpoints().keys()].sort()).toEqual([a, b].sort());

    reader.setUrls([b]);
    expect([...reader.endpoints().keys()]).toEqual([b]);
    expect(await reader.poll()).toMatchObject({ reporting: 1, silent: 0, averageConcurrency: 2, averageProxiedConcurrency: 2 });
  });

  it('passes each endpoint second on once, late seconds included', { timeout: 15_000 }, async () => {
    let body: Partial<QueueProxyStatsJson> = { ...pod(12, 3, 1, 6, 2), seconds: [10, 11, 12].map((s) => second(s)) };
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/stats`;
    const got: number[] = [];
    const reader = new QueueProxyStatsReader({ urls: [url], onSecond: (s, from) => (expect(from).toBe(url), got.push(s.second)) });
    readers.push(reader);
    await reader.poll();
    await reader.poll(); // the same answer again: nothing new
    expect(got).toEqual([10, 11, 12]);
    // A poll was missed: 13 and 14 arrive together, 12 is not repeated.
    body = { ...pod(14, 3, 1, 6, 2), seconds: [12, 13, 14].map((s) => second(s)) };
    await reader.poll();
    expect(got).toEqual([10, 11, 12, 13, 14]);
  });

  it('polls on its own once started, with the admin token', { timeout: 15_000 }, async () => {
    let auth: string | undefined;
    const server = createServer((req, res) => {
      auth = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(pod(5, 1, 0, 1, 0)));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const rounds: QueueProxyTotals[] = [];
    const reader = new QueueProxyStatsReader({
      urls: [`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/stats`],
      intervalMs: 50,
      offsetMs: 0,
      token: 'tkn',
      onRound: (t) => rounds.push(t),
    });
    readers.push(reader);
    reader.start();
    await until(() => rounds.length >= 2, 'two rounds');
    expect(rounds[0]).toMatchObject({ reporting: 1, averageConcurrency: 1 });
    expect(auth).toBe('Bearer tkn');
  });

  it('reads a real queue-proxy: total and proxied concurrency', { timeout: 30_000 }, async () => {
    const app = await startApp();
    const qp = await startQueueProxy(['--upstream', app.url]);
    const load = inFlight([
      () => call(`${qp.url}/hold`),
      () => call(`${qp.url}/hold`),
      () => call(`${qp.url}/hold`, { headers: { 'Sluice-Proxied': '1' } }),
    ]);
    const settled = await wholeSecondWith(qp, 3);
    const samples: SecondStats[] = [];
    const reader = new QueueProxyStatsReader({ urls: [`${qp.admin}/api/v1/stats`], onSecond: (s) => samples.push(s) });
    readers.push(reader);
    let totals = await reader.poll();
    expect(samples.find((s) => s.second === settled.lastSecond.second)).toEqual(settled.lastSecond);
    // The reader may land in a later second than wholeSecondWith did; any such second is whole too.
    expect(totals.second).toBeGreaterThanOrEqual(settled.lastSecond.second);
    expect(totals).toMatchObject({ reporting: 1, silent: 0, averageConcurrency: 3, averageProxiedConcurrency: 1, inflight: 3 });
    app.release();
    await load.all;
    totals = await reader.poll();
    expect(totals.reporting).toBe(1);
  });
});

describe('deploy/sidecar manifest', () => {
  it('is a valid Deployment and Service wired to the queue-proxy ports', () => {
    const file = fileURLToPath(new URL('../deploy/sidecar/predictor-with-queue-proxy.yaml', import.meta.url));
    const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON() as unknown);
    const deployment = docs[0] as IDeployment;
    const service = docs[1] as IService;
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new Service(service).validate()).not.toThrow();

    const pod = deployment.spec!.template.spec!;
    const byName = Object.fromEntries(pod.containers.map((c) => [c.name, c]));
    const qp = byName['queue-proxy']!;
    const predictor = byName['predictor']!;
    // The CLI accepts the sidecar's arguments as written.
    expect(qp.args![0]).toBe('queue-proxy');
    const options = parseQueueProxyArgs(qp.args!.slice(1));
    if (options === 'help') throw new Error("the sidecar's arguments parsed as --help");
    expect(options).toMatchObject({ listen: { port: 8012 }, admin: { port: 9091 } });
    expect(qp.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'http', containerPort: 8012 }),
        expect.objectContaining({ name: 'queue-admin', containerPort: 9091 }),
      ]),
    );
    expect(qp.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'queue-admin' });
    expect(predictor.lifecycle!.preStop!.httpGet).toEqual({ path: '/wait-for-drain', port: 9091 });
    // The grace period covers the quiet period and the drain timeout.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(options.drainQuietSeconds + options.drainTimeoutSeconds);
    expect(pod.securityContext!.runAsNonRoot).toBe(true);
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(c.resources!.requests).toBeDefined();
      expect(c.resources!.limits).toBeDefined();
    }
    // `http` names exactly one port in the pod, the Service's target.
    const httpPorts = pod.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.name === 'http'));
    expect(httpPorts).toEqual([expect.objectContaining({ containerPort: 8012 })]);
    expect(service.spec!.ports).toEqual([expect.objectContaining({ name: 'http', targetPort: 'http' })]);
    expect(service.spec!.selector).toEqual(deployment.spec!.selector.matchLabels);
  });
});

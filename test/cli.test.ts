/**
 * The admin CLI from the build (`node dist/cli.js status|traffic|rollout`) against a real
 * `sluice gateway` process with an admin token, static backends served by this test.
 * Needs a current build: `npx tsc -p .`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ConditionJson, RevisionJson, ServiceJson } from '../src/admin/app.js';
import { UsageError } from '../src/cli/args.js';
import { lastLines, printable } from '../src/cli/condition-notes.js';
import { renderService } from '../src/cli/render.js';
import { startBody } from '../src/cli/rollout.js';
import { formatTraffic, parseTrafficArgs } from '../src/cli/traffic-spec.js';
import type { RolloutState } from '../src/rollout/rollout-controller.js';
import { CLI, until } from './support/harness.js';

// Every CLI call is a fresh Node process (a few hundred ms each on a busy machine).
vi.setConfig({ testTimeout: 30_000 });

const TOKEN = 'cli-test-token';

let dir: string;
let gateway: ChildProcess | undefined;
let admin: string;
let data: string;
const servers: Server[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/cli.js ...args`, with the admin address and token unless told otherwise. */
function cli(args: string[], options: { admin?: string | null; token?: string | null } = {}): Promise<Run> {
  const adminArgs = options.admin === null ? [] : ['--admin', options.admin ?? admin];
  const env = { ...process.env };
  delete env.SLUICE_ADMIN_TOKEN;
  if (options.token !== null) env.SLUICE_ADMIN_TOKEN = options.token ?? TOKEN;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, ...adminArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function backend(name: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
  const file = join(dir, 'sluice.yaml');
  await writeFile(
    file,
    `services:
  - name: shop
    match:
      hosts: [shop.example.com]
    revisions:
      - { name: shop-1, backend: static, urls: ["${await backend('shop-1')}"] }
      - { name: shop-2, backend: static, urls: ["${await backend('shop-2')}"] }
    traffic:
      - { revision: shop-1, percent: 100 }
      - { revision: shop-2, percent: 0 }
  - name: broken
    match:
      hosts: [broken.example.com]
    revisions:
      - name: broken-1
        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify(['-e', "console.error('loading /models/iris'); console.error('model file not found'); process.exit(1)"])}
    traffic:
      - { revision: broken-1, percent: 100 }
`,
  );
  const child = spawn(
    process.execPath,
    [CLI, 'gateway', '--config', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-format', 'json'],
    {
      env: { ...process.env, SLUICE_ADMIN_TOKEN: TOKEN, SLUICE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  gateway = child;
  const lines = createInterface({ input: child.stdout });
  const listening = await new Promise<{ listen: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not start within 15 s')), 15_000);
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code})`)));
    lines.on('line', (line) => {
      const log = JSON.parse(line) as { msg: string; listen?: string; admin?: string };
      if (log.msg.startsWith('sluice gateway listening on')) {
        clearTimeout(timer);
        resolve({ listen: log.listen!, admin: log.admin! });
      }
    });
  });
  child.stderr.resume();
  admin = listening.admin;
  data = `http://${listening.listen}`;
}, 30_000);

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway!.once('exit', r));
    gateway.kill('SIGTERM');
    await exited;
  }
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

async function served(tag?: string): Promise<string> {
  const res = await request(`${data}/`, { headers: { host: 'shop.example.com', ...(tag ? { 'sluice-tag': tag } : {}) } });
  return res.body.text();
}

describe('parseTrafficArgs', () => {
  const rows: Array<{ args: string[]; want?: unknown; wantError?: string }> = [
    {
      args: ['a=90', 'b=10'],
      want: [
        { revision: 'a', percent: 90 },
        { revision: 'b', percent: 10 },
      ],
    },
    {
      args: ['a=100@current', 'b@canary'],
      want: [
        { revision: 'a', percent: 100, tag: 'current' },
        { revision: 'b', percent: 0, tag: 'canary' },
      ],
    },
    { args: ['a=0'], want: [{ revision: 'a', percent: 0 }] },
    { args: [], wantError: 'give at least one target: REV=PCT, REV=PCT@TAG or REV@TAG' },
    { args: ['a'], wantError: '"a": want REV=PCT, REV=PCT@TAG or REV@TAG (a percent or a tag)' },
    { args: ['a=1000'], wantError: '"a=1000": the percent must be a whole number 0..100, got "1000"' },
    { args: ['a=-1'], wantError: '"a=-1": the percent must be a whole number 0..100, got "-1"' },
    { args: ['a=50@'], wantError: '"a=50@": empty tag after "@"' },
    { args: ['a@x=5'], wantError: '"a@x=5": want REV=PCT, REV=PCT@TAG or REV@TAG' },
  ];
  for (const row of rows) {
    it(row.args.join(' ') || '(none)', () => {
      if (row.wantError !== undefined) {
        expect(() => parseTrafficArgs(row.args)).toThrow(new UsageError(row.wantError));
        return;
      }
      const traffic = parseTrafficArgs(row.args);
      expect(traffic).toEqual(row.want);
      expect(formatTraffic(traffic)).toBe(row.args.join(' '));
    });
  }
});

describe('rollout start flags → request body', () => {
  it('converts durations and leaves absent flags to the gateway', () => {
    expect(startBody({ to: 'b' })).toEqual({ to: 'b' });
    expect(
      startBody({
        to: 'b',
        from: 'a',
        steps: '5, 20%,50',
        interval: '1m30s',
        'max-error-rate': '0.01',
        'max-p99': '0.5s',
        'min-requests': '0',
      }),
    ).toEqual({
      to: 'b',
      from: 'a',
      steps: [5, 20, 50],
      intervalSeconds: 90,
      analysis: { maxErrorRate: 0.01, maxP99Ms: 500, minRequests: 0 },
    });
    expect(startBody({ to: 'b', duration: '10m', interval: '5', 'max-p99': '250' })).toEqual({
      to: 'b',
      durationSeconds: 600,
      intervalSeconds: 5,
      analysis: { maxP99Ms: 250 },
    });
  });
});

/** A revision as the admin API shows it, idle, with the given condition. */
function revisionJson(name: string, condition: Omit<ConditionJson, 'since'>, over: Partial<RevisionJson> = {}): RevisionJson {
  return {
    name,
    backend: 'local',
    percent: 0,
    tag: null,
    containerConcurrency: 0,
    replicas: { desired: 1, actual: 1, ready: 0 },
    inflight: 0,
    held: 0,
    stableConcurrency: 0,
    panicConcurrency: 0,
    rps: 0,
    panicMode: false,
    desiredPodCount: 1,
    excessBurstCapacity: 0,
    requestsTotal: 0,
    coldStarts: 0,
    lastRequestAt: null,
    condition: { ...condition, since: '2025-01-02T03:04:05.000Z' },
    ...over,
  };
}

describe('renderService', () => {
  it('shows each condition in the table, and why for a failed or restarting revision under it', () => {
    const text = renderService({
      name: 'iris',
      match: { hosts: [], model: 'iris' },
      revisions: [
        revisionJson(
          'stable',
          { status: 'Ready', reason: 'Serving', message: '1 ready replica' },
          { percent: 90, replicas: { desired: 1, actual: 1, ready: 1 } },
        ),
        revisionJson(
          'v2',
          {
            status: 'Failed',
            reason: 'ExitCode',
            message: 'exited with code 1 before it was ready, 3 starts in a row',
            output: 'loading\nreading /models/iris\nchecking\n\x1b[31mmodel file not found\x1b[0m\n',
          },
          { percent: 10 },
        ),
        revisionJson('v3', { status: 'Activating', reason: 'Restarting', message: 'start 1 of 3 failed: exited with code 1; restarting' }),
        // A first start is nothing to explain.
        revisionJson('v4', { status: 'Activating', reason: 'Starting', message: 'waiting for a replica to be ready' }),
        revisionJson(
          'v5',
          { status: 'Ready', reason: 'ScaledToZero', message: 'scaled to zero' },
          { replicas: { desired: 0, actual: 0, ready: 0 } },
        ),
      ],
    });
    expect(text.split('\n')).toEqual([
      'service iris  (model iris)',
      '  REVISION  STATUS      REASON        TRAFFIC  TAG  DESIRED  ACTUAL  READY  INFLIGHT  HELD  STABLE  PANIC  RPS  PANIC-MODE',
      '  stable    Ready       Serving           90%  -          1       1      1         0     0    0.00   0.00  0.0  no',
      '  v2        Failed      ExitCode          10%  -          1       1      0         0     0    0.00   0.00  0.0  no',
      '  v3        Activating  Restarting         0%  -          1       1      0         0     0    0.00   0.00  0.0  no',
      '  v4        Activating  Starting           0%  -          1       1      0         0     0    0.00   0.00  0.0  no',
      '  v5        Ready       ScaledToZero       0%  -          0       0      0         0     0    0.00   0.00  0.0  no',
      '  iris/v2: exited with code 1 before it was ready, 3 starts in a row',
      '    reading /models/iris',
      '    checking',
      '    model file not found',
      '  iris/v3: start 1 of 3 failed: exited with code 1; restarting',
    ]);
  });

  it('cuts a long message and long stderr lines', () => {
    const text = renderService({
      name: 'iris',
      match: { hosts: [] },
      revisions: [revisionJson('v2', { status: 'Failed', reason: 'CrashLoop', message: 'm'.repeat(1000), output: 'x'.repeat(2000) })],
    });
    const notes = text.split('\n').slice(3);
    expect(notes).toEqual([`  iris/v2: ${'m'.repeat(319)}…`, `    ${'x'.repeat(159)}…`]);
  });
});

describe('lastLines', () => {
  const rows: Array<{ label: string; text: string; n: number; want: string[] }> = [
    { label: 'nothing', text: '', n: 3, want: [] },
    { label: 'the last n, blank lines skipped', text: 'a\n\nb\n  \nc\nd\n', n: 2, want: ['c', 'd'] },
    { label: 'fewer than n', text: 'only\n', n: 3, want: ['only'] },
    { label: 'CRLF endings', text: 'a\r\nb\r\n', n: 3, want: ['a', 'b'] },
    { label: 'a redrawn line shows its last state', text: 'loading 10%\rloading 99%\ndone', n: 3, want: ['loading 99%', 'done'] },
    {
      label: 'colours dropped, tabs and other controls as spaces',
      text: '\x1b[1;31mError:\x1b[0m\tno\x07 file',
      n: 1,
      want: ['Error: no  file'],
    },
  ];
  for (const row of rows) it(row.label, () => expect(lastLines(row.text, row.n)).toEqual(row.want));

  it('printable keeps ordinary text as it is', () => expect(printable('exited with code 1 (é, ✓)')).toBe('exited with code 1 (é, ✓)'));
});

describe('sluice status', () => {
  it('prints each revision as a table', async () => {
    const r = await cli(['status']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const services = r.stdout.split('\n\n');
    expect(services.map((s) => s.split('\n')[0])).toEqual([
      'service shop  (hosts shop.example.com)',
      'service broken  (hosts broken.example.com)',
    ]);
    const lines = services[0]!.split('\n');
    expect(lines[0]).toBe('service shop  (hosts shop.example.com)');
    expect(lines[1]).toMatch(
      /^ {2}REVISION +STATUS +REASON +TRAFFIC +TAG +DESIRED +ACTUAL +READY +INFLIGHT +HELD +STABLE +PANIC +RPS +PANIC-MODE$/,
    );
    expect(lines[2]).toMatch(/^ {2}shop-1 +Ready +Serving +100% +- +1 +1 +1 +0 +0 +\d+\.\d\d +\d+\.\d\d +\d+\.\d +no$/);
    expect(lines[3]).toMatch(/^ {2}shop-2 +Ready +Serving +0% +- +1 +1 +1 +0 +0 /);
    // Nothing failing: no lines under the table.
    expect(lines).toHaveLength(4);
  });

  it('shows a revision that cannot start as Failed ExitCode, and why under the table', async () => {
    // broken-1 starts with the gateway (initial scale 1) and exits 1 each time.
    const headers = { authorization: `Bearer ${TOKEN}` };
    await until(async () => {
      const view = (await (await request(`http://${admin}/api/v1/services/broken`, { headers })).body.json()) as ServiceJson;
      return view.revisions[0]!.condition.status === 'Failed';
    }, 'broken-1 Failed');
    const r = await cli(['status', 'broken']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('service broken  (hosts broken.example.com)');
    expect(lines[1]).toMatch(/^ {2}REVISION +STATUS +REASON +TRAFFIC /);
    expect(lines[2]).toMatch(/^ {2}broken-1 +Failed +ExitCode +100% +- /);
    // Restarts go on with backoff while a replica is wanted: the count is the driver's now.
    expect(lines[3]).toMatch(/^ {2}broken\/broken-1: exited with code 1 before it was ready, \d+ starts in a row$/);
    expect(lines.slice(4)).toEqual(['    loading /models/iris', '    model file not found', '']);

    const json = JSON.parse((await cli(['status', 'broken', '--json'])).stdout) as ServiceJson;
    expect(json.revisions[0]!.condition).toMatchObject({
      status: 'Failed',
      reason: 'ExitCode',
      output: 'loading /models/iris\nmodel file not found',
    });
  });

  it('shows one service, or its JSON', async () => {
    const one = await cli(['status', 'shop']);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('service shop');
    const json = await cli(['status', 'shop', '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as ServiceJson;
    expect(body.name).toBe('shop');
    expect(body.revisions.map((r: { name: string }) => r.name)).toEqual(['shop-1', 'shop-2']);
  });

  it('fails with the API error: unknown service, missing token', async () => {
    const missing = await cli(['status', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe('sluice status: 404 not_found: service "nope" not found\n');
    const noToken = await cli(['status'], { token: null });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toBe('sluice status: 401 unauthorized: missing or invalid bearer token (set SLUICE_ADMIN_TOKEN)\n');
  });

  it('fails when nothing listens at --admin', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const r = await cli(['status'], { admin: `127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `sluice status: cannot reach the admin API at http://127.0.0.1:${port}: connection refused (is the gateway running? see --admin)\n`,
    );
  });
});

describe('sluice traffic', () => {
  it('sets a split with a tag, and the data path follows', async () => {
    const r = await cli(['traffic', 'shop', 'shop-1=90', 'shop-2=10@canary']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('traffic for shop: shop-1=90 shop-2=10@canary\n');
    expect(await served('canary')).toBe('shop-2');
    const status = await cli(['status', 'shop']);
    expect(status.stdout).toMatch(/shop-1 +Ready +Serving +90% +- /);
    expect(status.stdout).toMatch(/shop-2 +Ready +Serving +10% +canary /);
    // Persisted to the gateway's file.
    expect(await readFile(join(dir, 'sluice.yaml'), 'utf8')).toContain('tag: canary');
    // A tag-only target.
    const tagOnly = await cli(['traffic', 'shop', 'shop-1=100', 'shop-2@next', '--json']);
    expect(tagOnly.code).toBe(0);
    expect(JSON.parse(tagOnly.stdout)).toEqual({
      traffic: [
        { revision: 'shop-1', percent: 100 },
        { revision: 'shop-2', percent: 0, tag: 'next' },
      ],
    });
    expect(await served('next')).toBe('shop-2');
    expect(await served()).toBe('shop-1');
  });

  it('prints each problem of a rejected split (400) and exits 1; the old split stays', async () => {
    const r = await cli(['traffic', 'shop', 'shop-1=90', 'shop-2=20', 'shop-3=0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'sluice traffic: 400 invalid_config:\n' +
        '  - traffic[2].revision: unknown revision "shop-3"\n' +
        '  - traffic: percents sum to 110, want 100\n',
    );
    expect(await served()).toBe('shop-1');
  });

  it('rejects bad syntax with the usage (exit 2) without calling the gateway', async () => {
    const r = await cli(['traffic', 'shop', 'shop-1=ninety'], { admin: '127.0.0.1:1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sluice traffic: "shop-1=ninety": the percent must be a whole number 0..100, got "ninety"');
    expect(r.stderr).toContain('usage: sluice traffic SERVICE TARGET...');
    const none = await cli(['traffic', 'shop']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give at least one target');
  });
});

describe('sluice rollout', () => {
  it('starts, shows, refuses a second one (409), aborts', async () => {
    await cli(['traffic', 'shop', 'shop-1=100', 'shop-2=0']);
    const start = await cli([
      'rollout',
      'shop',
      '--to',
      'shop-2',
      '--steps',
      '20,50',
      '--interval',
      '1m',
      '--max-p99',
      '500ms',
      '--min-requests',
      '5',
    ]);
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toContain('rollout of shop: progressing (canary shop-1 → shop-2)');
    expect(start.stdout).toContain('  steps:    20 % → 50 % → 100 %, each held 60 s');
    expect(start.stdout).toContain('  analysis: error rate ≤ 0.05, p99 ≤ 500 ms, at least 5 requests per interval');
    expect(start.stdout).toMatch(/ {4}\d\d:\d\d:\d\d\.\d{3}Z {2}step {5}shop-2 at 20 %, shop-1 at 80 % \(step 1 of 3\)/);

    const status = await cli(['rollout', 'shop', '--status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/now: +step 1 of 3, shop-2 at 20 %; next check at \d\d:\d\d:\d\d\.\d{3}Z/);
    const table = await cli(['status', 'shop']);
    expect(table.stdout).toContain('  rollout: progressing canary shop-1 → shop-2, step 1 of 3 (shop-2 at 20 %)');

    const again = await cli(['rollout', 'shop', '--to', 'shop-2']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('sluice rollout: 409 conflict: a rollout of shop is in progress (shop-1 → shop-2, 20 %); abort it first\n');

    const abort = await cli(['rollout', 'shop', '--abort', '--json']);
    expect(abort.code).toBe(0);
    const state = JSON.parse(abort.stdout) as RolloutState;
    expect(state).toMatchObject({ phase: 'aborted', percent: 0, reason: 'aborted by request' });
    expect(state.timeline.map((e: { type: string }) => e.type)).toEqual(['started', 'step', 'aborted']);
    expect(await served()).toBe('shop-1');

    const none = await cli(['rollout', 'shop', '--abort']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('sluice rollout: 404 not_found: no rollout of shop in progress\n');
  });

  it('reports a bad request naming the field (400)', async () => {
    const r = await cli(['rollout', 'shop', '--to', 'shop-9', '--steps', '50,10']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'sluice rollout: 400 invalid_config:\n  - to: unknown revision "shop-9"\n  - steps[1]: 10 after 50, want strictly increasing percents\n',
    );
  });

  it('flips blue-green and shows the result', async () => {
    const r = await cli(['rollout', 'shop', '--to', 'shop-2', '--strategy', 'blue-green', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ strategy: 'blue-green', to: 'shop-2' });
    let shown = '';
    for (let i = 0; i < 50 && !shown.includes('promoted'); i++) {
      shown = (await cli(['rollout', 'shop', '--status'])).stdout;
    }
    expect(shown).toContain('rollout of shop: promoted (blue-green shop-1 → shop-2)');
    expect(await served()).toBe('shop-2');
  });

  it('checks its own flags (exit 2)', async () => {
    const rows: Array<[string[], string]> = [
      [['rollout', 'shop'], 'give exactly one of --to REV, --abort or --status'],
      [['rollout', 'shop', '--to', 'a', '--abort'], 'give exactly one of --to REV, --abort or --status'],
      [['rollout', 'shop', '--abort', '--steps', '10'], '--steps only goes with --to'],
      [['rollout', 'shop', '--to', 'a', '--steps', '10,x'], '--steps: want a whole number 1..100, got "x"'],
      [['rollout', 'shop', '--to', 'a', '--interval', 'soon'], '--interval: want a duration such as 30s, 5m or 500ms, got "soon"'],
      [['rollout', 'shop', '--to', 'a', '--strategy', 'linear'], '--strategy: want canary or blue-green, got "linear"'],
      [['rollout', 'shop', '--to', 'a', '--max-error-rate', '5'], '--max-error-rate: want a number 0..1, got "5"'],
      [['rollout', '--to', 'a'], 'SERVICE is required'],
      [['status', '--bogus'], "Unknown option '--bogus'"],
    ];
    const runs = await Promise.all(rows.map(([args]) => cli(args, { admin: '127.0.0.1:1' })));
    rows.forEach(([args, message], i) => {
      expect(runs[i]!.code, args.join(' ')).toBe(2);
      expect(runs[i]!.stderr, args.join(' ')).toContain(message);
    });
  });
});

describe('--help', () => {
  for (const command of ['status', 'traffic', 'rollout']) {
    it(`sluice ${command} --help`, async () => {
      const r = await cli([command, '--help'], { admin: null });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: sluice ${command} `));
      expect(r.stdout).toContain('--admin HOST:PORT');
      expect(r.stdout).toContain('--json');
    });
  }

  it('lists the commands', async () => {
    const r = await cli(['--help'], { admin: null });
    expect(r.code).toBe(0);
    for (const c of ['status', 'traffic', 'rollout']) expect(r.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
  });
});

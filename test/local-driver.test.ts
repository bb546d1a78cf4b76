/**
 * The local driver against real child processes (test/fixtures/tiny-server.mjs). Every wait is for
 * an observable event (a published set, a log line, a process gone) with a generous bound; nothing
 * asserts how fast it happened.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { replicaLink } from '../src/app/protocols.js';
import { parseConfig, type Revision } from '../src/config/load.js';
import type { Endpoint } from '../src/core/endpoint.js';
import { LocalDriver, type LocalDriverOptions } from '../src/scaler/local.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = path.join(ROOT, 'test/fixtures/tiny-server.mjs');
const KEY = 'svc/r1';

type LogLine = {
  msg: string;
  pid?: number;
  stream?: string;
  code?: number | null;
  signal?: string | null;
  reason?: string;
  restartInMs?: number;
  level: number;
};

/** A validated local revision running the tiny server; `fields` override the revision's keys. */
function localRevision(fields: Record<string, unknown> = {}): Revision {
  const config = parseConfig({
    services: [
      {
        name: 'svc',
        revisions: [{ name: 'r1', backend: 'local', command: process.execPath, args: [SERVER], readinessPath: '/ready', ...fields }],
        traffic: [{ revision: 'r1', percent: 100 }],
      },
    ],
  });
  return config.services[0]!.revisions[0]!;
}

const drivers: LocalDriver[] = [];
const pids = new Set<number>();

/** A driver with fast restart timings and a logger whose lines the test can read. */
function makeDriver(options: Partial<LocalDriverOptions> = {}) {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const driver = new LocalDriver({ logger, link: replicaLink, restartBackoffMs: 10, ...options });
  drivers.push(driver);
  const sets: Endpoint[][] = [];
  driver.onEndpoints((key, endpoints) => {
    if (key === KEY) sets.push([...endpoints]);
  });
  const started = (): number[] => {
    const found = lines.filter((l) => l.msg === 'replica started').map((l) => l.pid!);
    for (const pid of found) pids.add(pid);
    return found;
  };
  return { driver, lines, sets, started };
}

/** Signal 0 reaches the process (ESRCH once it is gone); an exited child not yet reaped (zombie) counts as dead. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no procfs: signal 0 is the answer
  }
}

async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

const pidOf = async (endpoint: Endpoint): Promise<number> => (await getJson<{ pid: number }>(`${endpoint.origin}/`)).pid;

afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.close()));
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
});

describe('LocalDriver', { timeout: 30_000 }, () => {
  it('scales 0 → 2 and publishes two ready endpoints, one process each', async () => {
    const { driver, sets, started } = makeDriver();
    driver.add(KEY, localRevision());
    expect(driver.replicas(KEY)).toEqual({ desired: 0, actual: 0, ready: 0 });
    driver.setReplicas(KEY, 2);
    expect(driver.replicas(KEY)).toEqual({ desired: 2, actual: 2, ready: 0 });
    await waitFor('2 ready', () => driver.replicas(KEY).ready === 2);
    const endpoints = sets.at(-1)!;
    expect(endpoints).toHaveLength(2);
    expect(endpoints.every((e) => e.origin.startsWith('http://127.0.0.1:') && !e.draining)).toBe(true);
    const seen = await Promise.all(endpoints.map(pidOf));
    expect(new Set(seen).size).toBe(2);
    expect(seen.sort()).toEqual(started().sort());
    expect(driver.replicas(KEY)).toEqual({ desired: 2, actual: 2, ready: 2 });
  });

  it('publishes on the first good probe, never before the process is ready', async () => {
    const { driver, lines, sets } = makeDriver({ livenessIntervalMs: 0 });
    let publishedAt = 0;
    driver.onEndpoints((_key, endpoints) => {
      if (endpoints.length > 0 && publishedAt === 0) publishedAt = Date.now();
    });
    driver.add(KEY, localRevision({ env: { READY_DELAY_MS: '150' } }));
    driver.setReplicas(KEY, 1);
    await waitFor('published', () => sets.length > 0);
    const readyLine = await waitFor('ready line', () => lines.find((l) => l.stream === 'stdout' && l.msg.startsWith('ready ')));
    const becameReadyAt = Number(readyLine.msg.split(' ')[1]);
    expect(publishedAt).toBeGreaterThanOrEqual(becameReadyAt);
    const stats = await getJson<{ probes503: number; probes200: number }>(`${sets[0]![0]!.origin}/stats`);
    expect(stats.probes503).toBeGreaterThan(0); // it was probed while starting
    expect(stats.probes200).toBe(1); // and published on the first 200
  });

  it('does not publish a process that is not ready', async () => {
    const { driver, lines, sets } = makeDriver();
    driver.add(KEY, localRevision({ env: { READY_DELAY_MS: '600000' } }));
    driver.setReplicas(KEY, 1);
    const listening = await waitFor('listening', () => lines.find((l) => l.msg.startsWith('listening ')));
    const port = listening.msg.split(' ')[1];
    let probes = 0;
    while (probes < 3) {
      probes = (await getJson<{ probes503: number }>(`http://127.0.0.1:${port}/stats`)).probes503;
      await sleep(5);
    }
    expect(sets).toEqual([]);
    expect(driver.replicas(KEY)).toEqual({ desired: 1, actual: 1, ready: 0 });
  });

  it('scale-down drains: the endpoint leaves at once, the process stays until in-flight reaches 0', async () => {
    const { driver, lines, sets } = makeDriver();
    driver.add(KEY, localRevision());
    driver.setReplicas(KEY, 2);
    await waitFor('2 ready', () => driver.replicas(KEY).ready === 2);
    const [older, newer] = sets.at(-1)!;
    const newerPid = await pidOf(newer!);
    older!.inflight = 1;
    newer!.inflight = 1;
    driver.setReplicas(KEY, 1);
    expect(sets.at(-1)).toEqual([older]); // the most recently ready one goes, synchronously
    expect(newer!.draining).toBe(true);
    expect(older!.draining).toBe(false);
    expect(driver.replicas(KEY)).toEqual({ desired: 1, actual: 1, ready: 1 });
    await sleep(150); // several drain polls
    expect(isAlive(newerPid)).toBe(true);
    newer!.inflight = 0;
    await waitFor('drained process gone', () => !isAlive(newerPid));
    const stopped = await waitFor('stop logged', () => lines.find((l) => l.msg === 'replica stopped' && l.pid === newerPid));
    expect(stopped.signal).toBe('SIGTERM');
    expect(lines.some((l) => l.msg.startsWith('drain timeout'))).toBe(false);
    expect(driver.replicas(KEY)).toEqual({ desired: 1, actual: 1, ready: 1 });
    older!.inflight = 0;
  });

  it('after the drain timeout it sends SIGTERM with requests still in flight', async () => {
    const { driver, lines, sets } = makeDriver();
    driver.add(KEY, localRevision({ drainTimeoutSeconds: 0.1 }));
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    const endpoint = sets.at(-1)![0]!;
    const pid = await pidOf(endpoint);
    endpoint.inflight = 1;
    driver.setReplicas(KEY, 0);
    expect(sets.at(-1)).toEqual([]);
    const stopped = await waitFor('stop logged', () => lines.find((l) => l.msg === 'replica stopped' && l.pid === pid));
    expect(stopped.signal).toBe('SIGTERM');
    expect(lines.some((l) => l.msg.startsWith('drain timeout') && l.pid === pid)).toBe(true);
    expect(isAlive(pid)).toBe(false);
    expect(driver.replicas(KEY)).toEqual({ desired: 0, actual: 0, ready: 0 });
  });

  it('SIGKILLs a child that ignores SIGTERM once the grace period is over', async () => {
    const { driver, lines, started } = makeDriver();
    driver.add(KEY, localRevision({ env: { IGNORE_SIGTERM: '1' }, drainTimeoutSeconds: 0, terminationGraceSeconds: 0.1 }));
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    const [pid] = started();
    driver.setReplicas(KEY, 0);
    const stopped = await waitFor('stop logged', () => lines.find((l) => l.msg === 'replica stopped' && l.pid === pid));
    expect(stopped.signal).toBe('SIGKILL');
    expect(lines.some((l) => l.pid === pid && l.msg === 'ignoring SIGTERM')).toBe(true);
    expect(isAlive(pid!)).toBe(false);
  });

  it('replaces a replica killed from outside, and the dead one leaves the ready set', async () => {
    const { driver, lines, sets } = makeDriver();
    driver.add(KEY, localRevision());
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    const first = sets.at(-1)![0]!;
    const firstPid = await pidOf(first);
    process.kill(firstPid, 'SIGKILL');
    await waitFor('empty set', () => sets.at(-1)!.length === 0);
    expect(first.draining).toBe(true);
    await waitFor('replacement ready', () => sets.at(-1)!.length === 1);
    const second = sets.at(-1)![0]!;
    expect(second).not.toBe(first);
    expect(await pidOf(second)).not.toBe(firstPid);
    const crash = lines.find((l) => l.msg === 'replica exited unexpectedly' && l.pid === firstPid)!;
    expect(crash.level).toBe(40); // warn
    expect(crash.signal).toBe('SIGKILL');
    expect(driver.replicas(KEY)).toEqual({ desired: 1, actual: 1, ready: 1 });
  });

  it('survives a command that does not exist, backs off, and starts once the spec is fixed', async () => {
    const { driver, lines } = makeDriver({ restartBackoffMs: 5 });
    driver.add(KEY, localRevision({ command: '/nonexistent/sluice-test-command' }));
    expect(() => driver.setReplicas(KEY, 1)).not.toThrow();
    const crashes = await waitFor('3 failed spawns', () => {
      const found = lines.filter((l) => l.msg === 'replica exited unexpectedly');
      return found.length >= 3 ? found : undefined;
    });
    expect(crashes[0]!.reason).toMatch(/ENOENT/);
    expect(crashes.slice(0, 3).map((l) => l.restartInMs)).toEqual([5, 10, 20]);
    expect(driver.replicas(KEY).ready).toBe(0);
    driver.add(KEY, localRevision());
    await waitFor('ready with the fixed spec', () => driver.replicas(KEY).ready === 1);
  });

  it('kills and replaces a replica that is not ready within its readiness timeout', async () => {
    const { driver, lines, started } = makeDriver();
    driver.add(KEY, localRevision({ env: { READY_DELAY_MS: '600000' }, readinessTimeoutSeconds: 0.2 }));
    driver.setReplicas(KEY, 1);
    const [first] = await waitFor('a second process', () => (started().length >= 2 ? started() : undefined));
    const crash = lines.find((l) => l.msg === 'replica exited unexpectedly' && l.pid === first)!;
    expect(crash.reason).toMatch(/^not ready within 200 ms \(readiness probe GET \/\S*: /);
    expect(isAlive(first!)).toBe(false);
  });

  it('kills and replaces a ready replica that fails its liveness probes', async () => {
    const { driver, lines, sets } = makeDriver({ livenessIntervalMs: 10, livenessFailureThreshold: 2 });
    driver.add(KEY, localRevision());
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    const first = sets.at(-1)![0]!;
    const firstPid = await pidOf(first);
    await fetch(`${first.origin}/unready`);
    await waitFor('replacement', () => sets.at(-1)!.length === 1 && sets.at(-1)![0] !== first);
    const crash = lines.find((l) => l.msg === 'replica exited unexpectedly' && l.pid === firstPid)!;
    expect(crash.reason).toMatch(/liveness/);
    expect(isAlive(firstPid)).toBe(false);
  });

  it('passes PORT as env and in args, and the revision env', async () => {
    const { driver, sets } = makeDriver();
    driver.add(KEY, localRevision({ args: [SERVER, '--port', '${PORT}'], env: { TAG: 'blue' } }));
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    const endpoint = sets.at(-1)![0]!;
    const body = await getJson<{ argv: string[]; tag: string }>(`${endpoint.origin}/`);
    expect(body.argv).toEqual(['--port', new URL(endpoint.origin).port]);
    expect(body.tag).toBe('blue');
  });

  it('close() stops ready, starting and draining replicas and leaves no child alive', async () => {
    const { driver, started } = makeDriver({ closeDrainTimeoutMs: 50 });
    driver.add(KEY, localRevision());
    driver.setReplicas(KEY, 2);
    await waitFor('2 ready', () => driver.replicas(KEY).ready === 2);
    driver.add(KEY, localRevision({ env: { READY_DELAY_MS: '600000' } })); // new replicas never get ready
    driver.setReplicas(KEY, 3);
    await waitFor('3 processes', () => started().length === 3);
    expect(driver.replicas(KEY)).toEqual({ desired: 3, actual: 3, ready: 2 });
    await driver.close();
    for (const pid of started()) expect(isAlive(pid)).toBe(false);
    expect(driver.replicas(KEY)).toEqual({ desired: 0, actual: 0, ready: 0 });
  });

  it('close() bounds the drain of in-flight requests', async () => {
    const { driver, sets, started } = makeDriver({ closeDrainTimeoutMs: 50 });
    driver.add(KEY, localRevision({ drainTimeoutSeconds: 3600 }));
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    sets.at(-1)![0]!.inflight = 1;
    await driver.close();
    for (const pid of started()) expect(isAlive(pid)).toBe(false);
  });

  it('remove() drains the revision and forgets it', async () => {
    const { driver, sets, started } = makeDriver();
    driver.add(KEY, localRevision());
    driver.setReplicas(KEY, 1);
    await waitFor('ready', () => driver.replicas(KEY).ready === 1);
    await driver.remove(KEY);
    expect(sets.at(-1)).toEqual([]);
    for (const pid of started()) expect(isAlive(pid)).toBe(false);
    expect(driver.replicas(KEY)).toEqual({ desired: 0, actual: 0, ready: 0 });
    expect(() => driver.setReplicas(KEY, 1)).toThrow(/not managed/);
  });

  it('rejects other backends, unknown revisions and bad replica counts', () => {
    const { driver } = makeDriver();
    const config = parseConfig({
      services: [
        {
          name: 'svc',
          revisions: [{ name: 'r1', backend: 'static', urls: ['http://127.0.0.1:1'] }],
          traffic: [{ revision: 'r1', percent: 100 }],
        },
      ],
    });
    expect(() => driver.add(KEY, config.services[0]!.revisions[0]!)).toThrow(/backend "local"/);
    expect(() => driver.setReplicas('svc/none', 1)).toThrow(/not managed/);
    driver.add(KEY, localRevision());
    expect(() => driver.setReplicas(KEY, -1)).toThrow(/integer/);
    expect(() => driver.setReplicas(KEY, 1.5)).toThrow(/integer/);
    expect(() => new LocalDriver({ link: replicaLink, probeIntervalMs: -1 })).toThrow(/probeIntervalMs/);
  });

  it('kills every child when the gateway process exits without close()', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-local-driver-'));
    try {
      await transpileDriver(dir);
      const script = path.join(dir, 'run.mjs');
      // The runner learns the pids from its own logger, like an operator would.
      await writeFile(
        script,
        `import { pino } from 'pino';
import { LocalDriver } from './src/scaler/local.js';
const pids = [];
const logger = pino({ level: 'info' }, { write(s) { const l = JSON.parse(s); if (l.msg === 'replica started') pids.push(l.pid); } });
// Cleartext HTTP/1.1, what the gateway's link gives this revision.
const driver = new LocalDriver({ logger, link: () => ({ client: 'http1', connectTls: undefined }) });
driver.add('svc/r1', JSON.parse(process.argv[2]));
driver.onEndpoints((key, endpoints) => {
  if (endpoints.length === 2) { console.log(JSON.stringify(pids)); process.exit(0); }
});
driver.setReplicas('svc/r1', 2);
`,
      );
      const runner = spawn(process.execPath, [script, JSON.stringify(localRevision())], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      runner.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => runner.once('exit', resolve));
      expect(code).toBe(0);
      const childPids = JSON.parse(out) as number[];
      for (const pid of childPids) pids.add(pid);
      expect(childPids).toHaveLength(2);
      // SIGKILL was sent synchronously before the runner exited; delivery takes a moment.
      await waitFor('children gone', () => childPids.every((pid) => !isAlive(pid)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Compile src/scaler/local.ts and what it imports into `dir` as plain ESM, so a child `node` can load it. */
async function transpileDriver(dir: string): Promise<void> {
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const done = new Set<string>();
  const queue = [path.join(ROOT, 'src/scaler/local.ts')];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    const source = await readFile(file, 'utf8');
    for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) queue.push(path.resolve(path.dirname(file), `${m[1]}.ts`));
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const target = path.join(dir, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
}

/**
 * A start that fails ends the process by itself, non-zero, with the reason in its log: the built CLI
 * (`node dist/cli.js gateway|queue-proxy`) against a port this test holds, and against an unsafe
 * admin bind. Needs a current build: `npx tsc -p .`.
 *
 * "By itself" is checked twice: the process exits before the kill timer (a safety net that fails
 * the test), and without the CLI's own net for a leaked handle, which says "still running" on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLI } from './support/harness.js';

vi.setConfig({ testTimeout: 30_000 });

/** Generous: a failed start takes well under a second; this only stops a hung process. */
const KILL_AFTER_MS = 15_000;

let dir: string;
/** A port in use for the whole file: a server this test holds. */
let held: Server;
let heldPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-startup-'));
  held = createServer((socket) => socket.destroy());
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  heldPort = (held.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => held.close(r));
  await rm(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  /** True when the kill timer had to end the process. */
  killed: boolean;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string | undefined> = {}): Promise<Exit> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, SLUICE_LOG_LEVEL: 'info' };
  delete childEnv.SLUICE_ADMIN_TOKEN;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, killed, stdout, stderr });
    });
  });
}

/** The JSON log line that reports the failed start. */
function failure(stdout: string, command: string): { msg: string; err: { code?: string; message: string } } {
  const lines = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { msg: string; err: { code?: string; message: string } });
  const line = lines.find((l) => l.msg.startsWith(`sluice ${command} failed to start`));
  if (!line) throw new Error(`no "failed to start" line in:\n${stdout}`);
  return line;
}

function expectEndedByItself(exit: Exit): void {
  expect(exit.killed, `still running after ${KILL_AFTER_MS} ms:\n${exit.stdout}\n${exit.stderr}`).toBe(false);
  expect(exit.stderr).not.toContain('still running');
  expect(exit.code).toBe(1);
}

async function gatewayConfig(name: string, listen: string, admin: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `listen: ${listen}
admin: ${admin}
services:
  - name: shop
    match:
      hosts: [shop.example.com]
    revisions:
      - { name: shop-1, backend: static, urls: ["http://127.0.0.1:${heldPort}"] }
    traffic:
      - { revision: shop-1, percent: 100 }
`,
  );
  return file;
}

describe('sluice gateway: a failed start exits 1', () => {
  it('when the data port is in use', async () => {
    const file = await gatewayConfig('data-in-use', `127.0.0.1:${heldPort}`, '127.0.0.1:0');
    const exit = await run(['gateway', '--config', file, '--log-format', 'json']);
    expectEndedByItself(exit);
    const log = failure(exit.stdout, 'gateway');
    expect(log.err.code).toBe('EADDRINUSE');
    expect(log.msg).toContain(`EADDRINUSE: address already in use 127.0.0.1:${heldPort}`);
  });

  it('when the admin port is in use', async () => {
    const file = await gatewayConfig('admin-in-use', '127.0.0.1:0', `127.0.0.1:${heldPort}`);
    const exit = await run(['gateway', '--config', file, '--log-format', 'json']);
    expectEndedByItself(exit);
    const log = failure(exit.stdout, 'gateway');
    expect(log.err.code).toBe('EADDRINUSE');
    expect(log.msg).toContain(`EADDRINUSE: address already in use 127.0.0.1:${heldPort}`);
  });

  it('when the admin API would bind beyond loopback without SLUICE_ADMIN_TOKEN', async () => {
    const file = await gatewayConfig('admin-no-token', '127.0.0.1:0', '0.0.0.0:0');
    const exit = await run(['gateway', '--config', file, '--log-format', 'json'], { SLUICE_ADMIN_TOKEN: undefined });
    expectEndedByItself(exit);
    expect(failure(exit.stdout, 'gateway').msg).toBe(
      'sluice gateway failed to start: admin API on 0.0.0.0 needs an admin token (SLUICE_ADMIN_TOKEN)',
    );
  });

  it('with the pretty log on stdout too', async () => {
    const file = await gatewayConfig('pretty', `127.0.0.1:${heldPort}`, '127.0.0.1:0');
    const exit = await run(['gateway', '--config', file, '--log-format', 'pretty']);
    expectEndedByItself(exit);
    expect(exit.stdout).toContain(`sluice gateway failed to start: listen EADDRINUSE: address already in use 127.0.0.1:${heldPort}`);
  });
});

describe('sluice queue-proxy: a failed start exits 1', () => {
  const rows = [
    { label: 'the data port is in use', listen: () => `127.0.0.1:${heldPort}`, admin: () => '127.0.0.1:0' },
    { label: 'the admin port is in use', listen: () => '127.0.0.1:0', admin: () => `127.0.0.1:${heldPort}` },
  ];
  for (const row of rows) {
    it(`when ${row.label}`, async () => {
      const exit = await run([
        'queue-proxy',
        '--upstream',
        `http://127.0.0.1:${heldPort}`,
        '--listen',
        row.listen(),
        '--admin',
        row.admin(),
        '--log-format',
        'json',
      ]);
      expectEndedByItself(exit);
      const log = failure(exit.stdout, 'queue-proxy');
      expect(log.err.code).toBe('EADDRINUSE');
      expect(log.msg).toContain(`EADDRINUSE: address already in use 127.0.0.1:${heldPort}`);
    });
  }
});

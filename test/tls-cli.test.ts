/**
 * TLS through the program users run: `node dist/cli.js gateway` with a `tls:` block, curl as the
 * client, SIGHUP re-reading the certificates, and starts that fail with the reason and exit code.
 * Needs a current build (`npx tsc -p .`) and curl on the PATH (.ci/run installs it).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeCa, type Leaf, type TestCa } from './support/certificates.js';
import { CLI, IRIS_ROW, predictorRevision, until } from './support/harness.js';

vi.setConfig({ testTimeout: 60_000 });

const CURL = 'curl';
/** Only stops a hung process; a start takes well under a second. */
const KILL_AFTER_MS = 20_000;

let ca: TestCa;
let a: Leaf;

beforeAll(() => {
  ca = makeCa();
  a = ca.leaf('a', { cn: 'a.example.test', dns: ['a.example.test'] });
});
afterAll(() => ca.close());

interface Running {
  child: ChildProcess;
  lines: { msg: string; listen?: string; tls?: string; why?: string }[];
  stderr: string;
  exit: Promise<number | null>;
}

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.child.kill('SIGTERM');
    await r.exit;
  }
});

function gateway(args: string[]): Running {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_LOG_LEVEL: 'info' };
  delete env.SLUICE_ADMIN_TOKEN;
  const child = spawn(process.execPath, [CLI, 'gateway', '--admin', '127.0.0.1:0', '--log-format', 'json', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Running = { child, lines: [], stderr: '', exit: Promise.resolve(null) };
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const p of parts) if (p.startsWith('{')) r.lines.push(JSON.parse(p) as Running['lines'][number]);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (r.stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  r.exit = new Promise((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  running.push(r);
  return r;
}

async function listening(r: Running): Promise<{ msg: string; listen?: string; tls?: string }> {
  await until(
    () => r.lines.some((l) => l.msg.startsWith('sluice gateway listening on')) || r.child.exitCode !== null,
    'the listening line',
  );
  const line = r.lines.find((l) => l.msg.startsWith('sluice gateway listening on'));
  if (line === undefined) throw new Error(`the gateway exited:\n${r.stderr}`);
  return line;
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(CURL, ['--silent', '--show-error', '--max-time', '20', ...args], (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

function config(name: string, body: string): string {
  const file = join(ca.dir, `${name}.yaml`);
  writeFileSync(file, body);
  return file;
}

/** The fingerprint a new handshake for a.example.test gets. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'a.example.test', ca: ca.ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('sluice gateway with a tls block', () => {
  it('curl reaches a predictor over TLS with HTTP/1.1 and h2, verified with the CA; the log names both listeners', async () => {
    const file = config(
      'curl',
      `autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
tls:
  listen: 127.0.0.1:0
  certificates:
    - { certFile: a.crt, keyFile: a.key }
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('iris-1')}
    traffic:
      - revision: iris-1
        percent: 100
`,
    );
    const gw = gateway(['--config', file, '--listen', '127.0.0.1:0']);
    const line = await listening(gw);
    const port = Number(line.tls!.split(':').pop());
    expect(line.msg).toBe(
      `sluice gateway listening on http://${line.listen} and https://${line.tls} (admin http://${(line as { admin?: string }).admin})`,
    );

    const url = `https://a.example.test:${port}`;
    const resolve = `a.example.test:${port}:127.0.0.1`;
    for (const [flag, version] of [
      ['--http1.1', '1.1'],
      ['--http2', '2'],
    ] as const) {
      const infer = await curl([
        flag,
        '--cacert',
        ca.caFile,
        '--resolve',
        resolve,
        '-H',
        'content-type: application/json',
        '-d',
        JSON.stringify(IRIS_ROW),
        '--write-out',
        '\n%{http_code} %{http_version} %{ssl_verify_result}',
        `${url}/v2/models/iris/infer`,
      ]);
      expect(infer.stderr).toBe('');
      const [body, status] = infer.stdout.split('\n');
      expect(status).toBe(`200 ${version} 0`);
      expect((JSON.parse(body!) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([2]);
    }

    const missing = await curl(['--cacert', ca.caFile, '--resolve', resolve, '--write-out', '\n%{http_code}', `${url}/nowhere`]);
    const [error, code] = missing.stdout.split('\n');
    expect(code).toBe('404');
    expect((JSON.parse(error!) as { error: { code: string } }).error.code).toBe('route_not_found');

    // Not trusted without the CA: curl refuses, the gateway goes on.
    const untrusted = await curl(['--resolve', resolve, `${url}/nowhere`]);
    expect(untrusted.code).toBe(60);
  });

  it('SIGHUP re-reads the certificates', async () => {
    // Symlinks into a folder the gateway does not watch: only SIGHUP can bring the change in.
    const dir = join(ca.dir, 'hup');
    mkdirSync(join(dir, 'real'), { recursive: true });
    copyFileSync(a.certFile, join(dir, 'real', 'a.crt'));
    copyFileSync(a.keyFile, join(dir, 'real', 'a.key'));
    symlinkSync(join(dir, 'real', 'a.crt'), join(dir, 'a.crt'));
    symlinkSync(join(dir, 'real', 'a.key'), join(dir, 'a.key'));
    const file = config('hup', `tls:\n  listen: 127.0.0.1:0\n  certificates:\n    - { certFile: hup/a.crt, keyFile: hup/a.key }\n`);
    const gw = gateway(['--config', file, '--listen', 'off']);
    const line = await listening(gw);
    expect(line.listen).toBeUndefined();
    const port = Number(line.tls!.split(':').pop());
    const before = await servedFingerprint(port);

    const next = ca.leaf('a-hup', { cn: 'a.example.test', dns: ['a.example.test'] });
    writeFileSync(join(dir, 'real', 'a.key'), next.key);
    writeFileSync(join(dir, 'real', 'a.crt'), next.cert);
    gw.child.kill('SIGHUP');
    await until(() => gw.lines.some((l) => l.msg.startsWith('TLS certificate loaded') && l.why === 'SIGHUP'), 'the reload after SIGHUP');
    const after = await servedFingerprint(port);
    expect(after).not.toBe(before);
  });
});

describe('sluice gateway: a TLS start that fails', () => {
  let held: Server;
  let heldPort: number;
  beforeAll(async () => {
    held = createServer((s) => s.destroy());
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    heldPort = (held.address() as { port: number }).port;
  });
  afterAll(() => new Promise((r) => held.close(r)));

  it('exits 2 naming the certificate and why, when it cannot be loaded', async () => {
    const file = config('bad-cert', `tls:\n  listen: 127.0.0.1:0\n  certificates:\n    - { certFile: nothing.crt, keyFile: a.key }\n`);
    const gw = gateway(['--config', file, '--listen', '127.0.0.1:0']);
    expect(await gw.exit).toBe(2);
    expect(gw.stderr).toBe(`sluice gateway: tls.certificates[0]: ${join(ca.dir, 'nothing.crt')}: cannot read: no such file\n`);
  });

  it('exits 2 naming the field, for an invalid tls block', async () => {
    const file = config('bad-tls', `tls:\n  minVersion: TLSv1.1\n  certificates: []\n`);
    const gw = gateway(['--config', file]);
    expect(await gw.exit).toBe(2);
    expect(gw.stderr).toContain('tls.minVersion:');
    expect(gw.stderr).toContain('tls.certificates:');
  });

  it('exits 2 for --listen off without a tls block', async () => {
    const file = config('no-tls', 'services: []\n');
    const gw = gateway(['--config', file, '--listen', 'off']);
    expect(await gw.exit).toBe(2);
    expect(gw.stderr).toBe('sluice gateway: --listen off: the config has no tls block, so nothing would listen\n');
  });

  it('exits 1 when the TLS port is in use, by itself', async () => {
    const file = config(
      'tls-in-use',
      `tls:\n  listen: 127.0.0.1:${heldPort}\n  certificates:\n    - { certFile: a.crt, keyFile: a.key }\n`,
    );
    const gw = gateway(['--config', file, '--listen', '127.0.0.1:0']);
    expect(await gw.exit).toBe(1);
    expect(gw.stderr).not.toContain('still running');
    const failed = gw.lines.find((l) => l.msg.startsWith('sluice gateway failed to start'));
    expect(failed?.msg).toContain(`tls.listen 127.0.0.1:${heldPort}: listen EADDRINUSE`);
  });
});

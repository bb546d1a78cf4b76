/**
 * A revision that cannot start fails fast and says why: real gateways, real child processes that
 * exit, never run, never get ready, or recover.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, until, type TestGateway } from './support/harness.js';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

const open: TestGateway[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-failure-'));
  dirs.push(dir);
  return dir;
}

/** A gateway with one service `svc` whose only revision `r1` has `revision` as its YAML body (after `name`). */
async function gatewayWith(revision: string): Promise<{ gw: TestGateway; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const gw = await startGateway(
    `
services:
  - name: svc
    revisions:
      - name: r1
${revision}
    traffic: [{ revision: r1, percent: 100 }]
`,
    { logger },
  );
  open.push(gw);
  return { gw, lines };
}

/** `node -e SCRIPT` as a local revision's command and args. */
function nodeScript(script: string, extra = ''): string {
  return `        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify(['-e', script])}
${extra}`;
}

const SERVE = `require('http').createServer((q, s) => s.end('served by ' + process.pid)).listen(process.env.PORT, '127.0.0.1')`;

async function errorOf(res: Response): Promise<{ code: string; message: string; service: string; revision: string }> {
  return ((await res.json()) as { error: { code: string; message: string; service: string; revision: string } }).error;
}

describe('a revision that cannot start', () => {
  it('exits 1 at start: held requests are answered 503 revision_failed after the configured starts, with its stderr', async () => {
    const dir = await tempDir();
    const attempts = join(dir, 'attempts');
    const script = `require('fs').appendFileSync(${JSON.stringify(attempts)}, 'x'); console.error('model file not found: /models/iris.onnx'); process.exit(1)`;
    const { gw, lines } = await gatewayWith(nodeScript(script));

    const answers = await Promise.all([1, 2, 3].map(() => fetch(gw.url + '/v2/models/iris/infer', { method: 'POST', body: '{}' })));
    const started = (await readFile(attempts, 'utf8')).length;
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const error = await errorOf(res);
      expect(error).toMatchObject({ code: 'revision_failed', service: 'svc', revision: 'r1' });
      expect(error.message).toBe(
        'revision svc/r1 failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; stderr: model file not found: /models/iris.onnx',
      );
    }
    expect(started).toBeGreaterThanOrEqual(3);

    const condition = gw.revision('svc', 'r1').condition;
    expect(condition).toMatchObject({ status: 'Failed', reason: 'ExitCode', output: 'model file not found: /models/iris.onnx' });
    // Each failed start's stderr is in the log at warn, prefixed with the revision and the replica.
    const said = lines.filter((l) => l.level === 40 && l.stream === 'stderr');
    expect(said.length).toBeGreaterThanOrEqual(3);
    for (const line of said) expect(line.msg).toMatch(/^svc\/r1 replica \d+: model file not found: \/models\/iris\.onnx$/);
    expect(lines.some((l) => l.level === 40 && l.msg.startsWith('revision Failed (ExitCode)'))).toBe(true);

    // A new request is answered at once, and restarts go on.
    const again = await fetch(gw.url + '/');
    expect(again.status).toBe(503);
    expect((await errorOf(again)).code).toBe('revision_failed');
    await until(async () => (await readFile(attempts, 'utf8')).length > started, 'another start attempt');
  });

  it('fails after startFailureThreshold starts, whatever the number', async () => {
    const { gw } = await gatewayWith(nodeScript(`console.error('bad weights'); process.exit(3)`, '        startFailureThreshold: 2'));
    const res = await fetch(gw.url + '/');
    expect(res.status).toBe(503);
    expect((await errorOf(res)).message).toBe(
      'revision svc/r1 failed (ExitCode): exited with code 3 before it was ready, 2 starts in a row; stderr: bad weights',
    );
  });

  it('a command that does not exist is SpawnError on the first attempt', async () => {
    const dir = await tempDir();
    const { gw } = await gatewayWith(`        backend: local
        command: ${JSON.stringify(join(dir, 'no-such-model-server'))}`);
    const res = await fetch(gw.url + '/');
    expect(res.status).toBe(503);
    const error = await errorOf(res);
    expect(error.code).toBe('revision_failed');
    expect(error.message).toMatch(/^revision svc\/r1 failed \(SpawnError\): spawn failed: .*ENOENT.*, on its first start$/);
    expect(gw.revision('svc', 'r1').condition).toMatchObject({ status: 'Failed', reason: 'SpawnError' });
  });

  it('a process that listens but never gets ready fails after its readiness timeout', async () => {
    const script = `console.error('loading weights'); require('http').createServer((q, s) => { s.statusCode = 503; s.end('loading'); }).listen(process.env.PORT, '127.0.0.1')`;
    const { gw } = await gatewayWith(nodeScript(script, '        readinessTimeoutSeconds: 0.5\n        startFailureThreshold: 10'));
    const res = await fetch(gw.url + '/');
    expect(res.status).toBe(503);
    expect((await errorOf(res)).message).toBe(
      'revision svc/r1 failed (ReadinessTimeout): not ready within 500 ms (readiness probe GET /: not 2xx/3xx), on its first start; stderr: loading weights',
    );
  });

  it('recovers: once the file it waits for appears, the next start is ready and requests are served', async () => {
    const dir = await tempDir();
    const model = join(dir, 'model.onnx');
    const script = `if (!require('fs').existsSync(${JSON.stringify(model)})) { console.error('waiting for the model'); process.exit(1); } ${SERVE}`;
    const { gw } = await gatewayWith(nodeScript(script));
    const failed = await fetch(gw.url + '/');
    expect(failed.status).toBe(503);
    expect((await errorOf(failed)).message).toMatch(/ExitCode.*waiting for the model/);

    await writeFile(model, 'weights');
    expect(existsSync(model)).toBe(true);
    await until(() => gw.revision('svc', 'r1').condition.status === 'Ready', 'the revision Ready again');
    expect(gw.revision('svc', 'r1').condition.reason).toBe('Serving');
    const served = await fetch(gw.url + '/');
    expect(served.status).toBe(200);
    expect(await served.text()).toMatch(/^served by \d+$/);
  });

  it('a request held while a start fails below the threshold is still held, and served when a start succeeds', async () => {
    const dir = await tempDir();
    const attempts = join(dir, 'attempts');
    // The first start fails, the second serves.
    const script = `const fs = require('fs'); if (!fs.existsSync(${JSON.stringify(attempts)})) { fs.writeFileSync(${JSON.stringify(attempts)}, '1'); console.error('first start fails'); process.exit(1); } ${SERVE}`;
    const { gw } = await gatewayWith(nodeScript(script));
    const res = await fetch(gw.url + '/');
    expect(res.status).toBe(200);
    expect(gw.revision('svc', 'r1').condition).toMatchObject({ status: 'Ready', reason: 'Serving' });
  });
});

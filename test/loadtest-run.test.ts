/**
 * `sluice loadtest` from the build, as a child process, against a real gateway (the harness) whose
 * one revision, the counting server, starts at zero: a spike that wakes it, constant load, then
 * idle. The answers are counted at the revision (its request log), and the report is opened in
 * headless Chromium. Needs a current build (`npm run build`).
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LoadtestResults } from '../src/load-test/results.js';
import { chartsDrawn, DRAWN_CHARTS, withPage, type DrawnChart } from './support/browser.js';
import { countingRevision, startGateway, type TestGateway } from './support/harness.js';
import { loadtest } from './support/loadtest-cli.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 30_000 });

const TEST_OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const SPIKE = 8;

let gw: TestGateway | undefined;
let dir: string;
let requestLog: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-loadtest-'));
  requestLog = join(dir, 'requests.log');
  gw = await startGateway(`
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
  scale-to-zero-grace-period: 1s
  stable-window: 6s
services:
  - name: count
    match: { pathPrefix: / }
    revisions:${countingRevision('count-00001', `        env: { REQUEST_LOG: ${JSON.stringify(requestLog)} }`)}
    traffic:
      - revision: count-00001
        percent: 100
`);
});

afterAll(async () => {
  await gw?.close();
  await rm(dir, { recursive: true, force: true });
});

async function scenarioFile(name: string, phases: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `name: ${name}
target:
  url: ${gw!.url}/work?ms=20&id=${name}
  timeout: 20s
admin:
  url: ${gw!.adminUrl}
phases:
${phases}`,
  );
  return file;
}

const answersLogged = async (id: string) =>
  (await readFile(requestLog, 'utf8').catch(() => '')).split('\n').filter((l) => l === `answer ${id}`).length;

describe('sluice loadtest against a gateway at zero', () => {
  it('runs spike, constant and idle; results.json has every second, the cold start and the answers the revision logged', async () => {
    const file = await scenarioFile(
      'short',
      `  - { type: spike, name: wake, requests: ${SPIKE} }
  - { type: constant, name: steady, duration: 2s, connections: 2 }
  - { type: idle, name: rest, duration: 2s }
`,
    );
    const out = join(dir, 'short-out');
    const { code, stdout, stderr } = await loadtest([file, '--out', out]).done;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // A pipe gets one plain line per second, each naming its phase.
    expect(stdout).toMatch(/^\[1\/3 wake\] \d+\/\d+ s /m);
    expect(stdout).toMatch(/^\[3\/3 rest\] .* \| replicas \d+\/\d+ ready {2}held \d+ {2}panic (yes|no)$/m);

    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as LoadtestResults;
    expect(results.outcome).toBe('completed');
    expect(results.phases.map((p) => [p.name, p.type])).toEqual([
      ['wake', 'spike'],
      ['steady', 'constant'],
      ['rest', 'idle'],
    ]);
    const [wake, steady, rest] = results.phases as [
      LoadtestResults['phases'][number],
      LoadtestResults['phases'][number],
      LoadtestResults['phases'][number],
    ];
    expect(wake.requests).toBe(SPIKE);
    expect(wake.ok).toBe(SPIKE);
    expect(steady.requests).toBeGreaterThan(0);
    expect(steady.errors + rest.requests + rest.errors).toBe(0);

    // Every second of the run is in both series, in order, none skipped.
    const wall = (Date.parse(results.endedAt) - Date.parse(results.startedAt)) / 1000;
    expect(results.seconds.map((s) => s.t)).toEqual(Array.from({ length: results.seconds.length }, (_, i) => i));
    expect(results.seconds.length).toBeGreaterThanOrEqual(Math.floor(wall));
    const g = results.gateway!;
    expect(g.samples.map((s) => s.t)).toEqual(Array.from({ length: g.samples.length }, (_, i) => i));
    expect(g.samples.length).toBeGreaterThanOrEqual(Math.floor(wall) - 1);
    expect(g.sampleErrors).toEqual([]);
    expect(g.samples[0]!.ready).toBe(0);
    expect(Math.max(...g.samples.map((s) => s.ready))).toBeGreaterThanOrEqual(1);

    // The cold start: the spike's requests were held and released by the revision waking up.
    expect(wake.coldStarts).toBe(SPIKE);
    expect(g.coldStarts.length).toBeGreaterThanOrEqual(1);
    expect(g.coldStarts[0]!.t).toBeLessThanOrEqual(wake.endS);
    expect(g.coldStarts.reduce((n, c) => n + c.held, 0)).toBe(SPIKE);
    expect(g.scaleDecisions.some((d) => d.from === 0 && d.to >= 1)).toBe(true);

    // Answers counted by the client = answers the revision logged, second by second and phase by phase.
    const total = results.phases.reduce((n, p) => n + p.requests, 0);
    expect(results.seconds.reduce((n, s) => n + s.requests, 0)).toBe(total);
    expect(await answersLogged('short')).toBe(total);

    // The report: every chart drawn on its canvas, with its series.
    const report = join(out, 'report.html');
    const html = await readFile(report, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    await mkdir(TEST_OUTPUT, { recursive: true });
    const charts = await withPage(async (page) => {
      const failed: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) failed.push(r.url());
      });
      page.on('pageerror', (e) => failed.push(e.message));
      await page.goto(pathToFileURL(report).href);
      await page.waitForFunction(chartsDrawn(4), undefined, { timeout: 10_000 });
      const drawn = await page.evaluate<DrawnChart[]>(DRAWN_CHARTS);
      await page.screenshot({ path: join(TEST_OUTPUT, 'loadtest-report.png'), fullPage: true });
      expect(failed).toEqual([]);
      return drawn;
    });
    expect(charts.map((c) => c.id)).toEqual(['latency', 'throughput', 'replicas', 'held']);
    for (const c of charts) {
      expect(c.width).toBeGreaterThan(0);
      expect(c.height).toBeGreaterThan(0);
      expect(c.points).toBeGreaterThan(2);
      expect(c.painted).toBeGreaterThan(1000);
    }
    expect(charts[0]!.series).toEqual(['p50', 'p90', 'p99']);
    expect(charts[2]!.series).toEqual(['desired', 'ready', 'actual']);
    expect(charts[3]!.series).toEqual(['held', 'concurrency', 'panic']);
    expect((await stat(join(TEST_OUTPUT, 'loadtest-report.png'))).size).toBeGreaterThan(0);
  });

  it('stops on SIGINT, still writing results.json and report.html, and exits 130', async () => {
    const file = await scenarioFile(
      'stopped',
      `  - { type: constant, name: long, duration: 60s, connections: 1 }\n  - { type: idle, duration: 60s }\n`,
    );
    const out = join(dir, 'stopped-out');
    const run = loadtest([file, '--out', out]);
    await run.line((l) => l.startsWith('[1/2 long]'));
    run.child.kill('SIGINT');
    const { code, stderr } = await run.done;
    expect(stderr).toContain('stopping');
    expect(code).toBe(130);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as LoadtestResults;
    expect(results.outcome).toBe('interrupted');
    expect(results.phases.map((p) => p.name)).toEqual(['long']);
    expect(results.phases[0]!.endS).toBeLessThan(60);
    expect(results.phases[0]!.requests).toBe(await answersLogged('stopped'));
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('id="latency"');
  });
});

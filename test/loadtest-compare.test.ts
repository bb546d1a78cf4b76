/**
 * `sluice loadtest compare A B`: the per-phase differences (src/load-test/compare.ts) as a table,
 * and the command from the build on two results files, writing compare.html (opened in headless
 * Chromium); and report.html from results made here: hostile text kept as text, the traffic split
 * charted for two revisions. Needs a current build (`npm run build`).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { comparePhases, comparisonText } from '../src/load-test/compare.js';
import type { ClientSecond } from '../src/load-test/recorder.js';
import { RESULTS_VERSION, type LoadtestResults, type PhaseResult } from '../src/load-test/results.js';
import { renderReport } from '../src/load-test/report.js';
import { parseScenario } from '../src/load-test/scenario.js';
import { chartsDrawn, DRAWN_CHARTS, withPage, type DrawnChart } from './support/browser.js';
import { loadtest } from './support/loadtest-cli.js';

vi.setConfig({ testTimeout: 30_000 });

const TEXT =
  'name: demo\ntarget: { url: "http://127.0.0.1:8080/" }\nphases:\n  - { type: spike, name: wake, requests: 10 }\n  - { type: constant, name: steady, duration: 3s }\n';

function phase(name: string, over: Partial<PhaseResult>): PhaseResult {
  return {
    name,
    type: 'constant',
    startS: 0,
    endS: 3,
    requests: 300,
    ok: 300,
    codes: { '200': 300 },
    errors: 0,
    coldStarts: 0,
    latencyMs: { p50: 10, p90: 20, p99: 40, max: 50, mean: 12 },
    rps: 100,
    requestedRps: null,
    maxDesired: 2,
    maxReady: 2,
    ...over,
  };
}

function results(phases: PhaseResult[], rps: number[]): LoadtestResults {
  const seconds: ClientSecond[] = rps.map((n, t) => ({
    t,
    phase: 0,
    requests: n,
    ok: n,
    codes: { '200': n },
    errors: 0,
    coldStarts: 0,
    latencyMs: { p50: 10, p90: 20, p99: 30 + t, max: 40, mean: 12 },
  }));
  return {
    version: RESULTS_VERSION,
    scenario: parseScenario(TEXT),
    scenarioText: TEXT,
    startedAt: '2026-12-02T06:00:00.000Z',
    endedAt: '2026-12-02T06:00:04.000Z',
    outcome: 'completed',
    phases,
    seconds,
    coldStartAnswers: [],
    gateway: null,
  };
}

const A = results(
  [
    phase('wake', {
      type: 'spike',
      requests: 10,
      ok: 10,
      rps: 10,
      coldStarts: 10,
      latencyMs: { p50: 800, p90: 900, p99: 950, max: 960, mean: 810 },
    }),
    phase('steady', {}),
  ],
  [10, 100, 100, 100],
);
const B = results(
  [
    phase('wake', {
      type: 'spike',
      requests: 10,
      ok: 8,
      rps: 10,
      coldStarts: 10,
      latencyMs: { p50: 400, p90: 450, p99: 475, max: 480, mean: 405 },
    }),
    phase('steady', { rps: 125, requests: 375, ok: 375, maxDesired: 3 }),
  ],
  [10, 120, 130, 125],
);

describe('comparePhases', () => {
  const rows = comparePhases(A, B);
  const find = (phaseName: string, metric: string) => rows.find((r) => r.phase === phaseName && r.metric === metric)!;
  const table = [
    { phase: 'wake', metric: 'p99 ms', a: 950, b: 475, delta: -475, percent: -50 },
    { phase: 'wake', metric: 'non-2xx', a: 0, b: 2, delta: 2, percent: null },
    { phase: 'steady', metric: 'rps', a: 100, b: 125, delta: 25, percent: 25 },
    { phase: 'steady', metric: 'peak desired', a: 2, b: 3, delta: 1, percent: 50 },
    { phase: 'steady', metric: 'errors', a: 0, b: 0, delta: 0, percent: null },
  ];
  for (const want of table) {
    it(`${want.phase} ${want.metric}`, () => expect(find(want.phase, want.metric)).toMatchObject(want));
  }
  it('a phase only one run has shows — for the other', () => {
    const shorter = { ...B, phases: B.phases.slice(0, 1) };
    const steady = comparePhases(A, shorter).filter((r) => r.phase === 'steady');
    expect(steady.every((r) => r.b === null && r.delta === null)).toBe(true);
    expect(comparisonText(comparePhases(A, shorter))).toMatch(/^steady +rps +100\.0 +— +— +—$/m);
  });
});

describe('sluice loadtest compare', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-compare-'));
    await writeFile(join(dir, 'a.json'), JSON.stringify(A));
    await writeFile(join(dir, 'b.json'), JSON.stringify(B));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints the differences per phase and writes compare.html with its charts', async () => {
    const { code, stdout } = await loadtest(['compare', join(dir, 'a.json'), join(dir, 'b.json'), '--out', dir]).done;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ +p99 ms +950\.0 +475\.0 +-475\.0 +-50\.0 %$/m);
    expect(stdout).toMatch(/^steady +rps +100\.0 +125\.0 +\+25\.0 +\+25\.0 %$/m);
    const page = join(dir, 'compare.html');
    expect(stdout).toContain(`comparison report: ${page}`);
    const charts = await withPage(async (p) => {
      await p.goto(pathToFileURL(page).href);
      await p.waitForFunction(chartsDrawn(2), undefined, { timeout: 10_000 });
      return (await p.evaluate<DrawnChart[]>(DRAWN_CHARTS)).map((c) => [c.id, c.series, c.painted > 1000]);
    });
    expect(charts).toEqual([
      ['p99', ['A p99', 'B p99'], true],
      ['rps', ['A', 'B'], true],
    ]);
    expect(await readFile(page, 'utf8')).toContain('<td>+25.0 %</td>');
  });

  it('refuses a file that is not a results.json, with exit code 2', async () => {
    await writeFile(join(dir, 'other.json'), '{"services":[]}');
    const { code, stderr } = await loadtest(['compare', join(dir, 'a.json'), join(dir, 'other.json')]).done;
    expect(code).toBe(2);
    expect(stderr).toContain('other.json: not a results.json of sluice loadtest (version 1)');
  });
});

describe('renderReport', () => {
  it('keeps text from the results as text: a name or scenario holding </script> cannot end the page script', async () => {
    const hostile = '</script><script>alert(1)</script>';
    const r = results([phase(hostile, {})], [1, 2]);
    r.scenario = { ...r.scenario, name: hostile };
    r.scenarioText = hostile;
    const html = await renderReport(r);
    expect(html).not.toContain('<script>alert(1)');
    // uPlot's script, the data and the page's script: nothing else.
    expect(html.match(/<script[ >]/g)).toHaveLength(3);
    expect(html).toContain('&#60;/script&#62;&#60;script&#62;alert(1)');
  });
});

describe('renderReport with a gateway of two revisions', () => {
  it('draws the traffic split as a fifth chart, one series per revision', async () => {
    const rev = (revision: string, percent: number) => ({
      service: 'iris',
      revision,
      percent,
      desired: 1,
      actual: 1,
      ready: 1,
      inflight: 0,
      held: 0,
      stableConcurrency: 1,
      panicConcurrency: 1,
      panicMode: false,
      requestsTotal: 0,
      coldStarts: 0,
      condition: 'Ready',
      gatewayRequests: 10,
      concurrency: 1,
    });
    const r = results([phase('steady', {})], [100, 100, 100, 100]);
    const split = [100, 90, 90, 100];
    r.gateway = {
      adminUrl: 'http://127.0.0.1:8081',
      source: 'polling',
      samples: split.map((stable, t) => ({
        t,
        revisions: [rev('stable', stable), rev('canary', 100 - stable)],
        desired: 2,
        actual: 2,
        ready: 2,
        inflight: 0,
        held: 0,
        panic: false,
        gatewayRequests: 20,
        concurrency: 2,
      })),
      scaleDecisions: [],
      coldStarts: [],
      panics: [],
      sampleErrors: [],
    };
    const dir = await mkdtemp(join(tmpdir(), 'sluice-report-'));
    try {
      const file = join(dir, 'report.html');
      await writeFile(file, await renderReport(r));
      const charts = await withPage(async (p) => {
        await p.goto(pathToFileURL(file).href);
        await p.waitForFunction(chartsDrawn(5), undefined, { timeout: 10_000 });
        return p.evaluate<DrawnChart[]>(DRAWN_CHARTS);
      });
      expect(charts.map((c) => c.id)).toEqual(['latency', 'throughput', 'replicas', 'held', 'traffic']);
      expect(charts[4]!.series).toEqual(['iris/stable', 'iris/canary']);
      expect(charts[4]!.painted).toBeGreaterThan(1000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

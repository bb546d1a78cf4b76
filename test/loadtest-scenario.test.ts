/** The scenario schema (src/load-test/scenario.ts), the ramp's steps and the percentile rule, as tables. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rampSteps } from '../src/load-test/engine.js';
import { loadScenario, parseScenario, phaseLabel } from '../src/load-test/scenario.js';
import { percentile } from '../src/load-test/tally.js';
import { ConfigError } from '../src/errors.js';

const TARGET = 'target: { url: "http://127.0.0.1:8080/v2/models/iris/infer" }\n';

function problems(text: string): string[] {
  try {
    parseScenario(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('parseScenario', () => {
  it('reads every phase type with its defaults', () => {
    const s = parseScenario(`${TARGET}admin: { url: "http://127.0.0.1:8081" }
phases:
  - { type: spike, requests: 50 }
  - { type: constant, duration: 10s }
  - { type: constant, name: open, duration: 1m, rate: 200, connections: 64 }
  - { type: ramp, duration: 20s, from: 0, to: 100 }
  - { type: idle, duration: 45 }
`);
    expect(s.name).toBe('loadtest');
    expect(s.target).toEqual({ url: 'http://127.0.0.1:8080/v2/models/iris/infer', method: 'GET', headers: {}, timeout: 30_000 });
    expect(s.phases).toEqual([
      { type: 'spike', requests: 50 },
      { type: 'constant', duration: 10_000, connections: 10 },
      { type: 'constant', name: 'open', duration: 60_000, rate: 200, connections: 64 },
      { type: 'ramp', duration: 20_000, from: 0, to: 100, connections: 10 },
      { type: 'idle', duration: 45_000 },
    ]);
    expect(s.phases.map(phaseLabel)).toEqual(['1 spike', '2 constant', 'open', '4 ramp', '5 idle']);
  });

  const rows: Array<{ label: string; text: string; want: string[] }> = [
    {
      label: 'no target',
      text: 'phases: [{type: idle, duration: 1s}]',
      want: ['target: Invalid input: expected object, received undefined'],
    },
    {
      label: 'not http',
      text: 'target: { url: "ftp://x/" }\nphases: [{type: idle, duration: 1s}]',
      want: ['target.url: want an http:// or https:// URL'],
    },
    { label: 'no phases', text: `${TARGET}phases: []`, want: ['phases: Too small: expected array to have >=1 items'] },
    {
      label: 'unknown phase type',
      text: `${TARGET}phases: [{type: soak, duration: 1s}]`,
      want: ["phases[0].type: Invalid discriminator value. Expected 'constant' | 'ramp' | 'spike' | 'idle'"],
    },
    {
      label: 'bad duration',
      text: `${TARGET}phases: [{type: idle, duration: soon}]`,
      want: ['phases[0].duration: want a duration such as 30s, 5m or 500ms'],
    },
    {
      label: 'zero rate',
      text: `${TARGET}phases: [{type: constant, duration: 1s, rate: 0}]`,
      want: ['phases[0].rate: Too small: expected number to be >0'],
    },
    {
      label: 'fractional connections',
      text: `${TARGET}phases: [{type: constant, duration: 1s, connections: 1.5}]`,
      want: ['phases[0].connections: Invalid input: expected int, received number'],
    },
    {
      label: 'a spike too big',
      text: `${TARGET}phases: [{type: spike, requests: 100000}]`,
      want: ['phases[0].requests: Too big: expected number to be <=10000'],
    },
    {
      label: 'unknown key in a phase',
      text: `${TARGET}phases: [{type: idle, duration: 1s, rate: 5}]`,
      want: ['phases[0]: Unrecognized key: "rate"'],
    },
    {
      label: 'body and bodyFile',
      text: 'target: { url: "http://127.0.0.1/", body: "{}", bodyFile: row.json }\nphases: [{type: idle, duration: 1s}]',
      want: ['target.bodyFile: give body or bodyFile, not both'],
    },
    {
      label: 'admin not a URL',
      text: `${TARGET}admin: { url: "127.0.0.1:8081" }\nphases: [{type: idle, duration: 1s}]`,
      want: ['admin.url: want an http:// or https:// URL'],
    },
    { label: 'longer than 6 h', text: `${TARGET}phases: [{type: idle, duration: 7h}]`, want: ['phases: phases last 420 min, at most 360'] },
    {
      label: 'not YAML',
      text: 'target: [unclosed',
      want: [
        '(root): not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 18:',
      ],
    },
  ];
  for (const row of rows) {
    it(`refuses ${row.label}, naming the field`, () => {
      expect(problems(row.text)).toEqual(row.want);
    });
  }
});

describe('loadScenario', () => {
  it('reads bodyFile relative to the scenario, and names the field when it cannot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-scenario-'));
    try {
      await writeFile(join(dir, 'row.json'), '{"inputs":[]}');
      await writeFile(
        join(dir, 'ok.yaml'),
        'target: { url: "http://127.0.0.1/", method: POST, bodyFile: row.json }\nphases: [{type: idle, duration: 1s}]',
      );
      await writeFile(
        join(dir, 'missing.yaml'),
        'target: { url: "http://127.0.0.1/", bodyFile: nope.json }\nphases: [{type: idle, duration: 1s}]',
      );
      expect((await loadScenario(join(dir, 'ok.yaml'))).scenario.target.body).toBe('{"inputs":[]}');
      await expect(loadScenario(join(dir, 'missing.yaml'))).rejects.toThrow(/^target\.bodyFile: cannot read .*nope\.json: ENOENT$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('rampSteps', () => {
  const rows = [
    { label: 'up, whole seconds', from: 0, to: 100, ms: 4000, want: [13, 38, 63, 88] },
    { label: 'down', from: 40, to: 0, ms: 2000, want: [30, 10] },
    { label: 'flat', from: 5, to: 5, ms: 3000, want: [5, 5, 5] },
  ];
  for (const row of rows) {
    it(row.label, () => {
      const steps = rampSteps(row.from, row.to, row.ms);
      expect(steps.map((s) => s.rate)).toEqual(row.want);
      expect(steps.reduce((n, s) => n + s.ms, 0)).toBe(row.ms);
    });
  }
  it('a last step of the remainder', () => {
    expect(rampSteps(0, 10, 2500)).toEqual([
      { ms: 1000, rate: 2 },
      { ms: 1000, rate: 6 },
      { ms: 500, rate: 9 },
    ]);
  });
});

describe('percentile (nearest rank)', () => {
  const values = Float64Array.from({ length: 200 }, (_, i) => i + 1);
  const rows = [
    { p: 0.5, want: 100 },
    { p: 0.99, want: 198 },
    { p: 1, want: 200 },
    { p: 0, want: 1 },
  ];
  for (const row of rows) it(`p${row.p * 100} of 1..200 is ${row.want}`, () => expect(percentile(values, row.p)).toBe(row.want));
  it('null when empty', () => expect(percentile([], 0.5)).toBeNull());
});

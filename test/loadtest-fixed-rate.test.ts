import { describe, expect, it } from 'vitest';
import { fixedRateLines, fixedRateTable, roundOrder, spread, summarizeFixedRate, type RateSample } from '../loadtest/fixed-rate.js';
import { parseBenchArgs, type BenchOptions } from '../loadtest/options.js';

describe('bench options: the fixed-rate CPU phase', () => {
  const parse = (argv: string[]): BenchOptions => {
    const options = parseBenchArgs(argv);
    if (options === 'help') throw new Error('unexpected help');
    return options;
  };

  it('defaults to 3000 rps, 5 rounds, 4 s', () => {
    expect(parse([])).toMatchObject({ cpuRate: 3000, cpuRounds: 5, cpuDurationS: 4 });
  });

  it.each([
    [['--cpu-rate', '1500'], { cpuRate: 1500 }],
    [['--cpu-rounds', '0'], { cpuRounds: 0 }],
    [['--cpu-rounds', '7'], { cpuRounds: 7 }],
    [['--cpu-duration', '10'], { cpuDurationS: 10 }],
    [['--cpu-rate', '1', '--cpu-rounds', '1', '--cpu-duration', '1'], { cpuRate: 1, cpuRounds: 1, cpuDurationS: 1 }],
  ])('accepts %j', (argv, expected) => {
    expect(parse(argv)).toMatchObject(expected);
  });

  it.each([
    [['--cpu-rate', '0'], /^--cpu-rate: want an integer ≥ 1, got "0"$/],
    [['--cpu-rate', '2500.5'], /^--cpu-rate: /],
    [['--cpu-rate', ''], /^--cpu-rate: /],
    [['--cpu-rounds=-1'], /^--cpu-rounds: want an integer ≥ 0/],
    [['--cpu-rounds', 'many'], /^--cpu-rounds: /],
    [['--cpu-duration', '0'], /^--cpu-duration: want an integer ≥ 1/],
    [['--cpu-duration', '2.5'], /^--cpu-duration: /],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });
});

describe('fixed-rate figures', () => {
  it.each([
    [1, ['gateway', 'nginx']],
    [2, ['nginx', 'gateway']],
    [3, ['gateway', 'nginx']],
    [4, ['nginx', 'gateway']],
  ])('round %i runs %j', (round, order) => {
    expect(roundOrder(['gateway', 'nginx'], round)).toEqual(order);
  });

  it.each([
    [[], null, null],
    [[null, null], null, null],
    [[5], 5, 5],
    [[3, 1, 2], 1, 2],
    [[4, 1, 3, 2], 1, 2.5],
    [[100, null, 10, 12], 10, 12],
  ])('spread of %j: min %s, median %s', (values, min, median) => {
    expect(spread(values)).toEqual({ perRound: values, min, median });
  });

  const run = (target: string, round: number, proxy: number | null, rps = 3000, predictor: number | null = 50): RateSample => ({
    target,
    round,
    requestedRps: 3000,
    rps,
    proxyCpuUsPerReq: proxy,
    predictorCpuUsPerReq: predictor,
  });

  it('takes the ratio of medians, the ratio of minimums and the median of per-round ratios', () => {
    const runs = [
      run('gateway', 1, 100),
      run('nginx', 1, 40),
      run('nginx', 2, 50),
      run('gateway', 2, 150), // a spike in both
      run('gateway', 3, 90),
      run('nginx', 3, 45),
    ];
    const s = summarizeFixedRate(runs, 3000, 3);
    expect(s.targets.map((t) => t.target)).toEqual(['gateway', 'nginx']);
    expect(s.targets[0]!.proxyCpuUsPerReq).toEqual({ perRound: [100, 150, 90], min: 90, median: 100 });
    expect(s.targets[1]!.proxyCpuUsPerReq).toEqual({ perRound: [40, 50, 45], min: 40, median: 45 });
    expect(s.gatewayVsNginx.ofMedians).toBeCloseTo(100 / 45);
    expect(s.gatewayVsNginx.ofMinimums).toBeCloseTo(90 / 40);
    expect(s.gatewayVsNginx.perRound).toEqual([2.5, 3, 2]);
    expect(s.gatewayVsNginx.medianOfRounds).toBe(2.5);
    expect(s.saturated).toEqual([]);
  });

  it.each([
    ['within budget', 100, 50, '2.00× (budget ≤ 2.5×) — within budget'],
    ['exactly at the budget', 125, 50, '2.50× (budget ≤ 2.5×) — within budget'],
    ['over budget', 130, 50, '2.60× (budget ≤ 2.5×) — OVER budget'],
    ['no nginx', 100, null, 'n/a (budget ≤ 2.5×)\n'],
  ])('headline %s', (_name, gateway, nginx, expected) => {
    const runs = [run('gateway', 1, gateway), ...(nginx === null ? [] : [run('nginx', 1, nginx)])];
    const lines = fixedRateLines(summarizeFixedRate(runs, 3000, 1));
    expect(lines).toContain(`gateway / nginx CPU per request at 3000 rps (median of 1 interleaved rounds): ${expected}`);
  });

  it.each([
    [2999, false],
    [2700, false],
    [2699, true],
    [1500, true],
  ])('a run at %i of 3000 rps is called saturated: %s', (rps, saturated) => {
    const s = summarizeFixedRate([run('gateway', 1, 100, rps), run('nginx', 1, 40)], 3000, 1);
    expect(s.saturated.length > 0).toBe(saturated);
    expect(fixedRateLines(s).includes('were saturated')).toBe(saturated);
  });

  it('tabulates each round, min and median per target, the per-round ratio and the predictor', () => {
    const s = summarizeFixedRate(
      [run('gateway', 1, 100, 3000, 60), run('nginx', 1, 40, 3000, 61), run('nginx', 2, 50), run('gateway', 2, null)],
      3000,
      2,
    );
    const lines = fixedRateTable(s)
      .split('\n')
      .map((l) => l.split(/ {2,}/));
    expect(lines[0]).toEqual(['CPU µs/req', '#1', '#2', 'min', 'median']);
    expect(lines.slice(2)).toEqual([
      ['gateway', '100.0', '—', '100.0', '100.0'],
      ['nginx', '40.0', '50.0', '40.0', '45.0'],
      ['gateway ÷ nginx', '2.50', '—', '2.50'],
      ['predictor, gateway runs', '60.0', '50.0', '50.0', '55.0'],
      ['predictor, nginx runs', '61.0', '50.0', '50.0', '55.5'],
    ]);
  });
});

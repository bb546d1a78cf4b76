/**
 * A gateway sample from the admin API's two answers, scale decisions seen between samples, and cold
 * starts grouped from Sluice-Cold-Start answers (src/load-test/gateway-sample.ts, results.ts), as tables.
 */
import { describe, expect, it } from 'vitest';
import { gatewaySample, observedDecisions } from '../src/load-test/gateway-sample.js';
import { coldStartsFromAnswers } from '../src/load-test/results.js';

const revision = (name: string, desired: number, ready: number, extra: Record<string, unknown> = {}) => ({
  name,
  percent: 50,
  replicas: { desired, actual: desired, ready },
  inflight: 3,
  held: 2,
  stableConcurrency: 4.5,
  panicConcurrency: 6,
  panicMode: false,
  requestsTotal: 100,
  coldStarts: 1,
  condition: { status: 'Ready' },
  ...extra,
});

const services = (a: number, b: number, panic = false) => ({
  services: [
    { name: 'iris', revisions: [revision('iris-1', a, a), revision('iris-2', b, Math.max(0, b - 1), { panicMode: panic })] },
    { name: 'other', revisions: [revision('other-1', 7, 7)] },
  ],
});

const stats = {
  now: 0,
  revisions: [
    {
      service: 'iris',
      revision: 'iris-1',
      seconds: [
        { second: 1, concurrency: 1, requests: 10 },
        { second: 2, concurrency: 2.5, requests: 40 },
      ],
    },
    { service: 'iris', revision: 'iris-2', seconds: [] },
  ],
};

describe('gatewaySample', () => {
  it('sums the followed service, with the last completed second of /api/v1/stats', () => {
    const s = gatewaySample(3, services(2, 3, true), stats, 'iris');
    expect(s).toMatchObject({
      t: 3,
      desired: 5,
      actual: 5,
      ready: 4,
      inflight: 6,
      held: 4,
      panic: true,
      gatewayRequests: 40,
      concurrency: 2.5,
    });
    expect(s.revisions.map((r) => [r.revision, r.gatewayRequests, r.condition])).toEqual([
      ['iris-1', 40, 'Ready'],
      ['iris-2', 0, 'Ready'],
    ]);
  });
  it('every service when none is named', () => {
    expect(gatewaySample(0, services(1, 0), stats).desired).toBe(8);
  });
});

describe('observedDecisions', () => {
  const rows = [
    { label: 'the first sample decides nothing', before: undefined, after: [1, 0], want: [] },
    { label: 'no change', before: [1, 0], after: [1, 0], want: [] },
    {
      label: 'each revision that changed, at the later time',
      before: [1, 0],
      after: [3, 1],
      want: [
        { t: 5, service: 'iris', revision: 'iris-1', from: 1, to: 3, reason: 'observed' },
        { t: 5, service: 'iris', revision: 'iris-2', from: 0, to: 1, reason: 'observed' },
      ],
    },
    {
      label: 'down to zero',
      before: [2, 0],
      after: [0, 0],
      want: [{ t: 5, service: 'iris', revision: 'iris-1', from: 2, to: 0, reason: 'observed' }],
    },
  ];
  for (const row of rows) {
    it(row.label, () => {
      const before = row.before === undefined ? undefined : gatewaySample(4, services(row.before[0]!, row.before[1]!), stats, 'iris');
      expect(observedDecisions(before, gatewaySample(5, services(row.after[0]!, row.after[1]!), stats, 'iris'))).toEqual(row.want);
    });
  }
});

describe('coldStartsFromAnswers', () => {
  it('answers in the same second are one release: the count, and the longest hold', () => {
    expect(
      coldStartsFromAnswers([
        { t: 0.61, heldMs: 510 },
        { t: 0.62, heldMs: 514 },
        { t: 0.64, heldMs: 512 },
        { t: 12.2, heldMs: 300 },
      ]),
    ).toEqual([
      { t: 0.61, heldMs: 514, held: 3 },
      { t: 12.2, heldMs: 300, held: 1 },
    ]);
  });
  it('none, none', () => expect(coldStartsFromAnswers([])).toEqual([]));
});

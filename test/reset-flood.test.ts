/** The rapid-reset rule (src/downstream/reset-flood.ts): a table of reset times, each row with the verdicts wanted. */
import { describe, expect, it } from 'vitest';
import { ResetFlood } from '../src/downstream/reset-flood.js';

interface Row {
  label: string;
  limit: number;
  windowMs?: number;
  /** Reset times, ms. */
  at: number[];
  /** record()'s verdict for each. */
  want: boolean[];
}

const ROWS: Row[] = [
  { label: 'up to the limit in one instant is allowed', limit: 3, at: [0, 0, 0], want: [false, false, false] },
  { label: 'one over the limit within the window trips', limit: 3, at: [0, 0, 0, 0], want: [false, false, false, true] },
  { label: 'limit 100: the 101st reset 100 ms after the first trips', limit: 100, at: [...range(100), 100], want: [...falses(100), true] },
  {
    label: 'limit 100: the 101st reset exactly 1000 ms after the first is outside the window',
    limit: 100,
    at: [...range(100), 1000],
    want: [...falses(100), false],
  },
  { label: 'resets spread out never trip', limit: 2, at: [0, 600, 1200, 1800, 2400, 3000], want: falses(6) },
  {
    label: 'a burst after a quiet spell counts only the recent ones',
    limit: 2,
    at: [0, 10, 5000, 5001, 5002],
    want: [false, false, false, false, true],
  },
  {
    label: 'the window slides: each reset is compared with the one `limit` back',
    limit: 2,
    at: [0, 500, 999, 1500, 1998, 2600],
    want: [false, false, true, false, true, false],
  },
  { label: 'a shorter window', limit: 1, windowMs: 100, at: [0, 99, 199, 300], want: [false, true, false, false] },
  { label: 'limit 1: two resets in the same millisecond trip', limit: 1, at: [7, 7], want: [false, true] },
];

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function falses(n: number): boolean[] {
  return Array.from({ length: n }, () => false);
}

describe('ResetFlood', () => {
  it.each(ROWS)('$label', ({ limit, windowMs, at, want }) => {
    const flood = new ResetFlood(limit, windowMs);
    expect(at.map((now) => flood.record(now))).toEqual(want);
  });

  it('refuses a limit below 1', () => {
    expect(() => new ResetFlood(0)).toThrow(RangeError);
  });
});

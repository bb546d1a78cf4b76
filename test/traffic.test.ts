import { describe, expect, it } from 'vitest';
import { WeightedSplit } from '../src/gateway/traffic.js';

/** How many times each item was picked; undefined picks counted under NONE. */
const NONE = '(none)';

interface SplitRow {
  label: string;
  targets: Array<{ item: string; weight: number }>;
  picks: number;
  wantCounts: Record<string, number>;
  /** The longest run of one item in a row, when the row checks interleaving. */
  wantLongestRun?: number;
  /** The first picks, in order, when the row checks the exact sequence. */
  wantFirst?: string[];
}

const rows: SplitRow[] = [
  {
    label: '90/10 over 10,000 picks is exact',
    targets: [
      { item: 'blue', weight: 90 },
      { item: 'green', weight: 10 },
    ],
    picks: 10_000,
    wantCounts: { blue: 9_000, green: 1_000 },
    // green once in every 10 picks, never bunched: blue runs are at most 9 long.
    wantLongestRun: 9,
  },
  {
    label: '10/90 over 10,000 picks is exact',
    targets: [
      { item: 'blue', weight: 10 },
      { item: 'green', weight: 90 },
    ],
    picks: 10_000,
    wantCounts: { blue: 1_000, green: 9_000 },
    wantLongestRun: 9,
  },
  {
    label: '100/0 gives only the first',
    targets: [
      { item: 'blue', weight: 100 },
      { item: 'green', weight: 0 },
    ],
    picks: 1_000,
    wantCounts: { blue: 1_000 },
  },
  {
    label: '0/100 gives only the second',
    targets: [
      { item: 'blue', weight: 0 },
      { item: 'green', weight: 100 },
    ],
    picks: 1_000,
    wantCounts: { green: 1_000 },
  },
  {
    label: '33/33/34 over 100 picks is exact',
    targets: [
      { item: 'a', weight: 33 },
      { item: 'b', weight: 33 },
      { item: 'c', weight: 34 },
    ],
    picks: 100,
    wantCounts: { a: 33, b: 33, c: 34 },
  },
  {
    label: '33/33/34 over 10,000 picks is exact',
    targets: [
      { item: 'a', weight: 33 },
      { item: 'b', weight: 33 },
      { item: 'c', weight: 34 },
    ],
    picks: 10_000,
    wantCounts: { a: 3_300, b: 3_300, c: 3_400 },
  },
  {
    label: '50/50 alternates',
    targets: [
      { item: 'blue', weight: 50 },
      { item: 'green', weight: 50 },
    ],
    picks: 1_000,
    wantCounts: { blue: 500, green: 500 },
    wantLongestRun: 1,
    wantFirst: ['blue', 'green', 'blue', 'green'],
  },
  {
    label: '1/1/1 rotates in listed order',
    targets: [
      { item: 'a', weight: 1 },
      { item: 'b', weight: 1 },
      { item: 'c', weight: 1 },
    ],
    picks: 300,
    wantCounts: { a: 100, b: 100, c: 100 },
    wantLongestRun: 1,
    wantFirst: ['a', 'b', 'c', 'a', 'b', 'c'],
  },
  {
    // The worked example in traffic.ts: 5/1/1 spreads b and c between the a picks.
    label: '5/1/1 interleaves like nginx',
    targets: [
      { item: 'a', weight: 5 },
      { item: 'b', weight: 1 },
      { item: 'c', weight: 1 },
    ],
    picks: 700,
    wantCounts: { a: 500, b: 100, c: 100 },
    wantFirst: ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b'],
  },
  {
    label: 'zero weight between live ones is skipped',
    targets: [
      { item: 'a', weight: 50 },
      { item: 'off', weight: 0 },
      { item: 'c', weight: 50 },
    ],
    picks: 100,
    wantCounts: { a: 50, c: 50 },
    wantLongestRun: 1,
  },
  {
    label: 'single target',
    targets: [{ item: 'only', weight: 100 }],
    picks: 100,
    wantCounts: { only: 100 },
  },
  {
    label: 'single target with a small weight',
    targets: [{ item: 'only', weight: 1 }],
    picks: 100,
    wantCounts: { only: 100 },
  },
  {
    label: 'all-zero weights give undefined',
    targets: [
      { item: 'blue', weight: 0 },
      { item: 'green', weight: 0 },
    ],
    picks: 10,
    wantCounts: { [NONE]: 10 },
  },
  {
    label: 'no targets give undefined',
    targets: [],
    picks: 10,
    wantCounts: { [NONE]: 10 },
  },
];

function longestRun(seq: readonly string[]): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < seq.length; i++) {
    run = i > 0 && seq[i] === seq[i - 1] ? run + 1 : 1;
    longest = Math.max(longest, run);
  }
  return longest;
}

describe('WeightedSplit', () => {
  it.each(rows)('$label', ({ targets, picks, wantCounts, wantLongestRun, wantFirst }) => {
    const split = new WeightedSplit(targets);
    const seq: string[] = [];
    for (let i = 0; i < picks; i++) seq.push(split.pick() ?? NONE);

    const counts: Record<string, number> = {};
    for (const item of seq) counts[item] = (counts[item] ?? 0) + 1;
    expect(counts).toEqual(wantCounts);
    if (wantLongestRun !== undefined) expect(longestRun(seq)).toBe(wantLongestRun);
    if (wantFirst !== undefined) expect(seq.slice(0, wantFirst.length)).toEqual(wantFirst);
  });
});

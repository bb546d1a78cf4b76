/**
 * Stable and panic window averages as tables: each row drives a RevisionStats with requests at chosen
 * times, reads the windows at chosen times, and names the averages it should see.
 */
import { describe, expect, test } from 'vitest';
import { RevisionStats } from '../src/stats/revision-stats.js';
import {
  MetricWindows,
  linearAverage,
  smoothingCoefficient,
  weightedAverage,
  windowSpecOf,
  type WindowAverages,
  type WindowSpec,
} from '../src/stats/windows.js';

/** A whole second, so offsets below are easy to place in buckets. */
const T0 = 1_700_000_000_000;

const LINEAR: WindowSpec = { stableSeconds: 60, panicSeconds: 6, algorithm: 'linear' };
const WEIGHTED: WindowSpec = { stableSeconds: 60, panicSeconds: 6, algorithm: 'weightedExponential' };

interface Event {
  /** ms after T0. */
  at: number;
  /** Requests that arrive (active from here, held or in flight). */
  begin?: number;
  /** Requests that finish (answered). */
  end?: number;
}

interface Read {
  /** ms after T0. */
  at: number;
  /** Ready endpoints at this read. */
  ready: number;
  want: Partial<WindowAverages>;
}

interface Row {
  label: string;
  spec?: WindowSpec;
  /** Ring length of the RevisionStats (default 60). */
  ring?: number;
  events: Event[];
  reads: Read[];
  /** One bucket to check directly: seconds after T0 and its values. */
  bucket?: { second: number; concurrency: number; count: number };
}

const rows: Row[] = [
  {
    label: '20 requests held for exactly one second → that bucket is 20; stable 20/60, panic 20/6',
    events: [
      { at: 59_000, begin: 20 },
      { at: 60_000, end: 20 },
    ],
    reads: [
      {
        at: 60_000,
        ready: 1,
        want: { stableConcurrency: 0.333333, panicConcurrency: 3.333333, stableRps: 0.333333, panicRps: 3.333333, hasData: true },
      },
    ],
    bucket: { second: 59, concurrency: 20, count: 20 },
  },
  {
    label: 'time-weighted: one request in flight for 250 ms is 0.25 in its second',
    events: [
      { at: 250, begin: 1 },
      { at: 500, end: 1 },
    ],
    // Only one second observed so far: the average is over that second alone.
    reads: [{ at: 1000, ready: 1, want: { stableConcurrency: 0.25, panicConcurrency: 0.25, stableRps: 1, panicRps: 1 } }],
    bucket: { second: 0, concurrency: 0.25, count: 1 },
  },
  {
    label: 'seconds before collection began do not count: 3 s at 10 read 10, not 30/60',
    events: [{ at: 0, begin: 10 }],
    reads: [{ at: 3000, ready: 1, want: { stableConcurrency: 10, panicConcurrency: 10, stableRps: 3.333333, panicRps: 3.333333 } }],
  },
  {
    label: 'requests count in the second they began: 3 then 1 → 2 rps over 2 s',
    events: [
      { at: 500, begin: 3 },
      { at: 600, end: 3 },
      { at: 1500, begin: 1 },
      { at: 1600, end: 1 },
    ],
    reads: [{ at: 2000, ready: 1, want: { stableRps: 2, panicRps: 2 } }],
  },
  {
    label: 'idle endpoints are measured zeros: 2 s at 6 after two quiet minutes → 12/60 and 12/6',
    events: [
      { at: 120_000, begin: 6 },
      { at: 122_000, end: 6 },
    ],
    reads: [{ at: 122_000, ready: 1, want: { stableConcurrency: 0.2, panicConcurrency: 2, hasData: true } }],
  },
  {
    label: 'at zero endpoints a silent window restarts the run: the same burst reads 12/2 = 6',
    events: [
      { at: 120_000, begin: 6 },
      { at: 122_000, end: 6 },
    ],
    reads: [
      { at: 60_000, ready: 0, want: { stableConcurrency: 0, panicConcurrency: 0, hasData: false } },
      { at: 122_000, ready: 0, want: { stableConcurrency: 6, panicConcurrency: 6, hasData: true } },
    ],
  },
  {
    label: 'at zero endpoints a gap shorter than the window continues the stable run but restarts the panic one',
    // 4 in flight during seconds 0–1 and 30–31; 28 quiet seconds between.
    events: [
      { at: 0, begin: 4 },
      { at: 2000, end: 4 },
      { at: 30_000, begin: 4 },
      { at: 32_000, end: 4 },
    ],
    reads: [
      { at: 10_000, ready: 0, want: { stableConcurrency: 0.8 } }, // 8 / 10 s
      // Stable: 16 / 32 s (gap 28 < 60). Panic: 8 / 2 s (gap 28 ≥ 6, the run starts at 30 s).
      { at: 32_000, ready: 0, want: { stableConcurrency: 0.5, panicConcurrency: 4 } },
    ],
  },
  {
    label: 'quiet seconds after the last data count as zeros: 2 s at 10, read 10 s later → 20/12',
    events: [
      { at: 0, begin: 10 },
      { at: 2000, end: 10 },
    ],
    reads: [{ at: 12_000, ready: 0, want: { stableConcurrency: 1.666666, panicConcurrency: 0, hasData: true } }],
  },
  {
    label: 'linear floors to 6 decimals: 10 for the last second only → 10/60 = 0.166666',
    events: [{ at: 119_000, begin: 10 }],
    reads: [{ at: 120_000, ready: 1, want: { stableConcurrency: 0.166666, panicConcurrency: 1.666666 } }],
  },
  {
    label: 'weightedExponential: 10 for the last second only → stable 10 × 0.2 = 2, panic 10 × 0.7846 = 7.846',
    spec: WEIGHTED,
    events: [{ at: 119_000, begin: 10 }],
    reads: [{ at: 120_000, ready: 1, want: { stableConcurrency: 2, panicConcurrency: 7.845565 } }],
  },
  {
    label: 'weightedExponential: a full window at 10 reads just under 10 (weights sum to 1 − 0.8^60, 1 − 0.2154^6)',
    spec: WEIGHTED,
    events: [{ at: 0, begin: 10 }],
    reads: [{ at: 120_000, ready: 1, want: { stableConcurrency: 9.999985, panicConcurrency: 9.999, stableRps: 0 } }],
  },
  {
    label: 'weightedExponential at zero endpoints: nothing before the run counts',
    spec: WEIGHTED,
    events: [{ at: 120_000, begin: 5 }],
    // Two seconds at 5 after a silent window: 5 × 0.2 + 5 × 0.16 = 1.8.
    reads: [{ at: 122_000, ready: 0, want: { stableConcurrency: 1.8 } }],
  },
  {
    label: 'a window longer than the ring is cut to the ring',
    spec: { stableSeconds: 120, panicSeconds: 12, algorithm: 'linear' },
    events: [
      { at: 0, begin: 10 },
      { at: 100_000, end: 10 },
    ],
    // The ring holds seconds 70–129 only; 70–99 at 10 → 300 / 60 = 5 (a 120 s window would need 120 buckets).
    reads: [{ at: 130_000, ready: 1, want: { stableConcurrency: 5 } }],
  },
];

function assertRow(row: Row): void {
  const stats = new RevisionStats(T0, row.ring ?? 60);
  const windows = new MetricWindows(row.spec ?? LINEAR, T0);
  const events = [...row.events];
  for (const read of row.reads) {
    while (events.length > 0 && events[0]!.at <= read.at) {
      const e = events.shift()!;
      for (let i = 0; i < (e.begin ?? 0); i++) stats.arrive(T0 + e.at);
      for (let i = 0; i < (e.end ?? 0); i++) stats.record(200, 0, T0 + e.at);
    }
    const got = windows.read(stats, T0 + read.at, read.ready);
    for (const [key, want] of Object.entries(read.want)) {
      const value = got[key as keyof WindowAverages];
      if (typeof want === 'number') expect(value, `${key} at ${read.at} ms`).toBeCloseTo(want, 5);
      else expect(value, `${key} at ${read.at} ms`).toBe(want);
    }
  }
  if (row.bucket) {
    const i = (Math.floor(T0 / 1000) + row.bucket.second) % stats.size;
    expect({ concurrency: stats.concurrency[i], count: stats.counts[i] }).toEqual({
      concurrency: row.bucket.concurrency,
      count: row.bucket.count,
    });
  }
}

describe('MetricWindows', () => {
  test.each(rows)('$label', assertRow);
});

describe('averaging functions', () => {
  // Knative's example: data [10, 10, 5, 5], newest last, decay 0.6.
  const ring = [10, 10, 5, 5];
  const fnRows: { label: string; got: () => number; want: number }[] = [
    {
      label: 'weighted, newest 5s: 5×0.6 + 5×0.24 + 10×0.096 + 10×0.0384 = 5.544',
      got: () => weightedAverage(ring, 4, 3, 4, 0, 0.6),
      want: 5.544,
    },
    {
      label: 'weighted, reversed: 10×0.6 + 10×0.24 + 5×0.096 + 5×0.0384 = 9.072',
      got: () => weightedAverage([5, 5, 10, 10], 4, 3, 4, 0, 0.6),
      want: 9.072,
    },
    { label: 'linear over the same data is 7.5 either way', got: () => linearAverage(ring, 4, 3, 4, 0), want: 7.5 },
    {
      label: 'linear from the first data second: [_, 10, 5, 5] → 20/3 floored',
      got: () => linearAverage(ring, 4, 3, 4, 1),
      want: 6.666666,
    },
    { label: 'linear with no data second is 0', got: () => linearAverage(ring, 4, 3, 4, 4), want: 0 },
    { label: 'linear floors float noise: 70.0000001 → 70', got: () => linearAverage([70.0000001], 1, 0, 1, 0), want: 70 },
    { label: 'smoothing coefficient for 6 s: 1 − 0.0001^(1/6) = 0.784557', got: () => smoothingCoefficient(6), want: 0.784557 },
    { label: 'smoothing coefficient for 60 s hits the 0.2 floor', got: () => smoothingCoefficient(60), want: 0.2 },
  ];
  test.each(fnRows)('$label', ({ got, want }) => {
    expect(got()).toBeCloseTo(want, 6);
  });

  test('windowSpecOf: 60 000 ms / 6 000 ms → 60 s / 6 s; a panic window under 1 s becomes 1 s', () => {
    expect(windowSpecOf({ stableWindowMs: 60_000, panicWindowMs: 6_000, aggregation: 'linear' })).toEqual({
      stableSeconds: 60,
      panicSeconds: 6,
      algorithm: 'linear',
    });
    expect(windowSpecOf({ stableWindowMs: 6_000, panicWindowMs: 0, aggregation: 'weightedExponential' })).toEqual({
      stableSeconds: 6,
      panicSeconds: 1,
      algorithm: 'weightedExponential',
    });
  });
});

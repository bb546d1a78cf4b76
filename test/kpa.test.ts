/**
 * The KPA decider as tables, after Knative's autoscaler_test.go. Each row builds a Decider and feeds it
 * a sequence of ticks; every tick names what the decider should answer.
 */
import { describe, expect, test } from 'vitest';
import { Decider, MaxTimeWindow, type DeciderResult, type DeciderSpec } from '../src/autoscaler/kpa.js';

/** Aligned to the 2 s delay buckets, so "at 300 s" lands where Knative's zero time would. */
const T0 = 1_700_000_000_000;

/**
 * Base spec for the rows: target 10 per pod, total 20 (50 % utilization), no burst capacity,
 * panic at 200 %, rates ×10 up and ÷10 down, 60 s stable window.
 */
const BASE: DeciderSpec = {
  targetValue: 10,
  totalValue: 20,
  targetBurstCapacity: 0,
  panicThreshold: 2,
  maxScaleUpRate: 10,
  maxScaleDownRate: 10,
  stableWindowMs: 60_000,
  scaleDownDelayMs: 0,
  activationScale: 1,
  reachable: true,
};

interface Tick {
  /** Seconds after T0. */
  at: number;
  ready: number;
  stable: number;
  panic: number;
  /** Spec changes applied (through update()) before this tick. */
  update?: Partial<DeciderSpec>;
  wantPods: number;
  wantPanicking?: boolean;
  wantEBC?: number;
}

interface Row {
  label: string;
  spec?: Partial<DeciderSpec>;
  /** Ready pods when the decider is created (default 0). */
  readyAtStart?: number;
  ticks: Tick[];
}

const rows: Row[] = [
  // --- stable mode -------------------------------------------------------------------------
  {
    label: 'stable increase: desire is ceil(stable / target)',
    ticks: [
      // 50 / 10 = 5 pods; panic 5 / 5 ready = 1 < 2.
      { at: 0, ready: 5, stable: 50, panic: 50, wantPods: 5, wantPanicking: false },
      // 80 / 10 = 8; 8 / 5 = 1.6 < 2, still stable.
      { at: 2, ready: 5, stable: 80, panic: 80, wantPods: 8, wantPanicking: false },
    ],
  },
  {
    label: 'stable decrease: ready=8, load halves → 5 pods (down limit floor(8/10) = 0)',
    ticks: [
      { at: 0, ready: 8, stable: 100, panic: 100, wantPods: 10, wantPanicking: false },
      { at: 2, ready: 8, stable: 50, panic: 50, wantPods: 5, wantPanicking: false },
    ],
  },
  {
    label: 'no traffic: the last pod goes once the stable average reaches 0',
    ticks: [
      { at: 0, ready: 1, stable: 1, panic: 0, wantPods: 1 },
      { at: 2, ready: 1, stable: 0, panic: 0, wantPods: 0 },
    ],
  },
  {
    label: 'stable average exactly on target: 50 / 10 = 5, not 6',
    ticks: [{ at: 0, ready: 5, stable: 50, panic: 50, wantPods: 5 }],
  },

  // --- rate limits -------------------------------------------------------------------------
  {
    label: 'up rate 10: ready=1 wants 100 → at most 10, then ready=10 → 100',
    ticks: [
      { at: 0, ready: 1, stable: 1000, panic: 1001, wantPods: 10, wantPanicking: true },
      { at: 2, ready: 10, stable: 1000, panic: 1001, wantPods: 100, wantPanicking: true },
    ],
  },
  {
    label: 'up rate 1.1: ready=2 → ceil(2.2) = 3, a slow rate still adds a pod',
    spec: { targetValue: 1, maxScaleUpRate: 1.1 },
    // Wants 10; panic 3 / 2 = 1.5 < 2 keeps it in stable mode.
    ticks: [{ at: 0, ready: 2, stable: 10, panic: 3, wantPods: 3, wantPanicking: false }],
  },
  {
    label: 'up rate 1.5: ready=3 → at most ceil(4.5) = 5',
    spec: { targetValue: 1, maxScaleUpRate: 1.5 },
    ticks: [{ at: 0, ready: 3, stable: 100, panic: 0, wantPods: 5 }],
  },
  {
    label: 'up rate 2.5: ready=3 → at most ceil(7.5) = 8',
    spec: { targetValue: 1, maxScaleUpRate: 2.5 },
    ticks: [{ at: 0, ready: 3, stable: 100, panic: 0, wantPods: 8 }],
  },
  {
    label: 'down rate 1.1: ready=100 → no fewer than floor(90.9) = 90',
    spec: { maxScaleDownRate: 1.1 },
    ticks: [{ at: 0, ready: 100, stable: 1, panic: 1, wantPods: 90 }],
  },
  {
    label: 'down rate 1.5: ready=10 → no fewer than floor(6.67) = 6',
    spec: { maxScaleDownRate: 1.5 },
    ticks: [{ at: 0, ready: 10, stable: 0, panic: 0, wantPods: 6 }],
  },
  {
    label: 'down rate 2.5: ready=10 → no fewer than floor(4) = 4',
    spec: { maxScaleDownRate: 2.5 },
    ticks: [{ at: 0, ready: 10, stable: 0, panic: 0, wantPods: 4 }],
  },
  {
    label: 'down rate 10: ready=100 → 10, then ready=10 → 1',
    ticks: [
      { at: 0, ready: 100, stable: 1, panic: 1, wantPods: 10 },
      { at: 2, ready: 10, stable: 1, panic: 1, wantPods: 1 },
    ],
  },
  {
    label: 'unreachable: no down limit, ready=100 with rate 1.1 → straight to 1',
    spec: { maxScaleDownRate: 1.1, reachable: false },
    ticks: [{ at: 0, ready: 100, stable: 1, panic: 1, wantPods: 1 }],
  },
  {
    label: 'unreachable and idle: ready=100 → 0 (reachable would stop at 10)',
    spec: { reachable: false },
    ticks: [{ at: 0, ready: 100, stable: 0, panic: 0, wantPods: 0 }],
  },

  // --- zero ready pods ---------------------------------------------------------------------
  {
    label: 'zero ready pods, nothing observed → 0',
    ticks: [{ at: 0, ready: 0, stable: 0, panic: 0, wantPods: 0, wantPanicking: false, wantEBC: 0 }],
  },
  {
    label: 'zero ready pods count as one for the up limit: ready=0, rate 10 → 10',
    ticks: [{ at: 0, ready: 0, stable: 1000, panic: 888, wantPods: 10, wantPanicking: true }],
  },

  // --- panic -------------------------------------------------------------------------------
  {
    label: 'panic entry: panic wants 10 on 1 pod (10/1 ≥ 2), wins over stable 5',
    ticks: [{ at: 0, ready: 1, stable: 50, panic: 100, wantPods: 10, wantPanicking: true }],
  },
  {
    label: 'panic threshold is ≥: 19/10 = 1.9 stays stable, 20/10 = 2 panics',
    ticks: [
      { at: 0, ready: 10, stable: 100, panic: 190, wantPods: 10, wantPanicking: false },
      { at: 2, ready: 10, stable: 100, panic: 200, wantPods: 20, wantPanicking: true },
    ],
  },
  {
    label: 'in panic the stable desire wins when larger (50 over 30)',
    spec: { targetValue: 1 },
    readyAtStart: 5,
    ticks: [{ at: 5, ready: 5, stable: 50, panic: 30, wantPods: 50, wantPanicking: true }],
  },
  {
    label: 'in panic the panic desire wins when larger (30 over 20)',
    spec: { targetValue: 1 },
    readyAtStart: 5,
    ticks: [{ at: 5, ready: 5, stable: 20, panic: 30, wantPods: 30, wantPanicking: true }],
  },
  {
    label: 'panic never scales down; it ends a full stable window after the last extension',
    ticks: [
      { at: 0, ready: 1, stable: 100, panic: 100, wantPods: 10, wantPanicking: true },
      // Extended at 2 s: 1000 / 10 = 100 pods on 10 ready.
      { at: 2, ready: 10, stable: 100, panic: 1000, wantPods: 100, wantPanicking: true },
      // Traffic gone, but still panicking: hold 100.
      { at: 32, ready: 10, stable: 1, panic: 1, wantPods: 100, wantPanicking: true },
      // 2 s + 60 s = 62 s is not yet *before* now.
      { at: 62, ready: 10, stable: 1, panic: 1, wantPods: 100, wantPanicking: true },
      // Out of panic: ceil(1/10) = 1, down limit floor(10/10) = 1.
      { at: 63, ready: 10, stable: 1, panic: 1, wantPods: 1, wantPanicking: false },
    ],
  },
  {
    label: 'panic extension restarts the stable window',
    spec: { targetValue: 1 },
    ticks: [
      { at: 0, ready: 10, stable: 11, panic: 25, wantPods: 25, wantPanicking: true },
      // 80 / 40 = 2 ≥ 2: extended to 30 s.
      { at: 30, ready: 40, stable: 30, panic: 80, wantPods: 80, wantPanicking: true },
      // Calm, but 30 s + 60 s = 90 s has not passed: hold the panic maximum 80.
      { at: 61, ready: 80, stable: 30, panic: 30, wantPods: 80, wantPanicking: true },
      // Out: stable 30 (down limit floor(80/10) = 8).
      { at: 91, ready: 80, stable: 30, panic: 30, wantPods: 30, wantPanicking: false },
    ],
  },
  {
    label: 'panic without extension ends one stable window after entry, even while growing',
    spec: { targetValue: 1 },
    ticks: [
      { at: 0, ready: 10, stable: 11, panic: 25, wantPods: 25, wantPanicking: true },
      // 41 / 40 < 2: not extended, but the desire grows to 41.
      { at: 30, ready: 40, stable: 30, panic: 41, wantPods: 41, wantPanicking: true },
      // 0 s + 60 s < 62 s and 56 / 55 < 2: back to stable, 50.
      { at: 62, ready: 55, stable: 50, panic: 56, wantPods: 50, wantPanicking: false },
    ],
  },
  {
    label: 'exponential tracking in panic: load ×6 each tick, desire follows',
    spec: { targetValue: 1 },
    ticks: [
      { at: 0, ready: 1, stable: 6, panic: 6, wantPods: 6, wantPanicking: true },
      { at: 1, ready: 6, stable: 36, panic: 36, wantPods: 36, wantPanicking: true },
      { at: 2, ready: 36, stable: 216, panic: 216, wantPods: 216, wantPanicking: true },
      { at: 2, ready: 216, stable: 1296, panic: 1296, wantPods: 1296, wantPanicking: true },
      // Load stabilises: 1296 / 1296 = 1 < 2, but panic holds its maximum.
      { at: 3, ready: 1296, stable: 1296, panic: 1296, wantPods: 1296, wantPanicking: true },
    ],
  },

  // --- start in panic ----------------------------------------------------------------------
  {
    label: 'start with 5 ready pods: panic holds 5 until a stable window has passed',
    readyAtStart: 5,
    ticks: [
      { at: 0, ready: 5, stable: 0, panic: 0, wantPods: 5, wantPanicking: true },
      { at: 60, ready: 5, stable: 0, panic: 0, wantPods: 5, wantPanicking: true },
      { at: 61, ready: 5, stable: 0, panic: 0, wantPods: 0, wantPanicking: false },
    ],
  },
  {
    label: 'start with 1 ready pod: not in panic',
    readyAtStart: 1,
    ticks: [{ at: 0, ready: 1, stable: 0, panic: 0, wantPods: 0, wantPanicking: false }],
  },
  {
    label: 'start with 0 ready pods: not in panic',
    readyAtStart: 0,
    ticks: [{ at: 0, ready: 0, stable: 0, panic: 0, wantPods: 0, wantPanicking: false }],
  },

  // --- activation scale --------------------------------------------------------------------
  {
    label: 'activation scale 2: 0 stays 0, a desire of 1 becomes 2',
    spec: { activationScale: 2 },
    ticks: [
      { at: 0, ready: 1, stable: 0, panic: 0, wantPods: 0 },
      { at: 2, ready: 1, stable: 1, panic: 0, wantPods: 2 },
    ],
  },
  {
    label: 'activation scale 3 leaves a larger desire alone: 70 / 10 = 7',
    spec: { activationScale: 3 },
    ticks: [{ at: 0, ready: 5, stable: 70, panic: 70, wantPods: 7 }],
  },
  {
    label: 'activation scale lifts the panic desire too: panic wants 2 → 4',
    spec: { activationScale: 4 },
    ticks: [{ at: 0, ready: 1, stable: 0, panic: 20, wantPods: 4, wantPanicking: true }],
  },

  // --- scale-down delay --------------------------------------------------------------------
  {
    label: 'scale-down delay 5 min holds the maximum, then drops',
    spec: { scaleDownDelayMs: 300_000, panicThreshold: 100 },
    ticks: [
      { at: 2, ready: 0, stable: 40, panic: 40, wantPods: 4 },
      // 4 was wanted 298 s ago: still in the window.
      { at: 300, ready: 0, stable: 0, panic: 0, wantPods: 4 },
      // 300 s after it was wanted, it leaves.
      { at: 302, ready: 0, stable: 0, panic: 0, wantPods: 0 },
    ],
  },
  {
    label: 'scale-down delay declines step by step as old buckets leave the window',
    spec: { scaleDownDelayMs: 300_000, panicThreshold: 100 },
    ticks: [
      { at: 540, ready: 0, stable: 40, panic: 40, wantPods: 4 },
      { at: 600, ready: 0, stable: 30, panic: 30, wantPods: 4 }, // 4 still dominates
      { at: 660, ready: 0, stable: 0, panic: 0, wantPods: 4 },
      { at: 840, ready: 0, stable: 0, panic: 0, wantPods: 3 }, // the 4 from 540 s scrolled out
      { at: 900, ready: 0, stable: 0, panic: 0, wantPods: 0 }, // the 3 from 600 s too
    ],
  },
  {
    label: 'no scale-down delay: two ticks in one 2 s bucket take the latest',
    spec: { panicThreshold: 100 },
    ticks: [
      { at: 0, ready: 0, stable: 40, panic: 40, wantPods: 4 },
      { at: 0.5, ready: 0, stable: 20, panic: 20, wantPods: 2 },
    ],
  },
  {
    label: 'scale-down delay: two ticks in one 2 s bucket keep the larger',
    spec: { scaleDownDelayMs: 10_000, panicThreshold: 100 },
    ticks: [
      { at: 0, ready: 0, stable: 40, panic: 40, wantPods: 4 },
      { at: 0.5, ready: 0, stable: 20, panic: 20, wantPods: 4 },
    ],
  },
  {
    label: 'scale-down delay does not hold an unreachable revision',
    spec: { scaleDownDelayMs: 300_000, panicThreshold: 100 },
    ticks: [
      { at: 2, ready: 0, stable: 40, panic: 40, wantPods: 4 },
      { at: 60, ready: 0, stable: 0, panic: 0, wantPods: 4 },
      { at: 62, ready: 0, stable: 0, panic: 0, update: { reachable: false }, wantPods: 0 },
    ],
  },

  // --- excess burst capacity ---------------------------------------------------------------
  {
    label: 'EBC with TBC −1 (unlimited) is −1',
    spec: { targetBurstCapacity: -1 },
    ticks: [{ at: 0, ready: 3, stable: 21, panic: 26, wantPods: 3, wantEBC: -1 }],
  },
  {
    label: 'EBC with TBC 0 is 0',
    ticks: [{ at: 0, ready: 5, stable: 50, panic: 49, wantPods: 5, wantEBC: 0 }],
  },
  {
    label: 'EBC: ready=5, total=20, TBC=30, panic=45 → 100 − 30 − 45 = 25',
    spec: { targetBurstCapacity: 30 },
    ticks: [{ at: 0, ready: 5, stable: 45, panic: 45, wantPods: 5, wantEBC: 25 }],
  },
  {
    label: 'EBC floors toward −∞: ready=1, total=20, TBC=211, panic=10.5 → floor(−201.5) = −202',
    spec: { targetBurstCapacity: 211 },
    ticks: [{ at: 0, ready: 1, stable: 10.5, panic: 10.5, wantPods: 2, wantEBC: -202 }],
  },
  {
    label: 'EBC uses the raw ready count: ready=0, TBC=10 → 0 × 20 − 10 − 0 = −10',
    spec: { targetBurstCapacity: 10 },
    ticks: [{ at: 0, ready: 0, stable: 0, panic: 0, wantPods: 0, wantEBC: -10 }],
  },

  // --- RPS: only the numbers differ ---------------------------------------------------------
  {
    label: 'RPS: target 140 rps (200 × 0.7), 700 rps → 5 pods; EBC 3 × 200 − 211 − 700 = −311',
    spec: { targetValue: 140, totalValue: 200, targetBurstCapacity: 211 },
    ticks: [{ at: 0, ready: 3, stable: 700, panic: 700, wantPods: 5, wantPanicking: false, wantEBC: -311 }],
  },

  // --- spec updates ------------------------------------------------------------------------
  {
    label: 'update: a new target applies on the next tick',
    ticks: [
      { at: 0, ready: 1, stable: 100, panic: 101, wantPods: 10 },
      // Target 1: 100 stable, 101 panic clamped to ceil(10 × 10) = 100.
      { at: 2, ready: 10, stable: 100, panic: 101, update: { targetValue: 1 }, wantPods: 100 },
    ],
  },
  {
    label: 'update: a longer stable window keeps panic longer',
    ticks: [
      { at: 0, ready: 1, stable: 100, panic: 100, wantPods: 10, wantPanicking: true },
      { at: 2, ready: 10, stable: 1, panic: 1, update: { stableWindowMs: 120_000 }, wantPods: 10, wantPanicking: true },
      { at: 61, ready: 10, stable: 1, panic: 1, wantPods: 10, wantPanicking: true },
      { at: 121, ready: 10, stable: 1, panic: 1, wantPods: 1, wantPanicking: false },
    ],
  },
  {
    label: 'update: adding a 10 s scale-down delay holds 4 for 10 s after it was last wanted',
    ticks: [
      { at: 0, ready: 5, stable: 40, panic: 40, wantPods: 4 },
      { at: 2, ready: 5, stable: 40, panic: 40, update: { scaleDownDelayMs: 10_000 }, wantPods: 4 },
      { at: 4, ready: 5, stable: 0, panic: 0, wantPods: 4 },
      { at: 10, ready: 5, stable: 0, panic: 0, wantPods: 4 },
      { at: 12, ready: 5, stable: 0, panic: 0, wantPods: 0 },
    ],
  },
];

function assertRow(row: Row): void {
  let spec: DeciderSpec = { ...BASE, ...row.spec };
  const decider = new Decider(spec, row.readyAtStart ?? 0, T0);
  row.ticks.forEach((tick, i) => {
    if (tick.update) {
      spec = { ...spec, ...tick.update };
      decider.update(spec);
    }
    const got = decider.scale({ now: T0 + tick.at * 1000, readyPods: tick.ready, observedStable: tick.stable, observedPanic: tick.panic });
    const want: Partial<DeciderResult> = { desiredPodCount: tick.wantPods };
    const picked: Partial<DeciderResult> = { desiredPodCount: got.desiredPodCount };
    if (tick.wantPanicking !== undefined) {
      want.panicking = tick.wantPanicking;
      picked.panicking = got.panicking;
    }
    if (tick.wantEBC !== undefined) {
      want.excessBurstCapacity = tick.wantEBC;
      picked.excessBurstCapacity = got.excessBurstCapacity;
    }
    expect(picked, `tick ${i} at ${tick.at}s`).toEqual(want);
  });
}

describe('Decider', () => {
  test.each(rows)('$label', assertRow);
});

describe('MaxTimeWindow', () => {
  // Knative's TestTimedWindowMax: a 5 s window in 1 s buckets.
  const windowRows: { label: string; values: [atMs: number, value: number][]; want: number }[] = [
    { label: 'single value', values: [[0, 5]], want: 5 },
    {
      label: 'two values in the same bucket keep the larger',
      values: [
        [0, 6],
        [500, 5],
      ],
      want: 6,
    },
    {
      label: 'a larger newer value wins',
      values: [
        [0, 5],
        [1000, 8],
      ],
      want: 8,
    },
    {
      label: 'a value older than the window is gone',
      values: [
        [0, 5],
        [6000, 4],
      ],
      want: 4,
    },
    {
      label: 'a value at the window edge is gone: 5 s later in 1 s buckets',
      values: [
        [0, 5],
        [5000, 4],
      ],
      want: 4,
    },
    {
      label: 'a value inside the window stays',
      values: [
        [0, 5],
        [4000, 4],
      ],
      want: 5,
    },
  ];
  test.each(windowRows)('$label', ({ values, want }) => {
    const w = new MaxTimeWindow(5000, 1000);
    for (const [at, v] of values) w.record(T0 + at, v);
    expect(w.current()).toBe(want);
  });
});

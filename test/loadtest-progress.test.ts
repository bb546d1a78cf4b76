/** The per-second progress line (src/load-test/progress.ts) as a table, and how it is written to a TTY and to a pipe. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressLine, progressWriter, type Progress } from '../src/load-test/progress.js';
import type { ClientSecond } from '../src/load-test/recorder.js';

const second = (over: Partial<ClientSecond> = {}): ClientSecond => ({
  t: 11,
  phase: 1,
  requests: 98,
  ok: 97,
  codes: { '200': 97, '503': 1 },
  errors: 2,
  coldStarts: 0,
  latencyMs: { p50: 12.34, p90: 30, p99: 40.1, max: 52, mean: 14 },
  ...over,
});

const base: Progress = { phaseIndex: 1, phaseCount: 3, phase: 'steady', elapsedS: 12.7, totalS: 39.2, second: second() };

describe('progressLine', () => {
  const rows: Array<{ label: string; progress: Progress; want: string }> = [
    { label: 'client figures only', progress: base, want: '[2/3 steady] 12/40 s  98 rps  p50 12 ms  p99 40 ms  err 3' },
    {
      label: 'with the gateway',
      progress: { ...base, gateway: { desired: 3, ready: 2, held: 4, panic: true } },
      want: '[2/3 steady] 12/40 s  98 rps  p50 12 ms  p99 40 ms  err 3 | replicas 2/3 ready  held 4  panic yes',
    },
    {
      label: 'sub-10 ms latencies with a decimal',
      progress: { ...base, second: second({ latencyMs: { p50: 0.84, p90: 2, p99: 9.96, max: 12, mean: 1 } }) },
      want: '[2/3 steady] 12/40 s  98 rps  p50 0.8 ms  p99 10 ms  err 3',
    },
    {
      label: 'an idle second',
      progress: {
        ...base,
        phase: 'rest',
        second: second({ requests: 0, ok: 0, errors: 0, codes: {}, latencyMs: { p50: null, p90: null, p99: null, max: null, mean: null } }),
      },
      want: '[2/3 rest] 12/40 s  0 rps  p50 —  p99 —  err 0',
    },
    {
      label: 'before the first second closes',
      progress: { ...base, elapsedS: 0.2, second: undefined },
      want: '[2/3 steady] 0/40 s  0 rps  p50 —  p99 —  err 0',
    },
    {
      label: 'the admin API unreachable',
      progress: { ...base, gateway: { error: 'ECONNREFUSED' } },
      want: '[2/3 steady] 12/40 s  98 rps  p50 12 ms  p99 40 ms  err 3 | admin: ECONNREFUSED',
    },
  ];
  for (const row of rows) it(row.label, () => expect(progressLine(row.progress)).toBe(row.want));
});

describe('progressWriter', () => {
  const capture = (tty: boolean) => {
    const out = Object.assign(new PassThrough(), { isTTY: tty });
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const w = progressWriter(out);
    w.write('one');
    w.write('two');
    w.end();
    return text;
  };
  it('redraws one line on a TTY', () => expect(capture(true)).toBe('\rone\x1b[K\rtwo\x1b[K\n'));
  it('writes plain lines to a pipe', () => expect(capture(false)).toBe('one\ntwo\n'));
});

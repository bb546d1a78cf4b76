/**
 * The line printed once a second while a scenario runs:
 *
 *   [2/3 steady] 12/40 s  98 rps  p50 12.3 ms  p99 40.1 ms  err 0 | replicas 2/3 ready  held 0  panic no
 *
 * A terminal gets the line redrawn in place (CR, then erase to the end of the line); a pipe or a
 * file gets one plain line per second, so a log keeps them all.
 */
import type { ClientSecond } from './recorder.js';

export interface Progress {
  phaseIndex: number;
  phaseCount: number;
  phase: string;
  elapsedS: number;
  totalS: number;
  /** The last closed second, if any. */
  second: ClientSecond | undefined;
  gateway?: { desired: number; ready: number; held: number; panic: boolean } | { error: string };
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v < 9.95 ? v.toFixed(1) : Math.round(v)} ms`);

export function progressLine(p: Progress): string {
  const s = p.second;
  const failed = s === undefined ? 0 : s.errors + s.requests - s.ok;
  const client =
    `[${p.phaseIndex + 1}/${p.phaseCount} ${p.phase}] ${Math.floor(p.elapsedS)}/${Math.ceil(p.totalS)} s  ` +
    `${s?.requests ?? 0} rps  p50 ${ms(s?.latencyMs.p50)}  p99 ${ms(s?.latencyMs.p99)}  err ${failed}`;
  const g = p.gateway;
  if (g === undefined) return client;
  if ('error' in g) return `${client} | admin: ${g.error}`;
  return `${client} | replicas ${g.ready}/${g.desired} ready  held ${g.held}  panic ${g.panic ? 'yes' : 'no'}`;
}

/** Writes progress lines to `out`: redrawn on a TTY, one per line otherwise. */
export function progressWriter(out: NodeJS.WriteStream | NodeJS.WritableStream): { write(line: string): void; end(): void } {
  const tty = 'isTTY' in out && out.isTTY;
  let drawn = false;
  return {
    write(line) {
      if (tty) {
        out.write(`\r${line}\x1b[K`);
        drawn = true;
      } else out.write(line + '\n');
    },
    end() {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}

/**
 * What the client saw, second by second and phase by phase: every answer, error and cold-start
 * header goes into the tally of its second (counted from the run's start, by the time it arrived)
 * and the tally of the phase in progress. Seconds close as the clock passes them; a second with no
 * traffic (an idle phase) is closed as a row of zeros, so the series has every second.
 */
import { Tally, type TallySummary } from './tally.js';

export interface ClientSecond extends TallySummary {
  /** Seconds since the run's start: this row covers [t, t + 1). */
  t: number;
  /** Index of the phase in progress when the second began. */
  phase: number;
}

/** An answer that carried `Sluice-Cold-Start: <ms>`. */
export interface ColdStartAnswer {
  /** Seconds since the run's start. */
  t: number;
  heldMs: number;
}

/** Cold-start answers kept for the report; more are still counted in the tallies. */
const MAX_COLD_START_ANSWERS = 10_000;

export class Recorder {
  private readonly open = new Map<number, Tally>();
  private readonly closed: ClientSecond[] = [];
  private readonly phases: Tally[] = [];
  /** [second index where it began, phase index], in order. */
  private readonly phaseStarts: Array<[number, number]> = [];
  private phase = -1;
  readonly coldStartAnswers: ColdStartAnswer[] = [];

  constructor(readonly startMs: number) {}

  /** Phase `index` begins at `now`. */
  beginPhase(index: number, now: number): void {
    this.phase = index;
    this.phases[index] = new Tally();
    this.phaseStarts.push([Math.floor((now - this.startMs) / 1000), index]);
  }

  answer(now: number, status: number, latencyMs: number): void {
    this.second(now).answer(status, latencyMs);
    this.phases[this.phase]?.answer(status, latencyMs);
  }

  error(now: number): void {
    this.second(now).error();
    this.phases[this.phase]?.error();
  }

  coldStart(now: number, heldMs: number): void {
    this.second(now).coldStart();
    this.phases[this.phase]?.coldStart();
    if (this.coldStartAnswers.length < MAX_COLD_START_ANSWERS) {
      this.coldStartAnswers.push({ t: Math.round(now - this.startMs) / 1000, heldMs });
    }
  }

  /** Close every second that ended at or before `now`; returns the seconds closed by this call. */
  closeUpTo(now: number): ClientSecond[] {
    const end = Math.floor((now - this.startMs) / 1000);
    const fresh: ClientSecond[] = [];
    for (let t = this.closed.length; t < end; t++) {
      const tally = this.open.get(t) ?? new Tally();
      this.open.delete(t);
      const row = { t, phase: this.phaseOf(t), ...tally.summary() };
      this.closed.push(row);
      fresh.push(row);
    }
    return fresh;
  }

  /** Every second so far, the one in progress at `now` included when anything happened in it. */
  finish(now: number): ClientSecond[] {
    this.closeUpTo(now);
    const t = this.closed.length;
    const last = this.open.get(t);
    if (last !== undefined) {
      this.open.delete(t);
      this.closed.push({ t, phase: this.phaseOf(t), ...last.summary() });
    }
    return this.closed;
  }

  phaseSummary(index: number): TallySummary {
    return (this.phases[index] ?? new Tally()).summary();
  }

  private second(now: number): Tally {
    // Never into a second already closed: a late event lands in the oldest open one.
    const t = Math.max(this.closed.length, Math.floor((now - this.startMs) / 1000));
    let tally = this.open.get(t);
    if (tally === undefined) this.open.set(t, (tally = new Tally()));
    return tally;
  }

  private phaseOf(t: number): number {
    let phase = 0;
    for (const [start, index] of this.phaseStarts) if (start <= t) phase = index;
    return phase;
  }
}

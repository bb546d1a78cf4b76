/**
 * `results.json`: the scenario, a summary per phase, the client's per-second series and the
 * gateway's per-second samples, scale decisions and cold starts. The report and `compare` read
 * only this file, so a run can be looked at again, or compared, long after it ended.
 */
import { readFile } from 'node:fs/promises';
import type { GatewaySample, ScaleDecision } from './gateway-sample.js';
import type { ClientSecond, ColdStartAnswer } from './recorder.js';
import type { Phase, Scenario } from './scenario.js';
import type { TallySummary } from './tally.js';

export const RESULTS_VERSION = 1;

export interface PhaseResult extends TallySummary {
  name: string;
  type: Phase['type'];
  /** Seconds since the run's start. */
  startS: number;
  endS: number;
  /** Answers ÷ the phase's wall time. */
  rps: number;
  /** What was asked for: a rate (constant with rate, ramp: the mean), connections, or a spike's requests. */
  requestedRps: number | null;
  /** Peak replicas seen by the sampler during the phase (null without a sample in it). */
  maxDesired: number | null;
  maxReady: number | null;
  /** The phase's admin call, when it has one. */
  call?: CallResult;
}

export interface CallResult {
  method: string;
  path: string;
  /** 0 when the admin API could not be reached. */
  status: number;
  /** The first 500 characters of the answer, or why there was none. */
  answer: string;
}

/** A cold start: a held request (or several) released by a revision that was at zero. */
export interface ColdStart {
  t: number;
  service?: string;
  revision?: string;
  heldMs: number;
  /** Requests released together. */
  held: number;
}

export interface GatewayResults {
  adminUrl: string;
  /** Where scale decisions and cold starts came from: the event feed, or polling and response headers. */
  source: 'events' | 'polling';
  samples: GatewaySample[];
  scaleDecisions: ScaleDecision[];
  coldStarts: ColdStart[];
  /** Panic mode entered (`panic: true`) or left, from the feed or between samples. */
  panics: Array<{ t: number; service?: string; revision?: string; panic: boolean }>;
  /** Samples that failed, with why (the admin API unreachable for a moment). */
  sampleErrors: Array<{ t: number; error: string }>;
}

export interface LoadtestResults {
  version: typeof RESULTS_VERSION;
  scenario: Scenario;
  /** The scenario file as written. */
  scenarioText: string;
  startedAt: string;
  endedAt: string;
  /** `interrupted` when stopped by Ctrl-C: the phases after it are missing or cut short. */
  outcome: 'completed' | 'interrupted';
  phases: PhaseResult[];
  seconds: ClientSecond[];
  /** Answers that carried Sluice-Cold-Start, as the client saw them. */
  coldStartAnswers: ColdStartAnswer[];
  gateway: GatewayResults | null;
}

/** The requested rate of a phase, requests per second; null for a closed-model or idle phase. */
export function requestedRps(phase: Phase): number | null {
  if (phase.type === 'constant') return phase.rate ?? null;
  if (phase.type === 'ramp') return (phase.from + phase.to) / 2;
  return null;
}

/** The scenario as results.json keeps it: the admin token left out. */
export function shareableScenario(scenario: Scenario): Scenario {
  if (scenario.admin?.token === undefined) return scenario;
  const { token: _token, ...admin } = scenario.admin;
  return { ...scenario, admin };
}

/**
 * Cold starts from answers carrying Sluice-Cold-Start (no event feed): answers within the same
 * second with the same header value are one release — 50 held requests released together answer
 * with the same held time to within a few ms, so they are grouped by second.
 */
export function coldStartsFromAnswers(answers: readonly ColdStartAnswer[]): ColdStart[] {
  const bySecond = new Map<number, ColdStart>();
  for (const a of answers) {
    const t = Math.floor(a.t);
    const c = bySecond.get(t);
    if (c === undefined) bySecond.set(t, { t: a.t, heldMs: a.heldMs, held: 1 });
    else {
      c.held++;
      c.heldMs = Math.max(c.heldMs, a.heldMs);
    }
  }
  return [...bySecond.values()];
}

/** A results.json written by `sluice loadtest`; throws with what is wrong with the file. */
export async function readResults(path: string): Promise<LoadtestResults> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const r = value as Partial<LoadtestResults> | null;
  if (r === null || typeof r !== 'object' || r.version !== RESULTS_VERSION || !Array.isArray(r.phases) || !Array.isArray(r.seconds)) {
    throw new Error(`${path}: not a results.json of sluice loadtest (version ${RESULTS_VERSION})`);
  }
  return r as LoadtestResults;
}

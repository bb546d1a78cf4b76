/**
 * Rollout requests → step plans. Pure: no I/O, no clock; the controller runs the plan.
 *
 * A plan is a list of steps, each a canary percent and how long it is held before the canary is
 * analysed and the next step applied. The last step is always 100 % (promotion) and is not held.
 *
 * - canary, explicit steps: `steps: [10, 25, 50]`, interval 30 s → 10 % (30 s), 25 % (30 s),
 *   50 % (30 s), 100 %.
 * - canary, Knative gradual rollout (`durationSeconds`): 1 %, then even steps up to 100 % spread
 *   over the duration (see durationSteps).
 * - blue-green: one flip to 100 % (TrafficController pre-warms green and keeps blue warm).
 */
import { z } from 'zod';
import type { Service } from '../config/load.js';
import { boundProblems, issueProblems } from '../config/problems.js';
import type { TrafficTarget } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { quote } from '../quote.js';

export type Strategy = 'canary' | 'blue-green';

export interface AnalysisSpec {
  /** Largest share of 5xx among the canary's answered requests over an interval. Default 0.05. */
  maxErrorRate: number;
  /** Largest p99 latency, ms (upper bound of the histogram bucket holding the 99th percentile). Default: not checked. */
  maxP99Ms: number | undefined;
  /** Fewest answered canary requests an interval needs before it is judged; fewer → wait another interval. Default 20. */
  minRequests: number;
}

export interface RolloutStep {
  /** The canary's percent of the rollout's pool (the whole service when nothing else has traffic). */
  percent: number;
  /** How long the step is held before the canary is analysed; 0 for the last step. */
  holdMs: number;
}

export interface RolloutPlan {
  strategy: Strategy;
  /** The stable revision traffic moves away from. */
  from: string;
  /** The new revision traffic moves to. */
  to: string;
  /**
   * Traffic percent the rollout moves between `from` and `to`: their sum when it starts (100 when no
   * other revision has traffic). Other targets keep their percents.
   */
  pool: number;
  steps: RolloutStep[];
  analysis: AnalysisSpec;
}

const DEFAULT_STEPS = [10, 25, 50];
const DEFAULT_INTERVAL_SECONDS = 30;
export const DEFAULT_ANALYSIS: AnalysisSpec = { maxErrorRate: 0.05, maxP99Ms: undefined, minRequests: 20 };

const revisionName = z.string().min(1);

/** The body of `POST /api/v1/services/:name/rollout`. */
const rolloutRequestSchema = z
  .object({
    /** The revision to roll out. */
    to: revisionName,
    /** The stable revision; default the one with the most traffic (other than `to`). */
    from: revisionName.optional(),
    /** Canary percents, strictly increasing, 1–100; 100 is appended when missing. Default [10, 25, 50]. */
    steps: z.array(z.number().int().min(1).max(100)).min(1).max(100).optional(),
    /** Hold per step, seconds. Default 30. With durationSeconds: the shortest step (default 1, as Knative). */
    intervalSeconds: z.number().positive().max(86_400).optional(),
    /** Knative gradual rollout: 1 %, then even steps to 100 % over this many seconds. */
    durationSeconds: z
      .number()
      .positive()
      .max(7 * 86_400)
      .optional(),
    strategy: z.enum(['canary', 'blue-green']).default('canary'),
    analysis: z
      .object({
        maxErrorRate: z.number().min(0).max(1).optional(),
        maxP99Ms: z.number().positive().optional(),
        minRequests: z.number().int().min(0).max(1_000_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Validate a rollout request against the service's revisions and current traffic, and plan it.
 * Throws ConfigError (400) naming each bad field.
 *
 * @example planRollout(service, { to: 'shop-2', steps: [10, 50], intervalSeconds: 60 })
 */
export function planRollout(service: Pick<Service, 'revisions' | 'traffic'>, body: unknown): RolloutPlan {
  const parsed = rolloutRequestSchema.safeParse(body ?? {});
  if (!parsed.success) throw new ConfigError(boundProblems(issueProblems(parsed.error.issues)));
  const req = parsed.data;
  const problems: string[] = [];

  const names = new Set(service.revisions.map((r) => r.name));
  const percentOf = (name: string) => service.traffic.find((t) => t.revision === name)?.percent ?? 0;
  if (!names.has(req.to)) problems.push(`to: unknown revision ${quote(req.to)}`);
  let from = req.from;
  if (from === undefined) {
    from = mostTraffic(service.traffic, req.to);
    if (from === undefined) problems.push(`from: no revision other than ${quote(req.to)} has traffic to take over`);
  } else if (!names.has(from)) problems.push(`from: unknown revision ${quote(from)}`);
  else if (from === req.to) problems.push(`from: same revision as to ("${from}")`);
  else if (percentOf(from) === 0) problems.push(`from: revision "${from}" has no traffic to take over`);

  if (req.steps !== undefined) {
    req.steps.forEach((p, i) => {
      if (i > 0 && p <= req.steps![i - 1]!)
        problems.push(`steps[${i}]: ${p} after ${req.steps![i - 1]}, want strictly increasing percents`);
    });
    if (req.durationSeconds !== undefined) problems.push('durationSeconds: give either steps or durationSeconds, not both');
  }
  if (req.strategy === 'blue-green') {
    for (const field of ['steps', 'durationSeconds', 'intervalSeconds', 'analysis'] as const) {
      if (req[field] !== undefined) problems.push(`${field}: not used by the blue-green strategy (one flip to 100 %)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const analysis: AnalysisSpec = {
    maxErrorRate: req.analysis?.maxErrorRate ?? DEFAULT_ANALYSIS.maxErrorRate,
    maxP99Ms: req.analysis?.maxP99Ms ?? DEFAULT_ANALYSIS.maxP99Ms,
    minRequests: req.analysis?.minRequests ?? DEFAULT_ANALYSIS.minRequests,
  };
  let steps: RolloutStep[];
  if (req.strategy === 'blue-green') steps = [{ percent: 100, holdMs: 0 }];
  else if (req.durationSeconds !== undefined) steps = durationSteps(req.durationSeconds, req.intervalSeconds ?? 1);
  else steps = fixedSteps(req.steps ?? DEFAULT_STEPS, req.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS);
  return { strategy: req.strategy, from: from!, to: req.to, pool: percentOf(from!) + percentOf(req.to), steps, analysis };
}

/** The revision with the most traffic other than `except`; the first listed wins a tie. */
function mostTraffic(traffic: readonly TrafficTarget[], except: string): string | undefined {
  let best: TrafficTarget | undefined;
  for (const t of traffic) if (t.revision !== except && t.percent > 0 && (best === undefined || t.percent > best.percent)) best = t;
  return best?.revision;
}

/** Explicit percents, each held `intervalSeconds`, then 100 %: [10, 50] → 10, 50, 100. */
function fixedSteps(percents: readonly number[], intervalSeconds: number): RolloutStep[] {
  const holdMs = Math.round(intervalSeconds * 1000);
  const steps = percents.map((percent) => ({ percent, holdMs }));
  if (steps.at(-1)?.percent !== 100) steps.push({ percent: 100, holdMs: 0 });
  steps[steps.length - 1]!.holdMs = 0;
  return steps;
}

/**
 * Knative's gradual rollout (`rollout-duration`, pkg/reconciler/route/traffic/rollout.go): the new
 * revision first gets 1 %; once that took effect (`minStepSeconds`, at least 1 s; Knative measures
 * it, Sluice applies a step at once, so it is the request's intervalSeconds or 1) the rest of the
 * duration is cut into equal steps:
 *
 *   rest     = max(1, duration − minStep)
 *   numSteps = min(99, max(1, rest ÷ minStep))
 *   stepSize = round(99 ÷ numSteps)             (rounded, not floored: 1.9 → 1 would double the time)
 *   hold     = rest ÷ numSteps                   (the 1 % step is held minStep + hold)
 *
 * Worked numbers: duration 60 s, minStep 10 s → rest 50, 5 steps of round(19.8) = 20 % every 10 s:
 * 1 % (20 s), 21, 41, 61, 81 (10 s each), 100 % at 60 s. Duration 300 s, minStep 1 s → 99 steps of
 * 1 % every 3.02 s. Because the step is rounded the percents can overshoot: they are capped at 100.
 */
export function durationSteps(durationSeconds: number, minStepSeconds = 1): RolloutStep[] {
  const minStep = Math.max(1, minStepSeconds);
  const rest = Math.max(1, durationSeconds - minStep);
  const numSteps = Math.min(99, Math.max(1, rest / minStep));
  const stepSize = Math.round(99 / numSteps);
  const holdMs = Math.round((rest / numSteps) * 1000);
  const steps: RolloutStep[] = [{ percent: 1, holdMs: Math.round(minStep * 1000) + holdMs }];
  for (let p = 1 + stepSize; ; p += stepSize) {
    if (p >= 100) {
      steps.push({ percent: 100, holdMs: 0 });
      return steps;
    }
    steps.push({ percent: p, holdMs });
  }
}

/**
 * The traffic block for one step: `to` gets `percent` of the pool (rounded), `from` the rest; every
 * other target (and every tag) stays as it is. `to` is appended when it is not listed yet.
 *
 * @example stepTraffic([{revision:'a',percent:100}], 'a', 'b', 100, 10) // a=90, b=10
 */
export function stepTraffic(current: readonly TrafficTarget[], from: string, to: string, pool: number, percent: number): TrafficTarget[] {
  const canary = Math.round((pool * percent) / 100);
  const out = current.map((t) => {
    if (t.revision === to) return { ...t, percent: canary };
    if (t.revision === from) return { ...t, percent: pool - canary };
    return { ...t };
  });
  if (!out.some((t) => t.revision === to)) out.push({ revision: to, percent: canary });
  if (!out.some((t) => t.revision === from)) out.push({ revision: from, percent: pool - canary });
  return out;
}

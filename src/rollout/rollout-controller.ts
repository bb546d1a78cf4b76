/**
 * Canary rollouts with automated rollback. A rollout runs a plan (plan.ts): apply a step through the
 * TrafficController (the one way traffic changes), hold it, judge the canary from the gateway's own
 * stats for that hold (analysis.ts), then the next step, or straight back to the stable revision.
 *
 *   start ─► step 1 ─► hold ─► judge ─┬─ pass ─► step 2 … ─► 100 % (promoted)
 *                                     ├─ fail ─► stable 100 % at once (rolled-back, reason kept)
 *                                     └─ too few requests ─► hold again (at most MAX_WAIT_INTERVALS),
 *                                                            then stable 100 % (failed)
 *
 * A canary that cannot start (its condition goes Failed, core/condition.ts) is rolled back as soon as
 * the composition root passes the change to conditionChanged, whatever the step and its hold; a
 * rollout to a canary that is already Failed is refused (409 revision_failed).
 *
 * One rollout per service at a time. Transitions of one rollout (a check, an abort) run one after
 * another. Time comes from the injected `now` and `setTimer`, so tests drive it without waiting.
 *
 * State lives in memory: a restart keeps the traffic of the last applied step (it is persisted like
 * any traffic change) but not the rollout itself, which is not resumed.
 */
import type { TrafficTarget } from '../config/schema.js';
import type { RevisionCondition } from '../core/condition.js';
import type { EventFields, EventSink } from '../core/gateway-event.js';
import type { RevisionKey } from '../core/revision.js';
import { SluiceError } from '../errors.js';
import type { Gateway } from '../gateway/gateway.js';
import type { RevisionRuntime } from '../gateway/revision.js';
import type { Logger } from '../log.js';
import { EMPTY_SNAPSHOT, intervalStats, judge, snapshotStats, type IntervalStats, type StatsSnapshot } from './analysis.js';
import { planRollout, stepTraffic, type RolloutPlan, type Strategy } from './plan.js';
import { failedCondition, failureSummary, revisionFailedError } from './revision-failure.js';
import type { TrafficController } from './traffic-controller.js';

/** Intervals a step may be held again for lack of requests before the rollout gives up (3 → 4 holds in all). */
const MAX_WAIT_INTERVALS = 3;

export type RolloutPhase = 'progressing' | 'promoted' | 'rolled-back' | 'aborted' | 'failed';

export type RolloutEventType = 'started' | 'step' | 'analysis' | 'waiting' | 'promoted' | 'rollback' | 'aborted' | 'failed';

export interface RolloutEvent {
  /** ISO 8601 with milliseconds. */
  at: string;
  type: RolloutEventType;
  message: string;
  /** The canary's traffic percent after this event, for events that moved traffic. */
  percent?: number;
  /** The numbers behind an `analysis` event. */
  analysis?: IntervalStats & { verdict: 'pass' | 'fail' | 'wait' };
}

/** A rollout as the admin API shows it. */
export interface RolloutState {
  service: string;
  phase: RolloutPhase;
  strategy: Strategy;
  from: string;
  to: string;
  /** 1-based number of the step applied last; 0 before the first. */
  step: number;
  steps: Array<{ percent: number; holdSeconds: number }>;
  /** The canary's traffic percent now (of the whole service). */
  percent: number;
  analysis: { maxErrorRate: number; maxP99Ms: number | null; minRequests: number };
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** When the canary is judged next; null when no check is scheduled. */
  nextCheckAt: string | null;
  /** Set while a step is held again because its interval had too few requests. */
  waiting: string | null;
  /** Why the rollout ended other than by promotion (rollback reason, abort, failure). */
  reason: string | null;
  timeline: RolloutEvent[];
}

/** Schedules `fn` after `ms`; returns a function that cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

export interface RolloutControllerOptions {
  traffic: Pick<TrafficController, 'setTraffic' | 'service'>;
  gateway: Pick<Gateway, 'revisions'>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Wall clock, ms. Default Date.now. */
  now?: () => number;
  /** Default: setTimeout (unref'd). */
  setTimer?: SetTimer;
  /** Where each timeline event also goes (the event feed), as a `rollout` event of the canary. Default: nowhere. */
  events?: EventSink;
}

interface Run {
  service: string;
  plan: RolloutPlan;
  phase: RolloutPhase;
  /** Index of the step applied last; -1 before the first. */
  index: number;
  /** The canary's percent of the service now. */
  percent: number;
  startedAt: number;
  updatedAt: number;
  finishedAt: number | undefined;
  nextCheckAt: number | undefined;
  waiting: string | undefined;
  reason: string | undefined;
  timeline: RolloutEvent[];
  /** The canary's counters when the current analysis window began, and which stats object they came from. */
  baseline: { stats: RevisionRuntime['stats'] | undefined; snapshot: StatsSnapshot };
  /** Holds repeated for lack of requests in the current window. */
  waits: number;
  /** The from/to percents this rollout applied last: anything else means someone else changed traffic. */
  applied: { from: number; to: number } | undefined;
  cancelTimer: (() => void) | undefined;
  /** Transitions run one after another. */
  chain: Promise<void>;
}

const defaultSetTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

export class RolloutController {
  private readonly runs = new Map<string, Run>();
  private readonly now: () => number;
  private readonly setTimer: SetTimer;
  private closed = false;

  constructor(private readonly options: RolloutControllerOptions) {
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? defaultSetTimer;
  }

  /**
   * Start a rollout of `service` (body: see rolloutRequestSchema). A canary's first step is applied
   * before this resolves; a blue-green flip (which may wait for pre-warming) goes on in the background.
   * Rejects with ConfigError (400) for a bad request, 409 while another rollout of the service runs.
   *
   * @example await rollouts.start('shop', { to: 'shop-2', steps: [10, 50], intervalSeconds: 60 })
   */
  async start(service: string, body: unknown): Promise<RolloutState> {
    if (this.closed) throw new SluiceError('unavailable', 503, 'the gateway is shutting down');
    const running = this.runs.get(service);
    if (running?.phase === 'progressing') {
      throw new SluiceError(
        'conflict',
        409,
        `a rollout of ${service} is in progress (${running.plan.from} → ${running.plan.to}, ${running.percent} %); abort it first`,
      );
    }
    const svc = this.options.traffic.service(service);
    const plan = planRollout(svc, body);
    const failed = this.failedCanary(service, plan.to);
    if (failed !== undefined) throw revisionFailedError(failed.key, failed.condition, `rolling out ${plan.to}`);
    const now = this.now();
    const run: Run = {
      service,
      plan,
      phase: 'progressing',
      index: -1,
      percent: percentOf(svc.traffic, plan.to),
      startedAt: now,
      updatedAt: now,
      finishedAt: undefined,
      nextCheckAt: undefined,
      waiting: undefined,
      reason: undefined,
      timeline: [],
      baseline: { stats: undefined, snapshot: EMPTY_SNAPSHOT },
      waits: 0,
      applied: undefined,
      cancelTimer: undefined,
      chain: Promise.resolve(),
    };
    this.runs.set(service, run);
    this.event(run, 'started', `${plan.strategy} ${plan.from} → ${plan.to}: ${describePlan(plan)}`);
    const first = this.enqueue(run, () => this.applyStep(run, 0));
    if (plan.strategy === 'blue-green')
      first.catch(() => {}); // recorded in the state as `failed`
    else await first;
    return this.view(run);
  }

  /**
   * Abort: traffic back to the stable revision at once, state `aborted`. 404 when none is running.
   * A step being applied (a blue-green pre-warm) finishes first.
   */
  async stop(service: string): Promise<RolloutState> {
    this.options.traffic.service(service); // 404 for an unknown service
    const run = this.runs.get(service);
    if (run === undefined || run.phase !== 'progressing') throw new SluiceError('not_found', 404, `no rollout of ${service} in progress`);
    run.cancelTimer?.();
    run.cancelTimer = undefined;
    await this.enqueue(run, async () => {
      if (run.phase === 'progressing') await this.rollback(run, 'aborted', 'aborted by request');
    });
    return this.view(run);
  }

  /**
   * A revision's condition changed (the gateway's condition hook, wired in app/gateway-app.ts): when
   * it is the canary of a rollout in progress and it is Failed, traffic goes back to the stable
   * revision now, not at the end of the step's hold. Later changes (a restart that is Activating
   * again) do not undo it: the rollback is queued behind the transition in progress, then runs.
   */
  conditionChanged(key: RevisionKey, condition: RevisionCondition): void {
    if (condition.status !== 'Failed') return;
    for (const run of this.runs.values()) {
      if (run.phase !== 'progressing' || this.revision(run.service, run.plan.to)?.key !== key) continue;
      this.enqueue(run, () => this.canaryFailed(run, key, condition)).catch((err: unknown) =>
        this.options.logger.error({ err, service: run.service }, `rollout ${run.service}: rollback failed: ${(err as Error).message}`),
      );
    }
  }

  /** The service's current or last rollout, or null. */
  state(service: string): RolloutState | null {
    const run = this.runs.get(service);
    return run === undefined ? null : this.view(run);
  }

  /** Resolves once the service's rollout has finished the transition in progress (tests, shutdown). */
  async idle(service: string): Promise<void> {
    let chain: Promise<void> | undefined;
    while (chain !== this.runs.get(service)?.chain) {
      chain = this.runs.get(service)?.chain;
      await chain;
    }
  }

  /** Cancel every pending check. Traffic stays at the step each rollout reached. */
  close(): void {
    this.closed = true;
    for (const run of this.runs.values()) {
      run.cancelTimer?.();
      run.cancelTimer = undefined;
      run.nextCheckAt = undefined;
    }
  }

  // --- transitions (each runs inside the rollout's chain) ---

  private enqueue(run: Run, fn: () => Promise<void>): Promise<void> {
    const next = run.chain.then(fn);
    run.chain = next.catch(() => {});
    return next;
  }

  /** Apply step `index`; the last one promotes. Throws (after recording `failed`) when traffic could not change. */
  private async applyStep(run: Run, index: number): Promise<void> {
    const { plan } = run;
    const step = plan.steps[index]!;
    const traffic = stepTraffic(this.options.traffic.service(run.service).traffic, plan.from, plan.to, plan.pool, step.percent);
    try {
      await this.options.traffic.setTraffic(run.service, traffic, { reason: 'rollout' });
    } catch (err) {
      // A step to 100 % is refused when the canary is Failed: traffic still goes back from the last step.
      const failed = this.failedCanary(run.service, plan.to);
      if (failed !== undefined) return this.canaryFailed(run, failed.key, failed.condition);
      if (run.phase === 'progressing')
        this.finish(run, 'failed', `step ${index + 1} (${plan.to} at ${step.percent} %) not applied: ${(err as Error).message}`);
      throw err;
    }
    run.index = index;
    run.applied = { from: percentOf(traffic, plan.from), to: percentOf(traffic, plan.to) };
    run.percent = run.applied.to;
    this.event(
      run,
      'step',
      `${plan.to} at ${run.applied.to} %, ${plan.from} at ${run.applied.from} % (step ${index + 1} of ${plan.steps.length})`,
      run.percent,
    );
    if (index === plan.steps.length - 1) {
      this.finish(run, 'promoted', undefined, `${plan.to} promoted to ${run.percent} %`);
      return;
    }
    this.beginWindow(run);
    this.schedule(run, step.holdMs);
  }

  /** The end of a hold: judge the canary, then step, hold again or roll back. */
  private async check(run: Run): Promise<void> {
    if (run.phase !== 'progressing') return;
    run.nextCheckAt = undefined;
    const { plan } = run;
    let traffic: TrafficTarget[];
    try {
      traffic = this.options.traffic.service(run.service).traffic;
    } catch (err) {
      this.finish(run, 'failed', `service ${run.service} is gone: ${(err as Error).message}`);
      return;
    }
    const from = percentOf(traffic, plan.from);
    const to = percentOf(traffic, plan.to);
    if (run.applied !== undefined && (from !== run.applied.from || to !== run.applied.to)) {
      this.finish(
        run,
        'failed',
        `traffic changed outside the rollout (${plan.from} ${from} %, ${plan.to} ${to} %; the rollout set ${run.applied.from} % and ${run.applied.to} %); traffic left as it is`,
      );
      return;
    }
    const rev = this.revision(run.service, plan.to);
    if (rev === undefined) {
      this.finish(run, 'failed', `revision ${plan.to} is no longer configured`);
      return;
    }
    // Normally rolled back when it went Failed; this covers a change that came without a call.
    const failed = failedCondition(rev);
    if (failed !== undefined) return this.canaryFailed(run, rev.key, failed);
    const base = run.baseline.stats === rev.stats ? run.baseline.snapshot : EMPTY_SNAPSHOT;
    const stats = intervalStats(base, snapshotStats(rev.stats));
    const verdict = judge(stats, plan.analysis);
    const label = { pass: 'passed', fail: 'failed', wait: 'too few requests' }[verdict.result];
    this.event(run, 'analysis', `${plan.to} at ${run.percent} %: ${label}: ${verdict.reason}`, undefined, {
      ...stats,
      verdict: verdict.result,
    });
    if (verdict.result === 'pass') return this.applyStep(run, run.index + 1);
    if (verdict.result === 'fail') return this.rollback(run, 'rolled-back', verdict.reason);
    run.waits++;
    if (run.waits > MAX_WAIT_INTERVALS) {
      return this.rollback(run, 'failed', `not enough requests to judge ${plan.to}: ${verdict.reason} after ${run.waits} intervals`);
    }
    run.waiting = `${verdict.reason} after ${run.waits} interval${run.waits === 1 ? '' : 's'}; holding ${run.percent} % for another (at most ${MAX_WAIT_INTERVALS - run.waits + 1} more)`;
    this.event(run, 'waiting', run.waiting);
    this.schedule(run, plan.steps[run.index]!.holdMs);
  }

  /** The canary cannot start: roll back, the failure as the reason. */
  private async canaryFailed(run: Run, key: RevisionKey, condition: RevisionCondition): Promise<void> {
    if (run.phase !== 'progressing') return;
    await this.rollback(run, 'rolled-back', `canary ${failureSummary(key, condition)}`);
  }

  /** All of the pool back to the stable revision at once, then end in `phase` with `reason`. */
  private async rollback(run: Run, phase: Exclude<RolloutPhase, 'progressing' | 'promoted'>, reason: string): Promise<void> {
    const { plan } = run;
    run.cancelTimer?.();
    run.cancelTimer = undefined;
    const traffic = stepTraffic(this.options.traffic.service(run.service).traffic, plan.from, plan.to, plan.pool, 0);
    try {
      await this.options.traffic.setTraffic(run.service, traffic, { reason: phase === 'aborted' ? 'abort' : 'rollback' });
    } catch (err) {
      this.options.logger.error({ err, service: run.service }, `rollout ${run.service}: moving traffic back to ${plan.from} failed`);
      this.finish(run, 'failed', `${reason}; moving traffic back to ${plan.from} failed: ${(err as Error).message}`);
      return;
    }
    run.applied = { from: percentOf(traffic, plan.from), to: 0 };
    run.percent = 0;
    const moved = `${plan.to} at 0 %, ${plan.from} at ${run.applied.from} %`;
    this.finish(
      run,
      phase,
      reason,
      `${moved} (${phase === 'aborted' ? 'aborted' : phase === 'failed' ? 'failed' : 'rollback'}: ${reason})`,
    );
  }

  // --- bookkeeping ---

  private beginWindow(run: Run): void {
    const rev = this.revision(run.service, run.plan.to);
    run.baseline = { stats: rev?.stats, snapshot: rev === undefined ? EMPTY_SNAPSHOT : snapshotStats(rev.stats) };
    run.waits = 0;
    run.waiting = undefined;
  }

  private schedule(run: Run, ms: number): void {
    if (this.closed) return;
    run.nextCheckAt = this.now() + ms;
    run.cancelTimer = this.setTimer(() => {
      run.cancelTimer = undefined;
      this.enqueue(run, () => this.check(run)).catch((err: unknown) =>
        this.options.logger.error({ err, service: run.service }, `rollout ${run.service}: check failed: ${(err as Error).message}`),
      );
    }, ms);
  }

  /** End the rollout; `message` (default: the reason) is its last timeline event. */
  private finish(run: Run, phase: Exclude<RolloutPhase, 'progressing'>, reason: string | undefined, message?: string): void {
    run.phase = phase;
    run.reason = reason;
    run.waiting = undefined;
    run.nextCheckAt = undefined;
    run.cancelTimer?.();
    run.cancelTimer = undefined;
    run.finishedAt = this.now();
    const type: RolloutEventType = phase === 'rolled-back' ? 'rollback' : phase;
    this.event(run, type, message ?? reason ?? phase, phase === 'failed' && message === undefined ? undefined : run.percent);
  }

  private event(run: Run, type: RolloutEventType, message: string, percent?: number, analysis?: RolloutEvent['analysis']): void {
    const now = this.now();
    run.updatedAt = now;
    const event: RolloutEvent = { at: new Date(now).toISOString(), type, message };
    if (percent !== undefined) event.percent = percent;
    if (analysis !== undefined) event.analysis = analysis;
    run.timeline.push(event);
    const fields: EventFields['rollout'] = { phase: type, reason: message };
    if (run.index >= 0) fields.step = run.index + 1;
    if (percent !== undefined) fields.percent = percent;
    if (analysis !== undefined) fields.verdict = analysis.verdict;
    this.options.events?.publish({ type: 'rollout', service: run.service, revision: run.plan.to, fields });
    const log = type === 'rollback' || type === 'failed' ? 'warn' : 'info';
    this.options.logger[log]({ service: run.service, rollout: type, ...(analysis ?? {}) }, `rollout ${run.service}: ${type}: ${message}`);
  }

  private revision(service: string, name: string): RevisionRuntime | undefined {
    for (const rev of this.options.gateway.revisions()) if (rev.service === service && rev.name === name) return rev;
    return undefined;
  }

  /** The revision's key and condition when it is Failed. */
  private failedCanary(service: string, name: string): { key: RevisionKey; condition: RevisionCondition } | undefined {
    const rev = this.revision(service, name);
    const condition = rev === undefined ? undefined : failedCondition(rev);
    return condition === undefined ? undefined : { key: rev!.key, condition };
  }

  private view(run: Run): RolloutState {
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const { plan } = run;
    return {
      service: run.service,
      phase: run.phase,
      strategy: plan.strategy,
      from: plan.from,
      to: plan.to,
      step: run.index + 1,
      steps: plan.steps.map((s) => ({ percent: s.percent, holdSeconds: s.holdMs / 1000 })),
      percent: run.percent,
      analysis: {
        maxErrorRate: plan.analysis.maxErrorRate,
        maxP99Ms: plan.analysis.maxP99Ms ?? null,
        minRequests: plan.analysis.minRequests,
      },
      startedAt: iso(run.startedAt)!,
      updatedAt: iso(run.updatedAt)!,
      finishedAt: iso(run.finishedAt),
      nextCheckAt: iso(run.nextCheckAt),
      waiting: run.waiting ?? null,
      reason: run.reason ?? null,
      timeline: run.timeline.map((e) => ({ ...e, ...(e.analysis ? { analysis: { ...e.analysis } } : {}) })),
    };
  }
}

function percentOf(traffic: readonly TrafficTarget[], revision: string): number {
  return traffic.find((t) => t.revision === revision)?.percent ?? 0;
}

/** `10 %, 25 %, 50 %, 100 %, each held 30 s; error rate ≤ 0.05, at least 20 requests`. */
function describePlan(plan: RolloutPlan): string {
  if (plan.strategy === 'blue-green') return 'one flip to 100 % (pre-warmed)';
  const holds = new Set(plan.steps.slice(0, -1).map((s) => s.holdMs));
  const percents = plan.steps.map((s) => `${s.percent} %`);
  const shown = percents.length > 8 ? [...percents.slice(0, 4), '…', ...percents.slice(-2)] : percents;
  const hold =
    holds.size === 1
      ? `each held ${seconds([...holds][0]!)}`
      : `held ${seconds(plan.steps[0]!.holdMs)} then ${seconds(plan.steps[1]!.holdMs)}`;
  const a = plan.analysis;
  const p99 = a.maxP99Ms !== undefined ? `, p99 ≤ ${a.maxP99Ms} ms` : '';
  const pool = plan.pool === 100 ? '' : ` of a ${plan.pool} % pool`;
  return `${shown.join(', ')}${pool}, ${hold}; error rate ≤ ${a.maxErrorRate}${p99}, at least ${a.minRequests} requests`;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

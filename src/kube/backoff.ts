/**
 * Exponential backoff with jitter for retries against the API server (scale patches, informer
 * restarts). Delay for attempt k (0-based): base = min(maxMs, initialMs × factor^k), then a random
 * share `jitter` of it is taken off, so many gateway replicas retrying together spread out.
 * initialMs 200, factor 2, maxMs 30 000, jitter 0.5: attempt 0 waits 100–200 ms, attempt 3
 * 800–1600 ms, attempt 10 and later 15–30 s.
 */
import { SluiceError } from '../errors.js';

export interface BackoffPolicy {
  /** First delay. Default 200 ms. */
  initialMs: number;
  /** Ceiling of the delay. Default 30 000 ms. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  factor: number;
  /** Share of the delay that is random, 0..1. Default 0.5. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = { initialMs: 200, maxMs: 30_000, factor: 2, jitter: 0.5 };

/** Fill defaults and check each field; `what` names the owner in messages. */
export function resolveBackoff(partial: Partial<BackoffPolicy> | undefined, what: string): BackoffPolicy {
  const policy = { ...DEFAULT_BACKOFF, ...partial };
  const bad = (field: string, want: string, got: number): never => {
    throw new SluiceError('invalid_config', 400, `${what}: backoff.${field}: want ${want}, got ${got}`);
  };
  if (!(policy.initialMs > 0) || !Number.isFinite(policy.initialMs)) bad('initialMs', 'a number of ms > 0', policy.initialMs);
  if (!(policy.maxMs >= policy.initialMs) || !Number.isFinite(policy.maxMs))
    bad('maxMs', `a number of ms ≥ initialMs (${policy.initialMs})`, policy.maxMs);
  if (!(policy.factor >= 1) || !Number.isFinite(policy.factor)) bad('factor', 'a number ≥ 1', policy.factor);
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) bad('jitter', 'a number from 0 to 1', policy.jitter);
  return policy;
}

/** The delay before retry number `attempt` (0-based). `random` in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number = Math.random()): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.min(attempt, 64));
  return Math.round(base * (1 - policy.jitter * random));
}

/** Attempt counter over a policy: next() gives the next delay, reset() after a success. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly policy: BackoffPolicy) {}

  next(): number {
    return backoffDelay(this.policy, this.attempt++);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

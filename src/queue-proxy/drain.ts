/**
 * Graceful shutdown on SIGTERM, in Knative's order:
 *
 *  1. readiness fails at once, so the pod leaves the Service's endpoints;
 *  2. quiet period (default 30 s): new requests are still served, because gateways, kube-proxy and
 *     load balancers learn about the change at their own pace and keep sending for a while;
 *  3. stop accepting connections, then wait for in-flight and held requests (up to the drain timeout);
 *  4. done: the caller closes the admin port and exits 0.
 *
 * `GET /wait-for-drain` (the app container's preStop hook) resolves at step 4, so the kubelet sends
 * the app SIGTERM only when no request of ours is left at it.
 */

export type DrainPhase = 'serving' | 'quiet' | 'settling' | 'drained';

export interface DrainSteps {
  /** Stop taking connections and requests. */
  stopAccepting(): void;
  /** Wait for in-flight and held requests to finish, until `deadline` (ms); then cut the rest. */
  settle(deadline: number): Promise<void>;
}

export interface DrainTiming {
  /** Step 2, ms. */
  quietMs: number;
  /** Step 3, ms. */
  timeoutMs: number;
}

export class Drain {
  phase: DrainPhase = 'serving';
  /** Resolves once step 4 is reached. */
  readonly finished: Promise<void>;
  private readonly begun: Promise<void>;
  private resolveBegun!: () => void;
  private resolveFinished!: () => void;
  private running: Promise<void> | undefined;

  constructor(
    private readonly steps: DrainSteps,
    private readonly timing: DrainTiming,
    private readonly onPhase: (phase: DrainPhase) => void = () => {},
  ) {
    this.begun = new Promise((r) => (this.resolveBegun = r));
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  /** True from the first step on: readiness must fail. */
  get draining(): boolean {
    return this.phase !== 'serving';
  }

  /** Start draining (a second call joins the first); resolves when drained. */
  run(): Promise<void> {
    this.running ??= this.drain();
    return this.running;
  }

  /** True once the drain has begun; false when it has not within `ms`. */
  async waitBegun(ms: number): Promise<boolean> {
    if (this.draining) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const result = await Promise.race([this.begun.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return result;
  }

  private async drain(): Promise<void> {
    this.enter('quiet');
    this.resolveBegun();
    if (this.timing.quietMs > 0) await new Promise((r) => setTimeout(r, this.timing.quietMs));
    this.enter('settling');
    this.steps.stopAccepting();
    await this.steps.settle(Date.now() + this.timing.timeoutMs);
    this.enter('drained');
    this.resolveFinished();
  }

  private enter(phase: DrainPhase): void {
    this.phase = phase;
    this.onPhase(phase);
  }
}

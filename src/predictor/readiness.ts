/**
 * The predictor's readiness, one value both protocols read: not ready until the startup delay has
 * passed (the model is "loading"), not ready again once the server drains. REST's
 * `/v2/health/ready`, gRPC's ServerReady and ModelReady and the gRPC health service all ask it; the
 * health service's Watch is told of every change.
 */
export class Readiness {
  /** True once the server is shutting down; REST answers then carry `Connection: close`. */
  draining = false;
  private loaded: boolean;
  private readonly loading: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(ready: boolean) => void>();

  constructor(startupDelayMs: number) {
    this.loaded = startupDelayMs === 0;
    this.loading = this.loaded ? undefined : setTimeout(() => this.change(() => (this.loaded = true)), startupDelayMs);
  }

  /** Loaded and not shutting down. */
  get ready(): boolean {
    return this.loaded && !this.draining;
  }

  /** Why inference is refused while not ready. */
  notReadyReason(model: string): string {
    return `model "${model}" is not ready: ${this.draining ? 'server shutting down' : 'still loading'}`;
  }

  /** Turns not ready for good (the server is closing) and stops the loading timer. */
  drain(): void {
    clearTimeout(this.loading);
    this.change(() => (this.draining = true));
  }

  /** Calls `listener` with the new value on every change; returns the unsubscribe. */
  onChange(listener: (ready: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private change(apply: () => void): void {
    const before = this.ready;
    apply();
    if (this.ready !== before) for (const listener of [...this.listeners]) listener(this.ready);
  }
}

/**
 * The rapid-reset rule (CVE-2023-44487): an HTTP/2 client that resets more than `limit` streams
 * within any `windowMs` is sending requests only to cancel them, each of which has cost the gateway
 * a route, maybe a held slot or an upstream request. Its connection is then closed with GOAWAY
 * ENHANCE_YOUR_CALM (http2-session.ts). A pure rule: the reset times come in with `now`.
 *
 * The last `limit` reset times are kept in a ring, so the check is one comparison with the oldest:
 * limit=100, window 1000 ms → resets at t=0, 1, …, 99 are within it; the 101st at t=100 is over
 * (the one 100 resets back, at t=0, is less than 1000 ms old); at t=1000 it would not be (that one
 * is then exactly 1000 ms old, out of the window). Cost: one array store and one comparison per
 * reset; the ring (8 bytes × limit) is made at a session's first reset, so most never have one.
 */
export class ResetFlood {
  private times: Float64Array | undefined;
  /** Where the next reset time goes: also the oldest kept once the ring is full. */
  private next = 0;
  private count = 0;

  constructor(
    /** Resets allowed within any window. */
    readonly limit: number,
    readonly windowMs = 1_000,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`reset limit must be an integer ≥ 1, got ${limit}`);
  }

  /**
   * One more reset at `now` (ms, never earlier than the last); true when it makes more than
   * `limit` within the window.
   *
   * @example const f = new ResetFlood(2); f.record(0); f.record(10); f.record(20) // true: 3 resets in 20 ms
   */
  record(now: number): boolean {
    const times = (this.times ??= new Float64Array(this.limit));
    const slot = this.next;
    this.next = slot + 1 === this.limit ? 0 : slot + 1;
    if (this.count < this.limit) {
      this.count++;
      times[slot] = now;
      return false;
    }
    const oldest = times[slot]!;
    times[slot] = now;
    return now - oldest < this.windowMs;
  }
}

/**
 * Deterministic fault injection: of every request counted, answer a fraction `rate` with an error,
 * spread as evenly as possible. Request n fails when floor(n × rate) steps up at n, so
 * rate 0.5 fails requests 2, 4, 6, …; rate 0.25 fails 4, 8, …; rate 1 fails all; rate 0 none.
 * Unlike a random draw, a test can count on exactly which requests fail.
 *
 * Cost: one multiply, one floor, one compare.
 */
export class ErrorRate {
  private count = 0;
  private failed = 0;

  constructor(private readonly rate: number) {}

  /** Counts one request; true when this one should fail. */
  next(): boolean {
    if (this.rate <= 0) return false;
    this.count++;
    // The epsilon keeps 0.29 × 100 (= 28.999999999999996 in binary) from falling one short.
    const due = Math.floor(this.count * this.rate + 1e-9);
    if (due > this.failed) {
      this.failed = due;
      return true;
    }
    return false;
  }
}

/**
 * Revision choice by weight: smooth weighted round-robin (the nginx algorithm). Deterministic and
 * exact: weights 90/10 give 9 of every 10 picks to the first, interleaved, so 10,000 requests give
 * exactly 9,000/1,000. Cost per pick: one pass over the targets (two or three in practice).
 *
 * Each pick adds every weight to its running score, takes the highest score, and subtracts the
 * total from the winner. Worked example, weights a=5 b=1 c=1 (total 7):
 * scores (5,1,1)→a→(-2,1,1); (3,2,2)→a→(-4,2,2); (1,3,3)→b→(1,-4,3); (6,-3,4)→a→(-1,-3,4) …
 */
export class WeightedSplit<T> {
  private readonly items: T[];
  private readonly weights: number[];
  private readonly scores: number[];
  private readonly total: number;

  constructor(targets: ReadonlyArray<{ item: T; weight: number }>) {
    const live = targets.filter((t) => t.weight > 0);
    this.items = live.map((t) => t.item);
    this.weights = live.map((t) => t.weight);
    this.scores = live.map(() => 0);
    this.total = this.weights.reduce((a, b) => a + b, 0);
  }

  /** The next item, or undefined when every weight is 0. */
  pick(): T | undefined {
    const n = this.items.length;
    if (n <= 1) return this.items[0];
    let best = 0;
    for (let i = 0; i < n; i++) {
      this.scores[i]! += this.weights[i]!;
      if (this.scores[i]! > this.scores[best]!) best = i;
    }
    this.scores[best]! -= this.total;
    return this.items[best];
  }
}

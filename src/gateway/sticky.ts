/**
 * Sticky sessions: a client key hashes to a point in [0, 100), laid over the cumulative traffic
 * percents. Re-weighting moves only the keys in the range that changed hands: 90/10 → 80/20 moves
 * the keys in [80, 90) from the first revision to the second, nobody else.
 */

/** FNV-1a, 32 bits: fast, well spread for short keys, stable across processes and versions. */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The key's point in [0, 100). */
export function stickyPoint(key: string): number {
  return (fnv1a(key) / 0x1_0000_0000) * 100;
}

export class StickyRanges<T> {
  private readonly bounds: number[] = [];
  private readonly items: T[] = [];

  /** Targets in config order; each owns [sum of earlier percents, + its percent). */
  constructor(targets: ReadonlyArray<{ item: T; percent: number }>) {
    let upto = 0;
    for (const t of targets) {
      if (t.percent <= 0) continue;
      upto += t.percent;
      this.bounds.push(upto);
      this.items.push(t.item);
    }
  }

  /** The item owning `key`'s point, or undefined when every percent is 0. */
  pick(key: string): T | undefined {
    const point = stickyPoint(key);
    for (let i = 0; i < this.bounds.length; i++) if (point < this.bounds[i]!) return this.items[i];
    return this.items[this.items.length - 1];
  }
}

/** A cookie's value from a Cookie header, or undefined. */
export function cookieValue(header: string, name: string): string | undefined {
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) return header.slice(eq + 1, end).trim();
    start = end + 1;
  }
  return undefined;
}

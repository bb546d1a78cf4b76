/**
 * Requests waiting for a connection or a stream, oldest first: an array read from a moving head, so
 * taking the oldest costs no shift of the rest; the array is compacted once half of it (and at
 * least 1,024 slots) is behind the head. Items a caller has given up on stay in line until they
 * reach the head, where the caller skips them.
 */
export class WaitingLine<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  /** No item left (given-up ones count as items). */
  get empty(): boolean {
    return this.head === this.items.length;
  }

  /** Items in line, given-up ones included. O(1). */
  get length(): number {
    return this.items.length - this.head;
  }

  /** The oldest item, or undefined. */
  peek(): T | undefined {
    return this.items[this.head];
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** Take the oldest item. */
  shift(): T | undefined {
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Take every item, oldest first, leaving the line empty. */
  takeAll(): T[] {
    const taken = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return taken;
  }

  /** How many items `keep` is true for. */
  count(keep: (item: T) => boolean): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (keep(this.items[i]!)) n++;
    return n;
  }
}

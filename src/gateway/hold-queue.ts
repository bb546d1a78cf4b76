/**
 * A FIFO of held requests with O(1) push, shift and removal from the middle (a client that gives
 * up leaves at once and frees its slot). Intrusive doubly-linked list: the node is the handle.
 */
export interface HoldNode<T> {
  readonly value: T;
  /** Wall-clock ms when the request was held. */
  readonly heldAt: number;
  prev: HoldNode<T> | null;
  next: HoldNode<T> | null;
  /** False once shifted or removed. */
  queued: boolean;
}

export class HoldQueue<T> {
  private head: HoldNode<T> | null = null;
  private tail: HoldNode<T> | null = null;
  length = 0;

  push(value: T, now: number): HoldNode<T> {
    const node: HoldNode<T> = { value, heldAt: now, prev: this.tail, next: null, queued: true };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.length++;
    return node;
  }

  /** Hold at the head: a request that already waited its turn and must be sent again. */
  unshift(value: T, now: number): HoldNode<T> {
    const node: HoldNode<T> = { value, heldAt: now, prev: null, next: this.head, queued: true };
    if (this.head) this.head.prev = node;
    else this.tail = node;
    this.head = node;
    this.length++;
    return node;
  }

  /** The oldest node, left in place. */
  peek(): HoldNode<T> | undefined {
    return this.head ?? undefined;
  }

  shift(): HoldNode<T> | undefined {
    const node = this.head;
    if (!node) return undefined;
    this.remove(node);
    return node;
  }

  /** Remove a node wherever it is; a no-op for one already gone. */
  remove(node: HoldNode<T>): void {
    if (!node.queued) return;
    node.queued = false;
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
    this.length--;
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<HoldNode<T>> {
    for (let n = this.head; n; n = n.next) yield n;
  }
}

import { describe, expect, it } from 'vitest';
import { HoldQueue, type HoldNode } from '../src/gateway/hold-queue.js';

/**
 * One step on a queue of string values:
 * `push x` holds x, `remove x` removes x's node (wherever it is, or gone already), `shift` takes the head.
 */
type Step = `push ${string}` | `remove ${string}` | 'shift';

interface QueueRow {
  label: string;
  steps: Step[];
  /** Values shift returned, in order; undefined for a shift of an empty queue. */
  wantShifted: Array<string | undefined>;
  /** Values left, in iteration order (oldest first). */
  wantRemaining: string[];
}

const rows: QueueRow[] = [
  { label: 'empty', steps: [], wantShifted: [], wantRemaining: [] },
  { label: 'shift of an empty queue', steps: ['shift'], wantShifted: [undefined], wantRemaining: [] },
  { label: 'iteration is oldest first', steps: ['push a', 'push b', 'push c'], wantShifted: [], wantRemaining: ['a', 'b', 'c'] },
  {
    label: 'shift is FIFO',
    steps: ['push a', 'push b', 'push c', 'shift', 'shift', 'shift', 'shift'],
    wantShifted: ['a', 'b', 'c', undefined],
    wantRemaining: [],
  },
  {
    label: 'push after shifting to empty',
    steps: ['push a', 'shift', 'push b', 'push c', 'shift'],
    wantShifted: ['a', 'b'],
    wantRemaining: ['c'],
  },
  { label: 'remove head', steps: ['push a', 'push b', 'push c', 'remove a'], wantShifted: [], wantRemaining: ['b', 'c'] },
  { label: 'remove middle', steps: ['push a', 'push b', 'push c', 'remove b'], wantShifted: [], wantRemaining: ['a', 'c'] },
  { label: 'remove tail', steps: ['push a', 'push b', 'push c', 'remove c'], wantShifted: [], wantRemaining: ['a', 'b'] },
  { label: 'remove the only one', steps: ['push a', 'remove a'], wantShifted: [], wantRemaining: [] },
  {
    label: 'remove all, tail first',
    steps: ['push a', 'push b', 'push c', 'remove c', 'remove b', 'remove a'],
    wantShifted: [],
    wantRemaining: [],
  },
  {
    label: 'shift after removing the head',
    steps: ['push a', 'push b', 'push c', 'remove a', 'shift'],
    wantShifted: ['b'],
    wantRemaining: ['c'],
  },
  {
    label: 'push after removing the tail appends after the new tail',
    steps: ['push a', 'push b', 'remove b', 'push c'],
    wantShifted: [],
    wantRemaining: ['a', 'c'],
  },
  {
    label: 'push after removing everything',
    steps: ['push a', 'push b', 'remove a', 'remove b', 'push c', 'push d'],
    wantShifted: [],
    wantRemaining: ['c', 'd'],
  },
  {
    label: 'removing twice is a no-op',
    steps: ['push a', 'push b', 'push c', 'remove b', 'remove b'],
    wantShifted: [],
    wantRemaining: ['a', 'c'],
  },
  {
    label: 'removing the last one twice is a no-op',
    steps: ['push a', 'remove a', 'remove a', 'push b'],
    wantShifted: [],
    wantRemaining: ['b'],
  },
  {
    label: 'removing a shifted node is a no-op',
    steps: ['push a', 'push b', 'shift', 'remove a'],
    wantShifted: ['a'],
    wantRemaining: ['b'],
  },
  {
    label: 'interleaved pushes, removals and shifts',
    steps: ['push a', 'push b', 'push c', 'push d', 'remove c', 'shift', 'push e', 'remove e', 'push f', 'shift'],
    wantShifted: ['a', 'b'],
    wantRemaining: ['d', 'f'],
  },
];

describe('HoldQueue', () => {
  it.each(rows)('$label', ({ steps, wantShifted, wantRemaining }) => {
    const q = new HoldQueue<string>();
    const nodes = new Map<string, HoldNode<string>>();
    const shifted: Array<string | undefined> = [];
    let now = 1_000;
    for (const step of steps) {
      const [op, value = ''] = step.split(' ') as [string, string?];
      if (op === 'push') nodes.set(value, q.push(value, now++));
      else if (op === 'remove') q.remove(nodes.get(value)!);
      else shifted.push(q.shift()?.value);
    }

    expect(shifted).toEqual(wantShifted);
    const remaining = [...q];
    expect(remaining.map((n) => n.value)).toEqual(wantRemaining);
    expect(q.length).toBe(wantRemaining.length);
    // Every node still held says so, every node that left says so.
    for (const [value, node] of nodes) expect(node.queued).toBe(wantRemaining.includes(value));
    // Held times are the push times, so the queue stays ordered by heldAt.
    const heldAt = remaining.map((n) => n.heldAt);
    expect(heldAt).toEqual([...heldAt].sort((a, b) => a - b));
    // Shifting drains exactly what iteration showed.
    const drained: string[] = [];
    for (let n = q.shift(); n; n = q.shift()) drained.push(n.value);
    expect(drained).toEqual(wantRemaining);
    expect(q.length).toBe(0);
  });

  it('records the hold time given to push', () => {
    const q = new HoldQueue<string>();
    expect(q.push('a', 12_345).heldAt).toBe(12_345);
  });
});

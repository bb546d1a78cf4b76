import { describe, expect, it } from 'vitest';
import { WaitingLine } from '../src/upstream/waiting-line.js';

describe('WaitingLine', () => {
  it('gives items back oldest first, and is empty once all are taken', () => {
    const line = new WaitingLine<number>();
    expect([line.empty, line.peek(), line.shift()]).toEqual([true, undefined, undefined]);
    for (const n of [1, 2, 3]) line.push(n);
    expect([line.empty, line.peek()]).toEqual([false, 1]);
    expect([line.shift(), line.shift()]).toEqual([1, 2]);
    line.push(4);
    expect([line.shift(), line.shift(), line.empty]).toEqual([3, 4, true]);
  });

  it('takeAll empties the line, oldest first, and count counts what is left', () => {
    const line = new WaitingLine<{ id: number; done: boolean }>();
    for (let id = 0; id < 5; id++) line.push({ id, done: id % 2 === 1 });
    line.shift();
    expect(line.count((item) => !item.done)).toBe(2);
    expect(line.takeAll().map((item) => item.id)).toEqual([1, 2, 3, 4]);
    expect([line.empty, line.count(() => true)]).toEqual([true, 0]);
  });

  it('keeps order across the compaction of a long line', () => {
    const line = new WaitingLine<number>();
    for (let n = 0; n < 5000; n++) line.push(n);
    const taken: number[] = [];
    for (let n = 0; n < 3000; n++) taken.push(line.shift()!);
    for (let n = 5000; n < 5010; n++) line.push(n);
    expect(line.count(() => true)).toBe(2010);
    expect(line.peek()).toBe(3000);
    const rest = line.takeAll();
    expect(taken.concat(rest)).toEqual(Array.from({ length: 5010 }, (_, n) => n));
  });
});

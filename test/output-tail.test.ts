import { describe, expect, it } from 'vitest';
import { OutputTail } from '../src/scaler/output-tail.js';

describe('OutputTail', () => {
  it.each([
    ['keeps every line under the bound', 100, ['a', 'b', 'c'], 'a\nb\nc'],
    ['skips blank lines', 100, ['a', '', '   ', 'b'], 'a\nb'],
    ['drops the oldest lines past the bound', 7, ['aaa', 'bbb', 'ccc'], 'bbb\nccc'],
    ['keeps the end of one line longer than the bound', 4, ['abcdefgh'], 'efgh'],
    ['a long last line pushes out the rest', 4, ['ab', 'abcdefgh'], 'efgh'],
    ['nothing written', 10, [], ''],
  ])('%s', (_name, limit, lines, text) => {
    const tail = new OutputTail(limit);
    for (const line of lines) tail.push(line);
    expect(tail.text()).toBe(text);
    expect(Buffer.byteLength(tail.text())).toBeLessThanOrEqual(limit);
  });

  it('counts bytes, not characters, and never splits a character', () => {
    const tail = new OutputTail(5);
    tail.push('ééé'); // 6 bytes
    expect(tail.text()).toBe('éé');
  });
});

/** The config's `http2:` block (src/config/schema.ts): its defaults, and refusals that name the field. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';

describe('http2: block', () => {
  it('has defaults good for an edge when absent', () => {
    expect(parseConfigText('services: []').http2).toEqual({
      h2c: true,
      maxConcurrentStreams: 250,
      maxHeaderListSize: 16_384,
      idleTimeoutSeconds: 65,
      maxResetsPerSecond: 100,
      websockets: true,
    });
  });

  it('takes each limit, the rest staying at their defaults', () => {
    const http2 = parseConfigText('http2:\n  maxConcurrentStreams: 100\n  maxResetsPerSecond: 20\n  h2c: false\n').http2;
    expect(http2).toMatchObject({ h2c: false, maxConcurrentStreams: 100, maxResetsPerSecond: 20, idleTimeoutSeconds: 65 });
  });

  it.each([
    ['http2:\n  maxConcurrentStreams: 0', 'http2.maxConcurrentStreams'],
    ['http2:\n  maxHeaderListSize: 100', 'http2.maxHeaderListSize'],
    ['http2:\n  idleTimeoutSeconds: 0', 'http2.idleTimeoutSeconds'],
    ['http2:\n  maxResetsPerSecond: 1.5', 'http2.maxResetsPerSecond'],
    ['http2:\n  pushEnabled: true', 'http2'],
    ['http2:\n  websockets: yes please', 'http2.websockets'],
  ])('refuses %j, naming %s', (text, path) => {
    let problems: string[] = [];
    try {
      parseConfigText(text);
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems.some((p) => p.startsWith(`${path}:`))).toBe(true);
  });
});

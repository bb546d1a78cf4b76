/** The h2c bench rows' pure parts: h2load's closing counts, and their options. */
import { describe, expect, it } from 'vitest';
import { parseH2loadCounts } from '../loadtest/h2load.js';
import { parseBenchArgs, type BenchOptions } from '../loadtest/options.js';
import { nginxConfig } from '../loadtest/nginx.js';

const OUTPUT = `finished in 4.01s, 1000.00 req/s, 361.42KB/s
requests: 3000 total, 3000 started, 2990 done, 2988 succeeded, 2 failed, 1 errored, 3 timeout
status codes: 2985 2xx, 1 3xx, 2 4xx, 0 5xx
traffic: 1.06MB (1110276) total, 39.59KB (40536) headers (space savings 90.69%), 1.30MB (1366632) data`;

describe('parseH2loadCounts', () => {
  it('reads the 2xx, the other statuses and the failures', () => {
    expect(parseH2loadCounts(OUTPUT)).toEqual({ ok: 2985, non2xx: 3, errors: 6 });
  });

  it('is undefined without the summary (h2load failed to start)', () => {
    expect(parseH2loadCounts('connect to 127.0.0.1 port 1 failed')).toBeUndefined();
  });
});

describe('bench options: the h2c runs', () => {
  const parse = (argv: string[]): BenchOptions => {
    const options = parseBenchArgs(argv);
    if (options === 'help') throw new Error('unexpected help');
    return options;
  };

  it('defaults to 4 connections of up to 10 streams, h2c on', () => {
    expect(parse([])).toMatchObject({ h2Clients: 4, h2Streams: 10, noH2c: false });
  });

  it('takes --h2-clients, --h2-streams and --no-h2c', () => {
    expect(parse(['--h2-clients', '8', '--h2-streams', '100', '--no-h2c'])).toMatchObject({ h2Clients: 8, h2Streams: 100, noH2c: true });
  });

  it('rejects a count below 1 naming the flag', () => {
    expect(() => parseBenchArgs(['--h2-streams', '0'])).toThrow(/^--h2-streams: want an integer ≥ 1/);
  });
});

describe('nginxConfig', () => {
  it('listens for h2c with prior knowledge on a second port, to the same upstream', () => {
    const conf = nginxConfig('/tmp/x', 8001, new URL('http://127.0.0.1:9000'), { h2cPort: 8002 });
    expect(conf).toContain('listen 127.0.0.1:8001;');
    expect(conf).toContain('listen 127.0.0.1:8002 http2;');
    expect(conf.match(/proxy_pass http:\/\/predictor;/g)).toHaveLength(2);
  });
});

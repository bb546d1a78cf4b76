import { describe, expect, it } from 'vitest';
import { inferRequest, parseGatewayError, parseResponseHead, type Outcome } from '../loadtest/burst-client.js';
import { parseBurstArgs, type BurstOptions } from '../loadtest/burst-options.js';
import {
  bytesPerConnection,
  bytesPerHeld,
  marginalBytesPerHeld,
  bytesPerRequestOnly,
  outcomeTable,
  summarizeBurst,
  type BurstSummary,
  type MemoryFigures,
  type ReadyReplica,
} from '../loadtest/burst-summary.js';

describe('burst client: the response head', () => {
  it.each([
    {
      label: 'a predictor 200 after a cold start',
      head: 'HTTP/1.1 200 OK\r\npredictor-pid: 4242\r\nsluice-cold-start: 812\r\ncontent-length: 40',
      want: { status: 200, pid: 4242, heldMs: 812, contentLength: 40 },
    },
    {
      label: 'header names in any case, spaces around values',
      head: 'HTTP/1.1 200 OK\r\nPredictor-Pid:  7 \r\nSluice-Cold-Start:3',
      want: { status: 200, pid: 7, heldMs: 3 },
    },
    {
      label: 'a gateway error without either header',
      head: 'HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\ncontent-length: 120',
      want: { status: 502, contentLength: 120 },
    },
    { label: 'HTTP/1.0 and no reason phrase', head: 'HTTP/1.0 503', want: { status: 503 } },
    {
      label: 'an empty or non-numeric value is ignored',
      head: 'HTTP/1.1 200 OK\r\npredictor-pid:\r\nsluice-cold-start: soon',
      want: { status: 200 },
    },
    { label: 'not a status line', head: 'GET / HTTP/1.1\r\nhost: x', want: undefined },
    { label: 'a three-digit status only', head: 'HTTP/1.1 2000 OK', want: undefined },
  ])('$label', ({ head, want }) => {
    expect(parseResponseHead(head)).toEqual(want);
  });

  it.each([
    {
      label: 'the gateway error shape',
      body: '{"error":{"code":"upstream_unreachable","message":"endpoint unreachable: read ECONNRESET","service":"iris"}}',
      want: { code: 'upstream_unreachable', message: 'endpoint unreachable: read ECONNRESET' },
    },
    { label: 'no message', body: '{"error":{"code":"queue_full"}}', want: { code: 'queue_full', message: '' } },
    { label: 'a predictor V2 error', body: '{"error":"bad input"}', want: undefined },
    { label: 'a cut body', body: '{"error":{"code":"upstr', want: undefined },
  ])('gateway error body: $label', ({ body, want }) => {
    expect(parseGatewayError(body)).toEqual(want);
  });

  it('writes one literal request with Host, Content-Type and Content-Length', () => {
    expect(inferRequest('127.0.0.1:8080', '/v2/models/iris/infer', '{"a":1}').toString('latin1')).toBe(
      'POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}',
    );
  });
});

describe('burst summary', () => {
  const ok = (pid: number, atMs: number, heldMs = 900): Outcome => ({ status: 200, pid, heldMs, atMs });
  const unreachable = (atMs: number): Outcome => ({
    status: 502,
    atMs,
    gatewayError: { code: 'upstream_unreachable', message: 'endpoint unreachable: read ECONNRESET' },
  });
  const ready: ReadyReplica[] = [
    { pid: 11, readyAtMs: 1000 },
    { pid: 12, readyAtMs: 1500 },
  ];

  it.each<{ label: string; outcomes: Outcome[]; ready: ReadyReplica[]; want: Partial<BurstSummary> }>([
    {
      label: 'all answered by the first replica, the second idle',
      outcomes: [ok(11, 1200), ok(11, 1300), ok(11, 1250), ok(11, 1400)],
      ready,
      want: {
        answered: 4,
        ok: 4,
        failed: 0,
        byStatus: { '200': 4 },
        byStatusCode: { '200': 4 },
        firstAnswerMs: 1200,
        lastAnswerMs: 1400,
        lastOkMs: 1400,
        firstReadyMs: 1000,
        firstReadyToLastAnswerMs: 400,
        // 4 requests over 2 replicas → even share 2: 4 answered = 2×, 0 answered = 0×.
        evenShare: 2,
        maxVsEven: 2,
        minVsEven: 0,
        replicas: [
          { pid: 11, readyAtMs: 1000, answered: 4, vsEven: 2 },
          { pid: 12, readyAtMs: 1500, answered: 0, vsEven: 0 },
        ],
        held: { count: 4, minMs: 900, medianMs: 900, maxMs: 900 },
      },
    },
    {
      label: 'losses: a 502 with its code, a reset, a timeout, a close, a connect failure',
      outcomes: [
        ok(11, 1200, 800),
        ok(12, 1600, 1000),
        unreachable(1700),
        { error: 'reset', code: 'ECONNRESET', atMs: 1800 },
        { error: 'timeout' },
        { error: 'closed', atMs: 10 },
        { error: 'connect', code: 'EMFILE' },
        ok(12, 1650, 1100),
      ],
      ready,
      want: {
        answered: 4,
        ok: 3,
        failed: 5,
        byStatus: { '200': 3, '502': 1 },
        byStatusCode: { '200': 3, '502 upstream_unreachable': 1 },
        byError: { reset: 1, timeout: 1, closed: 1, connect: 1, other: 0 },
        errorCodes: { ECONNRESET: 1, EMFILE: 1 },
        errorMessages: [{ message: 'endpoint unreachable: read ECONNRESET', count: 1 }],
        // The last answer is the 502 at 1700 ms; the last 200 came at 1650.
        lastAnswerMs: 1700,
        lastOkMs: 1650,
        firstReadyToLastAnswerMs: 700,
        // 8 requests over 2 replicas → even share 4: 1 answered = 0.25×, 2 = 0.5×.
        evenShare: 4,
        maxVsEven: 0.5,
        minVsEven: 0.25,
        held: { count: 3, minMs: 800, medianMs: 1000, maxMs: 1100 },
      },
    },
    {
      label: 'an answering pid the log never called ready is listed last',
      outcomes: [ok(13, 1200), ok(11, 1100)],
      ready: [{ pid: 11, readyAtMs: 1000 }],
      want: {
        replicas: [
          { pid: 11, readyAtMs: 1000, answered: 1, vsEven: 1 },
          { pid: 13, readyAtMs: null, answered: 1, vsEven: 1 },
        ],
      },
    },
    {
      label: 'nothing ready, nothing answered',
      outcomes: [{ error: 'timeout' }, { error: 'timeout' }],
      ready: [],
      want: {
        answered: 0,
        ok: 0,
        failed: 2,
        firstReadyMs: null,
        lastAnswerMs: null,
        firstReadyToLastAnswerMs: null,
        evenShare: null,
        maxVsEven: null,
        replicas: [],
      },
    },
  ])('$label', ({ outcomes, ready, want }) => {
    expect(summarizeBurst(outcomes.length, outcomes, ready)).toMatchObject(want);
  });

  it('tables each status, gateway code and error kind with its share', () => {
    const s = summarizeBurst(
      4,
      [
        { status: 200, atMs: 1 },
        { status: 200, atMs: 2 },
        { status: 502, atMs: 3, gatewayError: { code: 'upstream_unreachable', message: '' } },
        { error: 'reset' },
      ],
      [],
    );
    expect(outcomeTable(s).split('\n')).toEqual([
      'outcome                        requests      %',
      '-----------------------------  --------  -----',
      'HTTP 200                              2   50.0',
      'HTTP 502 upstream_unreachable         1   25.0',
      'connection reset                      1   25.0',
      'total                                 4  100.0',
    ]);
  });
});

describe('burst memory per held request', () => {
  const MB = 2 ** 20;
  it.each([
    // 142 MB idle, 177 MB with 10 000 connections, 212 MB with 10 000 held → 7.17 KB = 3.58 + 3.58.
    {
      label: 'all held',
      m: { before: 142 * MB, connected: 177 * MB, allHeld: 212 * MB, heldCount: 10_000 },
      connections: 10_000,
      want: [(70 * MB) / 10_000, (35 * MB) / 10_000, (35 * MB) / 10_000],
    },
    {
      label: 'fewer held than connected: the request part divides by those held',
      m: { before: 100 * MB, connected: 110 * MB, allHeld: 115 * MB, heldCount: 500 },
      connections: 1000,
      want: [(15 * MB) / 500, (10 * MB) / 1000, (5 * MB) / 500],
    },
    {
      label: 'no reading with requests held',
      m: { before: 100 * MB, connected: 110 * MB, allHeld: null, heldCount: 0 },
      connections: 1000,
      want: [null, (10 * MB) / 1000, null],
    },
    {
      label: 'no idle reading',
      m: { before: null, connected: 110 * MB, allHeld: 120 * MB, heldCount: 10 },
      connections: 10,
      want: [null, null, MB],
    },
  ])('$label', ({ m, connections, want }) => {
    const figures: MemoryFigures = { ...m, peak: null, after: null };
    expect([bytesPerHeld(figures), bytesPerConnection(figures, connections), bytesPerRequestOnly(figures)]).toEqual(want);
  });
});

describe('marginalBytesPerHeld: what one more held request costs', () => {
  const MB = 2 ** 20;
  const base = { before: 58 * MB, connected: 96 * MB, allHeld: 120 * MB, heldCount: 10_000, peak: null, after: null };
  it.each([
    {
      label: 'the slope over the second half of the connections plus that of the held requests',
      m: { ...base, halfConnected: { count: 5000, rss: 69 * MB }, halfHeld: { count: 5000, rss: 108 * MB } },
      want: (27 * MB) / 5000 + (12 * MB) / 5000,
    },
    {
      label: 'no reading at half the connections',
      m: { ...base, halfConnected: null, halfHeld: { count: 5000, rss: 108 * MB } },
      want: null,
    },
    { label: 'no reading at half held', m: { ...base, halfConnected: { count: 5000, rss: 69 * MB }, halfHeld: null }, want: null },
    {
      label: 'a half reading that was already all of them',
      m: { ...base, halfConnected: { count: 10_000, rss: 96 * MB }, halfHeld: { count: 5000, rss: 108 * MB } },
      want: null,
    },
  ])('$label', ({ m, want }) => {
    expect(marginalBytesPerHeld(m, 10_000)).toBe(want);
  });
});

describe('burst options', () => {
  const parse = (argv: string[]): BurstOptions => {
    const options = parseBurstArgs(argv);
    if (options === 'help') throw new Error('unexpected help');
    return options;
  };

  it('defaults to 10 000 requests, max-scale 4, 200 ms latency, 1000 ms startup delay, 60 s', () => {
    expect(parse([])).toEqual({ requests: 10_000, maxScale: 4, latencyMs: 200, startupDelayMs: 1000, timeoutS: 60 });
  });

  it.each([
    [['--requests', '2000'], { requests: 2000 }],
    [['--max-scale', '1', '--latency', '0', '--startup-delay', '0'], { maxScale: 1, latencyMs: 0, startupDelayMs: 0 }],
    [['--timeout=300'], { timeoutS: 300 }],
  ])('accepts %j', (argv, want) => {
    expect(parse(argv)).toMatchObject(want);
  });

  it.each([
    [['--requests', '0'], /^--requests: want an integer from 1 to 1000000, got "0"$/],
    [['--requests', '1e3.5'], /^--requests: /],
    [['--max-scale', ''], /^--max-scale: /],
    [['--timeout', '4'], /^--timeout: want an integer from 5 to 3600/],
    [['--latency=-1'], /^--latency: /],
    [['--connections', '5'], /connections/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseBurstArgs(argv)).toThrow(message);
  });

  it('returns help for -h', () => {
    expect(parseBurstArgs(['-h'])).toBe('help');
  });
});

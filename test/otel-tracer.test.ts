/**
 * The OpenTelemetry side of the tracing port without a gateway: what a client's trace headers become
 * on the way to the endpoint (W3C Trace Context: a valid parent is kept, anything else starts a new
 * trace and never fails the request), and the flat-header getter and setter it uses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTracing } from '../src/config/tracing.js';
import { deleteField, flatGetter, flatSetter } from '../src/tracing/flat-headers.js';
import { OtelRequestTracer } from '../src/tracing/otel-tracer.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

// Nothing listens on port 9 of 127.0.0.1: spans are dropped at stop, which is all this test needs.
const settings = resolveTracing({ enabled: true, endpoint: 'http://127.0.0.1:9/v1/traces' }, {}).settings!;
const tracer = new OtelRequestTracer(settings);
afterAll(() => tracer.shutdown().catch(() => undefined));

interface Row {
  label: string;
  headers: string[];
  /** The trace id the endpoint is told; undefined for a fresh one. */
  wantTrace: string | undefined;
  wantFlags: '00' | '01';
  wantTracestate: string | undefined;
}

const ROWS: Row[] = [
  {
    label: 'a sampled parent: same trace, sampled',
    headers: ['traceparent', `00-${TRACE}-${SPAN}-01`],
    wantTrace: TRACE,
    wantFlags: '01',
    wantTracestate: undefined,
  },
  {
    label: 'a parent that was not sampled: same trace, not sampled (parent-based)',
    headers: ['traceparent', `00-${TRACE}-${SPAN}-00`],
    wantTrace: TRACE,
    wantFlags: '00',
    wantTracestate: undefined,
  },
  {
    label: 'tracestate rides along with its traceparent',
    headers: ['TraceParent', `00-${TRACE}-${SPAN}-01`, 'tracestate', 'a=1,b=2'],
    wantTrace: TRACE,
    wantFlags: '01',
    wantTracestate: 'a=1,b=2',
  },
  { label: 'no traceparent: a new, sampled trace', headers: [], wantTrace: undefined, wantFlags: '01', wantTracestate: undefined },
  {
    label: 'an all-zero trace id is invalid: a new trace, and its tracestate is dropped',
    headers: ['traceparent', `00-${'0'.repeat(32)}-${SPAN}-01`, 'tracestate', 'a=1'],
    wantTrace: undefined,
    wantFlags: '01',
    wantTracestate: undefined,
  },
  {
    label: 'version ff is invalid',
    headers: ['traceparent', `ff-${TRACE}-${SPAN}-01`],
    wantTrace: undefined,
    wantFlags: '01',
    wantTracestate: undefined,
  },
  { label: 'garbage', headers: ['traceparent', 'x'.repeat(8000)], wantTrace: undefined, wantFlags: '01', wantTracestate: undefined },
  {
    label: 'two traceparents: the first is the parent, and only one goes on',
    headers: ['traceparent', `00-${TRACE}-${SPAN}-01`, 'traceparent', `00-${'1'.repeat(32)}-${SPAN}-01`],
    wantTrace: TRACE,
    wantFlags: '01',
    wantTracestate: undefined,
  },
];

describe('OtelRequestTracer: the endpoint is told the gateway span', () => {
  it.each(ROWS)('$label', (row) => {
    const trace = tracer.begin({ method: 'GET', path: '/', service: 's', revision: 'r', startedAt: Date.now(), rawHeaders: row.headers });
    const out = [...row.headers, 'x-forwarded-for', '127.0.0.1'];
    trace.sending('127.0.0.1:8080', out);
    trace.end(200, -1);
    const values = (name: string) => out.filter((_, i) => i % 2 === 0 && out[i]!.toLowerCase() === name).length;
    expect(values('traceparent')).toBe(1);
    const m = TRACEPARENT.exec(flatGetter.get(out, 'traceparent') as string)!;
    expect(m).not.toBeNull();
    if (row.wantTrace === undefined) expect(m[1]).not.toBe(TRACE);
    else expect(m[1]).toBe(row.wantTrace);
    expect(m[2]).not.toBe(SPAN);
    expect(m[3]).toBe(row.wantFlags);
    expect(flatGetter.get(out, 'tracestate')).toBe(row.wantTracestate);
    expect(flatGetter.get(out, 'x-forwarded-for')).toBe('127.0.0.1');
  });
});

describe('flat headers', () => {
  it.each([
    { label: 'replaces the first, case-insensitively', before: ['A', '1', 'TraceParent', 'old'], want: ['A', '1', 'TraceParent', 'new'] },
    { label: 'removes the others', before: ['traceparent', 'x', 'b', '2', 'traceparent', 'y'], want: ['traceparent', 'new', 'b', '2'] },
    { label: 'appends when absent', before: ['b', '2'], want: ['b', '2', 'traceparent', 'new'] },
  ])('set: $label', ({ before, want }) => {
    const carrier = [...before];
    flatSetter.set(carrier, 'traceparent', 'new');
    expect(carrier).toEqual(want);
  });

  it('get takes the first value; keys are lowercase; delete removes every field of the name', () => {
    const carrier = ['TraceState', 'a=1', 'Other', 'x', 'tracestate', 'b=2'];
    expect(flatGetter.get(carrier, 'tracestate')).toBe('a=1');
    expect(flatGetter.get(carrier, 'missing')).toBeUndefined();
    expect(flatGetter.keys(carrier)).toEqual(['tracestate', 'other', 'tracestate']);
    deleteField(carrier, 'tracestate');
    expect(carrier).toEqual(['Other', 'x']);
  });
});

import { describe, expect, it } from 'vitest';
import { burstReplicas } from '../src/autoscaler/loop.js';
import { releaseLimit } from '../src/gateway/activator.js';
import {
  ejectsEndpoint,
  isUnreachable,
  MAX_ATTEMPTS,
  retryTarget,
  type AttemptFailure,
  type RetryTarget,
} from '../src/gateway/retry-rule.js';

const base: AttemptFailure = { progress: 'sent', reused: false, code: 'ECONNRESET', method: 'GET', replayable: true, attempts: 1 };

interface RetryRow {
  label: string;
  failure: Partial<AttemptFailure>;
  want: RetryTarget;
  wantEject: boolean;
}

const rows: RetryRow[] = [
  // Nothing reached the endpoint: always again, anywhere.
  {
    label: 'connection refused',
    failure: { progress: 'unsent', code: 'ECONNREFUSED', method: 'POST', replayable: true },
    want: 'any',
    wantEject: true,
  },
  {
    label: 'connect timeout',
    failure: { progress: 'unsent', code: 'UPSTREAM_CONNECT_TIMEOUT', method: 'POST' },
    want: 'any',
    wantEject: true,
  },
  { label: 'reset while connecting', failure: { progress: 'unsent', code: 'ECONNRESET', method: 'POST' }, want: 'any', wantEject: true },
  {
    label: 'pool closed while waiting for a connection (the endpoint left)',
    failure: { progress: 'unsent', code: 'UPSTREAM_ABORTED', method: 'POST' },
    want: 'any',
    wantEject: false,
  },
  {
    label: 'unsent, even with a stream body that cannot be replayed otherwise',
    failure: { progress: 'unsent', code: 'ECONNREFUSED', method: 'POST', replayable: false },
    want: 'any',
    wantEject: true,
  },
  // The head went out but none of the body: the endpoint has not seen the content.
  {
    label: 'head sent, body not yet, fresh connection: another endpoint',
    failure: { progress: 'head', code: 'ECONNRESET', method: 'POST' },
    want: 'other',
    wantEject: true,
  },
  {
    label: 'head sent, body not yet, reused connection: any endpoint',
    failure: { progress: 'head', code: 'UPSTREAM_CLOSED', method: 'POST', reused: true },
    want: 'any',
    wantEject: false,
  },
  // The request went out, no response byte.
  {
    label: 'GET reset on a fresh connection: another endpoint, never the same',
    failure: { progress: 'sent', code: 'ECONNRESET', method: 'GET' },
    want: 'other',
    wantEject: true,
  },
  {
    label: 'GET closed on a reused connection (keep-alive race): any endpoint',
    failure: { progress: 'sent', code: 'UPSTREAM_CLOSED', method: 'GET', reused: true },
    want: 'any',
    wantEject: false,
  },
  {
    label: 'PUT with its body held whole: another endpoint',
    failure: { progress: 'sent', code: 'ECONNRESET', method: 'PUT' },
    want: 'other',
    wantEject: true,
  },
  {
    label: 'PUT whose streamed body was partly read: not again',
    failure: { progress: 'sent', code: 'ECONNRESET', method: 'PUT', replayable: false },
    want: 'none',
    wantEject: true,
  },
  {
    label: 'POST sent on a fresh connection: not again (it may have been delivered)',
    failure: { progress: 'sent', code: 'ECONNRESET', method: 'POST' },
    want: 'none',
    wantEject: true,
  },
  {
    label: 'POST sent on a reused connection: not again either',
    failure: { progress: 'sent', code: 'UPSTREAM_CLOSED', method: 'POST', reused: true },
    want: 'none',
    wantEject: false,
  },
  { label: 'PATCH is not idempotent', failure: { progress: 'sent', code: 'ECONNRESET', method: 'PATCH' }, want: 'none', wantEject: true },
  { label: 'DELETE is idempotent', failure: { progress: 'sent', code: 'EPIPE', method: 'DELETE' }, want: 'other', wantEject: true },
  {
    label: 'HEAD, OPTIONS and TRACE are idempotent',
    failure: { progress: 'sent', code: 'UPSTREAM_CLOSED', method: 'OPTIONS' },
    want: 'other',
    wantEject: true,
  },
  // Never again.
  { label: 'a response had begun', failure: { progress: 'answering', code: 'ECONNRESET', method: 'GET' }, want: 'none', wantEject: false },
  {
    label: 'a malformed response',
    failure: { progress: 'answering', code: 'UPSTREAM_BAD_RESPONSE', method: 'GET' },
    want: 'none',
    wantEject: false,
  },
  {
    label: 'no response within the timeout',
    failure: { progress: 'sent', code: 'UPSTREAM_TIMEOUT', method: 'GET' },
    want: 'none',
    wantEject: false,
  },
  {
    label: 'no connection came free within the timeout',
    failure: { progress: 'unsent', code: 'UPSTREAM_TIMEOUT', method: 'GET' },
    want: 'none',
    wantEject: false,
  },
  {
    label: 'the last attempt',
    failure: { progress: 'unsent', code: 'ECONNREFUSED', attempts: MAX_ATTEMPTS },
    want: 'none',
    wantEject: true,
  },
  {
    label: 'one before the last attempt',
    failure: { progress: 'unsent', code: 'ECONNREFUSED', attempts: MAX_ATTEMPTS - 1 },
    want: 'any',
    wantEject: true,
  },
];

describe('retryTarget and ejectsEndpoint', () => {
  it.each(rows)('$label', ({ failure, want, wantEject }) => {
    const f = { ...base, ...failure };
    expect(retryTarget(f)).toBe(want);
    expect(ejectsEndpoint(f)).toBe(wantEject);
  });
});

describe('isUnreachable', () => {
  it.each([
    { label: 'unsent', progress: 'unsent' as const, code: 'UPSTREAM_ABORTED', want: true },
    { label: 'reset', progress: 'sent' as const, code: 'ECONNRESET', want: true },
    { label: 'closed before the response', progress: 'sent' as const, code: 'UPSTREAM_CLOSED', want: false },
    { label: 'malformed response', progress: 'answering' as const, code: 'UPSTREAM_BAD_RESPONSE', want: false },
  ])('$label', ({ progress, code, want }) => {
    expect(isUnreachable({ progress, code })).toBe(want);
  });
});

describe('releaseLimit: a burst spread over the replicas being started', () => {
  it.each([
    { label: 'cc 0, nothing starting: no limit', cc: 0, desired: 4, ready: 4, demand: 2000, target: 70, want: 0 },
    { label: 'cc 0, scaling down: no limit', cc: 0, desired: 2, ready: 4, demand: 2000, target: 70, want: 0 },
    { label: 'cc 0, 3 of 4 starting: a quarter each', cc: 0, desired: 4, ready: 1, demand: 2000, target: 70, want: 500 },
    { label: 'cc 0, rounded up', cc: 0, desired: 3, ready: 1, demand: 1000, target: 70, want: 334 },
    { label: 'cc 0, a small burst: at least the target', cc: 0, desired: 4, ready: 1, demand: 10, target: 70, want: 70 },
    { label: 'cc 0, a fractional target rounds up', cc: 0, desired: 10, ready: 1, demand: 5, target: 0.7, want: 1 },
    { label: 'cc 10, nothing starting: cc', cc: 10, desired: 4, ready: 4, demand: 2000, target: 7, want: 10 },
    { label: 'cc 10, starting: cc is smaller than the share', cc: 10, desired: 4, ready: 1, demand: 2000, target: 7, want: 10 },
    { label: 'cc 1000, starting: the share is smaller than cc', cc: 1000, desired: 4, ready: 1, demand: 2000, target: 700, want: 700 },
    { label: 'cc 1000, starting, big demand', cc: 1000, desired: 4, ready: 1, demand: 10_000, target: 700, want: 1000 },
  ])('$label', ({ cc, desired, ready, demand, target, want }) => {
    expect(releaseLimit(cc, desired, ready, demand, target)).toBe(want);
  });
});

describe('burstReplicas: the replicas a burst held at zero needs', () => {
  it.each([
    { label: 'nothing held', held: 0, burstTarget: 70, maxScale: 0, want: 0 },
    { label: 'one held', held: 1, burstTarget: 70, maxScale: 0, want: 1 },
    { label: "exactly one replica's worth", held: 70, burstTarget: 70, maxScale: 0, want: 1 },
    { label: 'one more', held: 71, burstTarget: 70, maxScale: 0, want: 2 },
    { label: '2,000 at target 70', held: 2000, burstTarget: 70, maxScale: 0, want: 29 },
    { label: '2,000 at target 70 with max-scale 4', held: 2000, burstTarget: 70, maxScale: 4, want: 4 },
    { label: 'target 0.7 (cc 1)', held: 3, burstTarget: 0.7, maxScale: 0, want: 5 },
  ])('$label', ({ held, burstTarget, maxScale, want }) => {
    expect(burstReplicas(held, { burstTarget, maxScale })).toBe(want);
  });
});

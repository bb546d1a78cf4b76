import { describe, expect, it } from 'vitest';
import { SluiceError, type ErrorCode } from '../src/errors.js';
import { GRPC_STATUS, grpcStatusFields, percentEncode, sendGrpcError } from '../src/gateway/grpc-status.js';
import { errors } from '../src/gateway/respond.js';
import type { DownstreamResponse } from '../src/gateway/http-types.js';

describe('GRPC_STATUS', () => {
  const rows: Array<{ label: string; err: SluiceError; want: number }> = [
    { label: 'no route', err: errors.routeNotFound('a.test', '/x'), want: 5 },
    { label: 'no such tag', err: errors.tagNotFound('iris', 'canary'), want: 5 },
    { label: 'queue full', err: errors.queueFull(10), want: 14 },
    { label: 'gateway shutting down', err: errors.queueClosed(), want: 14 },
    { label: 'activation timeout', err: errors.activationTimeout(100), want: 4 },
    { label: 'request timeout', err: errors.requestTimeout(100), want: 4 },
    { label: 'grpc-timeout passed', err: errors.deadlineExceeded(100), want: 4 },
    { label: 'endpoint unreachable', err: errors.unreachable(new Error('ECONNREFUSED')), want: 14 },
    { label: 'endpoint failed', err: errors.upstreamError(new Error('reset')), want: 13 },
    {
      label: 'revision failed',
      err: errors.revisionFailed('iris/iris-1', { status: 'Failed', reason: 'ExitCode', message: 'exit 1', output: '', since: 0 }),
      want: 14,
    },
    { label: 'bad request', err: errors.badRequest('no'), want: 3 },
    { label: 'not implemented', err: new SluiceError('not_implemented', 501, 'no'), want: 12 },
  ];
  it.each(rows)('$label → $want', ({ err, want }) => {
    expect(GRPC_STATUS[err.code]).toBe(want);
  });

  it('has a status for every error code, none of them OK', () => {
    const codes = Object.keys(GRPC_STATUS) as ErrorCode[];
    expect(codes.length).toBe(15);
    for (const code of codes) expect(GRPC_STATUS[code]).toBeGreaterThan(0);
  });
});

describe('percentEncode', () => {
  it.each([
    ['plain ASCII stays', 'no ready endpoint within 100 ms', 'no ready endpoint within 100 ms'],
    ['percent itself', '100% busy', '100%25 busy'],
    ['non-ASCII as UTF-8 bytes', 'modèle', 'mod%C3%A8le'],
    ['control characters', 'a\nb\tc', 'a%0Ab%09c'],
    ['DEL', 'x\x7f', 'x%7F'],
    ['space and tilde stay', ' ~', ' ~'],
  ])('%s', (_label, message, want) => {
    expect(percentEncode(message)).toBe(want);
  });

  it('round-trips through decodeURIComponent', () => {
    const message = 'hold queue 100% full — 「iris」\r\n';
    expect(decodeURIComponent(percentEncode(message))).toBe(message);
  });
});

/** A response that records what it was given. */
function recorder(headersSent = false) {
  const got = { status: 0, head: [] as string[], trailers: [] as Array<[string, string]>, ended: false, destroyed: false };
  const res = {
    headersSent,
    writableFinished: false,
    writeHead(status: number, head: string[]) {
      got.status = status;
      got.head = head;
    },
    flushHeaders() {},
    write: () => true,
    end() {
      got.ended = true;
    },
    addTrailers(t: ReadonlyArray<[string, string]>) {
      got.trailers.push(...t);
    },
    destroy() {
      got.destroyed = true;
    },
    on() {},
    once() {},
  } satisfies DownstreamResponse;
  return { res, got };
}

describe('sendGrpcError', () => {
  it('answers Trailers-Only: HTTP 200, application/grpc, the status and a message naming service and revision', () => {
    const { res, got } = recorder();
    sendGrpcError(res, errors.queueFull(3), 'iris', 'iris-1');
    expect(got.status).toBe(200);
    expect(got.head).toEqual([
      'content-type',
      'application/grpc',
      'grpc-status',
      '14',
      'grpc-message',
      'hold queue is full (3 requests held) (service iris, revision iris-1)',
      'sluice-revision',
      'iris-1',
    ]);
    expect(got.ended).toBe(true);
  });

  it('after the response head, ends with the status as trailers', () => {
    const { res, got } = recorder(true);
    sendGrpcError(res, errors.upstreamError(new Error('reset')), 'iris', 'iris-1');
    expect(got.trailers).toEqual([
      ['grpc-status', '13'],
      ['grpc-message', 'endpoint failed: reset (service iris, revision iris-1)'],
    ]);
    expect(got.ended).toBe(true);
  });

  it('without a service names none', () => {
    expect(grpcStatusFields(errors.routeNotFound('a.test', '/p', 'iris'))).toEqual([
      'grpc-status',
      '5',
      'grpc-message',
      'no service matches host "a.test", path "/p" and model "iris"',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { SluiceError } from '../src/errors.js';
import { grpcTimeoutMs, isGrpcContentType, namesModel, parseGrpcTimeout, remainingTimeout } from '../src/gateway/grpc-call.js';
import { upstreamRequestHeaders } from '../src/gateway/headers.js';

describe('isGrpcContentType', () => {
  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc+json', true],
    ['application/grpc;charset=utf-8', true],
    ['Application/GRPC', true],
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/grpcx', false],
    ['application/json', false],
    ['application/grp', false],
    ['', false],
  ])('%s → %s', (value, want) => {
    expect(isGrpcContentType(value)).toBe(want);
  });

  it('the header rules mark a request whose content type is gRPC', () => {
    const head = (contentType: string) =>
      upstreamRequestHeaders({
        rawHeaders: ['host', 'a.test', 'content-type', contentType],
        httpVersion: '2.0',
        remoteAddress: '::1',
        proto: 'http',
      });
    expect(head('application/grpc')).toMatchObject({ grpc: true });
    expect(head('application/grpc-web')).toMatchObject({ grpc: false });
    expect(head('application/json')).toMatchObject({ grpc: false });
  });
});

describe('namesModel', () => {
  it.each([
    ['/inference.GRPCInferenceService/ModelInfer', true],
    ['/inference.GRPCInferenceService/ModelStreamInfer', true],
    ['/inference.GRPCInferenceService/ModelReady', true],
    ['/inference.GRPCInferenceService/ModelMetadata', true],
    ['/inference.GRPCInferenceService/ServerLive', false],
    ['/inference.GRPCInferenceService/ServerReady', false],
    ['/grpc.health.v1.Health/Check', false],
    ['/inference.GRPCInferenceService/ModelInfer/', false],
  ])('%s → %s', (path, want) => {
    expect(namesModel(path)).toBe(want);
  });
});

describe('parseGrpcTimeout', () => {
  it.each([
    ['100m', 100],
    ['5S', 5000],
    ['1M', 60_000],
    ['2H', 7_200_000],
    ['1500u', 2],
    ['1n', 1],
    ['0m', 0],
    ['99999999m', 99_999_999],
    ['99999999H', 2_147_483_647],
  ])('%s → %d ms', (value, want) => {
    expect(parseGrpcTimeout(value)).toBe(want);
  });

  it.each(['', 'm', '100', '100x', '100ms', '-5S', '1.5S', '123456789m', ' 5S', '5 S', '0x10S'])('refuses "%s"', (value) => {
    const got = parseGrpcTimeout(value);
    expect(got).toBeInstanceOf(SluiceError);
    expect((got as SluiceError).code).toBe('bad_request');
    expect((got as SluiceError).message).toContain('grpc-timeout');
  });

  it('is read from the headers, whatever the case of its name', () => {
    expect(grpcTimeoutMs(['host', 'a', 'Grpc-Timeout', '250m'])).toBe(250);
    expect(grpcTimeoutMs(['host', 'a'])).toBeUndefined();
    expect(grpcTimeoutMs(['grpc-timeout', 'soon'])).toBeInstanceOf(SluiceError);
  });
});

describe('remainingTimeout', () => {
  it.each([
    [1_000, 400, '600m'],
    [1_000, 999.2, '1m'],
    [1_000, 2_000, '1m'],
    [100_000_000, 0, '100000S'],
    [2_147_483_647, 0, '2147484S'],
  ])('deadline %d at %d → %s', (deadlineAt, now, want) => {
    expect(remainingTimeout(deadlineAt, now)).toBe(want);
  });
});

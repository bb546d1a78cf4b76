/**
 * A local revision with `protocol: h2c` and `readinessProbe: grpc` running `sluice predictor
 * --grpc-port`: held at zero, it becomes ready through the gRPC health check, and a gRPC ModelInfer
 * through the gateway (routed by host) returns the prediction after the cold start.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@grpc/grpc-js';
import { inferenceClient, irisInferRequest, unary } from './support/grpc.js';
import { predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';

const TEST_MS = 60_000;
let gw: TestGateway | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await gw?.close();
  gw = undefined;
});

function config(revisionBody: string, args: string[]): string {
  return `
services:
  - name: iris-grpc
    match:
      hosts: [iris-grpc.test]
    revisions:${predictorRevision('iris-1', { args: ['--port', '0', '--grpc-port', '${PORT}', ...args], body: revisionBody })}
    traffic:
      - revision: iris-1
        percent: 100
`;
}

interface InferAnswer {
  model_name: string;
  outputs: { name: string; contents: { int64_contents: number[] } }[];
}

describe('a gRPC local revision behind the gateway', () => {
  it(
    'is held at zero, becomes ready through the gRPC health check, and answers ModelInfer after the cold start',
    async () => {
      gw = await startGateway(config('        protocol: h2c\n        readinessProbe: grpc', ['--startup-delay', '500']));
      const rev = gw.revision('iris-grpc', 'iris-1');
      expect(rev.endpoints).toHaveLength(0);
      const client = inferenceClient(gw.url, 'iris-grpc.test');
      clients.push(client);

      const answer = unary<InferAnswer>(client, 'ModelInfer', irisInferRequest([[6.7, 3.0, 5.2, 2.3]]));
      await until(() => rev.stats.held === 1, 'the call held while the revision is at zero');
      const res = await answer;
      expect(res.model_name).toBe('iris');
      expect(res.outputs[0]!.contents.int64_contents).toEqual([2]);
      expect(rev.stats.coldStarts).toBe(1);
      expect(gw.driver.replicas('iris-grpc/iris-1')).toMatchObject({ ready: 1 });

      // Warm now: the next call goes straight through.
      const warm = await unary<InferAnswer>(client, 'ModelInfer', irisInferRequest([[5.1, 3.5, 1.4, 0.2]]));
      expect(warm.outputs[0]!.contents.int64_contents).toEqual([0]);
      expect(rev.stats.coldStarts).toBe(1);
    },
    TEST_MS,
  );
});

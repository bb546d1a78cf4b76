/**
 * The README's quick start, on the file `npm start` runs (deploy/local/sluice.yaml): both services at
 * zero; a REST infer and the gRPC script (deploy/local/grpc-infer.mjs, as a user runs it) each cold
 * start their own revision and are answered, then answered warm. The gateway listens on ports the OS
 * picks; everything else is the demo's own config.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { IRIS_ROW, startGateway, type TestGateway } from './support/harness.js';

const DEMO_CONFIG = fileURLToPath(new URL('../deploy/local/sluice.yaml', import.meta.url));
const GRPC_SCRIPT = fileURLToPath(new URL('../deploy/local/grpc-infer.mjs', import.meta.url));
const TEST_MS = 60_000;

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** The script's one line of output, run as the README says. */
async function grpcInfer(g: TestGateway): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [GRPC_SCRIPT, new URL(g.url).host], { timeout: 30_000 });
  return stdout.trim();
}

async function restInfer(g: TestGateway): Promise<{ status: number; revision: string | null; coldStart: string | null; body: string }> {
  const res = await fetch(`${g.url}/v2/models/iris/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(IRIS_ROW),
  });
  return {
    status: res.status,
    revision: res.headers.get('sluice-revision'),
    coldStart: res.headers.get('sluice-cold-start'),
    body: await res.text(),
  };
}

describe('the quick start (deploy/local/sluice.yaml)', () => {
  it(
    'REST and gRPC for iris each cold-start their own revision, then answer warm',
    async () => {
      const g = (gw = await startGateway('', { configFile: DEMO_CONFIG }));
      expect(g.driver.replicas('iris/iris-00001')).toMatchObject({ ready: 0 });
      expect(g.driver.replicas('iris-grpc/iris-grpc-00001')).toMatchObject({ ready: 0 });

      const cold = await restInfer(g);
      expect(cold).toMatchObject({ status: 200, revision: 'iris-00001' });
      expect(Number(cold.coldStart)).toBeGreaterThan(0);
      const answer = JSON.parse(cold.body) as { model_name: string; outputs: { name: string; data: number[] }[] };
      expect(answer.model_name).toBe('iris');
      expect(answer.outputs.find((o) => o.name === 'predict')?.data).toEqual([2]);
      const warm = await restInfer(g);
      expect(warm).toMatchObject({ status: 200, revision: 'iris-00001', coldStart: null });

      // gRPC names the same model; the path prefix sends it to the gRPC revision, still at zero.
      expect(g.driver.replicas('iris-grpc/iris-grpc-00001')).toMatchObject({ ready: 0 });
      expect(await grpcInfer(g)).toMatch(/^model iris: class \[2\] in \d+ ms \(iris-grpc-00001, cold start, held \d+ ms\)$/);
      expect(await grpcInfer(g)).toMatch(/^model iris: class \[2\] in \d+ ms \(iris-grpc-00001, warm\)$/);
      expect(g.revision('iris-grpc', 'iris-grpc-00001').stats.coldStarts).toBe(1);
      expect(g.revision('iris', 'iris-00001').stats.coldStarts).toBe(1);
    },
    TEST_MS,
  );
});

/**
 * The predictor's gRPC server (`--grpc-port`) with a real grpc-js client: every method of the Open
 * Inference Protocol service and of the health service, readiness through the startup delay, bad
 * input as INVALID_ARGUMENT, and REST and gRPC answering the same input with the same values.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { status, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPredictor, type Predictor } from '../src/predictor/server.js';
import { grpcError, healthClient, inferenceClient, irisInferRequest, rawFp32, unary, type StreamResponse } from './support/grpc.js';
import { CLI, until } from './support/harness.js';

const ROWS = [
  [5.1, 3.5, 1.4, 0.2], // setosa
  [6.7, 3.0, 5.2, 2.3], // virginica
  [5.9, 3.0, 4.2, 1.5], // versicolor
];

interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
  contents: { int64_contents: number[]; fp32_contents: number[] };
}
interface InferAnswer {
  model_name: string;
  model_version: string;
  id: string;
  outputs: Tensor[];
}

const clients: Client[] = [];
const predictors: Predictor[] = [];

async function start(options: Parameters<typeof startPredictor>[0] = {}) {
  const predictor = await startPredictor({ grpcPort: 0, ...options });
  predictors.push(predictor);
  const url = `http://127.0.0.1:${predictor.grpcPort!}`;
  const infer = inferenceClient(url);
  const health = healthClient(url);
  clients.push(infer, health);
  return { predictor, infer, health };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(predictors.splice(0).map((p) => p.close()));
});

describe('gRPC predictor: a ready server', () => {
  it('answers the server and model methods', async () => {
    const { predictor, infer } = await start();
    expect(await unary(infer, 'ServerLive', {})).toEqual({ live: true });
    expect(await unary(infer, 'ServerReady', {})).toEqual({ ready: true });
    expect(await unary(infer, 'ModelReady', { name: 'iris' })).toEqual({ ready: true });
    expect(await unary(infer, 'ModelReady', { name: 'iris', version: '1' })).toEqual({ ready: true });

    const server = await unary(infer, 'ServerMetadata', {});
    const rest = (await (await request(`${predictor.url}/v2`)).body.json()) as Record<string, unknown>;
    expect(server).toEqual({ name: 'sluice-predictor', version: rest.version, extensions: [] });

    // The same metadata REST gives, field for field.
    const model = await unary(infer, 'ModelMetadata', { name: 'iris' });
    const restModel = await (await request(`${predictor.url}/v2/models/iris`)).body.json();
    expect(model).toEqual(restModel);
  });

  it('ModelInfer classifies FP32 rows given as typed contents or as raw little-endian bytes, alike', async () => {
    const { infer } = await start();
    const typed = await unary<InferAnswer>(infer, 'ModelInfer', { ...irisInferRequest(ROWS), id: 'req-1' });
    expect(typed).toMatchObject({ model_name: 'iris', model_version: '1', id: 'req-1' });
    const [predict, probabilities] = typed.outputs;
    expect(predict).toMatchObject({ name: 'predict', datatype: 'INT64', shape: [3], contents: { int64_contents: [0, 2, 1] } });
    expect(probabilities).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [3, 3] });
    expect(probabilities!.contents.fp32_contents).toHaveLength(9);

    const raw = await unary<InferAnswer>(infer, 'ModelInfer', {
      model_name: 'iris',
      id: 'req-1',
      inputs: [{ name: 'input-0', datatype: 'FP32', shape: [3, 4] }],
      raw_input_contents: [rawFp32(ROWS)],
    });
    expect(raw.outputs).toEqual(typed.outputs);
  });

  it('REST and gRPC give the same answer for the same input', async () => {
    const { predictor, infer } = await start();
    // Values an FP32 tensor can hold exactly, so both paths see the same features.
    const rows = ROWS.map((row) => row.map((v) => Math.fround(v)));
    const res = await request(`${predictor.url}/v2/models/iris/infer`, {
      method: 'POST',
      body: JSON.stringify({ id: 'same', inputs: [{ name: 'input-0', datatype: 'FP32', shape: [3, 4], data: rows }] }),
    });
    const rest = (await res.body.json()) as { outputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
    const grpc = await unary<InferAnswer>(infer, 'ModelInfer', { ...irisInferRequest(rows), id: 'same' });

    expect(grpc.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual(rest.outputs.map((o) => [o.name, o.datatype, o.shape]));
    expect(grpc.outputs[0]!.contents.int64_contents).toEqual(rest.outputs[0]!.data);
    // gRPC carries FP32 probabilities as float32: REST's value, rounded to float32.
    expect(grpc.outputs[1]!.contents.fp32_contents).toEqual(rest.outputs[1]!.data.map((p) => Math.fround(p)));
  });

  it('answers only the outputs asked for, and makes up an id when none is given', async () => {
    const { infer } = await start();
    const res = await unary<InferAnswer>(infer, 'ModelInfer', { ...irisInferRequest([ROWS[0]!]), outputs: [{ name: 'predict' }] });
    expect(res.outputs.map((o) => o.name)).toEqual(['predict']);
    expect(res.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    {
      label: 'wrong shape',
      req: { model_name: 'iris', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } }] },
      want: 'inputs[0].shape: want [N, 4] with N >= 1, got [1,3]',
    },
    {
      label: 'fewer values than the shape',
      req: { model_name: 'iris', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], contents: { fp32_contents: [1, 2, 3, 4] } }] },
      want: 'inputs[0].data: 4 values for shape [2, 4], want 8',
    },
    {
      label: 'an unsupported datatype',
      req: { model_name: 'iris', inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 4], contents: { int_contents: [1, 2, 3, 4] } }] },
      want: 'inputs[0].datatype: unsupported "INT32", want FP32 or FP64',
    },
    { label: 'no input tensor', req: { model_name: 'iris' }, want: 'inputs: the model takes 1 input tensor, got 0' },
    {
      label: 'no contents and no raw contents',
      req: { model_name: 'iris', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }] },
      want: 'inputs[0].contents: required when raw_input_contents is not given',
    },
    {
      label: 'raw bytes that are not whole FP32 elements',
      req: { model_name: 'iris', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.alloc(15)] },
      want: 'raw_input_contents[0]: 15 bytes is not a whole number of 4-byte FP32 elements',
    },
    {
      label: 'raw and typed contents together',
      req: { ...irisInferRequest([ROWS[0]!]), raw_input_contents: [rawFp32([ROWS[0]!])] },
      want: 'inputs[0].contents: must be empty when raw_input_contents is given',
    },
    {
      label: 'a NaN in raw bytes',
      req: {
        model_name: 'iris',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
        raw_input_contents: [rawFp32([[1, NaN, 3, 4]])],
      },
      want: 'inputs[0].data: element 1 is not a finite number (got NaN)',
    },
    {
      label: 'more raw entries than inputs',
      req: { model_name: 'iris', inputs: [], raw_input_contents: [Buffer.alloc(16)] },
      want: 'raw_input_contents: 1 entries for 0 inputs, want one per input',
    },
  ])('bad input is INVALID_ARGUMENT with what was wrong: $label', async ({ req, want }) => {
    const { infer } = await start();
    const err = await grpcError(unary(infer, 'ModelInfer', req));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe(want);
    // The server is still there.
    expect(await unary(infer, 'ServerLive', {})).toEqual({ live: true });
  });

  it('another model or version is NOT_FOUND', async () => {
    const { infer } = await start();
    for (const [method, req] of [
      ['ModelInfer', irisInferRequest([ROWS[0]!], 'resnet')],
      ['ModelReady', { name: 'resnet' }],
      ['ModelMetadata', { name: 'resnet' }],
    ] as const) {
      const err = await grpcError(unary(infer, method, req));
      expect([method, err.code, err.details]).toEqual([method, status.NOT_FOUND, 'model "resnet" not found; this server serves "iris"']);
    }
    const version = await grpcError(unary(infer, 'ModelReady', { name: 'iris', version: '2' }));
    expect([version.code, version.details]).toEqual([status.NOT_FOUND, 'model "iris" has no version "2"; it has "1"']);
  });

  it('a message over the size limit is refused RESOURCE_EXHAUSTED', async () => {
    const { infer } = await start({ maxBodyBytes: 1024 });
    const rows = Array.from({ length: 100 }, () => ROWS[0]!);
    const err = await grpcError(unary(infer, 'ModelInfer', irisInferRequest(rows)));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(await unary(infer, 'ModelInfer', irisInferRequest([ROWS[0]!]))).toMatchObject({ model_name: 'iris' });
  });

  it('an injected failure is INTERNAL, spread as the error rate says', async () => {
    const { infer } = await start({ errorRate: 0.5 });
    const first = await unary(infer, 'ModelInfer', irisInferRequest([ROWS[0]!]));
    expect(first).toMatchObject({ model_name: 'iris' });
    const second = await grpcError(unary(infer, 'ModelInfer', irisInferRequest([ROWS[0]!])));
    expect([second.code, second.details]).toEqual([status.INTERNAL, 'injected failure (error rate 0.5)']);
  });

  it('--latency holds each ModelInfer: a call with a shorter deadline ends DEADLINE_EXCEEDED, metadata is not held', async () => {
    const { infer } = await start({ latencyMs: 60_000, drainTimeoutMs: 100 });
    expect(await unary(infer, 'ServerLive', {}, 2000)).toEqual({ live: true });
    const err = await grpcError(unary(infer, 'ModelInfer', irisInferRequest([ROWS[0]!]), 300));
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it('ModelStreamInfer answers each request in order; a bad one is an error_message and the stream goes on', async () => {
    const { infer } = await start();
    const stream = infer.ModelStreamInfer();
    const answers: StreamResponse[] = [];
    stream.on('data', (m: StreamResponse) => answers.push(m));
    stream.write({ ...irisInferRequest([ROWS[0]!]), id: 'a' });
    stream.write({ ...irisInferRequest([[1, 2, 3]]), id: 'b' });
    stream.write({ ...irisInferRequest([ROWS[1]!]), id: 'c' });
    stream.end();
    await once(stream, 'end');
    expect(answers).toHaveLength(3);
    expect(answers.map((a) => a.infer_response?.id ?? a.error_message)).toEqual([
      'a',
      'inputs[0].data: 3 values for shape [1, 4], want 4',
      'c',
    ]);
    expect((answers[2]!.infer_response as unknown as InferAnswer).outputs[0]!.contents.int64_contents).toEqual([2]);
  });

  it('health: Check is SERVING for the server and the inference service, NOT_FOUND for another service', async () => {
    const { health } = await start();
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    expect(await unary(health, 'Check', { service: 'inference.GRPCInferenceService' })).toEqual({ status: 'SERVING' });
    const err = await grpcError(unary(health, 'Check', { service: 'other.Service' }));
    expect(err.code).toBe(status.NOT_FOUND);
  });
});

describe('gRPC predictor: readiness through the startup delay and shutdown', () => {
  it('is live but not ready while loading, then ready; Watch sees NOT_SERVING then SERVING', async () => {
    const { predictor, infer, health } = await start({ startupDelayMs: 1500 });
    const watch = (health as unknown as Record<string, (req: unknown) => ClientReadableStream<{ status: string }>>).Watch!.call(health, {
      service: '',
    });
    const seen: string[] = [];
    watch.on('data', (m: { status: string }) => seen.push(m.status));
    watch.on('error', () => {});

    expect(await unary(infer, 'ServerLive', {})).toEqual({ live: true });
    expect(await unary(infer, 'ServerReady', {})).toEqual({ ready: false });
    expect(await unary(infer, 'ModelReady', { name: 'iris' })).toEqual({ ready: false });
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'NOT_SERVING' });
    const early = await grpcError(unary(infer, 'ModelInfer', irisInferRequest([ROWS[0]!])));
    expect([early.code, early.details]).toEqual([status.UNAVAILABLE, 'model "iris" is not ready: still loading']);
    // REST reads the same readiness.
    expect((await request(`${predictor.url}/v2/health/ready`)).statusCode).toBe(503);

    await until(async () => (await unary<{ ready: boolean }>(infer, 'ServerReady', {})).ready, 'ServerReady true');
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    expect(await unary(infer, 'ModelInfer', irisInferRequest([ROWS[0]!]))).toMatchObject({ model_name: 'iris' });
    await until(() => seen.length === 2, 'Watch saw the change');
    expect(seen).toEqual(['NOT_SERVING', 'SERVING']);

    // Closing: Watch hears NOT_SERVING, then its stream ends.
    const ended = once(watch, 'status');
    await predictor.close();
    await ended;
    expect(seen).toEqual(['NOT_SERVING', 'SERVING', 'NOT_SERVING']);
  });

  it('Watch of an unknown service answers SERVICE_UNKNOWN', async () => {
    const { health } = await start();
    const watch = (health as unknown as Record<string, (req: unknown) => ClientReadableStream<{ status: string }>>).Watch!.call(health, {
      service: 'nope',
    });
    watch.on('error', () => {});
    const [first] = (await once(watch, 'data')) as [{ status: string }];
    expect(first.status).toBe('SERVICE_UNKNOWN');
    watch.cancel();
  });
});

describe('sluice predictor --grpc-port (the built CLI)', () => {
  let proc: ReturnType<typeof spawn> | undefined;
  let stdout = '';
  beforeAll(async () => {
    proc = spawn(process.execPath, [CLI, 'predictor', '--port', '0', '--grpc-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    await until(() => /serving gRPC on/.test(stdout), 'the gRPC line');
  });
  afterAll(() => {
    proc?.kill('SIGKILL');
  });

  it('prints "predictor <model> serving gRPC on HOST:PORT" and answers there', async () => {
    const m = /^predictor iris serving gRPC on (127\.0\.0\.1:\d+)$/m.exec(stdout);
    expect(m, stdout).not.toBeNull();
    const client = inferenceClient(`http://${m![1]!}`);
    clients.push(client);
    const res = await unary<InferAnswer>(client, 'ModelInfer', irisInferRequest([ROWS[1]!]));
    expect(res.outputs[0]!.contents.int64_contents).toEqual([2]);
  });

  it.each([
    { args: ['--grpc-port', 'x'], want: '--grpc-port: want a port 0..65535, got "x"' },
    { args: ['--port', '9000', '--grpc-port', '9000'], want: 'grpcPort: want a port other than the REST port 9000' },
  ])('refuses $args', async ({ args, want }) => {
    const child = spawn(process.execPath, [CLI, 'predictor', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const [code] = (await once(child, 'exit')) as [number];
    expect(stderr).toContain(want);
    expect(code).not.toBe(0);
  });

  it('--help documents --grpc-port', async () => {
    const child = spawn(process.execPath, [CLI, 'predictor', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await once(child, 'exit');
    expect(out).toContain('--grpc-port N');
    expect(out).toContain('grpc.health.v1.Health');
  });
});

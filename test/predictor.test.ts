/**
 * `sluice predictor` end to end: the built CLI runs as a child process (`node dist/cli.js
 * predictor --port 0 ...`), the port is read from its stdout line, and real HTTP goes to it.
 * Build first: `npx tsc -p .`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePredictorArgs } from '../src/predictor/options.js';
import { startPredictor } from '../src/predictor/server.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const LISTENING = /^predictor (\S+) listening on (http:\/\/\S+)$/m;

interface Child {
  proc: ChildProcess;
  url: string;
  model: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => { stdout: string; stderr: string };
}

/** Processes started by the running test, killed after it; a describe-wide one is killed in its afterAll. */
const children: ChildProcess[] = [];

function launch(args: string[], env: NodeJS.ProcessEnv = process.env, perTest = true) {
  const proc = spawn(process.execPath, [CLI, 'predictor', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  if (perTest) children.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, exited, output: () => ({ stdout, stderr }) };
}

/** Starts the CLI and waits for its listening line. */
async function startChild(args: string[], env?: NodeJS.ProcessEnv, perTest = true): Promise<Child> {
  const c = launch(['--port', '0', ...args], env, perTest);
  const line = await new Promise<RegExpExecArray>((resolve, reject) => {
    const onData = () => {
      const m = LISTENING.exec(c.output().stdout);
      if (m) resolve(m);
    };
    c.proc.stdout.on('data', onData);
    void c.exited.then(({ code }) => reject(new Error(`predictor exited (${code}) before listening: ${c.output().stderr}`)));
  });
  return { ...c, model: line[1]!, url: line[2]! };
}

/** Runs the CLI to completion (for option errors and --help). */
async function runToExit(args: string[]) {
  const c = launch(args);
  const { code } = await c.exited;
  return { code, ...c.output() };
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
}

async function post(url: string, body: unknown) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
}

function irisBody(data: unknown): string {
  return JSON.stringify(irisRequest(data));
}

function irisRequest(data: unknown, extra: Record<string, unknown> = {}, datatype = 'FP32', shape = [3, 4]) {
  return { inputs: [{ name: 'input-0', shape, datatype, data }], ...extra };
}

const CLASSIC_ROWS = [
  [5.1, 3.5, 1.4, 0.2], // setosa
  [6.7, 3.0, 5.2, 2.3], // virginica
  [5.9, 3.0, 4.2, 1.5], // versicolor
];

beforeAll(() => {
  if (!existsSync(CLI) || !existsSync(new URL('../dist/predictor/main.js', import.meta.url))) {
    throw new Error('dist/ is missing the predictor: build first with `npx tsc -p .`');
  }
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('sluice predictor: one default process', () => {
  let p: Child;
  beforeAll(async () => {
    p = await startChild([], undefined, false);
  });
  afterAll(() => {
    p.proc.kill('SIGKILL');
  });

  it('prints "predictor <model> listening on http://HOST:PORT"', () => {
    expect(p.model).toBe('iris');
    expect(p.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('is live and ready, with JSON and Predictor-Pid on every response', async () => {
    const live = await get(`${p.url}/v2/health/live`);
    expect(live).toMatchObject({ status: 200, body: { live: true } });
    expect(live.headers['content-type']).toBe('application/json');
    expect(live.headers['predictor-pid']).toBe(String(p.proc.pid));
    expect(live.headers['keep-alive']).toBe('timeout=65');
    expect(await get(`${p.url}/v2/health/ready`)).toMatchObject({ status: 200, body: { ready: true } });
    expect(await get(`${p.url}/v2/models/iris/ready`)).toMatchObject({ status: 200, body: { name: 'iris', ready: true } });
  });

  it('serves server and model metadata', async () => {
    const server = await get(`${p.url}/v2`);
    expect(server.status).toBe(200);
    expect(server.body).toMatchObject({ name: 'sluice-predictor', extensions: [] });
    expect(typeof server.body.version).toBe('string');

    const model = await get(`${p.url}/v2/models/iris`);
    expect(model.status).toBe(200);
    expect(model.body).toEqual({
      name: 'iris',
      versions: ['1'],
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types asymmetric matchers (expect.any) as any, to stand in for the string
      platform: expect.any(String),
      inputs: [{ name: 'input-0', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [
        { name: 'predict', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      ],
    });
    expect((await get(`${p.url}/v2/models/iris/versions/1`)).body).toEqual(model.body);
  });

  it('classifies the three classic rows in one batch', async () => {
    const res = await post(`${p.url}/v2/models/iris/infer`, irisRequest(CLASSIC_ROWS.flat(), { id: 'req-1' }));
    expect(res.status).toBe(200);
    expect(res.headers['predictor-pid']).toBe(String(p.proc.pid));
    expect(res.body).toMatchObject({ model_name: 'iris', model_version: '1', id: 'req-1' });
    const [predict, probs] = res.body.outputs as { name: string; shape: number[]; datatype: string; data: number[] }[];
    expect(predict).toEqual({ name: 'predict', shape: [3], datatype: 'INT64', data: [0, 2, 1] });
    expect(probs).toMatchObject({ name: 'probabilities', shape: [3, 3], datatype: 'FP32' });
    expect(probs!.data).toHaveLength(9);
    for (let r = 0; r < 3; r++) {
      const row = probs!.data.slice(r * 3, r * 3 + 3);
      expect(row[0]! + row[1]! + row[2]!).toBeCloseTo(1, 4);
      expect(row.indexOf(Math.max(...row))).toBe(predict!.data[r]);
    }
  });

  it.each([
    { label: 'FP64, nested rows', data: CLASSIC_ROWS, datatype: 'FP64' },
    { label: 'FP32, nested rows', data: CLASSIC_ROWS, datatype: 'FP32' },
    { label: 'FP64, flat', data: CLASSIC_ROWS.flat(), datatype: 'FP64' },
  ])('reads $label', async ({ data, datatype }) => {
    const res = await post(`${p.url}/v2/models/iris/versions/1/infer`, irisRequest(data, {}, datatype));
    expect(res.status).toBe(200);
    expect((res.body.outputs as { data: number[] }[])[0]!.data).toEqual([0, 2, 1]);
    expect(typeof res.body.id).toBe('string');
  });

  it('returns only the outputs asked for', async () => {
    const res = await post(`${p.url}/v2/models/iris/infer`, irisRequest(CLASSIC_ROWS, { outputs: [{ name: 'predict' }] }));
    expect(res.status).toBe(200);
    expect((res.body.outputs as { name: string }[]).map((o) => o.name)).toEqual(['predict']);
  });

  const badInputs: { label: string; body: unknown; wantError: RegExp }[] = [
    { label: 'invalid JSON', body: '{"inputs": [', wantError: /invalid JSON/ },
    { label: 'a body that is not an object', body: '[1, 2]', wantError: /request body: want a JSON object/ },
    { label: 'missing inputs', body: {}, wantError: /inputs: required/ },
    { label: 'inputs not an array', body: { inputs: { name: 'x' } }, wantError: /inputs: want an array/ },
    {
      label: 'two input tensors',
      body: { inputs: [irisRequest([]).inputs[0], irisRequest([]).inputs[0]] },
      wantError: /1 input tensor, got 2/,
    },
    {
      label: 'missing tensor name',
      body: { inputs: [{ shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] },
      wantError: /inputs\[0\]\.name/,
    },
    {
      label: 'wrong shape [3, 5]',
      body: irisRequest(new Array(15).fill(1), {}, 'FP32', [3, 5]),
      wantError: /inputs\[0\]\.shape: want \[N, 4\]/,
    },
    { label: 'one-dimensional shape', body: irisRequest([1, 2, 3, 4], {}, 'FP32', [4]), wantError: /inputs\[0\]\.shape/ },
    { label: 'zero rows', body: irisRequest([], {}, 'FP32', [0, 4]), wantError: /inputs\[0\]\.shape/ },
    {
      label: 'data length ≠ product of shape',
      body: irisRequest(new Array(11).fill(1)),
      wantError: /inputs\[0\]\.data: 11 values for shape \[3, 4\], want 12/,
    },
    {
      label: 'non-numeric data',
      body: irisRequest([1, 2, 'x', 4], {}, 'FP32', [1, 4]),
      wantError: /inputs\[0\]\.data: element 2 is not a finite number \(got "x"\)/,
    },
    {
      label: 'null in nested data',
      body: irisRequest(
        [
          [1, 2, 3, 4],
          [1, null, 3, 4],
        ],
        {},
        'FP32',
        [2, 4],
      ),
      wantError: /element 5 is not a finite number \(got null\)/,
    },
    {
      label: 'a number too large for a double',
      body: '{"inputs":[{"name":"i","shape":[1,4],"datatype":"FP64","data":[1,2,3,1e400]}]}',
      wantError: /element 3 is not a finite number/,
    },
    { label: 'missing data', body: { inputs: [{ name: 'i', shape: [1, 4], datatype: 'FP32' }] }, wantError: /inputs\[0\]\.data: required/ },
    {
      label: 'unsupported datatype BYTES',
      body: irisRequest(CLASSIC_ROWS, {}, 'BYTES'),
      wantError: /inputs\[0\]\.datatype: unsupported "BYTES", want FP32 or FP64/,
    },
    { label: 'unsupported datatype INT64', body: irisRequest(CLASSIC_ROWS, {}, 'INT64'), wantError: /inputs\[0\]\.datatype/ },
    { label: 'an id that is not a string', body: irisRequest(CLASSIC_ROWS, { id: 7 }), wantError: /^id: want a string/ },
    {
      label: 'an unknown output',
      body: irisRequest(CLASSIC_ROWS, { outputs: [{ name: 'logits' }] }),
      wantError: /outputs\[0\]\.name: unknown output "logits"/,
    },
    { label: 'parameters not an object', body: irisRequest(CLASSIC_ROWS, { parameters: [1] }), wantError: /^parameters: want an object/ },
    {
      label: 'a body over 1 MiB',
      body: JSON.stringify(irisRequest(CLASSIC_ROWS, { pad: 'x'.repeat(1_100_000) })),
      wantError: /request body: larger than 1048576 bytes/,
    },
  ];
  it.each(badInputs)('answers 400 for $label', async ({ body, wantError }) => {
    const res = await post(`${p.url}/v2/models/iris/infer`, body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    expect(Object.keys(res.body)).toEqual(['error']);
    expect(res.body.error).toMatch(wantError);
  });

  it('refuses a chunked body once it passes 1 MiB, and the connection still serves the next request', async () => {
    function* chunks() {
      yield '{"inputs":[],"pad":"';
      for (let i = 0; i < 20; i++) yield 'x'.repeat(64 * 1024);
      yield '"}';
    }
    const res = await request(`${p.url}/v2/models/iris/infer`, { method: 'POST', body: Readable.from(chunks()) });
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { error: string }).error).toMatch(/larger than/);
    expect((await post(`${p.url}/v2/models/iris/infer`, irisRequest(CLASSIC_ROWS))).status).toBe(200);
  });

  it.each([
    { label: 'unknown model metadata', method: 'GET', path: '/v2/models/resnet', want: 404, wantError: /model "resnet" not found/ },
    { label: 'unknown model infer', method: 'POST', path: '/v2/models/resnet/infer', want: 404, wantError: /model "resnet" not found/ },
    { label: 'unknown model ready', method: 'GET', path: '/v2/models/resnet/ready', want: 404, wantError: /model "resnet" not found/ },
    { label: 'unknown version', method: 'POST', path: '/v2/models/iris/versions/7/infer', want: 404, wantError: /no version "7"/ },
    { label: 'unknown route', method: 'GET', path: '/v1/models/iris', want: 404, wantError: /no route for \/v1\/models\/iris/ },
    { label: 'GET on infer', method: 'GET', path: '/v2/models/iris/infer', want: 405, wantError: /method GET not allowed/ },
    { label: 'POST on live', method: 'POST', path: '/v2/health/live', want: 405, wantError: /method POST not allowed/ },
    { label: 'DELETE on model', method: 'DELETE', path: '/v2/models/iris', want: 405, wantError: /method DELETE not allowed/ },
  ])('answers $want for $label', async ({ method, path, want, wantError }) => {
    const res = await request(`${p.url}${path}`, { method: method as 'GET', body: method === 'POST' ? '{}' : undefined });
    expect(res.statusCode).toBe(want);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['predictor-pid']).toBe(String(p.proc.pid));
    if (want === 405) expect(res.headers.allow).toBeTruthy();
    expect(((await res.body.json()) as { error: string }).error).toMatch(wantError);
  });

  it('streams generate_stream as separate SSE events over time', async () => {
    const res = await request(`${p.url}/v2/models/iris/generate_stream`, {
      method: 'POST',
      body: JSON.stringify({ text_input: 'hello', parameters: { max_tokens: 4, interval_ms: 50 } }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['predictor-pid']).toBe(String(p.proc.pid));
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of res.body) {
      arrivals.push(performance.now());
      text += (chunk as Buffer).toString('utf8');
    }
    expect(new Set(arrivals).size).toBeGreaterThanOrEqual(2);
    const events = text
      .split('\n\n')
      .filter((e) => e !== '')
      .map((e) => {
        expect(e.startsWith('data: ')).toBe(true);
        return JSON.parse(e.slice('data: '.length)) as unknown;
      });
    expect(events).toEqual([0, 1, 2, 3].map((i) => ({ model_name: 'iris', text_output: `token-${i}`, index: i })));
  });

  it.each([
    { label: 'max_tokens 0', body: { parameters: { max_tokens: 0 } }, wantError: /parameters\.max_tokens: want an integer 1\.\.1000/ },
    { label: 'max_tokens 1001', body: { parameters: { max_tokens: 1001 } }, wantError: /parameters\.max_tokens/ },
    { label: 'interval_ms "fast"', body: { parameters: { interval_ms: 'fast' } }, wantError: /parameters\.interval_ms/ },
    { label: 'text_input not a string', body: { text_input: 5 }, wantError: /text_input: want a string/ },
  ])('answers generate_stream with 400 for $label', async ({ body, wantError }) => {
    const res = await post(`${p.url}/v2/models/iris/generate_stream`, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(wantError);
  });
});

describe('sluice predictor: options and lifecycle', () => {
  it('is live at once but not ready until the startup delay has passed', async () => {
    const p = await startChild(['--startup-delay', '2500']);
    expect(await get(`${p.url}/v2/health/live`)).toMatchObject({ status: 200, body: { live: true } });
    expect(await get(`${p.url}/v2/health/ready`)).toMatchObject({ status: 503, body: { ready: false } });
    expect(await get(`${p.url}/v2/models/iris/ready`)).toMatchObject({ status: 503, body: { ready: false } });
    const early = await post(`${p.url}/v2/models/iris/infer`, irisRequest(CLASSIC_ROWS));
    expect(early.status).toBe(503);
    expect(early.body.error).toMatch(/not ready/);

    let ready = await get(`${p.url}/v2/health/ready`);
    while (ready.status !== 200) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await get(`${p.url}/v2/health/ready`);
    }
    expect(ready.body).toEqual({ ready: true });
    expect(await get(`${p.url}/v2/models/iris/ready`)).toMatchObject({ status: 200 });
    expect((await post(`${p.url}/v2/models/iris/infer`, irisRequest(CLASSIC_ROWS))).status).toBe(200);
  });

  it('answers exactly every second infer with 500 at --error-rate 0.5', async () => {
    const p = await startChild(['--error-rate', '0.5']);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await post(`${p.url}/v2/models/iris/infer`, irisRequest(CLASSIC_ROWS));
      statuses.push(res.status);
      if (res.status === 500) expect(res.body.error).toMatch(/injected failure/);
    }
    expect(statuses).toEqual([200, 500, 200, 500, 200, 500, 200, 500]);
    // Health and metadata are not counted.
    expect((await get(`${p.url}/v2/health/ready`)).status).toBe(200);
  });

  it('serves the model under the --model name', async () => {
    const p = await startChild(['--model', 'sklearn-iris']);
    expect(p.model).toBe('sklearn-iris');
    expect((await get(`${p.url}/v2/models/sklearn-iris`)).body.name).toBe('sklearn-iris');
    const res = await post(`${p.url}/v2/models/sklearn-iris/infer`, irisRequest(CLASSIC_ROWS));
    expect(res.body).toMatchObject({ model_name: 'sklearn-iris' });
    expect((await get(`${p.url}/v2/models/iris`)).status).toBe(404);
  });

  it('takes its port from env PORT when --port is not given', async () => {
    const c = launch([], { ...process.env, PORT: '0' });
    await new Promise<void>((resolve) => c.proc.stdout.on('data', () => LISTENING.test(c.output().stdout) && resolve()));
    const url = LISTENING.exec(c.output().stdout)![2]!;
    expect((await get(`${url}/v2/health/live`)).status).toBe(200);
  });

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const p = await startChild(['--latency', '1500']);
    const agent = new http.Agent({ keepAlive: true });
    let signalled = false;
    const done = new Promise<{ status: number; body: string; connection: string | undefined; afterSignal: boolean }>((resolve, reject) => {
      const req = http.request(`${p.url}/v2/models/iris/infer`, { method: 'POST', agent }, (res) => {
        const afterSignal = signalled;
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => (text += s));
        res.on('end', () => resolve({ status: res.statusCode!, body: text, connection: res.headers.connection, afterSignal }));
      });
      req.on('error', reject);
      // Signal once the request is on the wire and the server has had a moment to take it.
      req.on('socket', (s) =>
        s.on('connect', () =>
          setTimeout(() => {
            signalled = true;
            p.proc.kill('SIGTERM');
          }, 300),
        ),
      );
      req.end(irisBody(CLASSIC_ROWS));
    });
    const res = await done;
    agent.destroy();
    expect(res.afterSignal).toBe(true);
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([0, 2, 1]);
    // Draining: the keep-alive connection is not kept for another request.
    expect(res.connection).toBe('close');
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 0 on SIGINT when idle', async () => {
    const p = await startChild([]);
    await get(`${p.url}/v2/health/live`); // leaves an idle keep-alive connection behind
    p.proc.kill('SIGINT');
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });

  it('prints usage for --help and exits 0', async () => {
    const { code, stdout } = await runToExit(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: sluice predictor/);
    for (const opt of ['--model', '--port', '--host', '--startup-delay', '--latency', '--error-rate']) expect(stdout).toContain(opt);
  });

  it.each([
    { args: ['--port', 'abc'], wantError: /--port: want a port 0\.\.65535, got "abc"/ },
    { args: ['--port', '70000'], wantError: /--port/ },
    { args: ['--error-rate', '1.5'], wantError: /--error-rate: want a fraction 0\.\.1, got "1\.5"/ },
    { args: ['--latency=-5'], wantError: /--latency: want milliseconds/ },
    { args: ['--startup-delay', 'soon'], wantError: /--startup-delay: want milliseconds/ },
    { args: ['--model', 'a/b'], wantError: /--model: want a name/ },
    { args: ['--bogus'], wantError: /bogus/ },
  ])('exits non-zero naming the option for $args', async ({ args, wantError }) => {
    const { code, stderr } = await runToExit(args);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(wantError);
  });

  it('exits non-zero when the port is taken', async () => {
    const p = await startChild([]);
    const port = new URL(p.url).port;
    const { code, stderr } = await runToExit(['--port', port]);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
  });
});

describe('parsePredictorArgs', () => {
  it.each([
    {
      label: 'defaults',
      argv: [],
      env: {},
      want: { model: 'iris', port: 8080, host: '127.0.0.1', startupDelayMs: 0, latencyMs: 0, errorRate: 0 },
    },
    { label: 'env PORT', argv: [], env: { PORT: '9000' }, want: { port: 9000 } },
    { label: '--port beats env PORT', argv: ['--port', '0'], env: { PORT: '9000' }, want: { port: 0 } },
    {
      label: 'every option',
      argv: ['--model', 'm1', '--host', '0.0.0.0', '--startup-delay', '250', '--latency', '12.5', '--error-rate', '.25'],
      env: {},
      want: { model: 'm1', host: '0.0.0.0', startupDelayMs: 250, latencyMs: 12.5, errorRate: 0.25 },
    },
  ])('$label', ({ argv, env, want }) => {
    expect(parsePredictorArgs(argv, env)).toMatchObject(want);
  });

  it('names a bad env PORT', () => {
    expect(() => parsePredictorArgs([], { PORT: 'http' })).toThrow(/PORT \(environment\)/);
  });
});

describe('startPredictor (in process)', () => {
  it('serves, then closes and stops accepting', async () => {
    const p = await startPredictor({ model: 'flowers' });
    expect(p.url).toBe(`http://127.0.0.1:${p.port}`);
    const res = await post(`${p.url}/v2/models/flowers/infer`, irisRequest(CLASSIC_ROWS));
    expect((res.body.outputs as { data: number[] }[])[0]!.data).toEqual([0, 2, 1]);
    await p.close();
    await expect(request(`${p.url}/v2/health/live`, { reset: true })).rejects.toThrow();
  });

  it('refuses bad options with a message naming them', async () => {
    await expect(startPredictor({ errorRate: 2 })).rejects.toThrow(/errorRate/);
    await expect(startPredictor({ latencyMs: -1 })).rejects.toThrow(/latencyMs/);
  });
});

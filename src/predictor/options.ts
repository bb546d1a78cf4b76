/**
 * `sluice predictor` options: parsed and validated once, up front, each message naming the option
 * and what it wants.
 */
import { parseArgs } from 'node:util';
import { MODEL_NAME_PATTERN } from './model.js';

export interface PredictorOptions {
  /** Name the model is served under (`/v2/models/{model}`). Default `iris`. */
  model: string;
  /** TCP port; 0 picks a free one. Default env `PORT`, else 8080. */
  port: number;
  /** Port of the gRPC server (Open Inference Protocol and gRPC health); 0 picks a free one. Default: no gRPC server. */
  grpcPort?: number | undefined;
  /** Address to listen on. Default `127.0.0.1`. */
  host: string;
  /** Model load time: readiness (and inference) waits this long after start; liveness does not. Default 0. */
  startupDelayMs: number;
  /** Work per inference request, spent as a timer delay before answering. Default 0. */
  latencyMs: number;
  /** Fraction 0..1 of inference requests answered 500, spread evenly (0.5 = every second one). Default 0. */
  errorRate: number;
  /** Largest request body read; larger ones get a 400. Default 1 MiB. */
  maxBodyBytes: number;
  /** On close, how long in-flight requests may take before their connections are cut. Default 10 s. */
  drainTimeoutMs: number;
}

export const DEFAULT_OPTIONS: PredictorOptions = {
  model: 'iris',
  port: 8080,
  host: '127.0.0.1',
  startupDelayMs: 0,
  latencyMs: 0,
  errorRate: 0,
  maxBodyBytes: 1024 * 1024,
  drainTimeoutMs: 10_000,
};

export const USAGE = `usage: sluice predictor [options]

A small KServe V2 (Open Inference Protocol) model server with an iris classifier.

options:
  --model NAME          name the model is served under (default: iris)
  --port N              port to listen on, 0 for any free one (default: env PORT, else 8080)
  --host H              address to listen on (default: 127.0.0.1)
  --grpc-port N         also serve gRPC on this port, 0 for any free one: the Open Inference
                        Protocol's inference.GRPCInferenceService (ServerLive, ServerReady,
                        ModelReady, ServerMetadata, ModelMetadata, ModelInfer, ModelStreamInfer)
                        and grpc.health.v1.Health, SERVING once ready (default: no gRPC)
  --startup-delay MS    model load time: not ready until it has passed (default: 0)
  --latency MS          time each infer request takes (default: 0)
  --error-rate F        fraction 0..1 of infer requests answered 500 (gRPC: INTERNAL),
                        spread evenly (default: 0)
  -h, --help            show this help

The startup delay, latency and error rate apply to REST and gRPC alike. On listen it prints
  predictor <model> listening on http://<host>:<port>
and with --grpc-port also
  predictor <model> serving gRPC on <host>:<port>
`;

export class OptionError extends Error {
  override name = 'OptionError';
}

/** Longest timer Node honours (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const DECIMAL = /^\d+(\.\d+)?$/;

/**
 * Parses the arguments after `predictor`. Returns `'help'` for `--help`; throws OptionError for a
 * bad option.
 *
 * @example parsePredictorArgs(['--port', '0', '--error-rate', '0.5'], {}).port === 0
 */
export function parsePredictorArgs(argv: string[], env: NodeJS.ProcessEnv): PredictorOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        port: { type: 'string' },
        'grpc-port': { type: 'string' },
        host: { type: 'string' },
        'startup-delay': { type: 'string' },
        latency: { type: 'string' },
        'error-rate': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new OptionError((err as Error).message);
  }
  if (values.help) return 'help';

  const model = values.model ?? DEFAULT_OPTIONS.model;
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new OptionError(`--model: want a name of letters, digits, '.', '_' or '-' (at most 128), got ${JSON.stringify(model)}`);
  }
  const host = values.host ?? DEFAULT_OPTIONS.host;
  if (host === '') throw new OptionError('--host: want an address, got an empty string');

  let port = DEFAULT_OPTIONS.port;
  if (values.port !== undefined) port = parsePort('--port', values.port);
  else if (env.PORT !== undefined && env.PORT !== '') port = parsePort('PORT (environment)', env.PORT);

  return {
    ...DEFAULT_OPTIONS,
    model,
    host,
    port,
    grpcPort: values['grpc-port'] === undefined ? undefined : parsePort('--grpc-port', values['grpc-port']),
    startupDelayMs: parseMs('--startup-delay', values['startup-delay']),
    latencyMs: parseMs('--latency', values.latency),
    errorRate: parseFraction('--error-rate', values['error-rate']),
  };
}

function parsePort(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new OptionError(`${name}: want a port 0..65535, got ${JSON.stringify(text)}`);
  return n;
}

function parseMs(name: string, text: string | undefined): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!DECIMAL.test(text) || n > MAX_TIMER_MS) {
    throw new OptionError(`${name}: want milliseconds 0..${MAX_TIMER_MS}, got ${JSON.stringify(text)}`);
  }
  return n;
}

function parseFraction(name: string, text: string | undefined): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || n > 1) throw new OptionError(`${name}: want a fraction 0..1, got ${JSON.stringify(text)}`);
  return n;
}

/** Checks options given programmatically (startPredictor), with the same messages as the CLI. */
export function validateOptions(o: PredictorOptions): void {
  if (!MODEL_NAME_PATTERN.test(o.model)) throw new OptionError(`model: not a valid name: ${JSON.stringify(o.model)}`);
  for (const [name, v] of [
    ['port', o.port],
    ['grpcPort', o.grpcPort ?? 0],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw new OptionError(`${name}: want 0..65535, got ${v}`);
  }
  if (o.grpcPort !== undefined && o.grpcPort !== 0 && o.grpcPort === o.port) {
    throw new OptionError(`grpcPort: want a port other than the REST port ${o.port}`);
  }
  for (const [name, v] of [
    ['startupDelayMs', o.startupDelayMs],
    ['latencyMs', o.latencyMs],
    ['drainTimeoutMs', o.drainTimeoutMs],
  ] as const) {
    if (!(v >= 0 && v <= MAX_TIMER_MS)) throw new OptionError(`${name}: want milliseconds 0..${MAX_TIMER_MS}, got ${v}`);
  }
  if (!(o.errorRate >= 0 && o.errorRate <= 1)) throw new OptionError(`errorRate: want a fraction 0..1, got ${o.errorRate}`);
  if (!(Number.isInteger(o.maxBodyBytes) && o.maxBodyBytes > 0)) {
    throw new OptionError(`maxBodyBytes: want a positive integer, got ${o.maxBodyBytes}`);
  }
}

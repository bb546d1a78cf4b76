/** `npm run bench -- [options]`: parsed and checked once, each message naming the flag. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Measured run per target, seconds. Default 10. */
  durationS: number;
  /** Warm-up run per target before it, seconds. Default 2. */
  warmupS: number;
  /** Concurrent autocannon connections. Default 50. */
  connections: number;
  /** Cold-start samples, a fresh gateway each. Default 5. */
  coldStarts: number;
  /** Offered load of the fixed-rate CPU phase, requests per second over all connections. Default 3000. */
  cpuRate: number;
  /** Interleaved rounds of the fixed-rate CPU phase; 0 skips the phase. Default 5. */
  cpuRounds: number;
  /** Measured window of each fixed-rate run, whole seconds (see runAtRate in load.ts). Default 4. */
  cpuDurationS: number;
  /** Connections of the h2c fixed-rate runs (h2load -c). Default 4. */
  h2Clients: number;
  /** Concurrent streams per connection of the h2c runs (h2load -m). Default 10. */
  h2Streams: number;
  /** Skip the h2c rows even when h2load is on the PATH. */
  noH2c: boolean;
  /** Skip the gRPC ModelInfer rows (loadtest/grpc.ts). */
  noGrpc: boolean;
  /** Skip the nginx row even when nginx is on the PATH. */
  noNginx: boolean;
  /** Skip the HTTP/1.1-over-TLS rows (gateway-tls, nginx-tls). */
  noTls: boolean;
  skipColdStart: boolean;
  /** Add the rows gateway-trace-100 and gateway-trace-1: the gateway with tracing on, exporting to an in-process OTLP sink. */
  tracing: boolean;
}

export const USAGE = `usage: npm run bench -- [options]      (node dist/loadtest/overhead.js [options])

Measures the gateway's overhead: the predictor directly, through the gateway (a static revision) and
through nginx (when on the PATH), each at saturation, in cleartext and over TLS; then the proxies' CPU
per request at a fixed offered rate, gateway and nginx interleaved over several rounds, over HTTP/1.1
(autocannon, cleartext and TLS) and over h2c (h2load, when on the PATH); then cold starts of a local
revision at zero; and unary gRPC ModelInfer calls at the same fixed rate (h2load), directly, through
the gateway and through nginx's grpc_pass.

options:
  --duration S        measured run per target, seconds (default 10)
  --warmup S          warm-up run before it, seconds (default 2)
  --connections N     concurrent connections (default 50)
  --cpu-rate N        offered load of the fixed-rate CPU runs, requests/s (default 3000)
  --cpu-rounds N      interleaved gateway/nginx rounds at that rate (default 5; 0 skips them)
  --cpu-duration S    measured window of each fixed-rate run, whole seconds (default 4)
  --cold-starts N     cold-start samples, a fresh gateway each (default 5)
  --h2-clients N      h2c runs: connections (default 4)
  --h2-streams N      h2c runs: concurrent streams per connection (default 10)
  --no-h2c            skip the h2c runs even when h2load is on the PATH
  --no-grpc           skip the gRPC ModelInfer runs (direct, gateway, nginx grpc_pass; h2load)
  --no-nginx          skip nginx even when it is on the PATH
  --no-tls            skip the HTTP/1.1-over-TLS rows (gateway-tls, nginx-tls)
  --skip-cold-start   skip the cold-start measurement
  --tracing           add rows for the gateway with tracing on at 100 % and 1 % sampling
                      (gateway-trace-100, gateway-trace-1), exporting to an OTLP sink in this process
  -h, --help          this text
`;

function number(flag: string, raw: string | undefined, fallback: number, integer: boolean, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new Error(`--${flag}: want ${integer ? 'an integer' : 'a number'} ≥ ${min}, got "${raw}"`);
  }
  return value;
}

/** Returns 'help' for --help; throws an Error naming the flag for a bad value. */
export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'cold-starts': { type: 'string' },
      'cpu-rate': { type: 'string' },
      'cpu-rounds': { type: 'string' },
      'cpu-duration': { type: 'string' },
      'h2-clients': { type: 'string' },
      'h2-streams': { type: 'string' },
      'no-h2c': { type: 'boolean' },
      'no-grpc': { type: 'boolean' },
      'no-nginx': { type: 'boolean' },
      'no-tls': { type: 'boolean' },
      'skip-cold-start': { type: 'boolean' },
      tracing: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  return {
    durationS: number('duration', values.duration, 10, false, 1),
    warmupS: number('warmup', values.warmup, 2, false, 0),
    connections: number('connections', values.connections, 50, true, 1),
    coldStarts: number('cold-starts', values['cold-starts'], 5, true, 1),
    cpuRate: number('cpu-rate', values['cpu-rate'], 3000, true, 1),
    cpuRounds: number('cpu-rounds', values['cpu-rounds'], 5, true, 0),
    // Whole seconds: autocannon paces a fixed rate in one-second windows (see runAtRate).
    cpuDurationS: number('cpu-duration', values['cpu-duration'], 4, true, 1),
    h2Clients: number('h2-clients', values['h2-clients'], 4, true, 1),
    h2Streams: number('h2-streams', values['h2-streams'], 10, true, 1),
    noH2c: values['no-h2c'] ?? false,
    noGrpc: values['no-grpc'] ?? false,
    noNginx: values['no-nginx'] ?? false,
    noTls: values['no-tls'] ?? false,
    skipColdStart: values['skip-cold-start'] ?? false,
    tracing: values.tracing ?? false,
  };
}

/** `npm run bench:burst -- [options]`: parsed and checked once, each message naming the flag. */
import { parseArgs } from 'node:util';

export interface BurstOptions {
  /** Simultaneous requests, one connection each. Default 10 000. */
  requests: number;
  /** `autoscaling.knative.dev/max-scale` of the revision. Default 4. */
  maxScale: number;
  /** The predictor's time per request (`sluice predictor --latency`), ms. Default 200. */
  latencyMs: number;
  /**
   * The predictor's model load (`--startup-delay`), ms: it must outlast the burst's arrival, so the
   * whole burst is held before the first replica is ready. Default 1000.
   */
  startupDelayMs: number;
  /** Bound of the whole run, from the gateway's start to the last answer, seconds. Default 60. */
  timeoutS: number;
}

export const BURST_USAGE = `usage: npm run bench:burst -- [options]      (node dist/loadtest/burst.js [options])

N simultaneous requests, one connection each, at a local predictor revision scaled to zero: all
held by a fresh gateway, then released as replicas get ready. Prints what was answered and how,
when, by which replica, and the gateway's memory per held request.

options:
  --requests N        simultaneous requests, one connection each (default 10000)
  --max-scale N       autoscaling.knative.dev/max-scale of the revision (default 4)
  --latency MS        predictor time per request (default 200)
  --startup-delay MS  predictor model load before it is ready (default 1000)
  --timeout S         bound of the whole run, seconds (default 60)
  -h, --help          this text
`;

function integer(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${flag}: want an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** Returns 'help' for --help; throws an Error naming the flag for a bad value. */
export function parseBurstArgs(argv: string[]): BurstOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      'max-scale': { type: 'string' },
      latency: { type: 'string' },
      'startup-delay': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  return {
    // The hold queue's own maximum (queueDepth ≤ 1 000 000).
    requests: integer('requests', values.requests, 10_000, 1, 1_000_000),
    maxScale: integer('max-scale', values['max-scale'], 4, 1, 1000),
    latencyMs: integer('latency', values.latency, 200, 0, 60_000),
    startupDelayMs: integer('startup-delay', values['startup-delay'], 1000, 0, 600_000),
    // The revision's timeoutSeconds is set to this too, and it is at most 3600.
    timeoutS: integer('timeout', values.timeout, 60, 5, 3600),
  };
}

/**
 * Options of the local driver, each with its default. Timings are in milliseconds and exist mostly so
 * tests can shrink them; the defaults suit a laptop running model servers.
 */
import { pino, type Logger } from 'pino';
import { SluiceError } from '../errors.js';
import type { ReplicaLinker } from './replica-link.js';

export interface LocalDriverTimings {
  /** Wait between readiness probes while the port refuses connections (fails in µs, cheap). Default 2. */
  refusedProbeIntervalMs: number;
  /** Wait between readiness probes once the port answers but not with 2xx/3xx. Default 5. */
  probeIntervalMs: number;
  /** A readiness probe without a response head in this time counts as not ready. Default 1000. */
  probeTimeoutMs: number;
  /** Period of the liveness probe on ready replicas; 0 turns it off. Default 1000. */
  livenessIntervalMs: number;
  /** A liveness probe without a response head in this time fails. Default 5000. */
  livenessTimeoutMs: number;
  /** This many liveness failures in a row and the replica is killed and replaced. Default 3. */
  livenessFailureThreshold: number;
  /** First restart delay after an unexpected exit; doubles per crash. Default 100. */
  restartBackoffMs: number;
  /** Ceiling of the restart delay. Default 10 000. */
  restartBackoffMaxMs: number;
  /** Quiet time (no crash, or a replica ready this long) after which the delay starts over. Default 10 000. */
  backoffResetMs: number;
  /** How often a draining replica's in-flight count is checked. Default 20. */
  drainPollMs: number;
  /** close() waits at most this long for in-flight requests (less if the revision says less). Default 5000. */
  closeDrainTimeoutMs: number;
}

export interface LocalDriverOptions extends Partial<LocalDriverTimings> {
  /**
   * How the gateway reaches a replica (client, TLS), so its probes go the same way; no default, as
   * the rule belongs to the upstream client (src/app/protocols.ts `replicaLink`).
   */
  link: ReplicaLinker;
  /** Child output (debug), replica lifecycle (info) and crashes (warn). Default: silent. */
  logger?: Logger;
  /** Address replicas listen on and are probed and published at. Default `127.0.0.1`. */
  host?: string;
}

const DEFAULT_TIMINGS: Readonly<LocalDriverTimings> = {
  refusedProbeIntervalMs: 2,
  probeIntervalMs: 5,
  probeTimeoutMs: 1000,
  livenessIntervalMs: 1000,
  livenessTimeoutMs: 5000,
  livenessFailureThreshold: 3,
  restartBackoffMs: 100,
  restartBackoffMaxMs: 10_000,
  backoffResetMs: 10_000,
  drainPollMs: 20,
  closeDrainTimeoutMs: 5000,
};

export interface ResolvedLocalOptions {
  logger: Logger;
  host: string;
  timings: LocalDriverTimings;
}

/** Fill defaults and check every field once; a bad one throws naming the field and what it wants. */
export function resolveLocalOptions(options: Omit<LocalDriverOptions, 'link'> = {}): ResolvedLocalOptions {
  const timings = { ...DEFAULT_TIMINGS };
  for (const name of Object.keys(DEFAULT_TIMINGS) as (keyof LocalDriverTimings)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
      throw new SluiceError('invalid_config', 400, `local driver: ${name}: want a number of ms from 0 to 2^31-1, got ${String(value)}`);
    }
    timings[name] = value;
  }
  if (!Number.isInteger(timings.livenessFailureThreshold) || timings.livenessFailureThreshold < 1) {
    throw new SluiceError(
      'invalid_config',
      400,
      `local driver: livenessFailureThreshold: want an integer ≥ 1, got ${timings.livenessFailureThreshold}`,
    );
  }
  const host = options.host ?? '127.0.0.1';
  if (host === '') throw new SluiceError('invalid_config', 400, 'local driver: host: want an address, got ""');
  return { logger: options.logger ?? pino({ level: 'silent' }), host, timings };
}

/**
 * What every admin command shares: `--admin`, `--json`, `--help`, duration flags, and one way to
 * print an error and pick the exit code (2 for usage, 1 for everything else).
 */
import { parseDuration } from '../config/duration.js';
import { AdminError, adminTarget, type AdminTarget } from './admin-client.js';

/** A bad command line: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const COMMON_OPTIONS = {
  admin: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `  --admin HOST:PORT    admin API address (default 127.0.0.1:8081); token from env SLUICE_ADMIN_TOKEN
  --json               print the API's JSON answer as it is
  -h, --help           this text`;

/** The admin API from `--admin` and SLUICE_ADMIN_TOKEN; a bad address is a usage error. */
export function adminFlag(flag: string | undefined, env: NodeJS.ProcessEnv): AdminTarget {
  try {
    return adminTarget(flag, env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Milliseconds from a duration flag: `30s`, `1m30s`, `500ms`; a bare number is in `bareUnit`.
 *
 * @example durationFlag('--interval', '2m', 's') === 120_000
 */
export function durationFlag(flag: string, text: string, bareUnit: 's' | 'ms'): number {
  const bare = /^\d+(\.\d+)?$/.test(text.trim());
  const ms = bare ? Number(text) * (bareUnit === 's' ? 1000 : 1) : parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`${flag}: want a duration such as 30s, 5m or 500ms, got "${text}"`);
  }
  return ms;
}

export function numberFlag(flag: string, text: string, what: { min: number; max: number; integer?: boolean }): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < what.min || n > what.max || (what.integer === true && !Number.isInteger(n))) {
    throw new UsageError(`${flag}: want ${what.integer === true ? 'a whole number' : 'a number'} ${what.min}..${what.max}, got "${text}"`);
  }
  return n;
}

/** Print `err` for `command` and return the exit code. */
export function reportError(command: string, usage: string, err: unknown): number {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`sluice ${command}: ${(err as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (err instanceof AdminError) {
    process.stderr.write(`sluice ${command}: ${err.message}\n`);
    return 1;
  }
  throw err;
}

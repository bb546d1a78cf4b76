/**
 * Knative's config values read as Go reads them — strconv.ParseFloat, ParseInt(v, 10, 32),
 * ParseBool, time.ParseDuration (plus Sluice's "bare number = seconds") — and written back as Go
 * prints them, so that validation messages read exactly like Knative's. Each parser returns
 * undefined for what Go would refuse.
 */
import { parseDuration } from './duration.js';

/** Largest value of ParseInt(v, 10, 32). */
export const MAX_INT32 = 2_147_483_647;

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT = /^[+-]?\d+$/;

export function parseFloatValue(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw !== 'string' || !FLOAT.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** A 32-bit integer, as Knative's ParseInt(v, 10, 32); out-of-range → 'range'. */
export function parseIntValue(raw: unknown): number | 'range' | undefined {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && INT.test(raw.trim())) n = Number(raw.trim());
  else return undefined;
  if (!Number.isInteger(n)) return undefined;
  return Math.abs(n) > MAX_INT32 ? 'range' : n;
}

export function parseBoolValue(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw !== 'string') return undefined;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw.trim())) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw.trim())) return false;
  return undefined;
}

/** Milliseconds (signed, rounded to the microsecond) or undefined. */
export function parseDurationValue(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? Math.round(raw * 1e6) / 1e3 : undefined;
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  const negative = s.startsWith('-');
  const ms = parseDuration(negative || s.startsWith('+') ? s.slice(1) : s);
  if (ms === undefined) return undefined;
  const rounded = Math.round(ms * 1e3) / 1e3;
  return negative ? -rounded : rounded;
}

/** Go's time.Duration.String(): 6s, 1m30s, 1h0m0s, 500ms, 0s. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${+abs.toFixed(6)}ms`;
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = +((abs % 60_000) / 1000).toFixed(9);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

/** Go's %v of a float64 (close enough: shortest round-trip form). */
export function formatGoFloat(n: number): string {
  return String(n);
}

/**
 * The kebab-case spelling of a camelCase key, for "did you mean" hints.
 *
 * @example kebabCase('stableWindow') // 'stable-window'
 */
export function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

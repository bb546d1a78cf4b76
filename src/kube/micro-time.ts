/**
 * MicroTime: RFC 3339 with exactly six fractional digits (`2026-11-25T14:00:00.123456Z`), the format
 * of Lease acquireTime and renewTime. The API server rejects other precisions.
 *
 * client-node 1.x: its V1MicroTime (a Date) serialises as milliseconds padded with `000`; a plain Date
 * would go out as `.123Z` and be refused; and reading a Lease hands MicroTime fields back as the
 * string on the wire, not as a Date. MicroTime here keeps the microseconds both ways.
 */
import { V1MicroTime } from '@kubernetes/client-node';

const FRACTION = /\.(\d+)(?=Z|[+-]\d{2}:\d{2}$)/;

export class MicroTime extends V1MicroTime {
  /** `ms` since the epoch plus `micros` (0–999) within that millisecond. */
  constructor(
    ms: number,
    readonly micros = 0,
  ) {
    super(ms);
  }

  override toISOString(): string {
    return `${super.toISOString().slice(0, 23)}${String(this.micros).padStart(3, '0')}Z`;
  }

  override toJSON(): string {
    return this.toISOString();
  }
}

/** Now, to the microsecond the clock gives. */
export function microTimeNow(): MicroTime {
  const t = performance.timeOrigin + performance.now();
  const ms = Math.floor(t);
  return new MicroTime(ms, Math.min(999, Math.floor((t - ms) * 1000)));
}

/** From the wire (a string) or a Date; undefined when absent or unreadable. */
export function parseMicroTime(value: unknown): MicroTime | undefined {
  if (value instanceof MicroTime) return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : new MicroTime(value.getTime());
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return undefined;
  const digits = FRACTION.exec(value)?.[1] ?? '';
  return new MicroTime(ms, Number(digits.padEnd(6, '0').slice(3, 6)));
}

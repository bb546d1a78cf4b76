/**
 * `sluice traffic` target arguments → a traffic block. Pure.
 *
 *   REV=PCT        REV gets PCT % of the traffic
 *   REV=PCT@TAG    … and is reachable by tag TAG (header `Sluice-Tag: TAG`, host `TAG-<host>`)
 *   REV@TAG        tag only: 0 % of the split, reachable by its tag
 *
 * Revision names and tags are DNS labels, so neither holds `=` or `@`: the syntax is unambiguous.
 * Only the syntax is checked here; the gateway checks names, sums and duplicates and names the field.
 *
 * @example parseTrafficArgs(['blue=90', 'green=10@canary']) // [{revision:'blue',percent:90},{revision:'green',percent:10,tag:'canary'}]
 */
import type { TrafficTarget } from '../config/schema.js';
import { UsageError } from './args.js';

const TARGET = /^([^=@\s]+)(?:=([^@\s]*))?(?:@([^=@\s]*))?$/;

export function parseTrafficArgs(args: readonly string[]): TrafficTarget[] {
  if (args.length === 0) throw new UsageError('give at least one target: REV=PCT, REV=PCT@TAG or REV@TAG');
  return args.map((arg) => {
    const m = TARGET.exec(arg);
    if (!m) throw new UsageError(`"${arg}": want REV=PCT, REV=PCT@TAG or REV@TAG`);
    const [, revision, pct, tag] = m;
    if (pct === undefined && tag === undefined) throw new UsageError(`"${arg}": want REV=PCT, REV=PCT@TAG or REV@TAG (a percent or a tag)`);
    if (pct !== undefined && !/^\d{1,3}$/.test(pct))
      throw new UsageError(`"${arg}": the percent must be a whole number 0..100, got "${pct}"`);
    if (tag === '') throw new UsageError(`"${arg}": empty tag after "@"`);
    const target: TrafficTarget = { revision: revision!, percent: pct === undefined ? 0 : Number(pct) };
    if (tag !== undefined) target.tag = tag;
    return target;
  });
}

/** The inverse, for output: `blue=90 green=10@canary next@preview`. */
export function formatTraffic(traffic: readonly TrafficTarget[]): string {
  return traffic
    .map((t) =>
      t.tag === undefined
        ? `${t.revision}=${t.percent}`
        : t.percent === 0
          ? `${t.revision}@${t.tag}`
          : `${t.revision}=${t.percent}@${t.tag}`,
    )
    .join(' ');
}

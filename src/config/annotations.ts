/**
 * A revision's `autoscaling.knative.dev/*` annotations: the keys Sluice knows (with Knative's older
 * camelCase spellings), typed readers with Knative's ranges, and problems in the shape of Knative's
 * apis.FieldError behind a prefix naming the revision:
 * `services[0].revisions[1] (revision iris-v2): expected 6s <= 3s <= 1h0m0s: autoscaling.knative.dev/window`.
 */
import { formatGoDuration, kebabCase, MAX_INT32, parseDurationValue, parseFloatValue, parseIntValue } from './go-values.js';

export const ANNOTATION_PREFIX = 'autoscaling.knative.dev/';

/** Each annotation with Knative's older camelCase spelling, when it has one (kmap.KeyPriority). */
export const ANNOTATIONS = {
  class: ['class'],
  metric: ['metric'],
  target: ['target'],
  targetUtilization: ['target-utilization-percentage', 'targetUtilizationPercentage'],
  targetBurstCapacity: ['target-burst-capacity', 'targetBurstCapacity'],
  window: ['window'],
  panicWindowPercentage: ['panic-window-percentage', 'panicWindowPercentage'],
  panicThresholdPercentage: ['panic-threshold-percentage', 'panicThresholdPercentage'],
  minScale: ['min-scale', 'minScale'],
  maxScale: ['max-scale', 'maxScale'],
  initialScale: ['initial-scale', 'initialScale'],
  activationScale: ['activation-scale'],
  scaleDownDelay: ['scale-down-delay', 'scaleDownDelay'],
  retention: ['scale-to-zero-pod-retention-period', 'scaleToZeroPodRetentionPeriod'],
  algorithm: ['metric-aggregation-algorithm', 'metricAggregationAlgorithm'],
} as const satisfies Record<string, readonly string[]>;

/** Every `autoscaling.knative.dev/*` key Sluice understands (canonical spelling first). */
export const ANNOTATION_KEYS: readonly string[] = Object.values(ANNOTATIONS)
  .flat()
  .map((k) => ANNOTATION_PREFIX + k);
const KNOWN_ANNOTATIONS = new Set(ANNOTATION_KEYS);

/** An annotation that is set: its key as written and its value. */
export interface Found {
  key: string;
  value: string;
}

/** The revision a problem belongs to; formats Knative-shaped messages behind its prefix. */
export class Reporter {
  constructor(
    private readonly prefix: string,
    private readonly problems: string[],
  ) {}
  error(message: string, ...paths: string[]): void {
    this.problems.push(`${this.prefix}: ${message}: ${paths.join(', ')}`);
  }
  invalid(f: Found, path = f.key): void {
    this.error(`invalid value: ${f.value}`, path);
  }
  outOfBounds(f: Found, lower: string | number, upper: string | number): void {
    this.error(`expected ${lower} <= ${f.value} <= ${upper}`, f.key);
  }
}

/** The annotation set under one of `names` (one key's spellings); setting two of them is a problem. */
export function lookup(annotations: Record<string, string>, names: readonly string[], r: Reporter): Found | undefined {
  let found: Found | undefined;
  for (const name of names) {
    const key = ANNOTATION_PREFIX + name;
    const value = annotations[key];
    if (value === undefined) continue;
    if (found === undefined) found = { key, value };
    else r.error('expected exactly one, got both', found.key, key);
  }
  return found;
}

export function annotationFloat(f: Found | undefined, r: Reporter): number | undefined {
  if (f === undefined) return undefined;
  const n = parseFloatValue(f.value);
  if (n === undefined) r.invalid(f);
  return n;
}

/** An integer >= 0 (Knative's getIntGE0). */
export function annotationIntGE0(f: Found | undefined, r: Reporter): number | undefined {
  if (f === undefined) return undefined;
  const n = parseIntValue(f.value);
  if (n === undefined) {
    r.invalid(f);
    return undefined;
  }
  if (n === 'range' || n < 0) {
    r.outOfBounds(f, 0, MAX_INT32);
    return undefined;
  }
  return n;
}

/** A duration within [min, max]; `whole` demands whole seconds. */
export function annotationDuration(f: Found | undefined, r: Reporter, minMs: number, maxMs: number, whole: boolean): number | undefined {
  if (f === undefined) return undefined;
  const ms = parseDurationValue(f.value);
  if (ms === undefined) {
    r.invalid(f);
    return undefined;
  }
  if (ms < minMs || ms > maxMs) {
    r.outOfBounds(f, formatGoDuration(minMs), formatGoDuration(maxMs));
    return undefined;
  }
  if (whole && ms % 1000 !== 0) {
    r.error('must be specified with at most second precision', f.key);
    return undefined;
  }
  return ms;
}

/** A float within [min, max]. */
export function annotationPercentage(f: Found | undefined, r: Reporter, min: number, max: number): number | undefined {
  const n = annotationFloat(f, r);
  if (n === undefined || f === undefined) return undefined;
  if (n < min || n > max) {
    r.outOfBounds(f, min, max);
    return undefined;
  }
  return n;
}

/**
 * Report `autoscaling.knative.dev/*` keys Sluice does not know (Knative ignores them; a typo would
 * otherwise go unnoticed), with the kebab-case key when that is one.
 */
export function checkAnnotationKeys(annotations: Record<string, string>, r: Reporter): void {
  for (const key of Object.keys(annotations)) {
    if (!key.startsWith(ANNOTATION_PREFIX) || KNOWN_ANNOTATIONS.has(key)) continue;
    const suggestion = ANNOTATION_PREFIX + kebabCase(key.slice(ANNOTATION_PREFIX.length));
    const hint = KNOWN_ANNOTATIONS.has(suggestion) ? ` (did you mean "${suggestion}"?)` : '';
    r.error(`invalid key name "${key}"${hint}`, 'annotations');
  }
}

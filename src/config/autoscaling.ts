/**
 * Knative autoscaling knobs: the `autoscaler:` block (config-autoscaler keys, cluster defaults) and
 * each revision's `autoscaling.knative.dev/*` annotations, resolved into one ScalingSpec per revision.
 * Pure: no I/O; problems are pushed onto a list.
 *
 * Names, defaults, ranges and messages follow Knative Serving (`autoscaler/config/config.go`,
 * `apis/autoscaling/annotation_validation.go`, the KPA's `MakeDecider` / `MakeMetric` /
 * `ResolveMetricTarget`). Annotation messages keep the shape of Knative's apis.FieldError, after a
 * prefix naming the revision:
 *
 *   services[0].revisions[1] (revision iris-v2): expected 6s <= 3s <= 1h0m0s: autoscaling.knative.dev/window
 *
 * Where Sluice is stricter than Knative: unknown keys are reported (Knative ignores them; keys starting
 * with "_", like a ConfigMap's `_example`, are still ignored); the class must be the KPA (there is no
 * other autoscaler to hand a revision to); the aggregation algorithm is checked whatever the class
 * annotation says; min/max/activation-scale are checked on effective values (annotation or default).
 */
import type { DeciderSpec } from '../autoscaler/kpa.js';
import type { AggregationAlgorithm } from '../stats/windows.js';
import { parseDuration } from './duration.js';

export type { AggregationAlgorithm } from '../stats/windows.js';

export const ANNOTATION_PREFIX = 'autoscaling.knative.dev/';
/** Knative's class value for its Pod Autoscaler; the short `kpa` is accepted too. */
export const KPA_CLASS = 'kpa.autoscaling.knative.dev';

export type ScalingMetric = 'concurrency' | 'rps';

/** Smallest per-pod target (Knative's TargetMin). */
export const TARGET_MIN = 0.01;
/** Stable window bounds (Knative's WindowMin / WindowMax); also the upper bound of the delays. */
export const WINDOW_MIN_MS = 6_000;
export const WINDOW_MAX_MS = 3_600_000;
const PANIC_WINDOW_PERCENTAGE_MIN = 1;
const PANIC_WINDOW_PERCENTAGE_MAX = 100;
const PANIC_THRESHOLD_PERCENTAGE_MIN = 110;
const PANIC_THRESHOLD_PERCENTAGE_MAX = 1000;
const MAX_INT32 = 2_147_483_647;
/** Metric buckets are 1 s; the panic window is rounded to whole seconds and is at least one. */
const BUCKET_MS = 1000;

/** The `autoscaler:` block resolved: Knative's config-autoscaler, one field per key. */
export interface AutoscalerDefaults {
  /** `pod-autoscaler-class`: only the KPA. Default kpa.autoscaling.knative.dev. */
  podAutoscalerClass: string;
  /** `enable-scale-to-zero`: false turns a desired 0 into 1. Default true. */
  enableScaleToZero: boolean;
  /** `allow-zero-initial-scale`: whether initial-scale may be 0. Default false. */
  allowZeroInitialScale: boolean;
  /** `max-scale-up-rate`: > 1. Default 1000. */
  maxScaleUpRate: number;
  /** `max-scale-down-rate`: > 1. Default 2. */
  maxScaleDownRate: number;
  /** `container-concurrency-target-percentage` as a fraction (70 → 0.7; values in (0, 1] are read as fractions). */
  containerConcurrencyTargetFraction: number;
  /** `container-concurrency-target-default`: per-pod total when containerConcurrency is 0. Default 100. */
  containerConcurrencyTargetDefault: number;
  /** Utilization for the RPS metric; not a key in Knative either (fixed 0.7, annotation overrides). */
  targetUtilization: number;
  /** `requests-per-second-target-default`: per-pod total for the rps metric. Default 200. */
  rpsTargetDefault: number;
  /** `target-burst-capacity`: -1, 0 or > 0. Default 211. */
  targetBurstCapacity: number;
  /** `panic-window-percentage`: panic window as % of the stable window, 1–100. Default 10. */
  panicWindowPercentage: number;
  /** `activator-capacity`: >= 1. Default 100. Passed through for status. */
  activatorCapacity: number;
  /** `panic-threshold-percentage`: 110–1000. Default 200. */
  panicThresholdPercentage: number;
  /** `initial-scale`: replicas on first creation. Default 1. */
  initialScale: number;
  /** `min-scale`: default lower bound. Default 0. */
  minScale: number;
  /** `max-scale`: default upper bound, 0 = unbounded. Default 0. */
  maxScale: number;
  /** `max-scale-limit`: cap on any max-scale, 0 = none. Default 0. */
  maxScaleLimit: number;
  /** `stable-window`: 6 s–1 h, whole seconds. Default 60 s. */
  stableWindowMs: number;
  /** `scale-down-delay`: >= 0, whole seconds. Default 0. */
  scaleDownDelayMs: number;
  /** `scale-to-zero-grace-period`: > 0. Default 30 s. */
  scaleToZeroGraceMs: number;
  /** `scale-to-zero-pod-retention-period`: >= 0. Default 0. */
  scaleToZeroPodRetentionMs: number;
}

export const AUTOSCALER_DEFAULTS: Readonly<AutoscalerDefaults> = Object.freeze({
  podAutoscalerClass: KPA_CLASS,
  enableScaleToZero: true,
  allowZeroInitialScale: false,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  containerConcurrencyTargetFraction: 0.7,
  containerConcurrencyTargetDefault: 100,
  targetUtilization: 0.7,
  rpsTargetDefault: 200,
  targetBurstCapacity: 211,
  panicWindowPercentage: 10,
  activatorCapacity: 100,
  panicThresholdPercentage: 200,
  initialScale: 1,
  minScale: 0,
  maxScale: 0,
  maxScaleLimit: 0,
  stableWindowMs: 60_000,
  scaleDownDelayMs: 0,
  scaleToZeroGraceMs: 30_000,
  scaleToZeroPodRetentionMs: 0,
});

/** Everything the control loop needs for one revision. */
export interface ScalingSpec {
  /** Lower bound while the revision is routable; 0 allows scale to zero. */
  minScale: number;
  /** Upper bound; 0 = unbounded. */
  maxScale: number;
  /** Replicas on first activation. */
  initialScale: number;
  /** Lower bound for a non-zero scale (Knative activation-scale); 1 = none. */
  activationScale: number;
  /** false turns a desired 0 into 1. */
  enableScaleToZero: boolean;
  /** No-traffic time before the revision may go to zero. */
  scaleToZeroGraceMs: number;
  /** Extra time the last pod is kept after the grace (pod retention period). */
  retentionMs: number;
  /** What the decider scales on. */
  metric: ScalingMetric;
  /** Per-pod target, utilization applied: max(0.01, totalValue × targetUtilization). */
  targetValue: number;
  /** Per-pod total: containerConcurrency, the default, or the `target` annotation. */
  totalValue: number;
  /** Fraction of the total aimed for (0.7). */
  targetUtilization: number;
  /**
   * Concurrency one replica is meant to carry, whatever the metric: a burst held at zero is sized
   * and spread by it. The target for the concurrency metric; for rps, containerConcurrency (or the
   * default total) × the concurrency utilization, as if the metric were concurrency (0 × … → 100 × 0.7 = 70).
   */
  burstTarget: number;
  /** -1 (unlimited), 0, or > 0. */
  targetBurstCapacity: number;
  /** Ratio: 2 means 200 %. */
  panicThreshold: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  stableWindowMs: number;
  /** round(stable × panic-window-percentage / 100) to whole seconds, at least 1 s. */
  panicWindowMs: number;
  /** 0 = none. */
  scaleDownDelayMs: number;
  /** How window averages are computed. */
  aggregation: AggregationAlgorithm;
  /** Knative's activator-capacity, passed through. */
  activatorCapacity: number;
}

/** The `autoscaler:` block as it comes from YAML. */
export type RawAutoscaler = Record<string, string | number | boolean>;

// ---------------------------------------------------------------------------------------------
// Value parsing: Go's strconv / time.ParseDuration, plus Sluice's "bare number = seconds".

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT = /^[+-]?\d+$/;

function parseFloatValue(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw !== 'string' || !FLOAT.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** A 32-bit integer, as Knative's ParseInt(v, 10, 32); out-of-range → 'range'. */
function parseIntValue(raw: unknown): number | 'range' | undefined {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && INT.test(raw.trim())) n = Number(raw.trim());
  else return undefined;
  if (!Number.isInteger(n)) return undefined;
  return Math.abs(n) > MAX_INT32 ? 'range' : n;
}

function parseBoolValue(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw !== 'string') return undefined;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw.trim())) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw.trim())) return false;
  return undefined;
}

/** Milliseconds (signed, rounded to the microsecond) or undefined. */
function parseDurationValue(raw: unknown): number | undefined {
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
const num = (n: number): string => String(n);

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// ---------------------------------------------------------------------------------------------
// Cluster defaults: the `autoscaler:` block.

type Kind = 'float' | 'int' | 'bool' | 'duration' | 'string';

const DEFAULT_KEYS: Record<string, { kind: Kind; field: keyof AutoscalerDefaults }> = {
  'pod-autoscaler-class': { kind: 'string', field: 'podAutoscalerClass' },
  'enable-scale-to-zero': { kind: 'bool', field: 'enableScaleToZero' },
  'allow-zero-initial-scale': { kind: 'bool', field: 'allowZeroInitialScale' },
  'max-scale-up-rate': { kind: 'float', field: 'maxScaleUpRate' },
  'max-scale-down-rate': { kind: 'float', field: 'maxScaleDownRate' },
  'container-concurrency-target-percentage': { kind: 'float', field: 'containerConcurrencyTargetFraction' },
  'container-concurrency-target-default': { kind: 'float', field: 'containerConcurrencyTargetDefault' },
  'requests-per-second-target-default': { kind: 'float', field: 'rpsTargetDefault' },
  'target-burst-capacity': { kind: 'float', field: 'targetBurstCapacity' },
  'panic-window-percentage': { kind: 'float', field: 'panicWindowPercentage' },
  'activator-capacity': { kind: 'float', field: 'activatorCapacity' },
  'panic-threshold-percentage': { kind: 'float', field: 'panicThresholdPercentage' },
  'initial-scale': { kind: 'int', field: 'initialScale' },
  'min-scale': { kind: 'int', field: 'minScale' },
  'max-scale': { kind: 'int', field: 'maxScale' },
  'max-scale-limit': { kind: 'int', field: 'maxScaleLimit' },
  'stable-window': { kind: 'duration', field: 'stableWindowMs' },
  'scale-down-delay': { kind: 'duration', field: 'scaleDownDelayMs' },
  'scale-to-zero-grace-period': { kind: 'duration', field: 'scaleToZeroGraceMs' },
  'scale-to-zero-pod-retention-period': { kind: 'duration', field: 'scaleToZeroPodRetentionMs' },
};

/** The config-autoscaler keys Sluice understands. */
export const AUTOSCALER_KEYS: readonly string[] = Object.keys(DEFAULT_KEYS);

/**
 * Parse and validate the `autoscaler:` block (Knative's NewConfigFromMap + validate, reporting every
 * problem instead of the first). Invalid values fall back to Knative's default.
 *
 * @example parseAutoscalerDefaults({ 'stable-window': '2m' }, problems).stableWindowMs === 120_000
 */
export function parseAutoscalerDefaults(raw: RawAutoscaler, problems: string[]): AutoscalerDefaults {
  const out: AutoscalerDefaults = { ...AUTOSCALER_DEFAULTS };
  const fields = out as unknown as Record<string, number | boolean | string>;
  const bad = (msg: string) => problems.push(`autoscaler: ${msg}`);

  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('_')) continue;
    const def = DEFAULT_KEYS[key];
    if (def === undefined) {
      const hint = DEFAULT_KEYS[kebab(key)] !== undefined ? ` (did you mean "${kebab(key)}"?)` : '';
      bad(`invalid key name "${key}"${hint}`);
      continue;
    }
    let parsed: number | boolean | string | undefined;
    switch (def.kind) {
      case 'float': parsed = parseFloatValue(value); break;
      case 'int': { const n = parseIntValue(value); parsed = n === 'range' ? undefined : n; break; }
      case 'bool': parsed = parseBoolValue(value); break;
      case 'duration': parsed = parseDurationValue(value); break;
      case 'string': parsed = typeof value === 'string' ? value.trim() : undefined; break;
    }
    if (parsed === undefined) bad(`invalid value: ${String(value)}: ${key}`);
    else fields[def.field] = parsed;
  }

  // Legacy: (0, 1] is already a fraction; anything above is a percentage.
  if (out.containerConcurrencyTargetFraction > 1) out.containerConcurrencyTargetFraction /= 100;

  const d = AUTOSCALER_DEFAULTS;
  const reset = <K extends keyof AutoscalerDefaults>(field: K) => { out[field] = d[field] as AutoscalerDefaults[K]; };

  if (out.podAutoscalerClass !== KPA_CLASS && out.podAutoscalerClass !== 'kpa') {
    bad(`pod-autoscaler-class = ${out.podAutoscalerClass}, only ${KPA_CLASS} is supported`);
    reset('podAutoscalerClass');
  }
  if (out.scaleToZeroGraceMs <= 0) {
    bad(`scale-to-zero-grace-period must be positive, was: ${formatGoDuration(out.scaleToZeroGraceMs)}`);
    reset('scaleToZeroGraceMs');
  }
  if (out.scaleDownDelayMs < 0) {
    bad(`scale-down-delay cannot be negative, was: ${formatGoDuration(out.scaleDownDelayMs)}`);
    reset('scaleDownDelayMs');
  } else if (out.scaleDownDelayMs % 1000 !== 0) {
    bad(`scale-down-delay = ${formatGoDuration(out.scaleDownDelayMs)}, must be specified with at most second precision`);
    reset('scaleDownDelayMs');
  }
  if (out.scaleToZeroPodRetentionMs < 0) {
    bad(`scale-to-zero-pod-retention-period cannot be negative, was: ${formatGoDuration(out.scaleToZeroPodRetentionMs)}`);
    reset('scaleToZeroPodRetentionMs');
  }
  if (out.targetBurstCapacity < 0 && out.targetBurstCapacity !== -1) {
    bad(`target-burst-capacity must be either non-negative or -1 (for unlimited), was: ${out.targetBurstCapacity.toFixed(6)}`);
    reset('targetBurstCapacity');
  }
  if (out.containerConcurrencyTargetFraction <= 0 || out.containerConcurrencyTargetFraction > 1) {
    bad(`container-concurrency-target-percentage = ${out.containerConcurrencyTargetFraction.toFixed(6)} is outside of valid range of (0, 100]`);
    reset('containerConcurrencyTargetFraction');
  }
  const ccTarget = out.containerConcurrencyTargetFraction * out.containerConcurrencyTargetDefault;
  if (ccTarget < TARGET_MIN) {
    bad(`container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of ${num(ccTarget)}, can't be less than ${TARGET_MIN}`);
    reset('containerConcurrencyTargetDefault');
  }
  if (out.rpsTargetDefault < TARGET_MIN) {
    bad(`requests-per-second-target-default must be at least ${TARGET_MIN}, was: ${num(out.rpsTargetDefault)}`);
    reset('rpsTargetDefault');
  }
  if (out.activatorCapacity < 1) {
    bad(`activator-capacity = ${num(out.activatorCapacity)}, must be at least 1`);
    reset('activatorCapacity');
  }
  if (out.maxScaleUpRate <= 1) {
    bad(`max-scale-up-rate = ${num(out.maxScaleUpRate)}, must be greater than 1.0`);
    reset('maxScaleUpRate');
  }
  if (out.maxScaleDownRate <= 1) {
    bad(`max-scale-down-rate = ${num(out.maxScaleDownRate)}, must be greater than 1.0`);
    reset('maxScaleDownRate');
  }
  if (out.stableWindowMs < WINDOW_MIN_MS || out.stableWindowMs > WINDOW_MAX_MS) {
    bad(`stable-window = ${formatGoDuration(out.stableWindowMs)}, must be in [${formatGoDuration(WINDOW_MIN_MS)}; ${formatGoDuration(WINDOW_MAX_MS)}] range`);
    reset('stableWindowMs');
  } else if (out.stableWindowMs % 1000 !== 0) {
    bad(`stable-window = ${formatGoDuration(out.stableWindowMs)}, must be specified with at most second precision`);
    reset('stableWindowMs');
  }
  if (out.panicWindowPercentage < PANIC_WINDOW_PERCENTAGE_MIN || out.panicWindowPercentage > PANIC_WINDOW_PERCENTAGE_MAX) {
    bad(`panic-window-percentage = ${num(out.panicWindowPercentage)}, must be in [${PANIC_WINDOW_PERCENTAGE_MIN}, ${PANIC_WINDOW_PERCENTAGE_MAX}] interval`);
    reset('panicWindowPercentage');
  }
  if (out.panicThresholdPercentage < PANIC_THRESHOLD_PERCENTAGE_MIN || out.panicThresholdPercentage > PANIC_THRESHOLD_PERCENTAGE_MAX) {
    bad(`panic-threshold-percentage = ${num(out.panicThresholdPercentage)}, must be in [${PANIC_THRESHOLD_PERCENTAGE_MIN}, ${PANIC_THRESHOLD_PERCENTAGE_MAX}] interval`);
    reset('panicThresholdPercentage');
  }
  if (out.initialScale < 0 || (out.initialScale === 0 && !out.allowZeroInitialScale)) {
    bad(`initial-scale = ${out.initialScale}, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)`);
    reset('initialScale');
  }
  if (out.maxScaleLimit < 0) {
    bad(`max-scale-limit = ${out.maxScaleLimit}, must be at least 0`);
    reset('maxScaleLimit');
  }
  // A cluster that caps max-scale must also set a default max-scale within the cap.
  const minMaxScale = out.maxScaleLimit > 0 ? 1 : 0;
  if (out.maxScale < minMaxScale || (out.maxScaleLimit > 0 && out.maxScale > out.maxScaleLimit)) {
    bad(`max-scale = ${out.maxScale}, must be in [${minMaxScale}, max-scale-limit(${out.maxScaleLimit})] range`);
    reset('maxScale');
  }
  if (out.minScale < 0 || (out.maxScale > 0 && out.minScale > out.maxScale)) {
    bad(`min-scale = ${out.minScale}, must be in [0, max-scale(${out.maxScale})] range`);
    reset('minScale');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-revision annotations.

/** Each annotation with Knative's older camelCase spelling, when it has one (kmap.KeyPriority). */
const ANNOTATIONS = {
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
export const ANNOTATION_KEYS: readonly string[] = Object.values(ANNOTATIONS).flat().map((k) => ANNOTATION_PREFIX + k);
const KNOWN_ANNOTATIONS = new Set(ANNOTATION_KEYS);

interface Found { key: string; value: string }

/** The revision a problem belongs to; formats Knative-shaped messages behind its prefix. */
class Reporter {
  constructor(private readonly prefix: string, private readonly problems: string[]) {}
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

function lookup(annotations: Record<string, string>, names: readonly string[], r: Reporter): Found | undefined {
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

function annotationFloat(f: Found | undefined, r: Reporter): number | undefined {
  if (f === undefined) return undefined;
  const n = parseFloatValue(f.value);
  if (n === undefined) r.invalid(f);
  return n;
}

/** An integer >= 0 (Knative's getIntGE0). */
function annotationIntGE0(f: Found | undefined, r: Reporter): number | undefined {
  if (f === undefined) return undefined;
  const n = parseIntValue(f.value);
  if (n === undefined) { r.invalid(f); return undefined; }
  if (n === 'range' || n < 0) { r.outOfBounds(f, 0, MAX_INT32); return undefined; }
  return n;
}

/** A duration within [min, max]; `whole` demands whole seconds. */
function annotationDuration(f: Found | undefined, r: Reporter, minMs: number, maxMs: number, whole: boolean): number | undefined {
  if (f === undefined) return undefined;
  const ms = parseDurationValue(f.value);
  if (ms === undefined) { r.invalid(f); return undefined; }
  if (ms < minMs || ms > maxMs) { r.outOfBounds(f, formatGoDuration(minMs), formatGoDuration(maxMs)); return undefined; }
  if (whole && ms % 1000 !== 0) { r.error('must be specified with at most second precision', f.key); return undefined; }
  return ms;
}

/** A float within [min, max]. */
function annotationPercentage(f: Found | undefined, r: Reporter, min: number, max: number): number | undefined {
  const n = annotationFloat(f, r);
  if (n === undefined || f === undefined) return undefined;
  if (n < min || n > max) { r.outOfBounds(f, min, max); return undefined; }
  return n;
}

/** The revision fields resolveScaling reads (load.ts passes the whole revision). */
export interface ScalingRevision {
  name: string;
  annotations: Record<string, string>;
  /** Max requests in flight per endpoint; 0 = unbounded. */
  containerConcurrency?: number;
}

/**
 * Resolve one revision's scaling from cluster defaults and its annotations.
 * `path` is the revision's field path, e.g. `services[0].revisions[1]`. Problems with the
 * `autoscaler:` block are reported once however many revisions share it.
 *
 * @example resolveScaling({}, { name: 'iris-v1', annotations: {}, containerConcurrency: 10 }, 'services[0].revisions[0]', problems)
 *          // → targetValue 7 (10 × 0.7), totalValue 10, stableWindowMs 60 000, panicWindowMs 6 000, ...
 */
export function resolveScaling(defaults: RawAutoscaler, revision: ScalingRevision, path: string, problems: string[]): ScalingSpec {
  const clusterProblems: string[] = [];
  const d = parseAutoscalerDefaults(defaults, clusterProblems);
  for (const p of clusterProblems) if (!problems.includes(p)) problems.push(p);

  const r = new Reporter(`${path} (revision ${revision.name})`, problems);
  const a = revision.annotations;
  for (const key of Object.keys(a)) {
    if (!key.startsWith(ANNOTATION_PREFIX) || KNOWN_ANNOTATIONS.has(key)) continue;
    const suggestion = ANNOTATION_PREFIX + kebab(key.slice(ANNOTATION_PREFIX.length));
    const hint = KNOWN_ANNOTATIONS.has(suggestion) ? ` (did you mean "${suggestion}"?)` : '';
    r.error(`invalid key name "${key}"${hint}`, 'annotations');
  }
  const get = (names: readonly string[]) => lookup(a, names, r);

  // Class: only the KPA runs here.
  const cls = get(ANNOTATIONS.class);
  if (cls !== undefined && cls.value !== KPA_CLASS && cls.value !== 'kpa') r.invalid(cls);

  // Metric.
  let metric: ScalingMetric = 'concurrency';
  const metricAnn = get(ANNOTATIONS.metric);
  if (metricAnn !== undefined) {
    if (metricAnn.value === 'concurrency' || metricAnn.value === 'rps') metric = metricAnn.value;
    else r.invalid(metricAnn);
  }

  // Aggregation algorithm (Knative also accepts the kebab spelling).
  let aggregation: AggregationAlgorithm = 'linear';
  const algAnn = get(ANNOTATIONS.algorithm);
  if (algAnn !== undefined) {
    if (algAnn.value === 'linear') aggregation = 'linear';
    else if (algAnn.value === 'weightedExponential' || algAnn.value === 'weighted-exponential') aggregation = 'weightedExponential';
    else r.invalid(algAnn);
  }

  // Target (ResolveMetricTarget): total = cc, or the default; `target` replaces it (capped at cc for
  // concurrency); utilization applies on top. cc=10 → total 10, target 10 × 0.7 = 7.
  const cc = revision.containerConcurrency ?? 0;
  let total: number;
  let utilization: number;
  if (metric === 'rps') {
    total = d.rpsTargetDefault;
    utilization = d.targetUtilization;
  } else {
    total = cc > 0 ? cc : d.containerConcurrencyTargetDefault;
    utilization = d.containerConcurrencyTargetFraction;
  }
  const targetAnn = get(ANNOTATIONS.target);
  const target = annotationFloat(targetAnn, r);
  if (target !== undefined && targetAnn !== undefined) {
    if (target < TARGET_MIN) r.error(`target ${targetAnn.value} should be at least ${TARGET_MIN}`, targetAnn.key);
    else total = metric === 'concurrency' && cc > 0 ? Math.min(target, cc) : target;
  }
  const tuPercent = annotationPercentage(get(ANNOTATIONS.targetUtilization), r, 1, 100);
  if (tuPercent !== undefined) utilization = tuPercent / 100;
  const targetValue = Math.max(TARGET_MIN, total * utilization);

  // Burst capacity: -1, 0 or positive.
  let targetBurstCapacity = d.targetBurstCapacity;
  const tbcAnn = get(ANNOTATIONS.targetBurstCapacity);
  const tbc = annotationFloat(tbcAnn, r);
  if (tbc !== undefined && tbcAnn !== undefined) {
    if (tbc < 0 && tbc !== -1) r.invalid(tbcAnn);
    else targetBurstCapacity = tbc;
  }

  // Windows: panic = round(stable × pct / 100) to whole seconds, at least 1 s (60 s × 10 % = 6 s).
  const stableWindowMs = annotationDuration(get(ANNOTATIONS.window), r, WINDOW_MIN_MS, WINDOW_MAX_MS, true) ?? d.stableWindowMs;
  const panicPct = annotationPercentage(get(ANNOTATIONS.panicWindowPercentage), r, PANIC_WINDOW_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX)
    ?? d.panicWindowPercentage;
  const panicWindowMs = Math.max(BUCKET_MS, Math.round((stableWindowMs * panicPct) / 100 / BUCKET_MS) * BUCKET_MS);
  const thresholdPct = annotationPercentage(get(ANNOTATIONS.panicThresholdPercentage), r, PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_THRESHOLD_PERCENTAGE_MAX)
    ?? d.panicThresholdPercentage;

  // Bounds.
  const minAnn = get(ANNOTATIONS.minScale);
  const maxAnn = get(ANNOTATIONS.maxScale);
  const minScale = annotationIntGE0(minAnn, r) ?? d.minScale;
  const maxFromAnn = annotationIntGE0(maxAnn, r);
  const maxScale = maxFromAnn ?? d.maxScale;
  const minKey = ANNOTATION_PREFIX + ANNOTATIONS.minScale[0];
  const maxKey = ANNOTATION_PREFIX + ANNOTATIONS.maxScale[0];
  if ((minAnn !== undefined || maxAnn !== undefined) && maxScale !== 0 && maxScale < minScale) {
    r.error(`max-scale=${maxScale} is less than min-scale=${minScale}`, maxKey, minKey);
  }
  if (maxAnn !== undefined && maxFromAnn !== undefined && d.maxScaleLimit > 0) {
    if (maxFromAnn > d.maxScaleLimit) r.outOfBounds(maxAnn, 1, d.maxScaleLimit);
    if (maxFromAnn === 0) r.error(`max-scale=0 (unlimited), must be less than ${d.maxScaleLimit}`, maxAnn.key);
  }

  // Initial scale (GetInitialScale): the annotation wins unless it is a forbidden 0.
  let initialScale = d.initialScale;
  const initAnn = get(ANNOTATIONS.initialScale);
  if (initAnn !== undefined) {
    const n = parseIntValue(initAnn.value);
    if (n === undefined || n === 'range') r.invalid(initAnn);
    else if (n < 0) r.invalid(initAnn, `${initAnn.key} must be greater than 0`);
    else if (n === 0 && !d.allowZeroInitialScale) r.invalid(initAnn, `${initAnn.key}=0 not allowed by cluster`);
    else initialScale = n;
  }

  // Activation scale: 1 = none; it may not exceed max-scale.
  let activationScale = 1;
  const actAnn = get(ANNOTATIONS.activationScale);
  if (actAnn !== undefined) {
    const n = parseIntValue(actAnn.value);
    if (n === undefined) r.invalid(actAnn);
    else if (n === 'range' || n < 1) r.outOfBounds(actAnn, 1, MAX_INT32);
    else if (maxScale > 0 && n > maxScale) r.error(`max-scale=${maxScale} is less than activation-scale=${n}`, actAnn.key);
    else activationScale = n;
  }

  // Delays: 0–1 h; the scale-down delay in whole seconds.
  const scaleDownDelayMs = annotationDuration(get(ANNOTATIONS.scaleDownDelay), r, 0, WINDOW_MAX_MS, true) ?? d.scaleDownDelayMs;
  const retentionMs = annotationDuration(get(ANNOTATIONS.retention), r, 0, WINDOW_MAX_MS, false) ?? d.scaleToZeroPodRetentionMs;

  return {
    minScale,
    maxScale,
    initialScale,
    activationScale,
    enableScaleToZero: d.enableScaleToZero,
    scaleToZeroGraceMs: d.scaleToZeroGraceMs,
    retentionMs,
    metric,
    targetValue,
    totalValue: total,
    targetUtilization: utilization,
    burstTarget: metric === 'concurrency' ? targetValue : Math.max(TARGET_MIN, (cc > 0 ? cc : d.containerConcurrencyTargetDefault) * d.containerConcurrencyTargetFraction),
    targetBurstCapacity,
    panicThreshold: thresholdPct / 100,
    maxScaleUpRate: d.maxScaleUpRate,
    maxScaleDownRate: d.maxScaleDownRate,
    stableWindowMs,
    panicWindowMs,
    scaleDownDelayMs,
    aggregation,
    activatorCapacity: d.activatorCapacity,
  };
}

/** The decider's view of a revision. `reachable`: some traffic target routes to it. */
export function deciderSpec(spec: ScalingSpec, reachable: boolean): DeciderSpec {
  return {
    targetValue: spec.targetValue,
    totalValue: spec.totalValue,
    targetBurstCapacity: spec.targetBurstCapacity,
    panicThreshold: spec.panicThreshold,
    maxScaleUpRate: spec.maxScaleUpRate,
    maxScaleDownRate: spec.maxScaleDownRate,
    stableWindowMs: spec.stableWindowMs,
    scaleDownDelayMs: spec.scaleDownDelayMs,
    activationScale: spec.activationScale,
    reachable,
  };
}

/**
 * One revision's ScalingSpec: everything the control loop needs, resolved from the cluster
 * defaults and the revision's `autoscaling.knative.dev/*` annotations as Knative's KPA does it
 * (`MakeDecider`, `MakeMetric`, `ResolveMetricTarget`). Pure; problems are pushed onto a list.
 * Where Sluice is stricter than Knative: docs/autoscaling.md.
 */
import {
  annotationDuration,
  annotationFloat,
  annotationIntGE0,
  annotationPercentage,
  ANNOTATION_PREFIX,
  ANNOTATIONS,
  checkAnnotationKeys,
  lookup,
  Reporter,
} from './annotations.js';
import {
  KPA_CLASS,
  PANIC_THRESHOLD_PERCENTAGE_MAX,
  PANIC_THRESHOLD_PERCENTAGE_MIN,
  PANIC_WINDOW_PERCENTAGE_MAX,
  PANIC_WINDOW_PERCENTAGE_MIN,
  TARGET_MIN,
  WINDOW_MAX_MS,
  WINDOW_MIN_MS,
  type AutoscalerDefaults,
} from './autoscaler-defaults.js';
import { MAX_INT32, parseIntValue } from './go-values.js';

export type ScalingMetric = 'concurrency' | 'rps';

/** Knative's `metric-aggregation-algorithm` values (annotation spelling). */
export type AggregationAlgorithm = 'linear' | 'weightedExponential';

/** Metric buckets are 1 s; the panic window is rounded to whole seconds and is at least one. */
const BUCKET_MS = 1000;

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
}

/** The revision fields resolveScaling reads (load.ts passes the whole revision). */
export interface ScalingRevision {
  name: string;
  annotations: Record<string, string>;
  /** Max requests in flight per endpoint; 0 = unbounded. */
  containerConcurrency?: number;
}

/**
 * Resolve one revision's scaling from the cluster defaults (parsed once per config by
 * parseAutoscalerDefaults) and its annotations. `path` is the revision's field path, e.g.
 * `services[0].revisions[1]`.
 *
 * @example resolveScaling(AUTOSCALER_DEFAULTS, { name: 'iris-v1', annotations: {}, containerConcurrency: 10 }, 'services[0].revisions[0]', problems)
 *          // → targetValue 7 (10 × 0.7), totalValue 10, stableWindowMs 60 000, panicWindowMs 6 000, ...
 */
export function resolveScaling(d: Readonly<AutoscalerDefaults>, revision: ScalingRevision, path: string, problems: string[]): ScalingSpec {
  const r = new Reporter(`${path} (revision ${revision.name})`, problems);
  const a = revision.annotations;
  checkAnnotationKeys(a, r);
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
  const panicPct =
    annotationPercentage(get(ANNOTATIONS.panicWindowPercentage), r, PANIC_WINDOW_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX) ??
    d.panicWindowPercentage;
  const panicWindowMs = Math.max(BUCKET_MS, Math.round((stableWindowMs * panicPct) / 100 / BUCKET_MS) * BUCKET_MS);
  const thresholdPct =
    annotationPercentage(get(ANNOTATIONS.panicThresholdPercentage), r, PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_THRESHOLD_PERCENTAGE_MAX) ??
    d.panicThresholdPercentage;

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
    burstTarget:
      metric === 'concurrency'
        ? targetValue
        : Math.max(TARGET_MIN, (cc > 0 ? cc : d.containerConcurrencyTargetDefault) * d.containerConcurrencyTargetFraction),
    targetBurstCapacity,
    panicThreshold: thresholdPct / 100,
    maxScaleUpRate: d.maxScaleUpRate,
    maxScaleDownRate: d.maxScaleDownRate,
    stableWindowMs,
    panicWindowMs,
    scaleDownDelayMs,
    aggregation,
  };
}

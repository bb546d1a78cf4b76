/**
 * The `autoscaler:` block: Knative's config-autoscaler keys as cluster defaults, parsed and
 * validated once per config (Knative's NewConfigFromMap + validate, every problem reported instead
 * of the first; an invalid value falls back to Knative's default). Names, defaults, ranges and
 * messages are Knative Serving's (`autoscaler/config/config.go`). Pure.
 */
import {
  formatGoDuration,
  formatGoFloat,
  kebabCase,
  parseBoolValue,
  parseDurationValue,
  parseFloatValue,
  parseIntValue,
} from './go-values.js';

/** Knative's class value for its Pod Autoscaler; the short `kpa` is accepted too. */
export const KPA_CLASS = 'kpa.autoscaling.knative.dev';
/** Smallest per-pod target (Knative's TargetMin). */
export const TARGET_MIN = 0.01;
/** Stable window bounds (Knative's WindowMin / WindowMax); also the upper bound of the delays. */
export const WINDOW_MIN_MS = 6_000;
export const WINDOW_MAX_MS = 3_600_000;
export const PANIC_WINDOW_PERCENTAGE_MIN = 1;
export const PANIC_WINDOW_PERCENTAGE_MAX = 100;
export const PANIC_THRESHOLD_PERCENTAGE_MIN = 110;
export const PANIC_THRESHOLD_PERCENTAGE_MAX = 1000;

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
  /** `activator-capacity`: >= 1. Default 100. Accepted and checked as Knative does; Sluice is its own activator, so nothing sizes by it. */
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

/** The `autoscaler:` block as it comes from YAML. */
export type RawAutoscaler = Record<string, string | number | boolean>;

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
      const hint = DEFAULT_KEYS[kebabCase(key)] !== undefined ? ` (did you mean "${kebabCase(key)}"?)` : '';
      bad(`invalid key name "${key}"${hint}`);
      continue;
    }
    let parsed: number | boolean | string | undefined;
    switch (def.kind) {
      case 'float':
        parsed = parseFloatValue(value);
        break;
      case 'int': {
        const n = parseIntValue(value);
        parsed = n === 'range' ? undefined : n;
        break;
      }
      case 'bool':
        parsed = parseBoolValue(value);
        break;
      case 'duration':
        parsed = parseDurationValue(value);
        break;
      case 'string':
        parsed = typeof value === 'string' ? value.trim() : undefined;
        break;
    }
    if (parsed === undefined) bad(`invalid value: ${String(value)}: ${key}`);
    else fields[def.field] = parsed;
  }

  // Legacy: (0, 1] is already a fraction; anything above is a percentage.
  if (out.containerConcurrencyTargetFraction > 1) out.containerConcurrencyTargetFraction /= 100;

  const d = AUTOSCALER_DEFAULTS;
  const reset = <K extends keyof AutoscalerDefaults>(field: K) => {
    out[field] = d[field];
  };

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
    bad(
      `container-concurrency-target-percentage = ${out.containerConcurrencyTargetFraction.toFixed(6)} is outside of valid range of (0, 100]`,
    );
    reset('containerConcurrencyTargetFraction');
  }
  const ccTarget = out.containerConcurrencyTargetFraction * out.containerConcurrencyTargetDefault;
  if (ccTarget < TARGET_MIN) {
    bad(
      `container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of ${formatGoFloat(ccTarget)}, can't be less than ${TARGET_MIN}`,
    );
    reset('containerConcurrencyTargetDefault');
  }
  if (out.rpsTargetDefault < TARGET_MIN) {
    bad(`requests-per-second-target-default must be at least ${TARGET_MIN}, was: ${formatGoFloat(out.rpsTargetDefault)}`);
    reset('rpsTargetDefault');
  }
  if (out.activatorCapacity < 1) {
    bad(`activator-capacity = ${formatGoFloat(out.activatorCapacity)}, must be at least 1`);
    reset('activatorCapacity');
  }
  if (out.maxScaleUpRate <= 1) {
    bad(`max-scale-up-rate = ${formatGoFloat(out.maxScaleUpRate)}, must be greater than 1.0`);
    reset('maxScaleUpRate');
  }
  if (out.maxScaleDownRate <= 1) {
    bad(`max-scale-down-rate = ${formatGoFloat(out.maxScaleDownRate)}, must be greater than 1.0`);
    reset('maxScaleDownRate');
  }
  if (out.stableWindowMs < WINDOW_MIN_MS || out.stableWindowMs > WINDOW_MAX_MS) {
    bad(
      `stable-window = ${formatGoDuration(out.stableWindowMs)}, must be in [${formatGoDuration(WINDOW_MIN_MS)}; ${formatGoDuration(WINDOW_MAX_MS)}] range`,
    );
    reset('stableWindowMs');
  } else if (out.stableWindowMs % 1000 !== 0) {
    bad(`stable-window = ${formatGoDuration(out.stableWindowMs)}, must be specified with at most second precision`);
    reset('stableWindowMs');
  }
  if (out.panicWindowPercentage < PANIC_WINDOW_PERCENTAGE_MIN || out.panicWindowPercentage > PANIC_WINDOW_PERCENTAGE_MAX) {
    bad(
      `panic-window-percentage = ${formatGoFloat(out.panicWindowPercentage)}, must be in [${PANIC_WINDOW_PERCENTAGE_MIN}, ${PANIC_WINDOW_PERCENTAGE_MAX}] interval`,
    );
    reset('panicWindowPercentage');
  }
  if (out.panicThresholdPercentage < PANIC_THRESHOLD_PERCENTAGE_MIN || out.panicThresholdPercentage > PANIC_THRESHOLD_PERCENTAGE_MAX) {
    bad(
      `panic-threshold-percentage = ${formatGoFloat(out.panicThresholdPercentage)}, must be in [${PANIC_THRESHOLD_PERCENTAGE_MIN}, ${PANIC_THRESHOLD_PERCENTAGE_MAX}] interval`,
    );
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

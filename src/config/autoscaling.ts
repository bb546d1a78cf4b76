/**
 * Knative autoscaling knobs: the `autoscaler:` block (config-autoscaler keys, cluster defaults) and
 * each revision's `autoscaling.knative.dev/*` annotations, resolved into one ScalingSpec per revision.
 * Pure: no I/O; problems are pushed onto a list, each naming the revision and the key.
 */
import { parseDuration } from './duration.js';

export const ANNOTATION_PREFIX = 'autoscaling.knative.dev/';

/** What the control loop needs to bound a revision's scale. */
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
}

type Raw = Record<string, string | number | boolean>;

function intValue(raw: unknown, where: string, problems: string[], min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined) return undefined;
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${where}: expected an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return n;
}

function durationValue(raw: unknown, where: string, problems: string[]): number | undefined {
  if (raw === undefined) return undefined;
  const ms = parseDuration(typeof raw === 'boolean' ? String(raw) : raw as string | number);
  if (ms === undefined) {
    problems.push(`${where}: expected a duration such as "30s", got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return ms;
}

function boolValue(raw: unknown, where: string, problems: string[]): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  problems.push(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
  return undefined;
}

/**
 * Resolve one revision's scaling from cluster defaults and its annotations.
 * `path` is the revision's field path, e.g. `services[0].revisions[1]`.
 */
export function resolveScaling(defaults: Raw, revision: { name: string; annotations: Record<string, string> }, path: string, problems: string[]): ScalingSpec {
  const a = revision.annotations;
  const ann = (key: string) => `${path}.annotations["${ANNOTATION_PREFIX}${key}"] (revision ${revision.name})`;
  const def = (key: string) => `autoscaler["${key}"]`;

  const minScale = intValue(a[ANNOTATION_PREFIX + 'min-scale'], ann('min-scale'), problems, 0) ?? 0;
  const maxScale = intValue(a[ANNOTATION_PREFIX + 'max-scale'], ann('max-scale'), problems, 0)
    ?? intValue(defaults['max-scale'], def('max-scale'), problems, 0) ?? 0;
  const initialScale = intValue(a[ANNOTATION_PREFIX + 'initial-scale'], ann('initial-scale'), problems, 0)
    ?? intValue(defaults['initial-scale'], def('initial-scale'), problems, 0) ?? 1;
  const activationScale = intValue(a[ANNOTATION_PREFIX + 'activation-scale'], ann('activation-scale'), problems, 1) ?? 1;
  const enableScaleToZero = boolValue(defaults['enable-scale-to-zero'], def('enable-scale-to-zero'), problems) ?? true;
  const scaleToZeroGraceMs = durationValue(defaults['scale-to-zero-grace-period'], def('scale-to-zero-grace-period'), problems) ?? 30_000;
  const retentionMs = durationValue(a[ANNOTATION_PREFIX + 'scale-to-zero-pod-retention-period'], ann('scale-to-zero-pod-retention-period'), problems)
    ?? durationValue(defaults['scale-to-zero-pod-retention-period'], def('scale-to-zero-pod-retention-period'), problems) ?? 0;

  if (maxScale > 0 && minScale > maxScale) {
    problems.push(`${ann('max-scale')}: max-scale=${maxScale} must be greater than or equal to min-scale=${minScale}`);
  }
  return { minScale, maxScale, initialScale, activationScale, enableScaleToZero, scaleToZeroGraceMs, retentionMs };
}

/**
 * Knative autoscaling knobs as tables: cluster defaults (`autoscaler:`), each annotation, and every
 * invalid value with the message that names the revision and the key.
 */
import { describe, expect, test } from 'vitest';
import { deciderSpec } from '../src/autoscaler/kpa.js';
import { ANNOTATION_PREFIX } from '../src/config/annotations.js';
import {
  AUTOSCALER_DEFAULTS,
  parseAutoscalerDefaults,
  type AutoscalerDefaults,
  type RawAutoscaler,
} from '../src/config/autoscaler-defaults.js';
import { formatGoDuration } from '../src/config/go-values.js';
import { parseConfig } from '../src/config/load.js';
import { resolveScaling, type ScalingSpec } from '../src/config/scaling.js';
import { ConfigError } from '../src/errors.js';

const K = ANNOTATION_PREFIX;
const PATH = 'services[0].revisions[1]';
/** Every annotation problem starts with the revision's path and name. */
const AT = `${PATH} (revision iris-v2): `;

const DEFAULT_SPEC: ScalingSpec = {
  minScale: 0,
  maxScale: 0,
  initialScale: 1,
  activationScale: 1,
  enableScaleToZero: true,
  scaleToZeroGraceMs: 30_000,
  retentionMs: 0,
  metric: 'concurrency',
  targetValue: 70,
  totalValue: 100,
  targetUtilization: 0.7,
  burstTarget: 70,
  targetBurstCapacity: 211,
  panicThreshold: 2,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  stableWindowMs: 60_000,
  panicWindowMs: 6_000,
  scaleDownDelayMs: 0,
  aggregation: 'linear',
};

interface Row {
  label: string;
  /** The `autoscaler:` block. */
  defaults?: RawAutoscaler;
  /** Annotations by short name; `autoscaling.knative.dev/` is prepended. */
  annotations?: Record<string, string>;
  /** Annotations taken as written. */
  rawAnnotations?: Record<string, string>;
  containerConcurrency?: number;
  want?: Partial<ScalingSpec>;
  /** The parsed `autoscaler:` block, for keys no ScalingSpec field carries. */
  wantDefaults?: Partial<AutoscalerDefaults>;
  wantProblems?: string[];
}

function assertRow(row: Row): void {
  const annotations: Record<string, string> = { ...row.rawAnnotations };
  for (const [k, v] of Object.entries(row.annotations ?? {})) annotations[K + k] = v;
  const problems: string[] = [];
  const defaults = parseAutoscalerDefaults(row.defaults ?? {}, problems);
  const got = resolveScaling(
    defaults,
    { name: 'iris-v2', annotations, containerConcurrency: row.containerConcurrency ?? 0 },
    PATH,
    problems,
  );
  expect(problems).toEqual(row.wantProblems ?? []);
  if (row.want) expect(got).toMatchObject(row.want);
  if (row.wantDefaults) expect(defaults).toMatchObject(row.wantDefaults);
}

describe('resolveScaling: defaults and targets', () => {
  const rows: Row[] = [
    { label: 'no knobs: Knative defaults (target 100 × 0.7 = 70, panic window 60 s × 10 % = 6 s)', want: DEFAULT_SPEC },
    {
      label: 'containerConcurrency 10 → total 10, target 10 × 0.7 = 7',
      containerConcurrency: 10,
      want: { totalValue: 10, targetValue: 7 },
    },
    {
      label: 'target 50 replaces the default total → 50 × 0.7 = 35',
      annotations: { target: '50' },
      want: { totalValue: 50, targetValue: 35 },
    },
    {
      label: 'target is capped at containerConcurrency: cc 10, target 50 → total 10',
      annotations: { target: '50' },
      containerConcurrency: 10,
      want: { totalValue: 10, targetValue: 7 },
    },
    {
      label: 'target below containerConcurrency stands: cc 10, target 4 → 4 × 0.7 = 2.8',
      annotations: { target: '4' },
      containerConcurrency: 10,
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types asymmetric matchers (closeTo) as any, to stand in for the number
      want: { totalValue: 4, targetValue: expect.closeTo(2.8, 9) },
    },
    {
      label: 'target-utilization-percentage 50 → 100 × 0.5 = 50',
      annotations: { 'target-utilization-percentage': '50' },
      want: { targetUtilization: 0.5, targetValue: 50 },
    },
    {
      label: 'the target never drops below 0.01: 0.01 × 0.7 → 0.01',
      annotations: { target: '0.01' },
      want: { totalValue: 0.01, targetValue: 0.01 },
    },
    {
      label: 'rps: total 200, target 200 × 0.7 = 140',
      annotations: { metric: 'rps' },
      want: { metric: 'rps', totalValue: 200, targetValue: 140 },
    },
    {
      label: 'rps: target 300 is not capped by containerConcurrency 10 → 210',
      annotations: { metric: 'rps', target: '300' },
      containerConcurrency: 10,
      want: { totalValue: 300, targetValue: 210 },
    },
    {
      label: "rps keeps Knative's fixed 70 %, not container-concurrency-target-percentage",
      defaults: { 'container-concurrency-target-percentage': 50 },
      annotations: { metric: 'rps' },
      want: { targetValue: 140 },
    },
    {
      label: 'rps with target-utilization-percentage 50 → 100',
      annotations: { metric: 'rps', 'target-utilization-percentage': '50' },
      want: { targetValue: 100 },
    },
  ];
  test.each(rows)('$label', assertRow);
});

describe('resolveScaling: each annotation', () => {
  const rows: Row[] = [
    { label: 'metric concurrency', annotations: { metric: 'concurrency' }, want: { metric: 'concurrency' } },
    { label: 'window 2m → panic window 12 s', annotations: { window: '2m' }, want: { stableWindowMs: 120_000, panicWindowMs: 12_000 } },
    { label: 'panic-window-percentage 5 of 60 s → 3 s', annotations: { 'panic-window-percentage': '5' }, want: { panicWindowMs: 3_000 } },
    {
      label: 'panic window rounds to whole seconds: 15 s × 10 % = 1.5 s → 2 s',
      annotations: { window: '15s' },
      want: { panicWindowMs: 2_000 },
    },
    {
      label: 'panic window is at least 1 s: 6 s × 1 % = 0.06 s → 1 s',
      annotations: { window: '6s', 'panic-window-percentage': '1' },
      want: { panicWindowMs: 1_000 },
    },
    {
      label: 'panic-threshold-percentage 150 → ratio 1.5',
      annotations: { 'panic-threshold-percentage': '150' },
      want: { panicThreshold: 1.5 },
    },
    { label: 'target-burst-capacity -1 (unlimited)', annotations: { 'target-burst-capacity': '-1' }, want: { targetBurstCapacity: -1 } },
    { label: 'target-burst-capacity 0', annotations: { 'target-burst-capacity': '0' }, want: { targetBurstCapacity: 0 } },
    { label: 'target-burst-capacity 50.5', annotations: { 'target-burst-capacity': '50.5' }, want: { targetBurstCapacity: 50.5 } },
    { label: 'min-scale 2, max-scale 5', annotations: { 'min-scale': '2', 'max-scale': '5' }, want: { minScale: 2, maxScale: 5 } },
    { label: 'initial-scale 3', annotations: { 'initial-scale': '3' }, want: { initialScale: 3 } },
    {
      label: 'initial-scale 0 when the cluster allows it',
      defaults: { 'allow-zero-initial-scale': true },
      annotations: { 'initial-scale': '0' },
      want: { initialScale: 0 },
    },
    { label: 'activation-scale 3', annotations: { 'activation-scale': '3' }, want: { activationScale: 3 } },
    { label: 'scale-down-delay 5m', annotations: { 'scale-down-delay': '5m' }, want: { scaleDownDelayMs: 300_000 } },
    {
      label: 'scale-to-zero-pod-retention-period 1m30s',
      annotations: { 'scale-to-zero-pod-retention-period': '1m30s' },
      want: { retentionMs: 90_000 },
    },
    {
      label: 'metric-aggregation-algorithm weightedExponential',
      annotations: { 'metric-aggregation-algorithm': 'weightedExponential' },
      want: { aggregation: 'weightedExponential' },
    },
    {
      label: "metric-aggregation-algorithm weighted-exponential (Knative's other spelling)",
      annotations: { 'metric-aggregation-algorithm': 'weighted-exponential' },
      want: { aggregation: 'weightedExponential' },
    },
    {
      label: 'metric-aggregation-algorithm linear',
      annotations: { 'metric-aggregation-algorithm': 'linear' },
      want: { aggregation: 'linear' },
    },
    { label: 'class kpa.autoscaling.knative.dev', annotations: { class: 'kpa.autoscaling.knative.dev' }, want: {} },
    { label: 'class kpa', annotations: { class: 'kpa' }, want: {} },
    { label: 'legacy camelCase minScale is read as min-scale', annotations: { minScale: '3' }, want: { minScale: 3 } },
    {
      label: 'annotation wins over the cluster default: window 30s over stable-window 2m',
      defaults: { 'stable-window': '2m' },
      annotations: { window: '30s' },
      want: { stableWindowMs: 30_000, panicWindowMs: 3_000 },
    },
    {
      label: 'other annotations are left alone',
      rawAnnotations: { 'example.com/team': 'ml', 'serving.knative.dev/creator': 'ci' },
      want: DEFAULT_SPEC,
    },
  ];
  test.each(rows)('$label', assertRow);
});

describe('resolveScaling: cluster defaults (autoscaler: block)', () => {
  const rows: Row[] = [
    { label: 'enable-scale-to-zero false', defaults: { 'enable-scale-to-zero': false }, want: { enableScaleToZero: false } },
    { label: 'enable-scale-to-zero "false" (string)', defaults: { 'enable-scale-to-zero': 'false' }, want: { enableScaleToZero: false } },
    { label: 'scale-to-zero-grace-period 1m', defaults: { 'scale-to-zero-grace-period': '1m' }, want: { scaleToZeroGraceMs: 60_000 } },
    {
      label: 'scale-to-zero-pod-retention-period 10s',
      defaults: { 'scale-to-zero-pod-retention-period': '10s' },
      want: { retentionMs: 10_000 },
    },
    {
      label: 'stable-window 2m → panic window 12 s',
      defaults: { 'stable-window': '2m' },
      want: { stableWindowMs: 120_000, panicWindowMs: 12_000 },
    },
    {
      label: 'stable-window 90 (bare number = seconds)',
      defaults: { 'stable-window': 90 },
      want: { stableWindowMs: 90_000, panicWindowMs: 9_000 },
    },
    { label: 'panic-window-percentage 20', defaults: { 'panic-window-percentage': 20 }, want: { panicWindowMs: 12_000 } },
    { label: 'panic-threshold-percentage 300', defaults: { 'panic-threshold-percentage': 300 }, want: { panicThreshold: 3 } },
    {
      label: 'max-scale-up-rate 10, max-scale-down-rate 4',
      defaults: { 'max-scale-up-rate': 10, 'max-scale-down-rate': '4' },
      want: { maxScaleUpRate: 10, maxScaleDownRate: 4 },
    },
    {
      label: 'container-concurrency-target-default 50 → 35',
      defaults: { 'container-concurrency-target-default': 50 },
      want: { totalValue: 50, targetValue: 35 },
    },
    {
      label: 'container-concurrency-target-percentage 80 → 100 × 0.8 = 80',
      defaults: { 'container-concurrency-target-percentage': 80 },
      want: { targetUtilization: 0.8, targetValue: 80 },
    },
    {
      label: 'container-concurrency-target-percentage 0.5 is a fraction → 50',
      defaults: { 'container-concurrency-target-percentage': 0.5 },
      want: { targetValue: 50 },
    },
    {
      label: 'requests-per-second-target-default 100 → 70 for rps',
      defaults: { 'requests-per-second-target-default': 100 },
      annotations: { metric: 'rps' },
      want: { targetValue: 70 },
    },
    { label: 'target-burst-capacity 0', defaults: { 'target-burst-capacity': 0 }, want: { targetBurstCapacity: 0 } },
    { label: 'activator-capacity 200', defaults: { 'activator-capacity': 200 }, wantDefaults: { activatorCapacity: 200 } },
    {
      label: 'initial-scale 0 with allow-zero-initial-scale',
      defaults: { 'initial-scale': 0, 'allow-zero-initial-scale': 'true' },
      want: { initialScale: 0 },
    },
    {
      label: 'min-scale 1, max-scale 10 under max-scale-limit 20',
      defaults: { 'min-scale': 1, 'max-scale': 10, 'max-scale-limit': 20 },
      want: { minScale: 1, maxScale: 10 },
    },
    { label: 'scale-down-delay 30s', defaults: { 'scale-down-delay': '30s' }, want: { scaleDownDelayMs: 30_000 } },
    {
      label: 'pod-autoscaler-class kpa.autoscaling.knative.dev',
      defaults: { 'pod-autoscaler-class': 'kpa.autoscaling.knative.dev' },
      want: DEFAULT_SPEC,
    },
    {
      label: "keys starting with _ (a ConfigMap's _example) are ignored",
      defaults: { _example: '################################' },
      want: DEFAULT_SPEC,
    },
  ];
  test.each(rows)('$label', assertRow);
});

describe('resolveScaling: invalid annotations name the revision and the key', () => {
  const rows: Row[] = [
    { label: 'window below 6s', annotations: { window: '3s' }, wantProblems: [`${AT}expected 6s <= 3s <= 1h0m0s: ${K}window`] },
    { label: 'window above 1h', annotations: { window: '2h' }, wantProblems: [`${AT}expected 6s <= 2h <= 1h0m0s: ${K}window`] },
    { label: 'window not a duration', annotations: { window: 'soon' }, wantProblems: [`${AT}invalid value: soon: ${K}window`] },
    {
      label: 'window not whole seconds',
      annotations: { window: '6500ms' },
      wantProblems: [`${AT}must be specified with at most second precision: ${K}window`],
    },
    {
      label: 'panic-window-percentage below 1',
      annotations: { 'panic-window-percentage': '0.5' },
      wantProblems: [`${AT}expected 1 <= 0.5 <= 100: ${K}panic-window-percentage`],
    },
    {
      label: 'panic-window-percentage not a number',
      annotations: { 'panic-window-percentage': 'fifty' },
      wantProblems: [`${AT}invalid value: fifty: ${K}panic-window-percentage`],
    },
    {
      label: 'panic-threshold-percentage below 110',
      annotations: { 'panic-threshold-percentage': '109' },
      wantProblems: [`${AT}expected 110 <= 109 <= 1000: ${K}panic-threshold-percentage`],
    },
    {
      label: 'panic-threshold-percentage above 1000',
      annotations: { 'panic-threshold-percentage': '1001' },
      wantProblems: [`${AT}expected 110 <= 1001 <= 1000: ${K}panic-threshold-percentage`],
    },
    {
      label: 'target below 0.01',
      annotations: { target: '0.001' },
      wantProblems: [`${AT}target 0.001 should be at least 0.01: ${K}target`],
    },
    { label: 'target not a number', annotations: { target: 'lots' }, wantProblems: [`${AT}invalid value: lots: ${K}target`] },
    {
      label: 'target-utilization-percentage 0',
      annotations: { 'target-utilization-percentage': '0' },
      wantProblems: [`${AT}expected 1 <= 0 <= 100: ${K}target-utilization-percentage`],
    },
    {
      label: 'target-utilization-percentage 101',
      annotations: { 'target-utilization-percentage': '101' },
      wantProblems: [`${AT}expected 1 <= 101 <= 100: ${K}target-utilization-percentage`],
    },
    {
      label: 'target-burst-capacity -2',
      annotations: { 'target-burst-capacity': '-2' },
      wantProblems: [`${AT}invalid value: -2: ${K}target-burst-capacity`],
    },
    {
      label: 'min-scale negative',
      annotations: { 'min-scale': '-1' },
      wantProblems: [`${AT}expected 0 <= -1 <= 2147483647: ${K}min-scale`],
    },
    { label: 'min-scale not an integer', annotations: { 'min-scale': '1.5' }, wantProblems: [`${AT}invalid value: 1.5: ${K}min-scale`] },
    { label: 'max-scale not a number', annotations: { 'max-scale': 'bar' }, wantProblems: [`${AT}invalid value: bar: ${K}max-scale`] },
    {
      label: 'max-scale below min-scale',
      annotations: { 'min-scale': '5', 'max-scale': '2' },
      wantProblems: [`${AT}max-scale=2 is less than min-scale=5: ${K}max-scale, ${K}min-scale`],
    },
    {
      label: 'min-scale above the cluster max-scale',
      defaults: { 'max-scale': 3 },
      annotations: { 'min-scale': '5' },
      wantProblems: [`${AT}max-scale=3 is less than min-scale=5: ${K}max-scale, ${K}min-scale`],
    },
    {
      label: 'max-scale above max-scale-limit',
      defaults: { 'max-scale-limit': 10, 'max-scale': 5 },
      annotations: { 'max-scale': '20' },
      wantProblems: [`${AT}expected 1 <= 20 <= 10: ${K}max-scale`],
    },
    {
      label: 'max-scale 0 (unlimited) under a max-scale-limit',
      defaults: { 'max-scale-limit': 10, 'max-scale': 5 },
      annotations: { 'max-scale': '0' },
      wantProblems: [`${AT}max-scale=0 (unlimited), must be less than 10: ${K}max-scale`],
    },
    {
      label: 'initial-scale negative',
      annotations: { 'initial-scale': '-1' },
      wantProblems: [`${AT}invalid value: -1: ${K}initial-scale must be greater than 0`],
    },
    {
      label: 'initial-scale 0 not allowed by the cluster',
      annotations: { 'initial-scale': '0' },
      wantProblems: [`${AT}invalid value: 0: ${K}initial-scale=0 not allowed by cluster`],
    },
    {
      label: 'initial-scale not a number',
      annotations: { 'initial-scale': 'many' },
      wantProblems: [`${AT}invalid value: many: ${K}initial-scale`],
    },
    {
      label: 'activation-scale 0',
      annotations: { 'activation-scale': '0' },
      wantProblems: [`${AT}expected 1 <= 0 <= 2147483647: ${K}activation-scale`],
    },
    {
      label: 'activation-scale above max-scale',
      annotations: { 'activation-scale': '5', 'max-scale': '3' },
      wantProblems: [`${AT}max-scale=3 is less than activation-scale=5: ${K}activation-scale`],
    },
    {
      label: 'scale-down-delay negative',
      annotations: { 'scale-down-delay': '-1s' },
      wantProblems: [`${AT}expected 0s <= -1s <= 1h0m0s: ${K}scale-down-delay`],
    },
    {
      label: 'scale-down-delay above 1h',
      annotations: { 'scale-down-delay': '2h' },
      wantProblems: [`${AT}expected 0s <= 2h <= 1h0m0s: ${K}scale-down-delay`],
    },
    {
      label: 'scale-down-delay not whole seconds',
      annotations: { 'scale-down-delay': '1500ms' },
      wantProblems: [`${AT}must be specified with at most second precision: ${K}scale-down-delay`],
    },
    {
      label: 'scale-to-zero-pod-retention-period above 1h',
      annotations: { 'scale-to-zero-pod-retention-period': '2h' },
      wantProblems: [`${AT}expected 0s <= 2h <= 1h0m0s: ${K}scale-to-zero-pod-retention-period`],
    },
    {
      label: 'scale-to-zero-pod-retention-period not a duration',
      annotations: { 'scale-to-zero-pod-retention-period': 'later' },
      wantProblems: [`${AT}invalid value: later: ${K}scale-to-zero-pod-retention-period`],
    },
    { label: 'metric cpu (HPA only)', annotations: { metric: 'cpu' }, wantProblems: [`${AT}invalid value: cpu: ${K}metric`] },
    {
      label: 'metric-aggregation-algorithm unknown',
      annotations: { 'metric-aggregation-algorithm': 'exponential' },
      wantProblems: [`${AT}invalid value: exponential: ${K}metric-aggregation-algorithm`],
    },
    {
      label: 'class hpa',
      annotations: { class: 'hpa.autoscaling.knative.dev' },
      wantProblems: [`${AT}invalid value: hpa.autoscaling.knative.dev: ${K}class`],
    },
    { label: 'unknown key', annotations: { windw: '60s' }, wantProblems: [`${AT}invalid key name "${K}windw": annotations`] },
    {
      label: 'unknown camelCase key suggests the kebab-case one',
      annotations: { activationScale: '2' },
      wantProblems: [`${AT}invalid key name "${K}activationScale" (did you mean "${K}activation-scale"?): annotations`],
    },
    {
      label: 'both spellings of one key',
      annotations: { 'min-scale': '1', minScale: '2' },
      wantProblems: [`${AT}expected exactly one, got both: ${K}min-scale, ${K}minScale`],
    },
    {
      label: 'every problem is reported, not just the first',
      annotations: { window: '3s', 'panic-threshold-percentage': 'fifty', 'min-scale': '-4', 'max-scale': 'never' },
      wantProblems: [
        `${AT}expected 6s <= 3s <= 1h0m0s: ${K}window`,
        `${AT}invalid value: fifty: ${K}panic-threshold-percentage`,
        `${AT}expected 0 <= -4 <= 2147483647: ${K}min-scale`,
        `${AT}invalid value: never: ${K}max-scale`,
      ],
    },
    {
      label: 'an invalid value leaves the default in place',
      annotations: { window: '3s' },
      want: { stableWindowMs: 60_000, panicWindowMs: 6_000 },
      wantProblems: [`${AT}expected 6s <= 3s <= 1h0m0s: ${K}window`],
    },
  ];
  test.each(rows)('$label', assertRow);
});

describe('resolveScaling: invalid cluster defaults', () => {
  const rows: Row[] = [
    {
      label: 'stable-window below 6s',
      defaults: { 'stable-window': '3s' },
      wantProblems: ['autoscaler: stable-window = 3s, must be in [6s; 1h0m0s] range'],
    },
    {
      label: 'stable-window not whole seconds',
      defaults: { 'stable-window': '6500ms' },
      wantProblems: ['autoscaler: stable-window = 6.5s, must be specified with at most second precision'],
    },
    {
      label: 'stable-window not a duration',
      defaults: { 'stable-window': 'a minute' },
      wantProblems: ['autoscaler: invalid value: a minute: stable-window'],
    },
    {
      label: 'panic-window-percentage 0',
      defaults: { 'panic-window-percentage': 0 },
      wantProblems: ['autoscaler: panic-window-percentage = 0, must be in [1, 100] interval'],
    },
    {
      label: 'panic-threshold-percentage 100',
      defaults: { 'panic-threshold-percentage': 100 },
      wantProblems: ['autoscaler: panic-threshold-percentage = 100, must be in [110, 1000] interval'],
    },
    {
      label: 'max-scale-up-rate 1',
      defaults: { 'max-scale-up-rate': 1 },
      wantProblems: ['autoscaler: max-scale-up-rate = 1, must be greater than 1.0'],
    },
    {
      label: 'max-scale-down-rate 0.5',
      defaults: { 'max-scale-down-rate': 0.5 },
      wantProblems: ['autoscaler: max-scale-down-rate = 0.5, must be greater than 1.0'],
    },
    {
      label: 'container-concurrency-target-percentage 150',
      defaults: { 'container-concurrency-target-percentage': 150 },
      wantProblems: ['autoscaler: container-concurrency-target-percentage = 1.500000 is outside of valid range of (0, 100]'],
    },
    {
      label: 'target concurrency below 0.01',
      defaults: { 'container-concurrency-target-percentage': 50, 'container-concurrency-target-default': 0.01 },
      wantProblems: [
        "autoscaler: container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of 0.005, can't be less than 0.01",
      ],
    },
    {
      label: 'requests-per-second-target-default 0',
      defaults: { 'requests-per-second-target-default': 0 },
      wantProblems: ['autoscaler: requests-per-second-target-default must be at least 0.01, was: 0'],
    },
    {
      label: 'target-burst-capacity -5',
      defaults: { 'target-burst-capacity': -5 },
      wantProblems: ['autoscaler: target-burst-capacity must be either non-negative or -1 (for unlimited), was: -5.000000'],
    },
    {
      label: 'activator-capacity 0.5',
      defaults: { 'activator-capacity': 0.5 },
      wantProblems: ['autoscaler: activator-capacity = 0.5, must be at least 1'],
    },
    {
      label: 'scale-to-zero-grace-period 0s',
      defaults: { 'scale-to-zero-grace-period': '0s' },
      wantProblems: ['autoscaler: scale-to-zero-grace-period must be positive, was: 0s'],
    },
    {
      label: 'scale-down-delay negative',
      defaults: { 'scale-down-delay': '-5s' },
      wantProblems: ['autoscaler: scale-down-delay cannot be negative, was: -5s'],
    },
    {
      label: 'scale-down-delay not whole seconds',
      defaults: { 'scale-down-delay': '2.5s' },
      wantProblems: ['autoscaler: scale-down-delay = 2.5s, must be specified with at most second precision'],
    },
    {
      label: 'scale-to-zero-pod-retention-period negative',
      defaults: { 'scale-to-zero-pod-retention-period': '-1m' },
      wantProblems: ['autoscaler: scale-to-zero-pod-retention-period cannot be negative, was: -1m0s'],
    },
    {
      label: 'initial-scale 0 without allow-zero-initial-scale',
      defaults: { 'initial-scale': 0 },
      wantProblems: ['autoscaler: initial-scale = 0, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)'],
    },
    {
      label: 'max-scale-limit without a max-scale',
      defaults: { 'max-scale-limit': 10 },
      wantProblems: ['autoscaler: max-scale = 0, must be in [1, max-scale-limit(10)] range'],
    },
    {
      label: 'max-scale above max-scale-limit',
      defaults: { 'max-scale-limit': 10, 'max-scale': 20 },
      wantProblems: ['autoscaler: max-scale = 20, must be in [1, max-scale-limit(10)] range'],
    },
    {
      label: 'max-scale-limit negative',
      defaults: { 'max-scale-limit': -1 },
      wantProblems: ['autoscaler: max-scale-limit = -1, must be at least 0'],
    },
    {
      label: 'min-scale above max-scale',
      defaults: { 'min-scale': 5, 'max-scale': 3 },
      wantProblems: ['autoscaler: min-scale = 5, must be in [0, max-scale(3)] range'],
    },
    {
      label: 'pod-autoscaler-class hpa',
      defaults: { 'pod-autoscaler-class': 'hpa.autoscaling.knative.dev' },
      wantProblems: ['autoscaler: pod-autoscaler-class = hpa.autoscaling.knative.dev, only kpa.autoscaling.knative.dev is supported'],
    },
    {
      label: 'enable-scale-to-zero not a boolean',
      defaults: { 'enable-scale-to-zero': 'maybe' },
      wantProblems: ['autoscaler: invalid value: maybe: enable-scale-to-zero'],
    },
    { label: 'max-scale not an integer', defaults: { 'max-scale': '2.5' }, wantProblems: ['autoscaler: invalid value: 2.5: max-scale'] },
    { label: 'unknown key', defaults: { 'tick-interval': '2s' }, wantProblems: ['autoscaler: invalid key name "tick-interval"'] },
    {
      label: 'camelCase key suggests the kebab-case one',
      defaults: { stableWindow: '60s' },
      wantProblems: ['autoscaler: invalid key name "stableWindow" (did you mean "stable-window"?)'],
    },
    {
      label: "an invalid default falls back to Knative's",
      defaults: { 'max-scale-up-rate': 1 },
      want: { maxScaleUpRate: 1000 },
      wantProblems: ['autoscaler: max-scale-up-rate = 1, must be greater than 1.0'],
    },
  ];
  test.each(rows)('$label', assertRow);

  test('a problem in the autoscaler: block is reported once for many revisions', () => {
    const doc = {
      autoscaler: { 'stable-window': '3s' },
      services: [
        {
          name: 'iris',
          revisions: [
            { name: 'a', backend: 'static', urls: ['http://127.0.0.1:9001'] },
            { name: 'b', backend: 'static', urls: ['http://127.0.0.1:9002'] },
          ],
          traffic: [{ revision: 'a', percent: 100 }],
        },
      ],
    };
    let problems: unknown;
    try {
      parseConfig(doc);
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual(['autoscaler: stable-window = 3s, must be in [6s; 1h0m0s] range']);
  });
});

describe('helpers', () => {
  test('deciderSpec carries what the decider needs', () => {
    const spec = resolveScaling(
      AUTOSCALER_DEFAULTS,
      { name: 'a', annotations: { [`${K}scale-down-delay`]: '10s', [`${K}activation-scale`]: '2' } },
      'services[0].revisions[0]',
      [],
    );
    expect(deciderSpec(spec, false)).toEqual({
      targetValue: 70,
      totalValue: 100,
      targetBurstCapacity: 211,
      panicThreshold: 2,
      maxScaleUpRate: 1000,
      maxScaleDownRate: 2,
      stableWindowMs: 60_000,
      scaleDownDelayMs: 10_000,
      activationScale: 2,
      reachable: false,
    });
  });

  const durations: [ms: number, want: string][] = [
    [0, '0s'],
    [6_000, '6s'],
    [3_600_000, '1h0m0s'],
    [90_000, '1m30s'],
    [6_500, '6.5s'],
    [500, '500ms'],
    [-5_000, '-5s'],
  ];
  test.each(durations)('formatGoDuration(%d) = %s', (ms, want) => {
    expect(formatGoDuration(ms)).toBe(want);
  });

  test("AUTOSCALER_DEFAULTS are Knative's config-autoscaler defaults", () => {
    expect(AUTOSCALER_DEFAULTS).toMatchObject({
      containerConcurrencyTargetFraction: 0.7,
      containerConcurrencyTargetDefault: 100,
      rpsTargetDefault: 200,
      targetBurstCapacity: 211,
      stableWindowMs: 60_000,
      panicWindowPercentage: 10,
      panicThresholdPercentage: 200,
      maxScaleUpRate: 1000,
      maxScaleDownRate: 2,
      enableScaleToZero: true,
      scaleToZeroGraceMs: 30_000,
      scaleToZeroPodRetentionMs: 0,
      initialScale: 1,
      allowZeroInitialScale: false,
      minScale: 0,
      maxScale: 0,
      maxScaleLimit: 0,
      scaleDownDelayMs: 0,
      activatorCapacity: 100,
    });
  });
});

describe('through the config loader', () => {
  const doc = (annotations: Record<string, string>, autoscaler: RawAutoscaler = {}) => ({
    autoscaler,
    services: [
      {
        name: 'iris',
        revisions: [
          { name: 'iris-v1', backend: 'static', urls: ['http://127.0.0.1:9001'], containerConcurrency: 4 },
          { name: 'iris-v2', backend: 'static', urls: ['http://127.0.0.1:9002'], annotations },
        ],
        traffic: [{ revision: 'iris-v1', percent: 100 }],
      },
    ],
  });

  test('containerConcurrency reaches the target and annotations reach the spec', () => {
    const config = parseConfig(doc({ [`${K}window`]: '30s' }));
    const [v1, v2] = config.services[0]!.revisions;
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types asymmetric matchers (closeTo) as any, to stand in for the number
    expect(v1!.scaling).toMatchObject({ totalValue: 4, targetValue: expect.closeTo(2.8, 9) });
    expect(v2!.scaling).toMatchObject({ stableWindowMs: 30_000, panicWindowMs: 3_000 });
  });

  test('an invalid annotation fails the load with the revision and key named', () => {
    let error: unknown;
    try {
      parseConfig(doc({ [`${K}window`]: '3s' }, { 'stable-windw': '1m' }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'autoscaler: invalid key name "stable-windw"',
      `${AT}expected 6s <= 3s <= 1h0m0s: ${K}window`,
    ]);
  });
});

/**
 * The tracing block and the OTEL_* variables (src/config/tracing.ts), as tables: what turns tracing
 * on, which endpoint, sampler and service name win, what an unusable variable falls back to, and
 * what the config file refuses (naming the field).
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load.js';
import { resolveTracing, type SamplerChoice, type TracingBlock } from '../src/config/tracing.js';
import { ConfigError } from '../src/errors.js';

interface Row {
  label: string;
  block?: Partial<TracingBlock>;
  env?: Record<string, string>;
  /** undefined: tracing off. */
  wantUrl: string | undefined;
  wantSampler?: SamplerChoice;
  wantService?: string;
  wantQueue?: number;
  wantBatch?: number;
  wantDelay?: number;
  wantWarnings?: RegExp[];
}

const ROWS: Row[] = [
  { label: 'no block, no variables: off', wantUrl: undefined },
  { label: 'a block without an endpoint and no variables: off', block: { sampleRatio: 0.5 }, wantUrl: undefined },
  {
    label: 'the block endpoint alone: on, with the SDK defaults',
    block: { endpoint: 'http://collector:4318/v1/traces' },
    wantUrl: 'http://collector:4318/v1/traces',
    wantSampler: { kind: 'parent-based-ratio', ratio: 1 },
    wantService: 'sluice',
    wantQueue: 2048,
    wantBatch: 512,
    wantDelay: 5000,
  },
  {
    label: 'OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on, with the traces path appended',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' },
    wantUrl: 'http://collector:4318/v1/traces',
  },
  {
    label: 'a base endpoint ending in / gets no second slash',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' },
    wantUrl: 'http://collector:4318/v1/traces',
  },
  {
    label: 'the per-signal endpoint is used as it is, and wins over the base one',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom' },
    wantUrl: 'http://traces:9999/custom',
  },
  {
    label: 'the block endpoint wins over the variables',
    block: { endpoint: 'http://from-block:4318/v1/traces' },
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://from-env:4318/v1/traces' },
    wantUrl: 'http://from-block:4318/v1/traces',
  },
  {
    label: 'an endpoint variable that is not an http URL: off, with a warning naming it',
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4317' },
    wantUrl: undefined,
    wantWarnings: [/^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "collector:4317"/],
  },
  {
    label: 'OTEL_SDK_DISABLED=true turns tracing off whatever the block says',
    block: { endpoint: 'http://collector:4318/v1/traces' },
    env: { OTEL_SDK_DISABLED: 'TRUE' },
    wantUrl: undefined,
  },
  {
    label: 'OTEL_SDK_DISABLED other than true is false, as the SDK reads booleans',
    block: { endpoint: 'http://collector:4318/v1/traces' },
    env: { OTEL_SDK_DISABLED: '1' },
    wantUrl: 'http://collector:4318/v1/traces',
  },
  {
    label: 'OTEL_TRACES_EXPORTER=none turns tracing off',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' },
    wantUrl: undefined,
  },
  {
    label: 'enabled: false in the block turns tracing off',
    block: { endpoint: 'http://collector:4318/v1/traces', enabled: false },
    wantUrl: undefined,
  },
  {
    label: 'sampleRatio: parent-based ratio, over the sampler variables',
    block: { endpoint: 'http://c:4318/v1/traces', sampleRatio: 0.01 },
    env: { OTEL_TRACES_SAMPLER: 'always_off' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'parent-based-ratio', ratio: 0.01 },
  },
  {
    label: 'parentbased_traceidratio with its argument',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'parent-based-ratio', ratio: 0.25 },
  },
  {
    label: 'traceidratio (not parent-based) without an argument: ratio 1',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'traceidratio' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'ratio', ratio: 1 },
  },
  {
    label: 'parentbased_always_off',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'parentbased_always_off' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'parent-based-always-off' },
  },
  {
    label: 'always_on',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'always_on' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'always-on' },
  },
  {
    label: 'an out-of-range sampler argument falls back to 1 with a warning',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'parent-based-ratio', ratio: 1 },
    wantWarnings: [/^OTEL_TRACES_SAMPLER_ARG: "1.5"/],
  },
  {
    label: 'an unknown sampler falls back to parentbased_always_on with a warning',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'jaeger_remote' },
    wantUrl: 'http://c:4318/v1/traces',
    wantSampler: { kind: 'parent-based-ratio', ratio: 1 },
    wantWarnings: [/^OTEL_TRACES_SAMPLER: "jaeger_remote"/],
  },
  {
    label: 'OTEL_SERVICE_NAME names the service; the block wins over it',
    block: { endpoint: 'http://c:4318/v1/traces', serviceName: 'edge-gateway' },
    env: { OTEL_SERVICE_NAME: 'from-env' },
    wantUrl: 'http://c:4318/v1/traces',
    wantService: 'edge-gateway',
  },
  {
    label: 'OTEL_SERVICE_NAME without a block name',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SERVICE_NAME: 'from-env' },
    wantUrl: 'http://c:4318/v1/traces',
    wantService: 'from-env',
  },
  {
    label: 'the batch variables; a batch never exceeds the queue',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '400',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
    wantUrl: 'http://c:4318/v1/traces',
    wantQueue: 100,
    wantBatch: 100,
    wantDelay: 50,
  },
  {
    label: 'maxQueueSize in the block wins over OTEL_BSP_MAX_QUEUE_SIZE',
    block: { endpoint: 'http://c:4318/v1/traces', maxQueueSize: 64 },
    env: { OTEL_BSP_MAX_QUEUE_SIZE: '100' },
    wantUrl: 'http://c:4318/v1/traces',
    wantQueue: 64,
    wantBatch: 64,
  },
  {
    label: 'an unusable queue size falls back to 2048 with a warning',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_BSP_MAX_QUEUE_SIZE: '-3' },
    wantUrl: 'http://c:4318/v1/traces',
    wantQueue: 2048,
    wantWarnings: [/^OTEL_BSP_MAX_QUEUE_SIZE: "-3"/],
  },
];

describe('resolveTracing', () => {
  it.each(ROWS)('$label', (row) => {
    const block = row.block === undefined ? undefined : { enabled: true, ...row.block };
    const { settings, warnings } = resolveTracing(block, row.env ?? {});
    expect(settings?.url).toBe(row.wantUrl);
    if (row.wantSampler !== undefined) expect(settings?.sampler).toEqual(row.wantSampler);
    if (row.wantService !== undefined) expect(settings?.serviceName).toBe(row.wantService);
    if (row.wantQueue !== undefined) expect(settings?.maxQueueSize).toBe(row.wantQueue);
    if (row.wantBatch !== undefined) expect(settings?.maxExportBatchSize).toBe(row.wantBatch);
    if (row.wantDelay !== undefined) expect(settings?.scheduledDelayMs).toBe(row.wantDelay);
    const want = row.wantWarnings ?? [];
    expect(warnings).toHaveLength(want.length);
    want.forEach((re, i) => expect(warnings[i]).toMatch(re));
  });
});

function problems(yaml: string): string[] {
  try {
    parseConfigText(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('config was accepted');
}

describe('the tracing block in the config file', () => {
  it('parses a full block', () => {
    const config = parseConfigText(
      'tracing: { endpoint: "https://otel.example.com/v1/traces", sampleRatio: 0.1, serviceName: edge, maxQueueSize: 100 }',
    );
    expect(config.tracing).toEqual({
      endpoint: 'https://otel.example.com/v1/traces',
      sampleRatio: 0.1,
      serviceName: 'edge',
      maxQueueSize: 100,
      enabled: true,
    });
  });

  it('has no block by default', () => {
    expect(parseConfigText('services: []').tracing).toBeUndefined();
  });

  it.each([
    { yaml: 'tracing: { endpoint: "ftp://c/v1/traces" }', want: /^tracing\.endpoint: / },
    { yaml: 'tracing: { endpoint: "not a url" }', want: /^tracing\.endpoint: / },
    { yaml: 'tracing: { sampleRatio: 1.5 }', want: /^tracing\.sampleRatio: / },
    { yaml: 'tracing: { sampleRatio: -0.1 }', want: /^tracing\.sampleRatio: / },
    { yaml: 'tracing: { serviceName: "" }', want: /^tracing\.serviceName: / },
    { yaml: 'tracing: { maxQueueSize: 0 }', want: /^tracing\.maxQueueSize: / },
    { yaml: 'tracing: { maxQueueSize: 1.5 }', want: /^tracing\.maxQueueSize: / },
    { yaml: 'tracing: { sampleratio: 0.5 }', want: /^tracing: .*sampleratio/ },
  ])('refuses $yaml naming the field', ({ yaml, want }) => {
    const found = problems(yaml);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(want);
  });
});

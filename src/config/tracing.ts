/**
 * Tracing settings: the config file's `tracing:` block and the OpenTelemetry environment variables,
 * resolved once at start into what the exporter and sampler need, or `undefined` for tracing off.
 * Pure: the environment is an argument, so every rule is a row in test/tracing-config.test.ts.
 *
 * A field of the block wins over its variable (as the SDK lets code win over the environment);
 * variables follow the SDK's rules: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is,
 * OTEL_EXPORTER_OTLP_ENDPOINT gets `/v1/traces` appended; an unknown OTEL_TRACES_SAMPLER or an
 * out-of-range OTEL_TRACES_SAMPLER_ARG falls back to the SDK's default with a warning.
 */
import { z } from 'zod';

/** The `tracing:` block. Tracing is on when an endpoint is known (here or from OTEL_*), off by default. */
export const tracingSchema = z
  .object({
    /** OTLP/HTTP traces URL (`http://collector:4318/v1/traces`); default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
    endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    /** Share of new traces recorded, 0..1; a request with a traceparent follows its parent's choice. Default OTEL_TRACES_SAMPLER(_ARG), else 1. */
    sampleRatio: z.number().min(0).max(1).optional(),
    /** The `service.name` resource attribute. Default OTEL_SERVICE_NAME, else `sluice`. */
    serviceName: z.string().min(1).max(255).optional(),
    /** Finished spans waiting for export; past this they are dropped (a collector that is down costs at most this much memory). Default OTEL_BSP_MAX_QUEUE_SIZE, else 2048. */
    maxQueueSize: z.number().int().min(1).max(1_000_000).optional(),
    /** false turns tracing off whatever the environment says. Default true. */
    enabled: z.boolean().default(true),
  })
  .strict();

export type TracingBlock = z.infer<typeof tracingSchema>;

/** How root spans (no sampled parent to follow) are chosen; always parent-based except `always_*` without it. */
export type SamplerChoice =
  | { kind: 'parent-based-ratio'; ratio: number }
  | { kind: 'ratio'; ratio: number }
  | { kind: 'parent-based-always-off' }
  | { kind: 'always-on' }
  | { kind: 'always-off' };

export interface TracingSettings {
  /** Where spans are POSTed (OTLP/HTTP, JSON). */
  url: string;
  sampler: SamplerChoice;
  serviceName: string;
  maxQueueSize: number;
  /** Spans in one export request (at most maxQueueSize). */
  maxExportBatchSize: number;
  /** How long a finished span may wait for a batch to fill before it is sent anyway. */
  scheduledDelayMs: number;
}

export interface ResolvedTracing {
  /** undefined: tracing is off and the request path does no tracing work. */
  settings: TracingSettings | undefined;
  /** Variables that were set but could not be used, and what was used instead. */
  warnings: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_QUEUE = 2048;
const DEFAULT_BATCH = 512;
const DEFAULT_DELAY_MS = 5000;

/** Resolve the block and the environment; `block` is absent when the config has none. */
export function resolveTracing(block: TracingBlock | undefined, env: Env): ResolvedTracing {
  const warnings: string[] = [];
  if (block?.enabled === false || isTrue(env.OTEL_SDK_DISABLED) || env.OTEL_TRACES_EXPORTER?.trim() === 'none') {
    return { settings: undefined, warnings };
  }
  const fromEnv = block?.endpoint === undefined ? endpointFromEnv(env) : undefined;
  const url = block?.endpoint ?? fromEnv?.url;
  if (url === undefined) return { settings: undefined, warnings };
  if (fromEnv !== undefined && !/^https?:$/.test(URL.parse(url)?.protocol ?? '')) {
    warnings.push(`${fromEnv.variable}: "${url}" is not an http:// or https:// URL; tracing is off`);
    return { settings: undefined, warnings };
  }
  const maxQueueSize = block?.maxQueueSize ?? positiveInt(env, 'OTEL_BSP_MAX_QUEUE_SIZE', DEFAULT_QUEUE, warnings);
  const sampler: SamplerChoice =
    block?.sampleRatio !== undefined ? { kind: 'parent-based-ratio', ratio: block.sampleRatio } : samplerFromEnv(env, warnings);
  const serviceName = block?.serviceName ?? (nonEmpty(env.OTEL_SERVICE_NAME) || 'sluice');
  // The SDK's other batch variables, read here too because the block's settings are passed to it explicitly.
  const batch = positiveInt(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', DEFAULT_BATCH, warnings);
  const scheduledDelayMs = positiveInt(env, 'OTEL_BSP_SCHEDULE_DELAY', DEFAULT_DELAY_MS, warnings);
  const maxExportBatchSize = Math.min(batch, maxQueueSize);
  return { settings: { url, sampler, serviceName, maxQueueSize, maxExportBatchSize, scheduledDelayMs }, warnings };
}

/** The SDK's rule: the per-signal variable as it is, else the base one with the signal's path. */
function endpointFromEnv(env: Env): { variable: string; url: string } | undefined {
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (traces !== undefined) return { variable: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', url: traces };
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (base === undefined) return undefined;
  return { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', url: base.endsWith('/') ? `${base}v1/traces` : `${base}/v1/traces` };
}

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as the SDK reads them; default parentbased_always_on. */
function samplerFromEnv(env: Env, warnings: string[]): SamplerChoice {
  const name = nonEmpty(env.OTEL_TRACES_SAMPLER)?.toLowerCase() ?? 'parentbased_always_on';
  switch (name) {
    case 'always_on':
      return { kind: 'always-on' };
    case 'always_off':
      return { kind: 'always-off' };
    case 'parentbased_always_off':
      return { kind: 'parent-based-always-off' };
    case 'traceidratio':
      return { kind: 'ratio', ratio: samplerArg(env, warnings) };
    case 'parentbased_traceidratio':
      return { kind: 'parent-based-ratio', ratio: samplerArg(env, warnings) };
    case 'parentbased_always_on':
      return { kind: 'parent-based-ratio', ratio: 1 };
    default:
      warnings.push(`OTEL_TRACES_SAMPLER: "${name}" is not one of ${SAMPLERS.join(', ')}; using parentbased_always_on`);
      return { kind: 'parent-based-ratio', ratio: 1 };
  }
}

/** The ratio for the traceidratio samplers: 0..1, default 1 (the SDK's). */
function samplerArg(env: Env, warnings: string[]): number {
  const raw = nonEmpty(env.OTEL_TRACES_SAMPLER_ARG);
  if (raw === undefined) return 1;
  const ratio = Number(raw);
  if (Number.isFinite(ratio) && ratio >= 0 && ratio <= 1) return ratio;
  warnings.push(`OTEL_TRACES_SAMPLER_ARG: "${raw}" is not a number from 0 to 1; using 1`);
  return 1;
}

function positiveInt(env: Env, name: string, fallback: number, warnings: string[]): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  warnings.push(`${name}: "${raw}" is not a positive integer; using ${fallback}`);
  return fallback;
}

/** The SDK reads booleans as `true`, case-insensitively, and anything else as false. */
function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === '' ? undefined : v;
}

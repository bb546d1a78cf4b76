/**
 * The tracing port (gateway/request-trace.ts) on OpenTelemetry: one SERVER span per request, child
 * of the client's traceparent, and a `held` child span for the time a request waited in the hold
 * queue. The endpoint gets the SERVER span's traceparent, so the model server's spans hang under
 * the gateway's. Spans go out over OTLP/HTTP (JSON) in batches from a bounded queue: a collector
 * that is down or slow costs at most `maxQueueSize` spans of memory, and the rest are dropped.
 *
 * Why no CLIENT span per attempt: a request is one span in the common case (two on a cold start),
 * which halves what the gateway creates and exports; attempts that fail and are retried are
 * events on the SERVER span, which is where someone reading the trace looks for them.
 *
 * Contexts are passed explicitly (no context manager, no global provider): nothing here touches
 * async hooks or the process's global OpenTelemetry state.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { SamplerChoice, TracingSettings } from '../config/tracing.js';
import type { RequestTrace, RequestTracer, TracedRequest } from '../gateway/request-trace.js';
import { deleteField, flatGetter, flatSetter } from './flat-headers.js';

/** Attribute names of Sluice's own (the rest are OpenTelemetry's HTTP semantic conventions). */
export const ATTR = {
  service: 'sluice.service',
  revision: 'sluice.revision',
  endpoint: 'sluice.endpoint',
  coldStart: 'sluice.cold_start',
  coldStartMs: 'sluice.cold_start_ms',
  heldMs: 'sluice.held_ms',
} as const;

/** How long one export may take before it is abandoned (and its spans dropped). */
const EXPORT_TIMEOUT_MS = 10_000;

const propagator = new W3CTraceContextPropagator();

function sampler(choice: SamplerChoice): Sampler {
  switch (choice.kind) {
    case 'parent-based-ratio':
      return new ParentBasedSampler({ root: choice.ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(choice.ratio) });
    case 'ratio':
      return new TraceIdRatioBasedSampler(choice.ratio);
    case 'parent-based-always-off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'always-on':
      return new AlwaysOnSampler();
    case 'always-off':
      return new AlwaysOffSampler();
  }
}

export class OtelRequestTracer implements RequestTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  constructor(settings: TracingSettings) {
    // OTEL_RESOURCE_ATTRIBUTES, then the service name the settings resolved (the block's, OTEL_SERVICE_NAME's or sluice).
    const resource = detectResources({ detectors: [envDetector] }).merge(
      resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName }),
    );
    const exporter = new OTLPTraceExporter({ url: settings.url, timeoutMillis: EXPORT_TIMEOUT_MS });
    this.provider = new BasicTracerProvider({
      resource,
      sampler: sampler(settings.sampler),
      spanProcessors: [
        new BatchSpanProcessor(exporter, {
          maxQueueSize: settings.maxQueueSize,
          maxExportBatchSize: settings.maxExportBatchSize,
          scheduledDelayMillis: settings.scheduledDelayMs,
          exportTimeoutMillis: EXPORT_TIMEOUT_MS,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('sluice-gateway');
  }

  /** Cost: one propagator extract (two header passes), one span; attributes only for a sampled span. */
  begin(request: TracedRequest): RequestTrace {
    const parent = propagator.extract(ROOT_CONTEXT, request.rawHeaders, flatGetter);
    // Started when the gateway took the request, on its millisecond clock: the held span (same
    // clock) then lies inside it, and the span's duration is the latency the histogram records.
    const span = this.tracer.startSpan(
      `${request.method} ${request.service}`,
      { kind: SpanKind.SERVER, startTime: request.startedAt },
      parent,
    );
    if (span.isRecording()) {
      span.setAttribute(ATTR_HTTP_REQUEST_METHOD, request.method);
      span.setAttribute(ATTR_URL_PATH, request.path);
      span.setAttribute(ATTR.service, request.service);
      span.setAttribute(ATTR.revision, request.revision);
    }
    return new OtelRequestTrace(this.tracer, span);
  }

  /** Export what is queued (up to the export timeout), then stop. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

class OtelRequestTrace implements RequestTrace {
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
  ) {}

  held(heldMs: number, now: number, coldStart: boolean): void {
    if (!this.span.isRecording()) return;
    const held = this.tracer.startSpan(
      'held',
      { kind: SpanKind.INTERNAL, startTime: now - heldMs, attributes: { [ATTR.coldStart]: coldStart, [ATTR.heldMs]: heldMs } },
      trace.setSpan(ROOT_CONTEXT, this.span),
    );
    held.end(now);
  }

  sending(endpoint: string, headers: string[]): void {
    if (this.span.isRecording()) {
      // A retry names the endpoint it went to last; the failed attempt is an event.
      this.span.setAttribute(ATTR.endpoint, endpoint);
      this.span.setAttribute(ATTR_SERVER_ADDRESS, endpoint);
    }
    propagator.inject(trace.setSpan(ROOT_CONTEXT, this.span), headers, flatSetter);
    // W3C Trace Context §3.3: without a parent the client's tracestate no longer belongs to the trace.
    if (this.span.spanContext().traceState === undefined) deleteField(headers, 'tracestate');
  }

  attemptFailed(endpoint: string, code: string, next: string): void {
    if (this.span.isRecording())
      this.span.addEvent('attempt failed', { [ATTR.endpoint]: endpoint, [ATTR_ERROR_TYPE]: code, 'sluice.next': next });
  }

  failed(code: string, message: string): void {
    if (!this.span.isRecording()) return;
    this.span.addEvent('gateway error', { [ATTR_ERROR_TYPE]: code, message });
    this.span.setAttribute(ATTR_ERROR_TYPE, code);
  }

  end(status: number, coldStartMs: number): void {
    const span = this.span;
    if (span.isRecording()) {
      if (status === 0) span.setAttribute(ATTR_ERROR_TYPE, 'client_closed');
      else span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      span.setAttribute(ATTR.coldStart, coldStartMs >= 0);
      if (coldStartMs >= 0) span.setAttribute(ATTR.coldStartMs, coldStartMs);
      // HTTP server spans: an error status for 5xx (the gateway failed), not for 4xx (the client did).
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

/**
 * The tracing port: what the gateway tells a tracer about one request, from the moment it is routed
 * to its last byte. The gateway layer defines it and knows nothing of OpenTelemetry; src/tracing/
 * implements it and src/app/ connects the two. With tracing off the gateway holds no tracer, and an
 * exchange's only tracing cost is a test of one field that is always undefined.
 */

/** What the tracer is told about a routed request. */
export interface TracedRequest {
  method: string;
  /** The normalised target (request-target.ts). */
  path: string;
  service: string;
  revision: string;
  /** When the gateway took the request (epoch ms): the clock of its latency stats and hold queue. */
  startedAt: number;
  /** The client's headers, flat [name, value, …]: its traceparent and tracestate are read from here. */
  rawHeaders: readonly string[];
}

/** Makes a trace per request; one per gateway, chosen at start. */
export interface RequestTracer {
  begin(request: TracedRequest): RequestTrace;
}

/** One request's trace, told what happens to the request in order. */
export interface RequestTrace {
  /** The request waited `heldMs` in the hold queue, ending at `now` (epoch ms); `coldStart`: the revision had no ready endpoint when it was held. */
  held(heldMs: number, now: number, coldStart: boolean): void;
  /**
   * The request goes to `endpoint` with these headers (flat, the endpoint's): its traceparent and
   * tracestate are set to this request's, replacing the client's.
   */
  sending(endpoint: string, headers: string[]): void;
  /** An attempt at `endpoint` failed with `code`; `next` is where the request goes now (retry-rule.ts: any, other, none). */
  attemptFailed(endpoint: string, code: string, next: string): void;
  /** The gateway answered with one of its own errors (errors.ts code). */
  failed(code: string, message: string): void;
  /** The request is over: `status` 0 when the client left first; `coldStartMs` −1 when none. */
  end(status: number, coldStartMs: number): void;
}

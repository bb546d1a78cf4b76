/**
 * Prometheus export of the per-revision statistics and the autoscaler's view.
 *
 * The request path never calls prom-client: it bumps plain numbers in RevisionStats (one map lookup
 * and a few adds per request). Every series here is computed at scrape time from the StatusSource:
 *
 * - counters and gauges are prom-client metrics whose `collect()` resets them and sets the current
 *   totals, so a revision that leaves the source leaves the output on the next scrape;
 * - `sluice_request_duration_seconds` (histogram) and `sluice_cold_start_seconds` (summary without
 *   quantiles: `_sum` and `_count` only) are snapshot collectors that turn RevisionStats's arrays into
 *   samples directly, since prom-client's Histogram and Summary can only be fed one observation at a
 *   time;
 * - `sluice_scale_operations_total{result}` is the one metric updated as events happen, by the control
 *   loop through `scaleOperation()` (a few times per tick at most, never per request).
 *
 * Node.js process metrics come from prom-client's `collectDefaultMetrics` under their standard,
 * unprefixed names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...) so that stock
 * Node.js dashboards work unchanged.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { RevisionView, StatusSource } from '../core/status.js';
import { DURATION_BOUNDS } from './revision-stats.js';

/**
 * How often the event-loop delay histogram samples, ms. prom-client's default of 10 ms is a timer
 * firing 100 times a second: at 1,000 requests a second that alone cost about 10 µs of CPU per
 * request, a third of what nginx spends on the whole request. At 100 ms the percentiles still get
 * ten samples a second.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

export interface MetricsOptions {
  /** Also export prom-client's default Node.js process metrics. Default true. */
  defaultMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  /** Count one replica-count patch issued by the control loop. */
  scaleOperation(result: 'success' | 'error'): void;
}

type RevisionLabel = 'service' | 'revision';
const REVISION_LABELS: readonly RevisionLabel[] = ['service', 'revision'];

/** Status code label for a recorded code; 0 (client went away first) is exported as "499". */
export function codeLabel(code: number): string {
  return code === 0 ? '499' : String(code);
}

/**
 * Build a registry exporting the contract's `sluice_*` metrics read from `source` at scrape time.
 *
 * @example
 * const metrics = createMetrics(gateway);
 * loop.onScale = (ok) => metrics.scaleOperation(ok ? 'success' : 'error');
 * admin = createAdminApp({ status: gateway, registry: metrics.registry });
 */
export function createMetrics(source: StatusSource, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];

  /** Every revision the source knows now, in service order. */
  const revisions = (): RevisionView[] => source.services().flatMap((s) => s.revisions);
  const labelsOf = (r: RevisionView) => ({ service: r.service, revision: r.revision });

  new Counter<RevisionLabel | 'code'>({
    name: 'sluice_requests_total',
    help: 'Requests finished, by status code (499: the client went away first).',
    labelNames: [...REVISION_LABELS, 'code'],
    registers,
    collect() {
      this.reset();
      for (const r of revisions()) {
        for (const [code, n] of r.stats.codes) this.inc({ ...labelsOf(r), code: codeLabel(code) }, n);
      }
    },
  });

  /** A per-revision gauge whose value is read from the view at scrape time. */
  const revisionGauge = (name: string, help: string, read: (r: RevisionView) => number): void => {
    new Gauge<RevisionLabel>({
      name,
      help,
      labelNames: REVISION_LABELS,
      registers,
      collect() {
        this.reset();
        for (const r of revisions()) this.set(labelsOf(r), read(r));
      },
    });
  };
  revisionGauge('sluice_revision_inflight', 'Requests in flight at endpoints.', (r) => r.stats.inflight);
  revisionGauge('sluice_revision_held_requests', 'Requests held in the activator queue.', (r) => r.stats.held);
  revisionGauge(
    'sluice_revision_stable_concurrency',
    'Observed value averaged over the stable window (concurrency, or RPS for the rps metric).',
    (r) => r.autoscaler.stableConcurrency,
  );
  revisionGauge(
    'sluice_revision_panic_concurrency',
    'Observed value averaged over the panic window.',
    (r) => r.autoscaler.panicConcurrency,
  );
  revisionGauge('sluice_revision_rps', 'Requests per second over the stable window.', (r) => r.autoscaler.rps);
  revisionGauge('sluice_revision_panic_mode', '1 while the autoscaler is in panic mode, else 0.', (r) => (r.autoscaler.panicMode ? 1 : 0));

  new Gauge<RevisionLabel | 'kind'>({
    name: 'sluice_revision_replicas',
    help: 'Replicas: desired (last asked for), actual (exist), ready (in the endpoint set).',
    labelNames: [...REVISION_LABELS, 'kind'],
    registers,
    collect() {
      this.reset();
      for (const r of revisions()) {
        const labels = labelsOf(r);
        this.set({ ...labels, kind: 'desired' }, r.replicas.desired);
        this.set({ ...labels, kind: 'actual' }, r.replicas.actual);
        this.set({ ...labels, kind: 'ready' }, r.replicas.ready);
      }
    },
  });

  // One series per revision, its current status and reason: a reason that changes replaces the old
  // series on the next scrape (reset first), so `sluice_revision_condition{status="Failed"} == 1`
  // alerts on what is true now, never on what was.
  new Gauge<RevisionLabel | 'status' | 'reason'>({
    name: 'sluice_revision_condition',
    help: "1 for each revision's current condition: status (Ready, Activating, Failed) and reason (Serving, ExitCode, ...).",
    labelNames: [...REVISION_LABELS, 'status', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const r of revisions()) this.set({ ...labelsOf(r), status: r.condition.status, reason: r.condition.reason }, 1);
    },
  });

  registerSnapshot(registry, {
    name: 'sluice_request_duration_seconds',
    help: 'Request durations as recorded when each response ends.',
    type: 'histogram',
    samples: () => revisions().flatMap(durationSamples),
  });

  registerSnapshot(registry, {
    name: 'sluice_cold_start_seconds',
    help: 'Time requests waited for a cold start (summary without quantiles: _sum and _count).',
    type: 'summary',
    samples: () =>
      revisions().flatMap((r) => [
        { metricName: 'sluice_cold_start_seconds_sum', labels: labelsOf(r), value: r.stats.coldStartSeconds },
        { metricName: 'sluice_cold_start_seconds_count', labels: labelsOf(r), value: r.stats.coldStarts },
      ]),
  });

  const scaleOperations = new Counter<'result'>({
    name: 'sluice_scale_operations_total',
    help: 'Replica-count changes issued by the control loop, by result.',
    labelNames: ['result'],
    registers,
  });
  // Both series exist from the start, so rate() and alerts see a 0 rather than no data.
  scaleOperations.inc({ result: 'success' }, 0);
  scaleOperations.inc({ result: 'error' }, 0);

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

  return {
    registry,
    scaleOperation(result) {
      scaleOperations.inc({ result });
    },
  };
}

/** One exposition line: full metric name (with _bucket/_sum/_count suffix), labels and value. */
interface Sample {
  metricName: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The histogram lines of one revision from its plain arrays: cumulative `_bucket{le}` per bound, then
 * `+Inf`, `_sum` and `_count`. durationCounts [3, 1, 0, ..., 2] (last slot = beyond the largest bound)
 * → le="0.005" 3, le="0.01" 4, ..., le="+Inf" 6, _count 6.
 */
function durationSamples(r: RevisionView): Sample[] {
  const base = { service: r.service, revision: r.revision };
  const counts = r.stats.durationCounts;
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < DURATION_BOUNDS.length; i++) {
    cumulative += counts[i]!;
    out.push({
      metricName: 'sluice_request_duration_seconds_bucket',
      labels: { ...base, le: String(DURATION_BOUNDS[i]) },
      value: cumulative,
    });
  }
  cumulative += counts[DURATION_BOUNDS.length]!;
  out.push(
    { metricName: 'sluice_request_duration_seconds_bucket', labels: { ...base, le: '+Inf' }, value: cumulative },
    { metricName: 'sluice_request_duration_seconds_sum', labels: base, value: r.stats.durationSum },
    { metricName: 'sluice_request_duration_seconds_count', labels: base, value: cumulative },
  );
  return out;
}

/**
 * Register a metric whose samples are computed whole at scrape time. prom-client's Registry reads a
 * metric through `name`, `help`, `type`, `aggregator` and `get()` (the same shape `getMetricsAsJSON`
 * returns); supplying that shape directly exposes precomputed histogram and summary lines without
 * replaying observations. Samples carry `metricName` just as prom-client's own Histogram values do.
 */
function registerSnapshot(
  registry: Registry,
  spec: { name: string; help: string; type: 'histogram' | 'summary'; samples: () => Sample[] },
): void {
  const metric = {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator: 'sum' as const,
    get() {
      return Promise.resolve({ name: spec.name, help: spec.help, type: spec.type, aggregator: 'sum' as const, values: spec.samples() });
    },
    /** Nothing is stored between scrapes, so there is nothing to reset. */
    reset(): void {},
  };
  registry.registerMetric(metric as unknown as Metric);
}

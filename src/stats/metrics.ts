/**
 * Prometheus export of the per-revision statistics and the autoscaler's view.
 *
 * The request path never calls prom-client: it bumps plain numbers in RevisionStats (one map lookup
 * and a few adds per request). Every series here is computed at scrape time from the StatusSource:
 *
 * - counters and gauges are prom-client metrics whose `collect()` resets them and sets the current
 *   totals, so a revision that leaves the source leaves the output on the next scrape;
 * - `sluice_request_duration_seconds` and `sluice_cold_start_seconds` (time held for a cold start)
 *   are histograms per revision from snapshot collectors that turn RevisionStats's arrays into
 *   samples directly, since prom-client's Histogram can only be fed one observation at a time;
 * - `sluice_held_requests_total{reason}` and `sluice_endpoint_ejections_total` are counters the
 *   activator and the gateway bump in RevisionStats (one increment each, on held requests and failed
 *   connections only, never on a warm request), read at scrape time like the others;
 * - `sluice_scale_operations_total{result}` and `sluice_config_reloads_total{result}` are updated as
 *   events happen, by the control loop through `scaleOperation()` (a few times per tick at most) and
 *   by the config watch through `configReload()` (once per reload), never per request;
 * - `sluice_build_info{version,node}` is 1, the package's version and the Node.js running it.
 *
 * Node.js process metrics come from prom-client's `collectDefaultMetrics` under their standard,
 * unprefixed names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...) so that stock
 * Node.js dashboards work unchanged.
 */
import { createRequire } from 'node:module';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { HOLD_REASONS, type RevisionView, type StatusSource } from '../core/status.js';
import { COLD_START_BOUNDS, DURATION_BOUNDS } from './revision-stats.js';

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
  /** Count one config reload: applied, or refused (the running config kept). */
  configReload(result: 'success' | 'failure'): void;
}

/**
 * The package's version from package.json, two levels above this file in src/ and in dist/ alike;
 * '0.0.0' when it cannot be read (a bundled copy without it).
 */
export function packageVersion(): string {
  let version: unknown;
  try {
    version = (createRequire(import.meta.url)('../../package.json') as { version?: unknown }).version;
  } catch {
    version = undefined;
  }
  return typeof version === 'string' ? version : '0.0.0';
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
    samples: () =>
      revisions().flatMap((r) =>
        histogramSamples('sluice_request_duration_seconds', labelsOf(r), DURATION_BOUNDS, r.stats.durationCounts, r.stats.durationSum),
      ),
  });

  registerSnapshot(registry, {
    name: 'sluice_cold_start_seconds',
    help: 'Time requests were held for a cold start (the revision had no ready endpoint), until sent.',
    type: 'histogram',
    samples: () =>
      revisions().flatMap((r) =>
        histogramSamples('sluice_cold_start_seconds', labelsOf(r), COLD_START_BOUNDS, r.stats.coldStartCounts, r.stats.coldStartSeconds),
      ),
  });

  new Counter<RevisionLabel | 'reason'>({
    name: 'sluice_held_requests_total',
    help: 'Requests the activator held, by why: scaled_to_zero, starting (replicas not ready yet), at_capacity, retry.',
    labelNames: [...REVISION_LABELS, 'reason'],
    registers,
    collect() {
      this.reset();
      for (const r of revisions()) for (const reason of HOLD_REASONS) this.inc({ ...labelsOf(r), reason }, r.stats.heldByReason[reason]);
    },
  });

  new Counter<RevisionLabel>({
    name: 'sluice_endpoint_ejections_total',
    help: 'Endpoints skipped for a moment after a connection to them failed.',
    labelNames: REVISION_LABELS,
    registers,
    collect() {
      this.reset();
      for (const r of revisions()) this.inc(labelsOf(r), r.stats.ejections);
    },
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

  const configReloads = new Counter<'result'>({
    name: 'sluice_config_reloads_total',
    help: 'Config reloads (file watch, SIGHUP, ConfigMap), by result: success, or failure (the running config kept).',
    labelNames: ['result'],
    registers,
  });
  configReloads.inc({ result: 'success' }, 0);
  configReloads.inc({ result: 'failure' }, 0);

  new Gauge<'version' | 'node'>({
    name: 'sluice_build_info',
    help: 'Always 1: the Sluice version and the Node.js version running it.',
    labelNames: ['version', 'node'],
    registers,
  }).set({ version: packageVersion(), node: process.version }, 1);

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

  return {
    registry,
    scaleOperation(result) {
      scaleOperations.inc({ result });
    },
    configReload(result) {
      configReloads.inc({ result });
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
 * `+Inf`, `_sum` and `_count`. counts [3, 1, 0, ..., 2] (last slot = beyond the largest bound)
 * → le="0.005" 3, le="0.01" 4, ..., le="+Inf" 6, _count 6.
 */
function histogramSamples(
  name: string,
  base: Record<string, string>,
  bounds: readonly number[],
  counts: ArrayLike<number>,
  sum: number,
): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...base, le: String(bounds[i]) }, value: cumulative });
  }
  cumulative += counts[bounds.length]!;
  out.push(
    { metricName: `${name}_bucket`, labels: { ...base, le: '+Inf' }, value: cumulative },
    { metricName: `${name}_sum`, labels: base, value: sum },
    { metricName: `${name}_count`, labels: base, value: cumulative },
  );
  return out;
}

/**
 * Register a metric whose samples are computed whole at scrape time. prom-client's Registry reads a
 * metric through `name`, `help`, `type`, `aggregator` and `get()` (the same shape `getMetricsAsJSON`
 * returns); supplying that shape directly exposes precomputed histogram and summary lines without
 * replaying observations. Samples carry `metricName` just as prom-client's own Histogram values do.
 */
function registerSnapshot(registry: Registry, spec: { name: string; help: string; type: 'histogram'; samples: () => Sample[] }): void {
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

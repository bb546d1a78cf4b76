/**
 * Prometheus export of the queue-proxy: every series is read from the stats at scrape time (the data
 * path never touches prom-client), plus prom-client's default Node.js process metrics.
 *
 * The per-second gauges describe the last completed second; longer windows live in `/api/v1/stats`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { codeLabel, EVENT_LOOP_SAMPLE_MS } from '../stats/metrics.js';
import type { QueueProxyStats } from './stats.js';

export interface QueueProxyMetricsSource {
  stats: QueueProxyStats;
  draining(): boolean;
  appReady(): boolean;
}

/**
 * @example
 * const registry = createQueueProxyMetrics({ stats, draining: () => drain.draining, appReady: () => probe.state === 'ready' });
 */
export function createQueueProxyMetrics(source: QueueProxyMetricsSource, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  const registers = [registry];
  const { stats } = source;

  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  const last = () => stats.lastSecond(Date.now());
  gauge(
    'sluice_queue_average_concurrency',
    'Time-weighted requests active (waiting or at the app) over the last completed second.',
    () => last().averageConcurrency,
  );
  gauge(
    'sluice_queue_average_proxied_concurrency',
    'The same, counting only requests that came through a Sluice gateway (sluice-proxied header).',
    () => last().averageProxiedConcurrency,
  );
  gauge('sluice_queue_requests_per_second', 'Requests begun in the last completed second.', () => last().requestCount);
  gauge(
    'sluice_queue_proxied_requests_per_second',
    'Requests through a Sluice gateway begun in the last completed second.',
    () => last().proxiedRequestCount,
  );
  gauge('sluice_queue_depth', 'Requests waiting for a slot at the app now.', () => stats.total.held);
  gauge('sluice_queue_inflight', 'Requests at the app now.', () => stats.total.inflight);
  gauge('sluice_queue_container_concurrency', 'Slots at the app (containerConcurrency; 0 = no limit).', () => stats.containerConcurrency);
  gauge('sluice_queue_draining', '1 from SIGTERM on, else 0.', () => (source.draining() ? 1 : 0));
  gauge('sluice_queue_app_ready', '1 when the last readiness probe of the app succeeded, else 0.', () => (source.appReady() ? 1 : 0));

  new Counter<'code'>({
    name: 'sluice_queue_requests_total',
    help: 'Requests finished, by status code (499: the client went away first).',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset();
      for (const [code, n] of stats.total.codes) this.inc({ code: codeLabel(code) }, n);
    },
  });
  new Counter({
    name: 'sluice_queue_proxied_requests_total',
    help: 'Requests that came through a Sluice gateway, since start.',
    registers,
    collect() {
      this.reset();
      this.inc(stats.proxied.requestsTotal);
    },
  });

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return registry;
}

/**
 * `metricsSource: queue-proxy`: for each such revision, read every endpoint's queue-proxy stats once
 * a second and add what bypassed the gateways to the revision's buckets, as Knative's autoscaler
 * does with its pods' queue-proxies: observed = gateway counts + (pod total − pod proxied). A
 * request that came through a gateway is counted once, by the gateway (which also sees the ones
 * still held), never twice.
 *
 * Worked example: the gateway holds 3 requests during a cold start, the pods report total 10 of
 * which proxied 8 → the windows read 3 + 8 + (10 − 8) = 13.
 */
import type { Revision } from '../config/load.js';
import type { Endpoint } from '../core/endpoint.js';
import type { RevisionKey } from '../core/revision.js';
import type { ExternalBuckets } from '../stats/external-buckets.js';
import { QueueProxyStatsReader } from './queue-proxy-reader.js';

/** What this reads of a revision (the gateway's RevisionRuntime). */
export interface QueueProxiedRevision {
  readonly key: RevisionKey;
  readonly spec: Pick<Revision, 'metricsSource' | 'queueProxyAdminPort'>;
  readonly retired: boolean;
  /** Ready endpoints, replaced whole on every change. */
  readonly endpoints: readonly Endpoint[];
  external(): ExternalBuckets;
}

function statsUrl(endpoint: Endpoint, adminPort: number): string {
  if (endpoint.statsUrl !== undefined) return endpoint.statsUrl;
  const url = new URL(endpoint.origin);
  url.port = String(adminPort);
  url.pathname = '/api/v1/stats';
  return url.toString();
}

interface Reading {
  reader: QueueProxyStatsReader;
  endpoints: readonly Endpoint[];
}

export class QueueProxyMetrics {
  private readonly readings = new Map<string, Reading>();

  constructor(private readonly options: { token?: string } = {}) {}

  /**
   * Bring readers in line with the revisions: one per revision that asks for queue-proxy metrics,
   * URLs following its endpoints. Cheap when nothing changed (an identity check per revision).
   */
  sync(revisions: Iterable<QueueProxiedRevision>): void {
    const live = new Set<string>();
    for (const rev of revisions) {
      if (rev.spec.metricsSource !== 'queue-proxy' || rev.retired) continue;
      live.add(rev.key);
      let reading = this.readings.get(rev.key);
      if (reading === undefined) {
        const external = rev.external();
        const reader = new QueueProxyStatsReader({
          token: this.options.token,
          onSecond: (s) =>
            external.add(
              s.second,
              Math.max(0, s.averageConcurrency - s.averageProxiedConcurrency),
              Math.max(0, s.requestCount - s.proxiedRequestCount),
            ),
        });
        reading = { reader, endpoints: [] };
        this.readings.set(rev.key, reading);
        reader.start();
      }
      if (reading.endpoints !== rev.endpoints) {
        reading.endpoints = rev.endpoints;
        reading.reader.setUrls(rev.endpoints.map((ep) => statsUrl(ep, rev.spec.queueProxyAdminPort)));
      }
    }
    for (const [key, reading] of this.readings) {
      if (live.has(key)) continue;
      void reading.reader.close();
      this.readings.delete(key);
    }
  }

  close(): void {
    for (const reading of this.readings.values()) void reading.reader.close();
    this.readings.clear();
  }
}

/**
 * The queue-proxy is a Gateway with one catch-all service and one static revision whose only
 * endpoint is the app. The gateway's activator is then Knative's breaker: with containerConcurrency
 * cc > 0 the balancer lets at most cc requests reach the app, the hold queue keeps up to 10 × cc
 * waiting in arrival order, and the next one gets 503 `queue_full` (cc = 4 → 4 at the app, 40
 * waiting, the 45th refused). Streaming, header rewriting, retry-if-unsent and JSON errors come with it.
 */
import { parseConfig, type Config } from '../config/load.js';
import type { QueueProxyOptions } from './options.js';

/** Names the gateway puts in error bodies (`{"error":{…,"service","revision"}}`) and its stats. */
const SERVICE_NAME = 'queue-proxy';
const REVISION_NAME = 'app';

/** Knative's breaker: queue depth is 10 × containerConcurrency. */
const QUEUE_DEPTH_PER_SLOT = 10;
/**
 * With no concurrency limit nothing waits for a slot; requests are held only while the app's port
 * refuses connections (a moment after a crash), so the bound is the schema's maximum.
 */
const UNLIMITED_QUEUE_DEPTH = 1_000_000;

/** A validated gateway config for these options (throws ConfigError only on a programming error). */
export function gatewayConfig(options: Pick<QueueProxyOptions, 'upstream' | 'containerConcurrency' | 'timeoutSeconds'>): Config {
  const cc = options.containerConcurrency;
  return parseConfig({
    services: [
      {
        name: SERVICE_NAME,
        match: { hosts: [] },
        revisions: [
          {
            name: REVISION_NAME,
            backend: 'static',
            urls: [options.upstream],
            containerConcurrency: cc,
            queueDepth: cc > 0 ? QUEUE_DEPTH_PER_SLOT * cc : UNLIMITED_QUEUE_DEPTH,
            timeoutSeconds: options.timeoutSeconds,
            // Waiting for a slot is bounded by the request deadline, not by a cold start.
            activationTimeoutSeconds: options.timeoutSeconds,
          },
        ],
        traffic: [{ revision: REVISION_NAME, percent: 100 }],
      },
    ],
  });
}

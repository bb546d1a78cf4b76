/**
 * The queue-proxy, composed in one place:
 *
 *   client ─► data port (proxied count) ─► Gateway.handle: breaker (activator) ─► forwarder ─► app
 *   kubelet, gateways ─► admin port: /healthz /readyz /metrics /api/v1/stats /wait-for-drain
 *
 * The data port drains before the admin port stops, so probes and /wait-for-drain keep answering
 * while the last requests finish.
 */
import type { AddressInfo } from 'node:net';
import { Gateway } from '../gateway/gateway.js';
import type { RevisionRuntime } from '../gateway/revision.js';
import type { Logger } from '../log.js';
import { chooseDataPort } from '../downstream/data-port-server.js';
import { StaticDriver } from '../scaler/static.js';
import { UpstreamPool } from '../upstream/upstream-pool.js';
import { createQueueProxyAdminApp, startQueueProxyAdmin, type QueueProxyAdminServer } from './admin.js';
import { gatewayConfig } from './config.js';
import { DataPort } from './data-port.js';
import { Drain } from './drain.js';
import { createQueueProxyMetrics } from './metrics.js';
import type { QueueProxyOptions } from './options.js';
import { AppProbe } from './probe.js';
import { QueueProxyStats } from './stats.js';

/** After the gateway has let go of every request, how long responses may take to flush to clients. */
const FLUSH_GRACE_MS = 1_000;

export interface QueueProxyDeps {
  logger: Logger;
  /** Admin token (env SLUICE_ADMIN_TOKEN): required on /metrics and /api/v1/stats when set. */
  token?: string;
  /** Reported in /api/v1/stats (env POD_NAME). */
  podName?: string;
  /** Background readiness probe period; 0 = on demand only. Default 1000 ms. */
  probeIntervalMs?: number;
}

export interface QueueProxy {
  readonly data: AddressInfo;
  readonly admin: { host: string; port: number };
  readonly stats: QueueProxyStats;
  readonly drain: Drain;
  /** SIGTERM: drain (quiet period, stop accepting, wait for requests), then stop the admin port. */
  shutdown(): Promise<void>;
}

export async function startQueueProxy(options: QueueProxyOptions, deps: QueueProxyDeps): Promise<QueueProxy> {
  const { logger } = deps;
  const driver = new StaticDriver();
  const breakerLog = logger.child({ component: 'breaker' });
  // The gateway in front names the revision: this one's only revision ("app") would be noise.
  const gateway = new Gateway({
    logger: breakerLog,
    drivers: { static: driver },
    transport: (origin, limits) => new UpstreamPool(origin, limits),
    announceRevision: false,
  });
  gateway.apply(gatewayConfig(options));
  // gatewayConfig() makes one revision; `value` is typed any, as it could be the iterator's return value.
  const revision = gateway.revisions().next().value as RevisionRuntime;
  const stats = new QueueProxyStats(revision.stats, options.containerConcurrency, Date.now(), deps.podName);
  const server = chooseDataPort();
  if (server.reason !== undefined)
    logger.warn({ server: server.kind, reason: server.reason }, `data port on ${server.kind}: ${server.reason}`);
  const dataPort = new DataPort(gateway, stats.proxied, server.kind);
  const probe = new AppProbe({ upstream: options.upstream, path: options.readinessPath, intervalMs: deps.probeIntervalMs, logger });

  const drain = new Drain(
    {
      stopAccepting: () => dataPort.stopAccepting(),
      settle: async (deadline) => {
        // Every request has an open response until its answer is sent: waiting for none to be
        // left covers held, in-flight and still-flushing ones alike.
        await dataPort.settled(deadline);
        // Past the deadline: fail what is still held, abort what is still at the app.
        await gateway.close(0);
        if (!(await dataPort.settled(Date.now() + FLUSH_GRACE_MS))) dataPort.closeAllConnections();
        await driver.close();
      },
    },
    { quietMs: options.drainQuietSeconds * 1000, timeoutMs: options.drainTimeoutSeconds * 1000 },
    (phase) =>
      logger.info({ phase, inflight: stats.total.inflight, held: stats.total.held, open: dataPort.openResponses }, `drain: ${phase}`),
  );

  const registry = createQueueProxyMetrics({ stats, draining: () => drain.draining, appReady: () => probe.state === 'ready' });
  const app = createQueueProxyAdminApp({ stats, probe, drain, registry, token: deps.token, logger });

  let adminServer: QueueProxyAdminServer | undefined;
  let data: AddressInfo;
  try {
    adminServer = await startQueueProxyAdmin(app, options.admin.host, options.admin.port);
    data = await dataPort.listen(options.listen.host, options.listen.port);
  } catch (err) {
    // Undo what started (the probe and the drain have not), so that a failed start leaves nothing
    // holding the process open.
    await adminServer?.close(0);
    await gateway.close(0);
    await driver.close();
    throw err;
  }
  probe.start();
  const admin = adminServer;

  let stopped: Promise<void> | undefined;
  return {
    data,
    admin: admin.address,
    stats,
    drain,
    shutdown() {
      stopped ??= (async () => {
        await drain.run();
        probe.stop();
        await admin.close(FLUSH_GRACE_MS);
      })();
      return stopped;
    },
  };
}

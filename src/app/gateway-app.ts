/**
 * The gateway program, wired once: scaler drivers, the gateway on its listener and transports, the
 * metrics, the control loop, queue-proxy stats, the traffic and rollout controllers and the admin
 * API; Kubernetes mode when the config needs it. `sluice gateway` (src/cli/gateway.ts) and the
 * test harness both call startGatewayApp, so every integration test runs the wiring users run.
 *
 * Start order: drivers, gateway, loop, controllers, config watch, admin port, data port; stop()
 * undoes it in reverse (the data port drains before the admin port stops, so probes and scrapes
 * keep answering while the last requests finish). A start that fails stops what it had started.
 */
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { createAdminApp } from '../admin/app.js';
import { startAdminServer, type AdminServer } from '../admin/server.js';
import { AutoscalerLoop } from '../autoscaler/loop.js';
import { QueueProxyMetrics } from '../autoscaler/queue-proxy-metrics.js';
import type { Config } from '../config/load.js';
import type { TrafficTarget } from '../config/schema.js';
import type { ConfigChange, ConfigSource } from '../config/source.js';
import type { ConfigError } from '../errors.js';
import { Gateway } from '../gateway/gateway.js';
import type { ConfigMapConfigSource } from '../kube/configmap-source.js';
import type { KubernetesMode } from './kubernetes-mode.js';
import type { Logger } from '../log.js';
import { formatHostPort } from '../net-address.js';
import { RolloutController } from '../rollout/rollout-controller.js';
import { TrafficController } from '../rollout/traffic-controller.js';
import { LocalDriver, type LocalDriverOptions } from '../scaler/local.js';
import { StaticDriver } from '../scaler/static.js';
import { createMetrics } from '../stats/metrics.js';
import { adminControl } from './admin-control.js';
import { dataPortListener, upstreamTransport } from './protocols.js';

export interface GatewayAppOptions {
  /** The config as first loaded from `source` (the caller reports an invalid one). */
  config: Config;
  /** Watched for changes; traffic changes are written back to it. */
  source: ConfigSource;
  logger: Logger;
  listen: { host: string; port: number };
  admin: { host: string; port: number };
  /** Admin API bearer token (SLUICE_ADMIN_TOKEN); also sent to peers and queue-proxies. */
  token?: string;
  /** Kubernetes mode: the API server, and the ConfigMap when the config comes from one. */
  kubernetes?: { kubeConfig: KubeConfig; configMap?: ConfigMapConfigSource };
  /** Timings of the local driver (tests shorten them). */
  localDriver?: Omit<LocalDriverOptions, 'logger'>;
  /** Control loop period. Default 2000 ms (Knative's). */
  tickMs?: number;
  /** Export prom-client's default process metrics. Default true. */
  defaultMetrics?: boolean;
  /** Every change the source reports, applied or rejected (after it was handled). */
  onConfigChange?: (change: ConfigChange) => void;
  /** Every applied traffic change. */
  onTrafficChange?: (service: string, traffic: TrafficTarget[], reason: string) => void;
}

export interface GatewayApp {
  readonly gateway: Gateway;
  readonly loop: AutoscalerLoop;
  readonly local: LocalDriver;
  readonly traffic: TrafficController;
  readonly rollouts: RolloutController;
  readonly kube: KubernetesMode | undefined;
  /** Where the data port and the admin API listen. */
  readonly data: AddressInfo;
  readonly admin: { host: string; port: number };
  /** Read the source again and apply what it holds (SIGHUP); an invalid config is logged and the running one kept. */
  reload(why: string): Promise<void>;
  /** Drain the data port (in-flight requests get `graceMs`), then stop everything; resolves when all is stopped. */
  stop(graceMs?: number): Promise<void>;
}

/** A start that could not complete; everything it had started is stopped. `exitCode`: 2 for bad settings, 1 otherwise. */
export class StartFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StartFailure';
  }
}

export async function startGatewayApp(options: GatewayAppOptions): Promise<GatewayApp> {
  const { config, source, logger, token } = options;

  let kube: KubernetesMode | undefined;
  if (options.kubernetes !== undefined) {
    // Loaded only here: the Kubernetes client is most of what an idle local-mode gateway would hold.
    const { startKubernetesMode } = await import('./kubernetes-mode.js');
    try {
      kube = startKubernetesMode({
        kubeConfig: options.kubernetes.kubeConfig,
        config,
        source: options.kubernetes.configMap,
        // Read by the peer-stats collector on its timer, never before the gateway below exists.
        revisions: () => gw.revisions(),
        adminPort: options.admin.port,
        token,
        logger,
      });
    } catch (err) {
      throw new StartFailure(`kubernetes: ${(err as Error).message}`, 2, { cause: err });
    }
  }
  const local = new LocalDriver({ ...options.localDriver, logger: logger.child({ component: 'local-driver' }) });
  const drivers = { local, static: new StaticDriver(), ...(kube ? { kubernetes: kube.driver } : {}) };
  const gw = new Gateway({ logger, drivers, listener: dataPortListener(logger), transport: upstreamTransport });
  const metrics = createMetrics(gw, { defaultMetrics: options.defaultMetrics });
  const queueProxyMetrics = new QueueProxyMetrics({ token });
  const loop = new AutoscalerLoop({
    revisions: () => gw.revisions(),
    logger: logger.child({ component: 'autoscaler' }),
    tickMs: options.tickMs,
    onScale: (result) => metrics.scaleOperation(result),
    onDecision: (key, view) => gw.autoscalerView(key, view),
    afterTick: () => {
      gw.sweepRetired();
      // Queue-proxy stats feed decisions: only the replica that makes them reads them.
      queueProxyMetrics.sync(!kube || kube.isLeader() ? gw.revisions() : []);
    },
    isLeader: kube?.isLeader,
  });
  gw.onPoke((rev) => loop.poke(rev));
  const traffic = new TrafficController({ gateway: gw, source, logger, onChange: options.onTrafficChange }, config);
  const rollouts = new RolloutController({ traffic, gateway: gw, logger: logger.child({ component: 'rollout' }) });

  const rejected = (err: ConfigError, why?: string) =>
    logger.error({ problems: err.problems, why }, `config rejected, keeping the running one: ${err.message}`);
  const reload = (why: string): Promise<void> =>
    source.load().then(
      (next) => {
        traffic.reload(next);
        logger.info({ source: source.description, why }, 'config reloaded');
      },
      (err: unknown) => rejected(err as ConfigError, why),
    );

  let adminServer: AdminServer | undefined;
  // Everything started from here on, stopped in reverse by one function: a failed start must leave
  // nothing behind (the config watcher alone keeps the event loop, and so the process, alive).
  // `graceMs` is how long in-flight requests get: none on a failed start.
  const shutdown = async (graceMs: number): Promise<void> => {
    rollouts.close();
    loop.stop();
    queueProxyMetrics.close();
    source.close();
    // Hand the Lease over first: another replica decides while this one drains.
    await kube?.elector?.stop();
    await gw.close(graceMs);
    await local.close();
    await kube?.close();
    await adminServer?.close();
  };

  let data: AddressInfo;
  try {
    traffic.reload(config);
    source.watch((change) => {
      if (change.error) rejected(change.error);
      else {
        traffic.reload(change.config);
        logger.info({ source: source.description }, 'config reloaded');
      }
      options.onConfigChange?.(change);
    });
    adminServer = await startAdminServer({
      app: createAdminApp({
        status: gw,
        registry: metrics.registry,
        token,
        logger,
        control: adminControl(traffic, rollouts),
        conditions: kube?.conditions,
      }),
      host: options.admin.host,
      port: options.admin.port,
      token,
    });
    data = await gw.listen(options.listen.host, options.listen.port);
    loop.start();
  } catch (err) {
    await shutdown(0);
    throw new StartFailure((err as Error).message, 1, { cause: err });
  }
  const admin = adminServer.address;
  logger.info(
    {
      listen: formatHostPort(data.address, data.port),
      admin: formatHostPort(admin.host, admin.port),
      config: source.description,
      identity: kube?.identity,
    },
    `sluice gateway listening on http://${formatHostPort(data.address, data.port)} (admin http://${formatHostPort(admin.host, admin.port)})`,
  );

  let stopped: Promise<void> | undefined;
  return {
    gateway: gw,
    loop,
    local,
    traffic,
    rollouts,
    kube,
    data,
    admin,
    reload,
    stop: (graceMs = 10_000) => (stopped ??= shutdown(graceMs)),
  };
}

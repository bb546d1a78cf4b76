/**
 * The gateway program, wired once: scaler drivers, the gateway on its listener and transports, the
 * metrics, the control loop, queue-proxy stats, the traffic and rollout controllers, the event bus
 * every one of them publishes to, and the admin API that serves it; Kubernetes mode when the config
 * needs it. `sluice gateway` (src/cli/gateway.ts) and the
 * test harness both call startGatewayApp, so every integration test runs the wiring users run.
 *
 * Start order: TLS certificates, drivers, gateway, loop, controllers, config watch, admin port, data
 * port (cleartext and TLS), certificate watch; stop() undoes it in reverse (the data port drains
 * before the admin port stops, so probes and scrapes keep answering while the last requests
 * finish). A start that fails stops what it had started.
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
import { EventBus } from '../core/event-bus.js';
import { trafficEvents } from './traffic-events.js';
import { createMetrics } from '../stats/metrics.js';
import { adminControl } from './admin-control.js';
import { dataPort, replicaLink, upstreamTransport } from './protocols.js';
import { CertificateLoadError } from '../downstream/certificate-store.js';
import { resolveTracing } from '../config/tracing.js';
import type { OtelRequestTracer } from '../tracing/otel-tracer.js';
import { TlsTermination, type SecretSourceFactory } from './tls-termination.js';

export interface GatewayAppOptions {
  /** The config as first loaded from `source` (the caller reports an invalid one). */
  config: Config;
  /** Watched for changes; traffic changes are written back to it. */
  source: ConfigSource;
  logger: Logger;
  /** The cleartext data port; 'off' for none (the config's `tls` block is then the only listener). */
  listen: { host: string; port: number } | 'off';
  admin: { host: string; port: number };
  /** Admin API bearer token (SLUICE_ADMIN_TOKEN); also sent to peers and queue-proxies. */
  token?: string;
  /** Kubernetes mode: the API server, and the ConfigMap when the config comes from one. */
  kubernetes?: { kubeConfig: KubeConfig; configMap?: ConfigMapConfigSource };
  /** Timings of the local driver (tests shorten them). */
  localDriver?: Omit<LocalDriverOptions, 'logger' | 'link'>;
  /** Control loop period. Default 2000 ms (Knative's). */
  tickMs?: number;
  /** Export prom-client's default process metrics. Default true. */
  defaultMetrics?: boolean;
  /** Every change the source reports, applied or rejected (after it was handled). */
  onConfigChange?: (change: ConfigChange) => void;
  /** Every applied traffic change. */
  onTrafficChange?: (service: string, traffic: TrafficTarget[], reason: string) => void;
  /**
   * Where the OTEL_* variables that choose the endpoint, sampler, service name and batch sizes are read
   * (the config's `tracing:` block wins over them); the SDK reads the others, such as
   * OTEL_EXPORTER_OTLP_HEADERS, from process.env. Default process.env.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface GatewayApp {
  readonly gateway: Gateway;
  readonly loop: AutoscalerLoop;
  readonly local: LocalDriver;
  readonly traffic: TrafficController;
  readonly rollouts: RolloutController;
  readonly kube: KubernetesMode | undefined;
  /** The event feed's bus: what `GET /api/v1/events` streams. */
  readonly events: EventBus;
  /** Where the data port listens: the cleartext listener, or the TLS one when cleartext is off. */
  readonly data: AddressInfo;
  /** Where the TLS listener listens, with a `tls` block. */
  readonly tls: AddressInfo | undefined;
  readonly admin: { host: string; port: number };
  /** Read the source again and apply what it holds (SIGHUP); an invalid config is logged and the running one kept. */
  reload(why: string): Promise<void>;
  /** Read the TLS certificates again (SIGHUP); a refused one is logged and the one in use kept. No-op without TLS. */
  reloadCertificates(why?: string): Promise<void>;
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

/** In Kubernetes mode, where `tls.certificates[].secret` certificates come from: Secrets read and watched through the API. */
async function secretSources(options: GatewayAppOptions): Promise<SecretSourceFactory | undefined> {
  if (options.kubernetes === undefined) return undefined;
  // Kubernetes mode has the client loaded already.
  const { TlsSecretSource } = await import('../kube/tls-secret-source.js');
  const { kubeConfig } = options.kubernetes;
  const logger = options.logger.child({ component: 'tls' });
  const namespace = options.config.kubernetes?.namespace ?? (process.env.POD_NAMESPACE || undefined) ?? 'default';
  return (ref) => {
    const slash = ref.indexOf('/');
    return slash === -1
      ? new TlsSecretSource({ kubeConfig, namespace, name: ref, logger })
      : new TlsSecretSource({ kubeConfig, namespace: ref.slice(0, slash), name: ref.slice(slash + 1), logger });
  };
}

/** 2 s for the last spans to leave at stop: a collector that is down must not hold a shutdown for the export timeout. */
const TRACE_FLUSH_MS = 2_000;

/** The tracer the config and OTEL_* ask for, or none (tracing off: the OpenTelemetry packages are not even loaded). */
async function startTracer(options: GatewayAppOptions): Promise<OtelRequestTracer | undefined> {
  const { settings, warnings } = resolveTracing(options.config.tracing, options.env ?? process.env);
  for (const warning of warnings) options.logger.warn(`tracing: ${warning}`);
  if (settings === undefined) return undefined;
  const { OtelRequestTracer } = await import('../tracing/otel-tracer.js');
  options.logger.info(
    { endpoint: settings.url, sampler: settings.sampler, service: settings.serviceName },
    'tracing on: spans go over OTLP/HTTP',
  );
  return new OtelRequestTracer(settings);
}

/** Flush and stop the tracer, waiting at most TRACE_FLUSH_MS. */
function stopTracer(tracer: OtelRequestTracer | undefined): Promise<void> {
  if (tracer === undefined) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, TRACE_FLUSH_MS)));
  return Promise.race([tracer.shutdown().catch(() => undefined), waited]).finally(() => clearTimeout(timer));
}

export async function startGatewayApp(options: GatewayAppOptions): Promise<GatewayApp> {
  const { config, logger, token } = options;
  let source = options.source;
  const cleartext = options.listen !== 'off';
  if (!cleartext && config.tls === undefined) throw new StartFailure('listen: off leaves no listener: the config has no tls block', 2);

  // Certificates first: a refused one fails the start before anything else runs.
  let tls: TlsTermination | undefined;
  if (config.tls !== undefined) {
    try {
      tls = await TlsTermination.start(config.tls, cleartext, logger, await secretSources(options));
    } catch (err) {
      if (err instanceof CertificateLoadError) throw new StartFailure(err.message, 2, { cause: err });
      throw err;
    }
  }

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
    // Revisions that leave their protocol to their Service port get it before any is applied.
    source = kube.protocols.wrap(source);
    await kube.protocols.resolve(config);
  }
  const events = new EventBus();
  const tracer = await startTracer(options);
  const local = new LocalDriver({ ...options.localDriver, link: replicaLink, logger: logger.child({ component: 'local-driver' }) });
  const drivers = { local, static: new StaticDriver(), ...(kube ? { kubernetes: kube.driver } : {}) };
  const port = dataPort(logger, config.http2);
  const listener = tls === undefined ? port.listener : tls.listener(port.listener, port.serveH2);
  const gw = new Gateway({
    logger,
    drivers,
    listener,
    transport: upstreamTransport,
    tracer,
    // A canary that cannot start is rolled back at once. Conditions change only once revisions are
    // applied (traffic.reload below), after the rollout controller exists.
    onCondition: (key, condition) => rollouts.conditionChanged(key, condition),
    events,
  });
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
    events,
  });
  gw.onPoke((rev) => loop.poke(rev));
  const onTrafficChange = (service: string, targets: TrafficTarget[], reason: string): void => {
    events.publish(trafficEvents.changed(service, targets));
    options.onTrafficChange?.(service, targets, reason);
  };
  const traffic = new TrafficController({ gateway: gw, source, logger, onChange: onTrafficChange }, config);
  const rollouts = new RolloutController({ traffic, gateway: gw, logger: logger.child({ component: 'rollout' }), events });

  const rejected = (err: ConfigError, why?: string) => {
    metrics.configReload('failure');
    events.publish({ type: 'config_reload', fields: { ok: false, error: err.message } });
    logger.error({ problems: err.problems, why }, `config rejected, keeping the running one: ${err.message}`);
  };
  /** A new config replaces the running one: traffic (told as events per service that changed), then TLS. */
  const applyConfig = (next: Config): void => {
    const before = traffic.config;
    traffic.reload(next);
    applyTls(next);
    metrics.configReload('success');
    events.publish({ type: 'config_reload', fields: { ok: true } });
    for (const event of trafficEvents.between(before, next)) events.publish(event);
  };
  /** What a new config changes besides traffic: the TLS listener's certificates and settings. */
  const applyTls = (next: Config): void => {
    if (tls !== undefined) void tls.apply(next.tls);
    else if (next.tls !== undefined) logger.warn('tls: a TLS listener takes a restart; none runs until then');
  };
  const reload = (why: string): Promise<void> =>
    source.load().then(
      (next) => {
        applyConfig(next);
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
    tls?.close();
    loop.stop();
    queueProxyMetrics.close();
    source.close();
    // Hand the Lease over first: another replica decides while this one drains.
    await kube?.elector?.stop();
    await gw.close(graceMs);
    await stopTracer(tracer);
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
        applyConfig(change.config);
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
        events,
      }),
      host: options.admin.host,
      port: options.admin.port,
      token,
    });
    // With cleartext off, the data port is the TLS listener alone and this address is not used.
    data = options.listen === 'off' ? await gw.listen('', 0) : await gw.listen(options.listen.host, options.listen.port);
    tls?.watch();
    loop.start();
  } catch (err) {
    await shutdown(0);
    throw new StartFailure((err as Error).message, 1, { cause: err });
  }
  const admin = adminServer.address;
  const tlsAt = tls?.addresses().tls;
  const urls = [
    ...(cleartext ? [`http://${formatHostPort(data.address, data.port)}`] : []),
    ...(tlsAt === undefined ? [] : [`https://${formatHostPort(tlsAt.address, tlsAt.port)}`]),
  ];
  logger.info(
    {
      listen: cleartext ? formatHostPort(data.address, data.port) : undefined,
      tls: tlsAt === undefined ? undefined : formatHostPort(tlsAt.address, tlsAt.port),
      admin: formatHostPort(admin.host, admin.port),
      config: source.description,
      identity: kube?.identity,
    },
    `sluice gateway listening on ${urls.join(' and ')} (admin http://${formatHostPort(admin.host, admin.port)})`,
  );

  let stopped: Promise<void> | undefined;
  return {
    gateway: gw,
    loop,
    local,
    traffic,
    rollouts,
    kube,
    events,
    data,
    tls: tlsAt,
    admin,
    reload,
    reloadCertificates: (why = 'reload') => tls?.reloadCertificates(why) ?? Promise.resolve(),
    stop: (graceMs = 10_000) => (stopped ??= shutdown(graceMs)),
  };
}

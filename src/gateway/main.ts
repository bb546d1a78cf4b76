/**
 * `sluice gateway`: load the config, start the drivers, the data port, the control loop and the
 * admin API; stop them in reverse order on SIGINT/SIGTERM (data port drains before admin stops).
 */
import { parseArgs } from 'node:util';
import { createAdminApp } from '../admin/app.js';
import { startAdminServer, type AdminServer } from '../admin/server.js';
import { AutoscalerLoop } from '../autoscaler/loop.js';
import { QueueProxyMetrics } from '../autoscaler/queue-proxy-metrics.js';
import { FileConfigSource } from '../config/file-source.js';
import type { Config } from '../config/load.js';
import { ConfigError, SluiceError } from '../errors.js';
import { ConfigMapConfigSource } from '../kube/configmap-source.js';
import { loadKubeConfig, parseConfigMapRef, startKubernetesMode, type KubernetesMode } from '../kube/kubernetes-mode.js';
import { createLogger, type LogFormat } from '../log.js';
import { formatHostPort, parseHostPort } from '../net-address.js';
import { LocalDriver } from '../scaler/local.js';
import { StaticDriver } from '../scaler/static.js';
import { createMetrics } from '../stats/metrics.js';
import { adminControl } from '../rollout/admin-control.js';
import { RolloutController } from '../rollout/rollout-controller.js';
import { TrafficController } from '../rollout/traffic-controller.js';
import { Gateway } from './gateway.js';

const USAGE = `usage: sluice gateway (--config FILE | --configmap NAMESPACE/NAME) [--listen HOST:PORT] [--admin HOST:PORT]

options:
  --config FILE        YAML config (env SLUICE_CONFIG)
  --configmap NS/NAME  Kubernetes mode: the config is key sluice.yaml of this ConfigMap, read and
                       watched through the API server; traffic changes are written back to it
  --kubeconfig FILE    API server and credentials (default: env KUBECONFIG, ~/.kube/config, then
                       the pod's service account)
  --listen HOST:PORT   data port (default: config "listen", 0.0.0.0:8080)
  --admin HOST:PORT    admin API (default: config "admin", 127.0.0.1:8081);
                       a non-loopback address needs SLUICE_ADMIN_TOKEN
  --log-format F       json | pretty (default: pretty on a terminal, else json)
  --log-level L        trace | debug | info | warn | error (default info, env SLUICE_LOG_LEVEL)
  -h, --help           this text`;

export async function main(argv: string[]): Promise<number | void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        configmap: { type: 'string' },
        kubeconfig: { type: 'string' },
        listen: { type: 'string' },
        admin: { type: 'string' },
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`sluice gateway: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.config !== undefined && values.configmap !== undefined) {
    process.stderr.write(`sluice gateway: give --config or --configmap, not both\n\n${USAGE}\n`);
    return 2;
  }
  const file = values.configmap === undefined ? values.config ?? process.env.SLUICE_CONFIG : undefined;
  const configMap = values.configmap === undefined ? undefined : parseConfigMapRef(values.configmap);
  if (typeof configMap === 'string') {
    process.stderr.write(`sluice gateway: --configmap: ${configMap}\n`);
    return 2;
  }
  if (!file && !configMap) {
    process.stderr.write(`sluice gateway: --config FILE or --configmap NAMESPACE/NAME is required (or env SLUICE_CONFIG)\n\n${USAGE}\n`);
    return 2;
  }
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty') {
    process.stderr.write(`sluice gateway: --log-format: expected json or pretty, got "${format}"\n`);
    return 2;
  }
  const logger = createLogger({ format: format as LogFormat | undefined, level: values['log-level'] });

  let kubeConfig: ReturnType<typeof loadKubeConfig> | undefined;
  let configMapSource: ConfigMapConfigSource | undefined;
  try {
    if (configMap) {
      kubeConfig = loadKubeConfig(values.kubeconfig);
      configMapSource = new ConfigMapConfigSource({ kubeConfig, ...configMap, logger: logger.child({ component: 'config' }) });
    }
  } catch (err) {
    process.stderr.write(`sluice gateway: --kubeconfig: ${(err as Error).message}\n`);
    return 2;
  }
  const source = configMapSource ?? new FileConfigSource(file!);
  let config: Config;
  try {
    config = await source.load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice gateway: invalid config (${source.description}):\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    if (err instanceof SluiceError) {
      process.stderr.write(`sluice gateway: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let listen;
  let admin;
  try {
    listen = parseHostPort(values.listen ?? config.listen, '--listen');
    admin = parseHostPort(values.admin ?? config.admin, '--admin');
  } catch (err) {
    process.stderr.write(`sluice gateway: ${(err as Error).message}\n`);
    return 2;
  }
  const token = process.env.SLUICE_ADMIN_TOKEN || undefined;

  // Kubernetes mode: with --configmap, or when a revision is a Deployment.
  let kube: KubernetesMode | undefined;
  if (configMapSource || config.services.some((s) => s.revisions.some((r) => r.backend === 'kubernetes'))) {
    try {
      kubeConfig ??= loadKubeConfig(values.kubeconfig);
      kube = startKubernetesMode({ kubeConfig, config, source: configMapSource, revisions: () => gateway.revisions(), adminPort: admin.port, token, logger });
    } catch (err) {
      process.stderr.write(`sluice gateway: kubernetes: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const local = new LocalDriver({ logger: logger.child({ component: 'local-driver' }) });
  const drivers = { local, static: new StaticDriver(), ...(kube ? { kubernetes: kube.driver } : {}) };
  const gateway = new Gateway({ logger, drivers });
  const metrics = createMetrics(gateway);
  const queueProxyMetrics = new QueueProxyMetrics({ token });
  const loop = new AutoscalerLoop({
    revisions: () => gateway.revisions(),
    logger: logger.child({ component: 'autoscaler' }),
    onScale: (result) => metrics.scaleOperation(result),
    afterTick: () => {
      gateway.sweepRetired();
      // Queue-proxy stats feed decisions: only the replica that makes them reads them.
      queueProxyMetrics.sync(!kube || kube.isLeader() ? gateway.revisions() : []);
    },
    isLeader: kube?.isLeader,
  });
  gateway.onPoke((rev) => loop.poke(rev));
  const traffic = new TrafficController({ gateway, source, logger }, config);
  const rollouts = new RolloutController({ traffic, gateway, logger: logger.child({ component: 'rollout' }) });
  const control = adminControl(traffic, rollouts);

  const reload = (why: string) =>
    source.load().then(
      (next) => {
        traffic.reload(next);
        logger.info({ source: source.description, why }, 'config reloaded');
      },
      (err: unknown) => logger.error({ err, problems: (err as ConfigError).problems, why }, `config rejected, keeping the running one: ${(err as Error).message}`),
    );

  let adminServer: AdminServer | undefined;
  const onHangup = () => void reload('SIGHUP');
  // Everything started from here on, stopped in reverse by one function: a failed start must leave
  // nothing behind (the config watcher alone keeps the event loop, and so the process, alive), and
  // SIGINT/SIGTERM stop the same set. `graceMs` is how long in-flight requests get: none on a failed
  // start, where the data port never accepted one.
  const shutdown = async (graceMs: number) => {
    process.off('SIGHUP', onHangup);
    rollouts.close();
    loop.stop();
    queueProxyMetrics.close();
    source.close();
    // Hand the Lease over first: another replica decides while this one drains.
    await kube?.elector?.stop();
    await gateway.close(graceMs);
    await local.close();
    await kube?.close();
    await adminServer?.close();
  };

  try {
    traffic.reload(config);
    source.watch((change) => {
      if (change.error) logger.error({ problems: change.error.problems }, `config rejected, keeping the running one: ${change.error.message}`);
      else {
        traffic.reload(change.config);
        logger.info({ source: source.description }, 'config reloaded');
      }
    });
    process.on('SIGHUP', onHangup);
    adminServer = await startAdminServer({
      app: createAdminApp({ status: gateway, registry: metrics.registry, token, logger, control, conditions: kube?.conditions }),
      host: admin.host,
      port: admin.port,
      token,
    });
    const bound = await gateway.listen(listen.host, listen.port);
    loop.start();
    logger.info(
      { listen: formatHostPort(bound.address, bound.port), admin: formatHostPort(adminServer.address.host, adminServer.address.port), config: source.description, identity: kube?.identity },
      `sluice gateway listening on http://${formatHostPort(bound.address, bound.port)} (admin http://${formatHostPort(adminServer.address.host, adminServer.address.port)})`,
    );
  } catch (err) {
    logger.error({ err }, `sluice gateway failed to start: ${(err as Error).message}`);
    await shutdown(0);
    return 1;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: draining the data port');
    await shutdown(10_000);
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

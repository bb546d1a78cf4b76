/**
 * `sluice gateway`: parse the arguments, load the config, start the gateway program
 * (src/app/gateway-app.ts) and stop it on SIGINT/SIGTERM; SIGHUP reloads the config and re-reads the
 * TLS certificates.
 */
import { parseArgs } from 'node:util';
import { startGatewayApp, StartFailure, type GatewayAppOptions } from '../app/gateway-app.js';
import { FileConfigSource } from '../config/file-source.js';
import type { Config } from '../config/load.js';
import type { ConfigSource } from '../config/source.js';
import { ConfigError, SluiceError } from '../errors.js';
import { parseConfigMapRef } from '../kube/configmap-ref.js';
import { createLogger } from '../log.js';
import { parseHostPort } from '../net-address.js';

const USAGE = `usage: sluice gateway (--config FILE | --configmap NAMESPACE/NAME) [--listen HOST:PORT] [--admin HOST:PORT]

options:
  --config FILE        YAML config (env SLUICE_CONFIG)
  --configmap NS/NAME  Kubernetes mode: the config is key sluice.yaml of this ConfigMap, read and
                       watched through the API server; traffic changes are written back to it
  --kubeconfig FILE    API server and credentials (default: env KUBECONFIG, ~/.kube/config, then
                       the pod's service account)
  --listen HOST:PORT   cleartext data port (default: config "listen", 0.0.0.0:8080); off: none, with
                       a tls block in the config (TLS listens on its "listen", default 0.0.0.0:8443)
  --admin HOST:PORT    admin API (default: config "admin", 127.0.0.1:8081);
                       a non-loopback address needs SLUICE_ADMIN_TOKEN
  --log-format F       json | pretty (default: pretty on a terminal, else json)
  --log-level L        trace | debug | info | warn | error (default info, env SLUICE_LOG_LEVEL)
  -h, --help           this text`;

function fail(message: string, code: number): number {
  process.stderr.write(`sluice gateway: ${message}\n`);
  return code;
}

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
    return fail(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.config !== undefined && values.configmap !== undefined) return fail(`give --config or --configmap, not both\n\n${USAGE}`, 2);
  const file = values.configmap === undefined ? (values.config ?? process.env.SLUICE_CONFIG) : undefined;
  const configMap = values.configmap === undefined ? undefined : parseConfigMapRef(values.configmap);
  if (typeof configMap === 'string') return fail(`--configmap: ${configMap}`, 2);
  if (!file && !configMap) return fail(`--config FILE or --configmap NAMESPACE/NAME is required (or env SLUICE_CONFIG)\n\n${USAGE}`, 2);
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    return fail(`--log-format: expected json or pretty, got "${format}"`, 2);
  const logger = createLogger({ format, level: values['log-level'] });

  // Kubernetes mode (with --configmap, for a revision that is a Deployment, or a TLS certificate in
  // a Secret) loads the Kubernetes client; a local-mode gateway never does.
  let kubernetes: GatewayAppOptions['kubernetes'];
  const kubeConfig = async () => {
    const { loadKubeConfig } = await import('../app/kubernetes-mode.js');
    return loadKubeConfig(values.kubeconfig);
  };
  let source: ConfigSource;
  if (configMap) {
    try {
      const { ConfigMapConfigSource } = await import('../kube/configmap-source.js');
      const kc = await kubeConfig();
      const cm = new ConfigMapConfigSource({ kubeConfig: kc, ...configMap, logger: logger.child({ component: 'config' }) });
      kubernetes = { kubeConfig: kc, configMap: cm };
      source = cm;
    } catch (err) {
      return fail(`--kubeconfig: ${(err as Error).message}`, 2);
    }
  } else {
    source = new FileConfigSource(file!);
  }
  let config: Config;
  try {
    config = await source.load();
  } catch (err) {
    if (err instanceof ConfigError)
      return fail(`invalid config (${source.description}):\n${err.problems.map((p) => `  - ${p}`).join('\n')}`, 2);
    if (err instanceof SluiceError) return fail(err.message, 1);
    throw err;
  }
  let listen;
  let admin;
  try {
    const listenText = values.listen ?? config.listen;
    listen = listenText === 'off' ? ('off' as const) : parseHostPort(listenText, '--listen');
    admin = parseHostPort(values.admin ?? config.admin, '--admin');
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  if (listen === 'off' && config.tls === undefined) return fail('--listen off: the config has no tls block, so nothing would listen', 2);
  const usesKubernetes =
    config.services.some((s) => s.revisions.some((r) => r.backend === 'kubernetes')) ||
    (config.tls?.certificates.some((c) => c.secret !== undefined) ?? false);
  if (kubernetes === undefined && usesKubernetes) {
    try {
      kubernetes = { kubeConfig: await kubeConfig() };
    } catch (err) {
      return fail(`kubernetes: ${(err as Error).message}`, 2);
    }
  }

  let app;
  try {
    app = await startGatewayApp({ config, source, logger, listen, admin, token: process.env.SLUICE_ADMIN_TOKEN || undefined, kubernetes });
  } catch (err) {
    if (!(err instanceof StartFailure)) throw err;
    if (err.exitCode === 2) return fail(err.message, 2);
    logger.error({ err: err.cause ?? err }, `sluice gateway failed to start: ${err.message}`);
    return 1;
  }
  const running = app;
  const onHangup = () => void running.reload('SIGHUP').then(() => running.reloadCertificates('SIGHUP'));
  process.on('SIGHUP', onHangup);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.off('SIGHUP', onHangup);
    logger.info({ signal }, 'stopping: draining the data port');
    await running.stop(10_000);
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

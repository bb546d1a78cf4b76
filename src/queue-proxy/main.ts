/**
 * `sluice queue-proxy`: start the sidecar and return; its servers keep the process alive. SIGTERM
 * (or SIGINT) drains and exits 0; a second signal exits 1 at once.
 */
import { createLogger } from '../log.js';
import { formatHostPort } from '../net-address.js';
import { OptionError, USAGE, parseQueueProxyArgs } from './options.js';
import { startQueueProxy } from './queue-proxy.js';

export async function main(argv: string[]): Promise<number | void> {
  let options;
  try {
    const parsed = parseQueueProxyArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    process.stderr.write(`sluice queue-proxy: ${err.message}\nRun 'sluice queue-proxy --help' for the options.\n`);
    return 2;
  }
  const logger = createLogger({ format: options.logFormat, level: options.logLevel, name: 'sluice-queue-proxy' });

  let qp;
  try {
    qp = await startQueueProxy(options, {
      logger,
      token: process.env.SLUICE_ADMIN_TOKEN || undefined,
      podName: process.env.POD_NAME || undefined,
    });
  } catch (err) {
    logger.error({ err }, `sluice queue-proxy failed to start: ${(err as Error).message}`);
    return 1;
  }
  const listen = formatHostPort(qp.data.address, qp.data.port);
  const admin = formatHostPort(qp.admin.host, qp.admin.port);
  logger.info(
    { listen, admin, upstream: options.upstream, containerConcurrency: options.containerConcurrency },
    `sluice queue-proxy listening on http://${listen} (admin http://${admin}) for ${options.upstream}`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, quietSeconds: options.drainQuietSeconds, timeoutSeconds: options.drainTimeoutSeconds }, 'draining');
    qp.shutdown().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

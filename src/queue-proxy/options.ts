/**
 * `sluice queue-proxy` options: parsed and validated once, up front; each message names the option
 * and what it wants.
 */
import { parseArgs } from 'node:util';
import { parseHostPort } from '../net-address.js';

export interface QueueProxyOptions {
  /** The app container, `http://HOST:PORT` (origin only). Default `http://127.0.0.1:8080`. */
  upstream: string;
  /** Max requests in flight at the app; 0 = no limit (Knative's containerConcurrency). Default 0. */
  containerConcurrency: number;
  /** Data port. Default `0.0.0.0:8012`. */
  listen: { host: string; port: number };
  /** Probes, stats and metrics. Default `0.0.0.0:9091`. */
  admin: { host: string; port: number };
  /** Path of the app's readiness check (200–399 = ready). Default `/`. */
  readinessPath: string;
  /** After SIGTERM, how long new requests are still served while routes converge. Default 30 s. */
  drainQuietSeconds: number;
  /** After the quiet period, how long in-flight and held requests may take. Default 300 s. */
  drainTimeoutSeconds: number;
  /** Deadline of one request, time waiting in the breaker included (Knative's timeoutSeconds). Default 300 s. */
  timeoutSeconds: number;
  /** `json` | `pretty`; default pretty on a terminal. */
  logFormat?: 'json' | 'pretty';
  logLevel?: string;
}

const DEFAULTS = {
  upstream: 'http://127.0.0.1:8080',
  listen: '0.0.0.0:8012',
  admin: '0.0.0.0:9091',
  readinessPath: '/',
  drainQuietSeconds: 30,
  drainTimeoutSeconds: 300,
  timeoutSeconds: 300,
} as const;

export const USAGE = `usage: sluice queue-proxy --upstream URL --container-concurrency N [options]

The per-pod sidecar: limits requests in flight at the app, reports per-second concurrency for the
autoscaler, follows the app's readiness and drains on SIGTERM.

options:
  --upstream URL                the app, http://HOST:PORT (default: ${DEFAULTS.upstream})
  --container-concurrency N     max requests in flight at the app, 0 = no limit (default: 0);
                                up to 10 x N more wait, beyond that 503 queue_full
  --listen HOST:PORT            data port (default: ${DEFAULTS.listen})
  --admin HOST:PORT             probes, stats and metrics (default: ${DEFAULTS.admin});
                                with SLUICE_ADMIN_TOKEN set, /metrics and /api/v1/stats need it
  --readiness-path P            the app's readiness path (default: ${DEFAULTS.readinessPath})
  --drain-quiet-seconds S       after SIGTERM, keep serving this long (default: ${DEFAULTS.drainQuietSeconds})
  --drain-timeout-seconds S     then wait this long for in-flight requests (default: ${DEFAULTS.drainTimeoutSeconds})
  --timeout-seconds S           deadline of one request (default: ${DEFAULTS.timeoutSeconds})
  --log-format F                json | pretty (default: pretty on a terminal, else json)
  --log-level L                 trace | debug | info | warn | error (default info, env SLUICE_LOG_LEVEL)
  -h, --help                    this text

Admin routes: GET /healthz, /readyz, /metrics, /api/v1/stats[?window=N], /wait-for-drain.
`;

export class OptionError extends Error {
  override name = 'OptionError';
}

/** The schema's limits for a revision (config/schema.ts), so the built config always validates. */
const MAX_CONTAINER_CONCURRENCY = 1000;
const MAX_SECONDS = 3600;

/**
 * Parses the arguments after `queue-proxy`. Returns `'help'` for `--help`; throws OptionError.
 *
 * @example parseQueueProxyArgs(['--container-concurrency', '4']).containerConcurrency === 4
 */
export function parseQueueProxyArgs(argv: string[]): QueueProxyOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        upstream: { type: 'string' },
        'container-concurrency': { type: 'string' },
        listen: { type: 'string' },
        admin: { type: 'string' },
        'readiness-path': { type: 'string' },
        'drain-quiet-seconds': { type: 'string' },
        'drain-timeout-seconds': { type: 'string' },
        'timeout-seconds': { type: 'string' },
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new OptionError((err as Error).message);
  }
  if (values.help) return 'help';

  const readinessPath = values['readiness-path'] ?? DEFAULTS.readinessPath;
  if (!readinessPath.startsWith('/'))
    throw new OptionError(`--readiness-path: want a path starting with "/", got ${JSON.stringify(readinessPath)}`);
  const logFormat = values['log-format'];
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new OptionError(`--log-format: want json or pretty, got ${JSON.stringify(logFormat)}`);
  }
  return {
    upstream: parseUpstream(values.upstream ?? DEFAULTS.upstream),
    containerConcurrency: parseCount('--container-concurrency', values['container-concurrency'] ?? '0', MAX_CONTAINER_CONCURRENCY),
    listen: hostPort('--listen', values.listen ?? DEFAULTS.listen),
    admin: hostPort('--admin', values.admin ?? DEFAULTS.admin),
    readinessPath,
    drainQuietSeconds: parseSeconds('--drain-quiet-seconds', values['drain-quiet-seconds'], DEFAULTS.drainQuietSeconds, true),
    drainTimeoutSeconds: parseSeconds('--drain-timeout-seconds', values['drain-timeout-seconds'], DEFAULTS.drainTimeoutSeconds, true),
    timeoutSeconds: parseSeconds('--timeout-seconds', values['timeout-seconds'], DEFAULTS.timeoutSeconds, false),
    logFormat,
    logLevel: values['log-level'],
  };
}

/**
 * The app's origin. Plain http only: the app shares the pod's network namespace, so TLS on that hop
 * would protect nothing; a path would be dropped by the forwarder, so it is refused rather than ignored.
 */
function parseUpstream(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OptionError(`--upstream: want http://HOST:PORT, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:') throw new OptionError(`--upstream: want an http:// URL, got ${JSON.stringify(text)}`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new OptionError(`--upstream: want an origin without path, query or credentials (http://HOST:PORT), got ${JSON.stringify(text)}`);
  }
  return url.origin;
}

function hostPort(name: string, text: string): { host: string; port: number } {
  try {
    return parseHostPort(text, name);
  } catch (err) {
    throw new OptionError((err as Error).message);
  }
}

function parseCount(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > max) throw new OptionError(`${name}: want an integer 0..${max}, got ${JSON.stringify(text)}`);
  return n;
}

function parseSeconds(name: string, text: string | undefined, fallback: number, zeroOk: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n > MAX_SECONDS || (!zeroOk && n === 0)) {
    throw new OptionError(`${name}: want seconds ${zeroOk ? '0' : '> 0'}..${MAX_SECONDS}, got ${JSON.stringify(text)}`);
  }
  return n;
}

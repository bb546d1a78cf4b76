/**
 * `sluice gateway` as a child process: its config written to a temp dir (JSON, which is YAML), its
 * JSON log lines parsed, its bound data port (and TLS listener) read from the "listening" line.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Child } from './processes.js';
import type { BenchCertificate } from './tls-certificate.js';

/** One pino line: level (30 info, 40 warn, 50 error), time (epoch ms), msg, and fields. */
export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [field: string]: unknown;
}

export function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as Partial<LogLine>;
    if (typeof value.level !== 'number' || typeof value.time !== 'number' || typeof value.msg !== 'string') return undefined;
    return value as LogLine;
  } catch {
    return undefined;
  }
}

export interface RunningGateway {
  child: Child;
  /** `http://127.0.0.1:PORT` of the data port. */
  url: string;
  /** `https://127.0.0.1:PORT` of the TLS listener, when the config has one. */
  tlsUrl?: string;
  /** `127.0.0.1:PORT` of the admin port. */
  admin: string;
  /** Warn and error log lines, and any output that is not a log line, since start. */
  problems: string[];
  /** Calls `listener` for each later log line; returns the unsubscribe function. */
  onLog(listener: (line: LogLine) => void): () => void;
}

const WARN = 40;

/** Starts a gateway on 127.0.0.1 with OS-picked data and admin ports; resolves once it listens. */
export async function startGateway(options: {
  cliPath: string;
  configPath: string;
  logLevel: 'info' | 'debug';
  name?: string;
}): Promise<RunningGateway> {
  const child = new Child({
    name: options.name ?? 'gateway',
    command: process.execPath,
    args: [
      options.cliPath,
      'gateway',
      '--config',
      options.configPath,
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--log-format',
      'json',
      '--log-level',
      options.logLevel,
    ],
    env: { ...process.env, SLUICE_LOG_LEVEL: options.logLevel },
  });
  const problems: string[] = [];
  child.onLine((line) => {
    const log = parseLogLine(line);
    if (log === undefined) problems.push(line);
    else if (log.level >= WARN) problems.push(`${log.level >= 50 ? 'error' : 'warn'}: ${log.msg}`);
  });
  const { listen, admin, tls } = await child.waitForLine((line) => {
    const log = parseLogLine(line);
    if (log === undefined || !log.msg.startsWith('sluice gateway listening on')) return undefined;
    const tls = typeof log.tls === 'string' ? log.tls : undefined;
    return typeof log.listen === 'string' && typeof log.admin === 'string' ? { listen: log.listen, admin: log.admin, tls } : undefined;
  }, 15_000);
  return {
    child,
    url: `http://${listen}`,
    ...(tls === undefined ? {} : { tlsUrl: `https://${tls}` }),
    admin,
    problems,
    onLog(listener) {
      return child.onLine((line) => {
        const log = parseLogLine(line);
        if (log !== undefined) listener(log);
      });
    },
  };
}

/**
 * Config for the throughput runs: model `iris` → one static revision, the predictor. Pure proxying.
 * With a certificate, a TLS listener on 127.0.0.1 too, serving it (the defaults otherwise); with
 * `tracing`, a tracing block exporting there at that sampling ratio.
 */
export async function writeStaticConfig(
  dir: string,
  predictorUrl: string,
  certificate?: BenchCertificate,
  tracing?: { endpoint: string; sampleRatio: number },
): Promise<string> {
  const config = {
    ...(certificate === undefined ? {} : { tls: { listen: '127.0.0.1:0', certificates: [{ ...certificate }] } }),
    ...(tracing === undefined ? {} : { tracing }),
    services: [
      {
        name: 'iris',
        match: { model: 'iris' },
        revisions: [{ name: 'iris-static', backend: 'static', urls: [predictorUrl] }],
        traffic: [{ revision: 'iris-static', percent: 100 }],
      },
    ],
  };
  const path = join(dir, tracing === undefined ? 'static.yaml' : `static-trace-${tracing.sampleRatio}.yaml`);
  await writeFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}

/**
 * Config for the cold starts: model `iris` → one local revision at zero (a predictor that needs
 * `startupDelayMs` to get ready), plus a static service under `/warm` pointing at the already
 * running predictor, used only to warm the gateway's request path before the cold request.
 */
export async function writeColdStartConfig(
  dir: string,
  options: {
    cliPath: string;
    startupDelayMs: number;
    warmUrl: string;
  },
): Promise<string> {
  const config = {
    autoscaler: {
      'allow-zero-initial-scale': true,
      'initial-scale': 0,
      'scale-to-zero-grace-period': '1s',
    },
    services: [
      {
        name: 'iris',
        match: { model: 'iris' },
        revisions: [
          {
            name: 'iris-00001',
            backend: 'local',
            command: process.execPath,
            args: [options.cliPath, 'predictor', '--model', 'iris', '--startup-delay', String(options.startupDelayMs)],
            readinessPath: '/v2/health/ready',
            annotations: { 'autoscaling.knative.dev/window': '6s' },
          },
        ],
        traffic: [{ revision: 'iris-00001', percent: 100 }],
      },
      {
        name: 'warm',
        match: { pathPrefix: '/warm' },
        revisions: [{ name: 'warm-static', backend: 'static', urls: [options.warmUrl] }],
        traffic: [{ revision: 'warm-static', percent: 100 }],
      },
    ],
  };
  const path = join(dir, 'cold-start.yaml');
  await writeFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}

/**
 * Config for the burst: model `iris` → one local revision at zero, containerConcurrency 0 (no cap
 * per replica) and a hold queue deep enough for the whole burst, at most `maxScale` replicas. The
 * deadlines are the run's own bound, so the gateway answers every request before the run gives up.
 */
export async function writeBurstConfig(
  dir: string,
  options: {
    cliPath: string;
    service: string;
    revision: string;
    queueDepth: number;
    maxScale: number;
    startupDelayMs: number;
    latencyMs: number;
    timeoutS: number;
  },
): Promise<string> {
  const config = {
    autoscaler: {
      'allow-zero-initial-scale': true,
      'initial-scale': 0,
    },
    services: [
      {
        name: options.service,
        match: { model: 'iris' },
        revisions: [
          {
            name: options.revision,
            backend: 'local',
            command: process.execPath,
            args: [
              options.cliPath,
              'predictor',
              '--model',
              'iris',
              '--startup-delay',
              String(options.startupDelayMs),
              '--latency',
              String(options.latencyMs),
            ],
            readinessPath: '/v2/health/ready',
            containerConcurrency: 0,
            queueDepth: options.queueDepth,
            timeoutSeconds: options.timeoutS,
            activationTimeoutSeconds: options.timeoutS,
            annotations: { 'autoscaling.knative.dev/max-scale': String(options.maxScale) },
          },
        ],
        traffic: [{ revision: options.revision, percent: 100 }],
      },
    ],
  };
  const path = join(dir, 'burst.yaml');
  await writeFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}

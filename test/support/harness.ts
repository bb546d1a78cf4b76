/**
 * Test harness: the gateway program as `sluice gateway` runs it (src/app/gateway-app.ts: the real
 * local and static drivers, control loop, traffic and rollout controllers and admin API), on
 * 127.0.0.1:0, configured from YAML text, with a faster tick; with `tls`, a TLS listener on 127.0.0.1:0
 * too. Every process it starts is stopped by close().
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { startGatewayApp } from '../../src/app/gateway-app.js';
import type { AutoscalerLoop } from '../../src/autoscaler/loop.js';
import { FileConfigSource } from '../../src/config/file-source.js';
import type { Config } from '../../src/config/load.js';
import { MemoryConfigSource } from '../../src/config/memory-source.js';
import type { TlsSettings, TrafficTarget } from '../../src/config/schema.js';
import type { ConfigSource } from '../../src/config/source.js';
import type { ConfigError } from '../../src/errors.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import type { RevisionRuntime } from '../../src/gateway/revision.js';
import type { RolloutController } from '../../src/rollout/rollout-controller.js';
import type { TrafficController } from '../../src/rollout/traffic-controller.js';
import type { LocalDriver } from '../../src/scaler/local.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface TestGateway {
  /** The cleartext data port (with `cleartext: false`, the TLS one's address over http). */
  url: string;
  port: number;
  /** With `tls`: `https://127.0.0.1:PORT` of the TLS listener, and its port. */
  tlsUrl: string | undefined;
  tlsPort: number | undefined;
  /** Re-read the TLS certificates, as SIGHUP does. */
  reloadCertificates(): Promise<void>;
  gateway: Gateway;
  driver: LocalDriver;
  loop: AutoscalerLoop;
  config: Config;
  revision(service: string, name: string): RevisionRuntime;
  /** The traffic controller (backed by the config file with `configFile`, else by the YAML text), rollouts, and the admin API's URL. */
  traffic: TrafficController;
  rollouts: RolloutController;
  adminUrl: string;
  /** Configs applied from the watched file, and the rejected ones (with `configFile`). */
  reloads: Config[];
  reloadErrors: ConfigError[];
  close(): Promise<void>;
}

export interface StartOptions {
  tickMs?: number;
  /**
   * Back the gateway with this config file, as `sluice gateway --config` does: traffic changes
   * persisted, the file watched for hot reload. The `yaml` text is written to the file first; pass
   * '' to start from the file as it is (a restart).
   */
  configFile?: string;
  /** Called after every applied traffic change. */
  onTrafficChange?: (service: string, traffic: TrafficTarget[], reason: string) => void;
  /** The gateway's logger (default: silent, or TEST_LOG_LEVEL). */
  logger?: Logger;
  /**
   * A `tls:` block added to the config (its listen defaults to 127.0.0.1:0): certificates as
   * the config file names them, and any other field.
   */
  tls?: Partial<Omit<TlsSettings, 'certificates'>> & { certificates: Array<Partial<TlsSettings['certificates'][number]>> };
  /** false: no cleartext listener (`listen: off`). Default true. */
  cleartext?: boolean;
  /** Kubernetes mode against this API server (the fake's): TLS certificates from Secrets, `backend: kubernetes`. */
  kubeConfig?: KubeConfig;
  /** The admin API's bearer token (SLUICE_ADMIN_TOKEN); default none. */
  adminToken?: string;
  /** Export prom-client's default process metrics (default false: most tests read only sluice_*). */
  defaultMetrics?: boolean;
  /** The OTEL_* variables the gateway sees (default none: the test runner's own never turn tracing on). */
  env?: Record<string, string>;
}

export async function startGateway(yaml: string, options: StartOptions = {}): Promise<TestGateway> {
  // JSON is YAML: the block goes in as one flow mapping.
  if (options.tls !== undefined) yaml += `\ntls: ${JSON.stringify({ listen: '127.0.0.1:0', ...options.tls })}\n`;
  let source: ConfigSource;
  if (options.configFile !== undefined) {
    if (yaml !== '') await writeFile(options.configFile, yaml);
    source = new FileConfigSource(options.configFile);
  } else {
    source = new MemoryConfigSource(yaml);
  }
  const config = await source.load();
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const reloads: Config[] = [];
  const reloadErrors: ConfigError[] = [];
  const app = await startGatewayApp({
    config,
    source,
    logger,
    listen: options.cleartext === false ? 'off' : { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    localDriver: { closeDrainTimeoutMs: 500, livenessIntervalMs: 0 },
    tickMs: options.tickMs ?? 200,
    defaultMetrics: options.defaultMetrics ?? false,
    onConfigChange: (change) => (change.error ? reloadErrors.push(change.error) : reloads.push(change.config)),
    onTrafficChange: options.onTrafficChange,
    token: options.adminToken,
    env: options.env ?? {},
    ...(options.kubeConfig === undefined ? {} : { kubernetes: { kubeConfig: options.kubeConfig } }),
  });
  const gateway = app.gateway;
  return {
    url: `http://127.0.0.1:${app.data.port}`,
    port: app.data.port,
    tlsUrl: app.tls === undefined ? undefined : `https://127.0.0.1:${app.tls.port}`,
    tlsPort: app.tls?.port,
    reloadCertificates: () => app.reloadCertificates('test'),
    gateway,
    driver: app.local,
    loop: app.loop,
    config,
    traffic: app.traffic,
    rollouts: app.rollouts,
    adminUrl: `http://127.0.0.1:${app.admin.port}`,
    reloads,
    reloadErrors,
    revision(service, name) {
      for (const rev of gateway.revisions()) if (rev.service === service && rev.name === name) return rev;
      throw new Error(`no revision ${service}/${name}`);
    },
    close: () => app.stop(1000),
  };
}

/**
 * Writes `chunk` to `out` for as long as `more()` says (its own count goes there), waiting for
 * 'drain' whenever `out` is full: `waiting(true)` then `waiting(false)` around each wait. Ends `out`.
 */
export function pump(out: NodeJS.WritableStream, chunk: Buffer, more: () => boolean, waiting: (waiting: boolean) => void): void {
  const next = (): void => {
    while (more()) {
      if (!out.write(chunk)) {
        waiting(true);
        out.once('drain', () => {
          waiting(false);
          next();
        });
        return;
      }
    }
    out.end();
  };
  next();
}

/**
 * `read()` once it has stopped changing for 20 turns of the event loop (I/O included): where bytes
 * stop when something holds them back. (A path without backpressure would move them on.)
 */
export async function settled(read: () => number): Promise<number> {
  let value = read();
  for (let quiet = 0; quiet < 20;) {
    await new Promise((resolve) => setImmediate(resolve));
    const now = read();
    quiet = now === value ? quiet + 1 : 0;
    value = now;
  }
  return value;
}

/** Poll `check` every 10 ms until it returns true; fails after `timeoutMs` with `what`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A local revision running the demo predictor from the build. */
export function predictorRevision(name: string, extra: { args?: string[]; body?: string } = {}): string {
  return `
      - name: ${name}
        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify([CLI, 'predictor', '--model', 'iris', ...(extra.args ?? [])])}
        readinessPath: /v2/health/ready
${extra.body ?? ''}`;
}

/** A local revision that cannot start: its process writes `message` to stderr and exits 1. */
export function failingRevision(name: string, message = 'model file not found'): string {
  return `
      - name: ${name}
        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify(['-e', `console.error(${JSON.stringify(message)}); process.exit(1)`])}`;
}

/** A local revision running test/fixtures/counting-server.mjs. */
export function countingRevision(name: string, body = ''): string {
  return `
      - name: ${name}
        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify([FIXTURES + 'counting-server.mjs'])}
        readinessPath: /ready
${body}`;
}

/** A config's autoscaler block for revisions that start at zero and stay up 30 s after their last request. */
export const AT_ZERO = `autoscaler:
  scale-to-zero-grace-period: 30s
  allow-zero-initial-scale: true
  initial-scale: 0
`;

export const IRIS_ROW = { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] };

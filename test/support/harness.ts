/**
 * Test harness: a real gateway on 127.0.0.1:0 with the real local and static drivers and the real
 * control loop (faster tick), configured from YAML text. Every process it starts is stopped by close().
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { createAdminApp } from '../../src/admin/app.js';
import { startAdminServer } from '../../src/admin/server.js';
import { AutoscalerLoop } from '../../src/autoscaler/loop.js';
import { QueueProxyMetrics } from '../../src/autoscaler/queue-proxy-metrics.js';
import { FileConfigSource } from '../../src/config/file-source.js';
import { parseConfigText, type Config } from '../../src/config/load.js';
import type { TrafficTarget } from '../../src/config/schema.js';
import type { ConfigError } from '../../src/errors.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { RevisionRuntime } from '../../src/gateway/revision.js';
import { adminControl } from '../../src/rollout/admin-control.js';
import { RolloutController } from '../../src/rollout/rollout-controller.js';
import { TrafficController } from '../../src/rollout/traffic-controller.js';
import { LocalDriver } from '../../src/scaler/local.js';
import { StaticDriver } from '../../src/scaler/static.js';
import { createMetrics } from '../../src/stats/metrics.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface TestGateway {
  url: string;
  port: number;
  gateway: Gateway;
  driver: LocalDriver;
  loop: AutoscalerLoop;
  config: Config;
  revision(service: string, name: string): RevisionRuntime;
  /** With `configFile`: the file-backed traffic controller, rollouts, and the admin API's URL. */
  traffic?: TrafficController;
  rollouts?: RolloutController;
  adminUrl?: string;
  /** With `configFile`: configs applied from the watched file, and the rejected ones. */
  reloads: Config[];
  reloadErrors: ConfigError[];
  close(): Promise<void>;
}

export interface StartOptions {
  tickMs?: number;
  /**
   * Back the gateway with this config file, as `sluice gateway` does: FileConfigSource (traffic
   * changes persisted, the file watched for hot reload), a TrafficController, a RolloutController
   * and the admin API on 127.0.0.1:0. The `yaml` text is written to the file first; pass '' to start
   * from the file as it is (a restart).
   */
  configFile?: string;
  /** With `configFile`: called after every applied traffic change. */
  onTrafficChange?: (service: string, traffic: TrafficTarget[], reason: string) => void;
  /** The gateway's logger (default: silent, or TEST_LOG_LEVEL). */
  logger?: Logger;
}

export async function startGateway(yaml: string, options: StartOptions = {}): Promise<TestGateway> {
  let source: FileConfigSource | undefined;
  let config: Config;
  if (options.configFile !== undefined) {
    if (yaml !== '') await writeFile(options.configFile, yaml);
    source = new FileConfigSource(options.configFile);
    config = await source.load();
  } else {
    config = parseConfigText(yaml);
  }
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const driver = new LocalDriver({ logger, closeDrainTimeoutMs: 500, livenessIntervalMs: 0 });
  const gateway = new Gateway({ logger, drivers: { local: driver, static: new StaticDriver() } });
  // As `sluice gateway` wires it: revisions with `metricsSource: queue-proxy` read their replicas' stats.
  const queueProxyMetrics = new QueueProxyMetrics();
  const loop = new AutoscalerLoop({
    revisions: () => gateway.revisions(),
    logger,
    tickMs: options.tickMs ?? 200,
    afterTick: () => {
      gateway.sweepRetired();
      queueProxyMetrics.sync(gateway.revisions());
    },
  });
  gateway.onPoke((rev) => loop.poke(rev));
  gateway.apply(config);
  const reloads: Config[] = [];
  const reloadErrors: ConfigError[] = [];
  let traffic: TrafficController | undefined;
  let rollouts: RolloutController | undefined;
  let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined;
  if (source !== undefined) {
    traffic = new TrafficController({ gateway, source, logger, onChange: options.onTrafficChange }, config);
    rollouts = new RolloutController({ traffic, gateway, logger });
    const t = traffic;
    source.watch((change) => {
      if (change.error) reloadErrors.push(change.error);
      else {
        t.reload(change.config);
        reloads.push(change.config);
      }
    });
    const app = createAdminApp({ status: gateway, registry: createMetrics(gateway, { defaultMetrics: false }).registry, logger, control: adminControl(traffic, rollouts) });
    admin = await startAdminServer({ app, host: '127.0.0.1', port: 0 });
  }
  const address = await gateway.listen('127.0.0.1', 0);
  loop.start();
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    gateway,
    driver,
    loop,
    config,
    traffic,
    rollouts,
    adminUrl: admin && `http://127.0.0.1:${admin.address.port}`,
    reloads,
    reloadErrors,
    revision(service, name) {
      for (const rev of gateway.revisions()) if (rev.service === service && rev.name === name) return rev;
      throw new Error(`no revision ${service}/${name}`);
    },
    async close() {
      rollouts?.close();
      source?.close();
      loop.stop();
      queueProxyMetrics.close();
      await gateway.close(1000);
      await driver.close();
      await admin?.close();
    },
  };
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

export const IRIS_ROW = { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] };

/**
 * Test harness: a real gateway on 127.0.0.1:0 with the real local and static drivers and the real
 * control loop (faster tick), configured from YAML text. Every process it starts is stopped by close().
 */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { AutoscalerLoop } from '../../src/autoscaler/loop.js';
import { parseConfigText, type Config } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { RevisionRuntime } from '../../src/gateway/revision.js';
import { LocalDriver } from '../../src/scaler/local.js';
import { StaticDriver } from '../../src/scaler/static.js';

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
  close(): Promise<void>;
}

export async function startGateway(yaml: string, options: { tickMs?: number } = {}): Promise<TestGateway> {
  const config = parseConfigText(yaml);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const driver = new LocalDriver({ logger, closeDrainTimeoutMs: 500, livenessIntervalMs: 0 });
  const gateway = new Gateway({ logger, drivers: { local: driver, static: new StaticDriver() } });
  const loop = new AutoscalerLoop({
    revisions: () => gateway.revisions(),
    logger,
    tickMs: options.tickMs ?? 200,
    afterTick: () => gateway.sweepRetired(),
  });
  gateway.onPoke((rev) => loop.poke(rev));
  gateway.apply(config);
  const address = await gateway.listen('127.0.0.1', 0);
  loop.start();
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    gateway,
    driver,
    loop,
    config,
    revision(service, name) {
      for (const rev of gateway.revisions()) if (rev.service === service && rev.name === name) return rev;
      throw new Error(`no revision ${service}/${name}`);
    },
    async close() {
      loop.stop();
      await gateway.close(1000);
      await driver.close();
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

/**
 * The traffic controller and revisions that cannot start: a real gateway whose revision `green`
 * runs on a FakeDriver reporting the conditions the test sets; `blue` is static. The config lives
 * in memory (MemoryConfigSource), as for an embedded gateway.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { http1Transport } from '../src/app/protocols.js';
import { MemoryConfigSource } from '../src/config/memory-source.js';
import { SluiceError } from '../src/errors.js';
import { Gateway } from '../src/gateway/gateway.js';
import { TrafficController } from '../src/rollout/traffic-controller.js';
import { StaticDriver } from '../src/scaler/static.js';
import { EXIT_CODE_FAILED, FakeDriver } from './support/fake-driver.js';
import { until } from './support/harness.js';

const YAML = `
services:
  - name: iris
    revisions:
      - { name: blue, backend: static, urls: ["http://127.0.0.1:9"] }
      - { name: green, backend: local, command: model-server }
    traffic:
      - { revision: blue, percent: 100 }
      - { revision: green, percent: 0 }
`;

const WHY = 'iris/green failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; stderr: model file not found';

/** A pre-warm that outlasts any test: a refusal seen by a test came from the condition, never from this deadline. */
const NEVER_MS = 24 * 3600_000;

async function world() {
  const source = new MemoryConfigSource(YAML);
  const config = await source.load();
  const logger = pino({ level: 'silent' });
  const driver = new FakeDriver();
  const gateway = new Gateway({ logger, drivers: { static: new StaticDriver(), local: driver }, transport: http1Transport });
  const traffic = new TrafficController({ gateway, source, logger, prewarmTimeoutMs: NEVER_MS }, config);
  traffic.reload(config);
  const green = [...gateway.revisions()].find((r) => r.name === 'green')!;
  const split = () =>
    traffic
      .service('iris')
      .traffic.map((t) => `${t.revision}=${t.percent}`)
      .join(' ');
  return { source, driver, gateway, traffic, green, split };
}

const flip = [
  { revision: 'blue', percent: 0 },
  { revision: 'green', percent: 100 },
];

async function refusal(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe('TrafficController and Failed revisions', () => {
  it('refuses a flip of 100 % to a Failed revision with 409 revision_failed and why; traffic stays', async () => {
    const w = await world();
    w.driver.report('iris/green', EXIT_CODE_FAILED);
    const err = await refusal(w.traffic.setTraffic('iris', flip));
    expect(err).toMatchObject({ status: 409, code: 'revision_failed', message: `${WHY}; traffic unchanged` });
    expect(w.split()).toBe('blue=100 green=0');
    expect((await w.source.load()).services[0]!.traffic.map((t) => t.percent)).toEqual([100, 0]);
    // Nothing was asked of the driver.
    expect(w.driver.desired('iris/green')).toBe(0);
  });

  it('refuses a revision going to 100 % from a share too', async () => {
    const w = await world();
    await w.traffic.setTraffic('iris', [
      { revision: 'blue', percent: 90 },
      { revision: 'green', percent: 10 },
    ]);
    w.driver.report('iris/green', { ...EXIT_CODE_FAILED, output: '' });
    const err = await refusal(w.traffic.setTraffic('iris', flip));
    // No stderr output: no stderr part.
    expect(err.message).toBe('iris/green failed (ExitCode): exited with code 1 before it was ready, 3 starts in a row; traffic unchanged');
    expect(w.split()).toBe('blue=90 green=10');
  });

  it('applies a share below 100 % and a rollback to a Failed revision: only a flip is refused', async () => {
    const w = await world();
    w.driver.report('iris/green', EXIT_CODE_FAILED);
    await w.traffic.setTraffic('iris', [
      { revision: 'blue', percent: 90 },
      { revision: 'green', percent: 10 },
    ]);
    expect(w.split()).toBe('blue=90 green=10');
    // Sending traffic back must never be refused, even to a revision that cannot start.
    await w.traffic.setTraffic('iris', flip, { reason: 'rollback' });
    expect(w.split()).toBe('blue=0 green=100');
  });

  it('answers a pre-warm at once when green goes Failed while it waits, and drops its floor', async () => {
    const w = await world();
    const change = w.traffic.setTraffic('iris', flip);
    // Blue has one ready endpoint: green is asked for one replica and the flip waits for it.
    await until(() => w.driver.desired('iris/green') === 1, 'the pre-warm asking for a replica');
    expect(w.green.floor?.replicas).toBe(1);
    w.driver.report('iris/green', EXIT_CODE_FAILED);
    const err = await refusal(change);
    expect(err).toMatchObject({
      status: 409,
      code: 'revision_failed',
      message: `pre-warming green to 1 ready replica: ${WHY}; traffic unchanged`,
    });
    expect(w.green.floor).toBeUndefined();
    expect(w.split()).toBe('blue=100 green=0');
  });
});

/**
 * The publishers and the new metrics, end to end: a gateway (the real wiring, src/app/) with a
 * local predictor revision at zero and its config in a watched file; the event feed read over a
 * real socket while a cold start, traffic changes, a rollout and config reloads happen.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../src/core/gateway-event.js';
import { AT_ZERO, IRIS_ROW, predictorRevision, startGateway, type TestGateway } from './support/harness.js';
import { openFeed, type FeedClient } from './support/sse.js';

let gw: TestGateway | undefined;
let client: FeedClient | undefined;
let dir: string | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await gw?.close();
  gw = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Service demo: two predictor revisions at zero, all traffic on demo-00001 (or as `traffic` says). */
function demoConfig(traffic = '      - revision: demo-00001\n        percent: 100'): string {
  return `
${AT_ZERO}services:
  - name: demo
    match:
      model: iris
    revisions:${predictorRevision('demo-00001', { args: ['--startup-delay', '200'] })}${predictorRevision('demo-00002')}
    traffic:
${traffic}
`;
}

async function infer(url: string): Promise<number> {
  const res = await fetch(`${url}/v2/models/iris/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(IRIS_ROW),
  });
  await res.arrayBuffer();
  return res.status;
}

/** One sample's value from exposition text; undefined when the line is absent. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

const at = (events: GatewayEvent[], match: (e: GatewayEvent) => boolean): number => events.findIndex(match);

describe('gateway events and metrics', () => {
  it('tells a cold start as scale → endpoints → cold_start, and counts it in the histogram and held reasons', async () => {
    gw = await startGateway(demoConfig());
    client = await openFeed(`${gw.adminUrl}/api/v1/events`);
    expect(client.response.statusCode).toBe(200);

    const statuses = await Promise.all(Array.from({ length: 5 }, () => infer(gw!.url)));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const cold = await client.waitFor((e) => e.type === 'cold_start', 'the cold_start event');
    const events = client.events;

    const scale = at(events, (e) => e.type === 'scale' && e.revision === 'demo-00001');
    const endpoints = at(events, (e) => e.type === 'endpoints' && e.revision === 'demo-00001');
    const coldAt = events.indexOf(cold);
    expect(scale).toBeGreaterThanOrEqual(0);
    expect(endpoints).toBeGreaterThan(scale);
    expect(coldAt).toBeGreaterThan(endpoints);
    expect(events[scale]).toMatchObject({ service: 'demo', fields: { from: 0, to: 1, reason: 'activation' } });
    expect(events[endpoints]!.fields).toMatchObject({ ready: 1, removed: [] });
    expect((events[endpoints]!.fields as { added: string[] }).added).toHaveLength(1);
    expect(cold).toMatchObject({ service: 'demo', revision: 'demo-00001', fields: { held: 5 } });
    // The predictor takes 200 ms to start: the oldest request was held at least that long.
    expect((cold.fields as { heldMs: number }).heldMs).toBeGreaterThanOrEqual(200);
    // The local driver reports the revision's conditions as it starts.
    expect(events.some((e) => e.type === 'condition' && e.revision === 'demo-00001' && e.fields.status === 'Ready')).toBe(true);
    // Ids only go up.
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const rev = 'service="demo",revision="demo-00001"';
    expect(text).toContain('# TYPE sluice_cold_start_seconds histogram');
    expect(sample(text, `sluice_cold_start_seconds_count{${rev}}`)).toBe(5);
    expect(sample(text, `sluice_cold_start_seconds_bucket{${rev},le="0.1"}`)).toBe(0);
    expect(sample(text, `sluice_cold_start_seconds_bucket{${rev},le="+Inf"}`)).toBe(5);
    expect(sample(text, `sluice_cold_start_seconds_sum{${rev}}`)).toBeGreaterThanOrEqual(5 * 0.1);
    // The first request found the revision at zero; the others came while its replica started.
    const zero = sample(text, `sluice_held_requests_total{${rev},reason="scaled_to_zero"}`)!;
    const starting = sample(text, `sluice_held_requests_total{${rev},reason="starting"}`)!;
    expect(zero).toBeGreaterThanOrEqual(1);
    expect(zero + starting).toBe(5);
    expect(sample(text, `sluice_held_requests_total{${rev},reason="at_capacity"}`)).toBe(0);
    expect(sample(text, `sluice_endpoint_ejections_total{${rev}}`)).toBe(0);
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(sample(text, `sluice_build_info{version="${pkg.version}",node="${process.version}"}`)).toBe(1);
  });

  it('tells traffic changes, rollout steps and config reloads, and counts reload results', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-events-'));
    const file = join(dir, 'sluice.yaml');
    gw = await startGateway(demoConfig(), { configFile: file });
    client = await openFeed(`${gw.adminUrl}/api/v1/events?types=traffic,rollout,config_reload`);
    expect(client.response.statusCode).toBe(200);

    // Through the admin API.
    const put = await fetch(`${gw.adminUrl}/api/v1/services/demo/traffic`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { revision: 'demo-00001', percent: 100 },
        { revision: 'demo-00002', percent: 0, tag: 'next' },
      ]),
    });
    expect(put.status).toBe(200);
    const tagged = await client.waitFor((e) => e.type === 'traffic', 'the traffic event');
    expect(tagged).toMatchObject({
      service: 'demo',
      fields: {
        traffic: [
          { revision: 'demo-00001', percent: 100 },
          { revision: 'demo-00002', percent: 0, tag: 'next' },
        ],
      },
    });
    expect(tagged).not.toHaveProperty('revision');

    // A rollout: started and its first step, then aborted.
    const started = await fetch(`${gw.adminUrl}/api/v1/services/demo/rollout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'demo-00002', steps: [20, 60], intervalSeconds: 600 }),
    });
    expect(started.status).toBe(202);
    await client.waitFor((e) => e.type === 'rollout' && e.fields.phase === 'step', 'the first step');
    expect((await fetch(`${gw.adminUrl}/api/v1/services/demo/rollout`, { method: 'DELETE' })).status).toBe(200);
    await client.waitFor((e) => e.type === 'rollout' && e.fields.phase === 'aborted', 'the abort');
    const rollout = client.events.filter((e) => e.type === 'rollout');
    expect(rollout.map((e) => e.fields.phase)).toEqual(['started', 'step', 'aborted']);
    expect(rollout[1]).toMatchObject({ service: 'demo', revision: 'demo-00002', fields: { step: 1, percent: 20 } });
    expect(rollout[2]).toMatchObject({ fields: { percent: 0 } });

    // The file changes: applied (with its traffic told), then refused. (The API's changes above were
    // written back to the file, and the watch may have read those again: hence "after `seen`".)
    const seen = client.events.at(-1)!.id;
    await writeFile(
      file,
      demoConfig('      - revision: demo-00001\n        percent: 50\n      - revision: demo-00002\n        percent: 50'),
    );
    const fiftyFifty = {
      traffic: [
        { revision: 'demo-00001', percent: 50 },
        { revision: 'demo-00002', percent: 50 },
      ],
    };
    const reloadTraffic = await client.waitFor(
      (e) => e.id > seen && e.type === 'traffic' && JSON.stringify(e.fields) === JSON.stringify(fiftyFifty),
      'the reload’s traffic event',
    );
    const applied = client.events.filter((e) => e.id > seen && e.id < reloadTraffic.id && e.type === 'config_reload');
    expect(applied.map((e) => e.fields)).toContainEqual({ ok: true });
    expect(applied[0]).not.toHaveProperty('service');

    await writeFile(file, demoConfig('      - revision: demo-00001\n        percent: 90'));
    const refused = await client.waitFor((e) => e.type === 'config_reload' && !e.fields.ok, 'the refused reload');
    expect((refused.fields as { error: string }).error).toMatch(/traffic.*90/);

    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(sample(text, 'sluice_config_reloads_total{result="success"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'sluice_config_reloads_total{result="failure"}')).toBeGreaterThanOrEqual(1);
  });
});

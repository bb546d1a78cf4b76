/**
 * Cold starts: a fresh gateway whose only `iris` revision is a local predictor at zero, one infer
 * request, and the gateway's own log times to split the wait into its phases. A fresh gateway per
 * sample keeps each one bounded (no waiting for scale to zero) and independent of the previous one.
 */
import { exchange } from './net.js';
import { startGateway, type LogLine } from './gateway.js';

export interface ColdStartSample {
  /** Client view: request written → last response byte, ms. */
  totalMs: number;
  /** `Sluice-Cold-Start` header: how long the gateway held the request, ms; null if absent. */
  heldMs: number | null;
  status: number;
  /** From the request being sent to each gateway log event, ms (log times have 1 ms resolution). */
  toScaleMs: number | null;
  toSpawnMs: number | null;
  /** …to the gateway relaying the predictor's "listening" stdout line (debug): process start done. */
  toListeningMs: number | null;
  toReadyMs: number | null;
  toEndpointsMs: number | null;
  /** 'endpoints changed' log time → response fully received, ms: release, forwarding, inference, reply. */
  endpointsToResponseMs: number | null;
}

export interface ColdStartSettings {
  cliPath: string;
  configPath: string;
  gatewayPath: string;
  body: string;
  /** Requests sent through the gateway's `/warm` service before the cold one. */
  warmRequests: number;
}

interface Events {
  scale?: number;
  spawn?: number;
  listening?: number;
  ready?: number;
  endpoints?: number;
}

function record(events: Events, line: LogLine): void {
  const revision = typeof line.revision === 'string' ? line.revision : '';
  if (!revision.includes('iris-00001')) return;
  if (events.scale === undefined && line.msg.startsWith('scale ') && line.reason === 'activation') events.scale = line.time;
  else if (events.spawn === undefined && line.msg === 'replica started') events.spawn = line.time;
  else if (events.listening === undefined && line.stream === 'stdout' && / listening on /.test(line.msg)) events.listening = line.time;
  else if (events.ready === undefined && line.msg === 'replica ready') events.ready = line.time;
  else if (
    events.endpoints === undefined &&
    line.msg === 'endpoints changed' &&
    Array.isArray(line.endpoints) &&
    line.endpoints.length > 0
  ) {
    events.endpoints = line.time;
  }
}

export async function coldStartOnce(settings: ColdStartSettings): Promise<{ sample: ColdStartSample; problems: string[] }> {
  const gateway = await startGateway({
    cliPath: settings.cliPath,
    configPath: settings.configPath,
    logLevel: 'debug',
    name: 'cold-start gateway',
  });
  try {
    const events: Events = {};
    gateway.onLog((line) => record(events, line));
    for (let i = 0; i < settings.warmRequests; i++) {
      await exchange(`${gateway.url}/warm${settings.gatewayPath}`, 'POST', settings.body, 5000);
    }

    const res = await exchange(gateway.url + settings.gatewayPath, 'POST', settings.body, 30_000);
    // The gateway logs before it answers, but its stdout may reach us a moment after the response.
    const deadline = Date.now() + 2000;
    while (events.endpoints === undefined && Date.now() < deadline && !gateway.child.hasExited) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const header = res.headers['sluice-cold-start'];
    const held = typeof header === 'string' && header.trim() !== '' ? Number(header) : NaN;
    const since = (t: number | undefined): number | null => (t === undefined ? null : t - res.sentAtMs);
    return {
      sample: {
        totalMs: res.totalMs,
        heldMs: Number.isFinite(held) ? held : null,
        status: res.status,
        toScaleMs: since(events.scale),
        toSpawnMs: since(events.spawn),
        toListeningMs: since(events.listening),
        toReadyMs: since(events.ready),
        toEndpointsMs: since(events.endpoints),
        endpointsToResponseMs: events.endpoints === undefined ? null : res.doneAtMs - events.endpoints,
      },
      problems: [...gateway.problems],
    };
  } finally {
    await gateway.child.stop();
  }
}

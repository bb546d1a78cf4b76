/**
 * One scenario run: the phases in order (engine.ts), and beside them, once a second, the client's
 * last second closed, a gateway sample read from the admin API and a progress line; the event feed
 * followed throughout when the gateway has one. Ctrl-C (the signal) ends the phase in progress and
 * skips the rest; the results so far are returned all the same, marked `interrupted`.
 */
import { request } from 'undici';
import { runPhase } from './engine.js';
import { followEvents, type Feed, type GatewayEvent } from './event-feed.js';
import { gatewaySample, observedDecisions, type GatewaySample, type ScaleDecision } from './gateway-sample.js';
import type { Progress } from './progress.js';
import { Recorder } from './recorder.js';
import {
  coldStartsFromAnswers,
  requestedRps,
  RESULTS_VERSION,
  shareableScenario,
  type GatewayResults,
  type LoadtestResults,
  type CallResult,
  type PhaseResult,
} from './results.js';
import { phaseBoundMs, phaseLabel, type Phase, type Scenario } from './scenario.js';

export interface RunOptions {
  scenario: Scenario;
  scenarioText: string;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  /** Bearer token for the admin API (the scenario's, else SLUICE_ADMIN_TOKEN). */
  token: string | undefined;
  onProgress(progress: Progress): void;
}

/** A sample not answered within this is skipped (recorded as a sample error), not waited for. */
const SAMPLE_TIMEOUT_MS = 900;

function adminHeaders(token: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return headers;
}

async function adminJson(adminUrl: string, token: string | undefined, path: string): Promise<unknown> {
  const headers = adminHeaders(token);
  const res = await request(adminUrl + path, { headers, headersTimeout: SAMPLE_TIMEOUT_MS, bodyTimeout: SAMPLE_TIMEOUT_MS });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${path}: ${res.statusCode}`);
  }
  return res.body.json();
}

/** A phase's admin call: its status and the start of its answer, or why it failed. */
async function adminCall(adminUrl: string, token: string | undefined, call: NonNullable<Phase['call']>): Promise<CallResult> {
  const headers = adminHeaders(token);
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await request(adminUrl + call.path, {
      method: call.method,
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    return { method: call.method, path: call.path, status: res.statusCode, answer: text.slice(0, 500) };
  } catch (err) {
    return { method: call.method, path: call.path, status: 0, answer: errorText(err) };
  }
}

const errorText = (err: unknown) => (err as { code?: string }).code ?? (err as Error).message;

/** What the event feed told, in run time (seconds since the start). */
class FeedLog {
  readonly decisions: ScaleDecision[] = [];
  readonly coldStarts: GatewayResults['coldStarts'] = [];
  readonly panics: GatewayResults['panics'] = [];

  constructor(private readonly startMs: number) {}

  add(e: GatewayEvent): void {
    const t = Math.round(Date.parse(e.time) - this.startMs) / 1000;
    const where = { service: e.service ?? '', revision: e.revision ?? '' };
    const f = e.fields;
    if (e.type === 'scale')
      this.decisions.push({ t, ...where, from: Number(f.from), to: Number(f.to), reason: typeof f.reason === 'string' ? f.reason : '' });
    else if (e.type === 'cold_start') this.coldStarts.push({ t, ...where, heldMs: Number(f.heldMs), held: Number(f.held) });
    else if (e.type === 'panic') this.panics.push({ t, ...where, panic: f.panic === true });
  }
}

export async function runScenario(options: RunOptions): Promise<LoadtestResults> {
  const { scenario, signal } = options;
  const startMs = Date.now();
  const startedAt = new Date(startMs).toISOString();
  const recorder = new Recorder(startMs);
  const totalS = scenario.phases.reduce((sum, p) => sum + phaseBoundMs(p, scenario), 0) / 1000;
  const background = new AbortController();
  const admin = scenario.admin;

  const samples: GatewaySample[] = [];
  const sampleErrors: GatewayResults['sampleErrors'] = [];
  const polled: ScaleDecision[] = [];
  const polledPanics: GatewayResults['panics'] = [];
  const feedLog = new FeedLog(startMs);
  let feed: Feed | undefined;
  if (admin !== undefined) {
    feed = followEvents({
      adminUrl: admin.url.replace(/\/$/, ''),
      token: options.token,
      types: ['scale', 'cold_start', 'panic'],
      onEvent: (e) => feedLog.add(e),
      signal: background.signal,
    });
  }

  let phaseIndex = 0;
  let lastGateway: Progress['gateway'];
  const tick = async (second: number) => {
    const t = second;
    if (admin !== undefined) {
      const base = admin.url.replace(/\/$/, '');
      try {
        const [services, stats] = await Promise.all([
          adminJson(base, options.token, '/api/v1/services'),
          adminJson(base, options.token, '/api/v1/stats'),
        ]);
        const sample = gatewaySample(t, services, stats, admin.service);
        const before = samples.at(-1);
        polled.push(...observedDecisions(before, sample));
        if (before !== undefined && before.panic !== sample.panic) polledPanics.push({ t, panic: sample.panic });
        samples.push(sample);
        lastGateway = { desired: sample.desired, ready: sample.ready, held: sample.held, panic: sample.panic };
      } catch (err) {
        sampleErrors.push({ t, error: errorText(err) });
        lastGateway = { error: errorText(err) };
      }
    }
    const closed = recorder.closeUpTo(Date.now());
    const phase = scenario.phases[phaseIndex]!;
    options.onProgress({
      phaseIndex,
      phaseCount: scenario.phases.length,
      phase: phaseLabel(phase, phaseIndex),
      elapsedS: (Date.now() - startMs) / 1000,
      totalS,
      second: closed.at(-1),
      gateway: lastGateway,
    });
  };
  // Once a second, on the second: a slow sample delays the next tick, never overlaps it.
  const ticking = (async () => {
    for (let second = 1; !background.signal.aborted; second++) {
      const wait = startMs + second * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (background.signal.aborted) return;
      await tick(second);
    }
  })();
  if (admin !== undefined) await tick(0);

  const spans: Array<{ startS: number; endS: number; call?: CallResult }> = [];
  for (; phaseIndex < scenario.phases.length && !signal.aborted; phaseIndex++) {
    const phase = scenario.phases[phaseIndex]!;
    const phaseStart = Date.now();
    recorder.beginPhase(phaseIndex, phaseStart);
    // The call is made before the load starts, and the load does not wait for what it sets off.
    const call =
      phase.call === undefined || admin === undefined
        ? undefined
        : await adminCall(admin.url.replace(/\/$/, ''), options.token, phase.call);
    await runPhase(phase, scenario, recorder, signal);
    spans.push({ startS: (phaseStart - startMs) / 1000, endS: (Date.now() - startMs) / 1000, ...(call === undefined ? {} : { call }) });
  }
  phaseIndex = Math.min(phaseIndex, scenario.phases.length - 1);
  background.abort();
  await ticking;
  await feed?.done;
  const endMs = Date.now();

  const phases = spans.map((span, i): PhaseResult => {
    const phase = scenario.phases[i]!;
    const summary = recorder.phaseSummary(i);
    const inside = samples.filter((s) => s.t >= span.startS && s.t <= span.endS);
    // No sample within the phase (no admin URL, or the admin API unreachable): no figure, not a 0.
    const peak = (pick: (s: GatewaySample) => number) => (inside.length === 0 ? null : Math.max(...inside.map(pick)));
    return {
      name: phaseLabel(phase, i),
      type: phase.type,
      startS: Math.round(span.startS * 1000) / 1000,
      endS: Math.round(span.endS * 1000) / 1000,
      ...summary,
      rps: Math.round((summary.requests / Math.max(0.001, span.endS - span.startS)) * 10) / 10,
      requestedRps: requestedRps(phase),
      maxDesired: peak((s) => s.desired),
      maxReady: peak((s) => s.ready),
      ...(span.call === undefined ? {} : { call: span.call }),
    };
  });

  const fromFeed = feed?.everLive() === true;
  const gateway: GatewayResults | null =
    admin === undefined
      ? null
      : {
          adminUrl: admin.url,
          source: fromFeed ? 'events' : 'polling',
          samples,
          scaleDecisions: fromFeed ? feedLog.decisions : polled,
          coldStarts: fromFeed ? feedLog.coldStarts : coldStartsFromAnswers(recorder.coldStartAnswers),
          panics: fromFeed ? feedLog.panics : polledPanics,
          sampleErrors,
        };
  return {
    version: RESULTS_VERSION,
    scenario: shareableScenario(scenario),
    scenarioText: options.scenarioText,
    startedAt,
    endedAt: new Date(endMs).toISOString(),
    outcome: signal.aborted ? 'interrupted' : 'completed',
    phases,
    seconds: recorder.finish(endMs),
    coldStartAnswers: recorder.coldStartAnswers,
    gateway,
  };
}

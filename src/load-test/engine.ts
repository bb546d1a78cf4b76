/**
 * The load of each phase, on autocannon's programmatic API (HTTP/1.1, keep-alive, no pipelining):
 *
 *  - constant with `rate`, and ramp: autocannon's `overallRate`, split over the connections. Each
 *    connection sends its share of a one-second window as soon as it can, and only one request at
 *    a time; so the rate is offered in full while connections ≥ rate × latency (10 connections at
 *    50 ms each carry up to 200 rps). Past that, the achieved rate in results.json falls below the
 *    requested one — give a slow target more connections;
 *  - constant without `rate`: each connection sends its next request when the last is answered
 *    (closed model);
 *  - ramp: one autocannon run per second, at the rate of that second's midpoint (0 → 100 over
 *    10 s: 5, 15, … 95 rps);
 *  - spike: N connections with one request each, all written as the connections open — N
 *    requests in flight at once, as N users arriving together would be;
 *  - idle: nothing, for the duration.
 */
import autocannon from 'autocannon';
import type { Recorder } from './recorder.js';
import type { Phase, Scenario } from './scenario.js';

const COLD_START_HEADER = 'sluice-cold-start';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

interface Run {
  connections: number;
  /** How long new requests are sent, ms; absent with `amount`. */
  ms?: number;
  /** Requests in all, one per connection (a spike). */
  amount?: number;
  overallRate?: number;
}

/**
 * The parts of autocannon's connection client (lib/httpClient.js) used to end a run gracefully:
 * its own `maxConnectionRequests` works by the same `responseMax`.
 */
interface ConnectionClient {
  reqsMade: number;
  responseMax: number | undefined;
  /** Waiting for its next one-second rate window, nothing in flight. */
  paused: boolean;
  destroyed: boolean;
  destroy(): void;
  on(event: 'done', listener: () => void): void;
}

/**
 * One autocannon run feeding `recorder`. At its end (the phase's time is up, or `signal` aborts)
 * no connection sends another request, and the run resolves once each has its answer (or its
 * timeout): autocannon's own `duration` would drop the requests in flight, answered by the
 * target but never counted.
 */
function fire(scenario: Scenario, run: Run, recorder: Recorder, signal: AbortSignal): Promise<void> {
  const { target } = scenario;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const clients: ConnectionClient[] = [];
    let done = 0;
    let ended = false;
    const timeoutS = Math.ceil(target.timeout / 1000);
    const finish = (err?: Error) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      clearTimeout(backstop);
      signal.removeEventListener('abort', end);
      instance.stop();
      if (err) reject(err);
      else resolve();
    };
    const instance = autocannon(
      {
        url: target.url,
        method: target.method,
        headers: target.headers,
        ...(target.body === undefined ? {} : { body: target.body }),
        connections: run.connections,
        pipelining: 1,
        timeout: timeoutS,
        // autocannon's own end only as a backstop: the graceful end below comes first.
        duration: Math.ceil((run.ms ?? 0) / 1000) + 2 * timeoutS + 5,
        ...(run.amount === undefined ? {} : { amount: run.amount, maxConnectionRequests: 1 }),
        ...(run.overallRate === undefined ? {} : { overallRate: run.overallRate }),
        setupClient: (client) => {
          const c = client as unknown as ConnectionClient;
          clients.push(c);
          c.on('done', () => {
            if (++done === clients.length) finish();
          });
          // The event carries llhttp's parse result (the types say a header map), its headers as
          // [name, value, name, value, …]; one length check per header skips most.
          client.on('headers', (head) => {
            const h = (head as unknown as { headers: string[] }).headers;
            for (let i = 0; i + 1 < h.length; i += 2) {
              if (h[i]!.length === COLD_START_HEADER.length && h[i]!.toLowerCase() === COLD_START_HEADER) {
                recorder.coldStart(Date.now(), Number(h[i + 1]));
              }
            }
          });
        },
      },
      (err: Error | null) => finish(err ?? undefined),
    );
    instance.on('response', (_client, status, _bytes, responseTimeMs) => recorder.answer(Date.now(), status, responseTimeMs));
    instance.on('reqError', () => recorder.error(Date.now()));
    // No new requests: a connection with one in flight ends after its answer, an idle one now.
    const end = () => {
      for (const c of clients) {
        if (c.destroyed) continue;
        if (c.paused || c.reqsMade === 0) c.destroy();
        else c.responseMax = c.reqsMade;
      }
    };
    const deadline = run.ms === undefined ? undefined : setTimeout(end, run.ms);
    // A request still unanswered a timeout after the end has timed out; nothing more to wait for.
    const backstop = setTimeout(() => finish(), (run.ms ?? 0) + 2 * target.timeout + 1000);
    signal.addEventListener('abort', end, { once: true });
  });
}

/** Run one phase to its end, or until `signal` aborts. */
export async function runPhase(phase: Phase, scenario: Scenario, recorder: Recorder, signal: AbortSignal): Promise<void> {
  switch (phase.type) {
    case 'idle':
      return sleep(phase.duration, signal);
    case 'spike':
      return fire(scenario, { connections: phase.requests, amount: phase.requests }, recorder, signal);
    case 'constant':
      return fire(scenario, { connections: phase.connections, ms: phase.duration, overallRate: phase.rate }, recorder, signal);
    case 'ramp': {
      const steps = rampSteps(phase.from, phase.to, phase.duration);
      for (const step of steps) {
        if (signal.aborted) return;
        if (step.rate === 0) await sleep(step.ms, signal);
        else await fire(scenario, { connections: phase.connections, ms: step.ms, overallRate: step.rate }, recorder, signal);
      }
      return;
    }
  }
}

/**
 * A ramp as one-second steps at each step's midpoint rate, rounded to whole requests per second
 * (autocannon's unit); the last step is the remainder of the duration.
 *
 * @example rampSteps(0, 100, 4000) // [{ms:1000,rate:13}, {ms:1000,rate:38}, {ms:1000,rate:63}, {ms:1000,rate:88}]
 */
export function rampSteps(from: number, to: number, durationMs: number): Array<{ ms: number; rate: number }> {
  const steps: Array<{ ms: number; rate: number }> = [];
  for (let start = 0; start < durationMs; start += 1000) {
    const ms = Math.min(1000, durationMs - start);
    const mid = (start + ms / 2) / durationMs;
    steps.push({ ms, rate: Math.round(from + (to - from) * mid) });
  }
  return steps;
}

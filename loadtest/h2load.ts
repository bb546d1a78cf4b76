/**
 * h2load (nghttp2's HTTP/2 load generator) at a fixed offered rate, for the h2c rows: `clients`
 * connections with up to `streams` concurrent streams each, `--rps` per connection, a warm-up then
 * a measured duration. h2load says on stdout when its measured part starts and ends; the CPU window
 * is opened and closed on those lines, so the connection set-up and the warm-up are not measured,
 * and its closing counts are of the measured part alone.
 */
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:http2';
import { delimiter, join } from 'node:path';
import { openCpuWindow, type CpuWatch, type RateRun } from './load.js';
import { Child } from './processes.js';

export interface H2loadSettings {
  /** Offered load over all connections, requests per second. */
  rps: number;
  /** Measured duration, whole seconds. */
  durationS: number;
  /** Unmeasured warm-up before it, whole seconds. */
  warmupS: number;
  clients: number;
  /** Concurrent streams per connection at most. */
  streams: number;
  path: string;
  /** File holding the POST body. */
  bodyFile: string;
  /** Request headers, `name: value`. Default a JSON content-type. */
  headers?: string[];
}

/** Absolute path of `h2load` on the PATH, or undefined. */
export function findH2load(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'h2load');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** h2load's closing counts: `requests: … N failed, N errored, N timeout` and `status codes: N 2xx, N 3xx, N 4xx, N 5xx`. */
export function parseH2loadCounts(output: string): { ok: number; non2xx: number; errors: number } | undefined {
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  const requests = /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(output);
  if (codes === null || requests === null) return undefined;
  const [ok, c3, c4, c5] = codes.slice(1).map(Number) as [number, number, number, number];
  const [failed, errored, timeout] = requests.slice(1).map(Number) as [number, number, number];
  return { ok, non2xx: c3 + c4 + c5, errors: failed + errored + timeout };
}

/** One h2load run at `settings.rps` against `url`, with the CPU of its measured part. */
export async function runH2loadAtRate(
  binary: string,
  target: string,
  round: number,
  url: string,
  settings: H2loadSettings,
  cpu: CpuWatch,
): Promise<RateRun> {
  const perClient = Math.max(1, Math.round(settings.rps / settings.clients));
  const child = new Child({
    name: `h2load ${target}`,
    command: binary,
    args: [
      '-c',
      String(settings.clients),
      '-m',
      String(settings.streams),
      `--rps=${perClient}`,
      '-D',
      String(settings.durationS),
      `--warm-up-time=${settings.warmupS}`,
      '-d',
      settings.bodyFile,
      ...(settings.headers ?? ['content-type: application/json']).flatMap((h) => ['-H', h]),
      url + settings.path,
    ],
  });
  const output: string[] = [];
  child.onLine((line) => output.push(line));
  const boundMs = (settings.warmupS + settings.durationS + 15) * 1000;
  await child.waitForLine((line) => (line.startsWith('Main benchmark duration is started') ? true : undefined), boundMs);
  const window = openCpuWindow({ ...cpu, clientPid: child.pid });
  await child.waitForLine((line) => (line.startsWith('Main benchmark duration is over') ? true : undefined), boundMs);
  const reading = window.close();
  await child.exited;
  const counts = parseH2loadCounts(output.join('\n'));
  if (counts === undefined) throw new Error(`h2load printed no counts:\n${child.outputTail()}`);
  const figures = reading(counts.ok);
  return { target, round, requestedRps: perClient * settings.clients, rps: counts.ok / figures.wallS, ...counts, ...figures };
}

/** One POST over h2c with prior knowledge must come back 200 before a target is loaded; the problem otherwise. */
export function checkH2c(url: string, path: string, body: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const session = connect(url);
    const done = (problem: string | undefined): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done('no h2c answer within 5 s'), 5_000);
    session.on('error', (err: Error) => done(`h2c probe failed: ${err.message}`));
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    stream.on('error', (err: Error) => done(`h2c probe failed: ${err.message}`));
    let status = 0;
    let text = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () =>
      done(status === 200 && text.includes('"outputs"') ? undefined : `h2c probe answered ${status}: ${text.slice(0, 200)}`),
    );
    stream.end(body);
  });
}

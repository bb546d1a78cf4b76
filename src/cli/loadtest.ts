/**
 * `sluice loadtest SCENARIO.yaml [--out DIR]`: run a scenario (src/load-test/) and write
 * results.json and report.html; `sluice loadtest compare A B`: two results side by side. Ctrl-C
 * ends the phase in progress, skips the rest and still writes both files (exit code 130); a second
 * Ctrl-C exits at once.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { comparePhases, comparisonText, renderComparison } from '../load-test/compare.js';
import { progressLine, progressWriter } from '../load-test/progress.js';
import { renderReport, PHASE_HEADER, phaseRows } from '../load-test/report.js';
import { readResults } from '../load-test/results.js';
import { runScenario } from '../load-test/run.js';
import { loadScenario } from '../load-test/scenario.js';
import { textTable } from '../load-test/text-table.js';
import { ConfigError } from '../errors.js';
import { reportError, UsageError } from './args.js';

export const USAGE = `usage: sluice loadtest SCENARIO.yaml [--out DIR]
       sluice loadtest compare A/results.json B/results.json [--out DIR]

Run the phases of a scenario file (constant, ramp, spike, idle) against its target, print a line a
second (phase, elapsed, rps, p50/p99, errors, and from the gateway's admin API replicas ready/desired,
held requests, panic mode), then write DIR/results.json and DIR/report.html (one file, opens
offline). Ctrl-C stops early and still writes both. See loadtest/scenarios/ for examples.

compare prints the differences per phase between two runs and writes DIR/compare.html.

options:
  --out DIR    where the files go (default sluice-loadtest/NAME-TIMESTAMP, compare: the current folder)
  -h, --help   this text

The admin API's bearer token: the scenario's admin.token, else env SLUICE_ADMIN_TOKEN.`;

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');

async function run(path: string, out: string | undefined): Promise<number> {
  const { scenario, text } = await loadScenario(path);
  const token = scenario.admin?.token ?? (process.env.SLUICE_ADMIN_TOKEN || undefined);
  const dir = resolve(out ?? join('sluice-loadtest', `${scenario.name.replace(/[^\w.-]+/g, '-')}-${stamp(new Date())}`));
  await mkdir(dir, { recursive: true });

  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(INTERRUPTED);
    process.stderr.write('\nsluice loadtest: stopping (Ctrl-C again to quit at once); the report is still written\n');
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = progressWriter(process.stdout);
  try {
    const results = await runScenario({
      scenario,
      // The token stays out of the files, in the scenario's text as well.
      scenarioText: scenario.admin?.token === undefined ? text : text.replaceAll(scenario.admin.token, '[token]'),
      signal: stop.signal,
      token,
      onProgress: (p) => progress.write(progressLine(p)),
    });
    progress.end();
    await writeFile(join(dir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
    await writeFile(join(dir, 'report.html'), await renderReport(results));
    process.stdout.write(`\n${textTable(PHASE_HEADER, phaseRows(results.phases))}\n\n`);
    process.stdout.write(`results: ${join(dir, 'results.json')}\nreport:  ${join(dir, 'report.html')}\n`);
    return results.outcome === 'interrupted' ? INTERRUPTED : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function compare(paths: string[], out: string | undefined): Promise<number> {
  if (paths.length !== 2) throw new UsageError(`compare wants two results.json files, got ${paths.length}`);
  const [pathA, pathB] = paths as [string, string];
  let a, b;
  try {
    [a, b] = await Promise.all([readResults(pathA), readResults(pathB)]);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  process.stdout.write(`A: ${pathA}\nB: ${pathB}\n\n${comparisonText(comparePhases(a, b))}\n`);
  const dir = resolve(out ?? '.');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'compare.html');
  await writeFile(file, await renderComparison(a, b, { a: pathA, b: pathB }));
  process.stdout.write(`\ncomparison report: ${file}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals[0] === 'compare') return await compare(positionals.slice(1), values.out);
    if (positionals.length !== 1) throw new UsageError(`want one SCENARIO.yaml, got ${positionals.length}`);
    return await run(positionals[0]!, values.out);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice loadtest: invalid scenario:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`sluice loadtest: ${(err as Error).message}\n`);
      return 2;
    }
    return reportError('loadtest', USAGE, err);
  }
}

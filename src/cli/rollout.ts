/**
 * `sluice rollout SERVICE --to REV …` (start), `--abort`, `--status`: canary and blue/green rollouts
 * through the admin API.
 */
import { parseArgs } from 'node:util';
import type { RolloutState } from '../rollout/rollout-controller.js';
import { adminCall } from './admin-client.js';
import { adminFlag, COMMON_HELP, COMMON_OPTIONS, durationFlag, numberFlag, reportError, UsageError } from './args.js';
import { renderRollout } from './render.js';

export const USAGE = `usage: sluice rollout SERVICE --to REV [options]     start a rollout
       sluice rollout SERVICE --abort                  stop it: traffic back to the stable revision
       sluice rollout SERVICE --status                 show it, with its timeline

Canary (default): REV gets each step's percent in turn; before each next step the gateway judges
REV from its own stats over the interval (5xx share, p99, enough requests) and, on failure, sends
all traffic back to the stable revision at once. Passing the last step promotes REV to 100 %.
Blue-green: one flip to 100 %, after REV is pre-warmed to the stable revision's ready replicas.

start options:
  --to REV               the revision to roll out (required)
  --from REV             the stable revision (default: the one with the most traffic)
  --strategy S           canary | blue-green (default canary)
  --steps P,P,...        canary percents, increasing (default 10,25,50; 100 is added)
  --interval DURATION    how long each step is held and judged (default 30s; bare number = seconds)
  --duration DURATION    Knative gradual rollout instead of --steps: 1 %, then even steps to 100 %
                         over DURATION (with --interval as the shortest step, default 1s)
  --max-error-rate F     largest 5xx share per interval, 0..1 (default 0.05)
  --max-p99 DURATION     largest p99 latency (e.g. 500ms; bare number = ms; default: not checked)
  --min-requests N       requests an interval needs to be judged; fewer: held again, at most 3
                         times, then the rollout fails back to the stable revision (default 20)

other options:
  --abort                abort the rollout in progress
  --status               show the current or last rollout
${COMMON_HELP}

examples:
  sluice rollout shop --to shop-2 --steps 10,25,50 --interval 1m --max-p99 300ms
  sluice rollout shop --to shop-2 --duration 10m
  sluice rollout shop --to shop-2 --strategy blue-green`;

export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...COMMON_OPTIONS,
        to: { type: 'string' },
        from: { type: 'string' },
        strategy: { type: 'string' },
        steps: { type: 'string' },
        interval: { type: 'string' },
        duration: { type: 'string' },
        'max-error-rate': { type: 'string' },
        'max-p99': { type: 'string' },
        'min-requests': { type: 'string' },
        abort: { type: 'boolean' },
        status: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(positionals.length === 0 ? 'SERVICE is required' : `one SERVICE, got ${positionals.join(' ')}`);
    const service = positionals[0]!;
    const modes = [values.to !== undefined, values.abort === true, values.status === true].filter(Boolean).length;
    if (modes !== 1) throw new UsageError('give exactly one of --to REV, --abort or --status');
    const startFlags = ['from', 'strategy', 'steps', 'interval', 'duration', 'max-error-rate', 'max-p99', 'min-requests'] as const;
    if (values.to === undefined) {
      const stray = startFlags.find((f) => values[f] !== undefined);
      if (stray !== undefined) throw new UsageError(`--${stray} only goes with --to`);
    }
    const target = adminFlag(values.admin, process.env);
    const path = `/api/v1/services/${encodeURIComponent(service)}`;
    let state: RolloutState | null;
    if (values.status) {
      state = ((await adminCall(target, 'GET', path)) as { rollout?: RolloutState | null }).rollout ?? null;
    } else if (values.abort) {
      state = (await adminCall(target, 'DELETE', `${path}/rollout`)) as RolloutState;
    } else {
      state = (await adminCall(target, 'POST', `${path}/rollout`, startBody(values as Record<string, string | undefined>))) as RolloutState;
    }
    if (values.json) process.stdout.write(JSON.stringify(state, null, 2) + '\n');
    else process.stdout.write(state === null ? `no rollout of ${service}\n` : renderRollout(state) + '\n');
    return 0;
  } catch (err) {
    return reportError('rollout', USAGE, err);
  }
}

/** The POST body from the start flags; absent flags are left to the gateway's defaults. */
export function startBody(v: Record<string, string | undefined>): Record<string, unknown> {
  const body: Record<string, unknown> = { to: v.to };
  if (v.from !== undefined) body.from = v.from;
  if (v.strategy !== undefined) {
    if (v.strategy !== 'canary' && v.strategy !== 'blue-green')
      throw new UsageError(`--strategy: want canary or blue-green, got "${v.strategy}"`);
    body.strategy = v.strategy;
  }
  if (v.steps !== undefined) {
    body.steps = v.steps.split(',').map((s) => numberFlag('--steps', s.trim().replace(/%$/, ''), { min: 1, max: 100, integer: true }));
  }
  if (v.interval !== undefined) body.intervalSeconds = durationFlag('--interval', v.interval, 's') / 1000;
  if (v.duration !== undefined) body.durationSeconds = durationFlag('--duration', v.duration, 's') / 1000;
  const analysis: Record<string, number> = {};
  if (v['max-error-rate'] !== undefined) analysis.maxErrorRate = numberFlag('--max-error-rate', v['max-error-rate'], { min: 0, max: 1 });
  if (v['max-p99'] !== undefined) analysis.maxP99Ms = durationFlag('--max-p99', v['max-p99'], 'ms');
  if (v['min-requests'] !== undefined)
    analysis.minRequests = numberFlag('--min-requests', v['min-requests'], { min: 0, max: 1_000_000, integer: true });
  if (Object.keys(analysis).length > 0) body.analysis = analysis;
  return body;
}

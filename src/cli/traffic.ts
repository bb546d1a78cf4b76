/**
 * `sluice traffic SERVICE REV=PCT[@TAG] … [REV@TAG …]`: replace a service's traffic block through the
 * admin API (validated, pre-warmed for a blue/green flip, persisted, applied).
 */
import { parseArgs } from 'node:util';
import type { TrafficTarget } from '../config/schema.js';
import { adminCall } from './admin-client.js';
import { adminFlag, COMMON_HELP, COMMON_OPTIONS, durationFlag, reportError, UsageError } from './args.js';
import { formatTraffic, parseTrafficArgs } from './traffic-spec.js';

export const USAGE = `usage: sluice traffic SERVICE TARGET... [--keep-warm DURATION] [--admin HOST:PORT] [--json]

Replace SERVICE's traffic split. Each TARGET is one of:
  REV=PCT        REV gets PCT % of the requests
  REV=PCT@TAG    ... and answers to tag TAG (header "Sluice-Tag: TAG" or host TAG-<service host>)
  REV@TAG        tag only: 0 % of the split, reachable by its tag
Percents are whole numbers that sum to 100. The gateway validates the whole split and keeps the
running one when it is invalid (exit 1, each problem named). A revision that goes to 100 % is
pre-warmed first (blue/green); revisions that lose all traffic keep their replicas for a while.

examples:
  sluice traffic shop shop-1=90 shop-2=10
  sluice traffic shop shop-1=100 shop-2@canary
  sluice traffic shop shop-2=100@current shop-1@previous --keep-warm 10m

options:
  --keep-warm DURATION how long revisions that lose all traffic keep their replicas (e.g. 2m)
${COMMON_HELP}`;

export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, 'keep-warm': { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const [service, ...targets] = positionals;
    if (service === undefined) throw new UsageError('SERVICE is required');
    if (service.includes('=') || service.includes('@')) throw new UsageError(`the first argument is the SERVICE, got "${service}"`);
    const traffic = parseTrafficArgs(targets);
    const body =
      values['keep-warm'] === undefined
        ? traffic
        : { traffic, keepWarmSeconds: durationFlag('--keep-warm', values['keep-warm'], 's') / 1000 };
    const target = adminFlag(values.admin, process.env);
    const answer = (await adminCall(target, 'PUT', `/api/v1/services/${encodeURIComponent(service)}/traffic`, body)) as {
      traffic: TrafficTarget[];
    };
    if (values.json) process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
    else process.stdout.write(`traffic for ${service}: ${formatTraffic(answer.traffic)}\n`);
    return 0;
  } catch (err) {
    return reportError('traffic', USAGE, err);
  }
}

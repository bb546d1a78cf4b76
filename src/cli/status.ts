/**
 * `sluice status [SERVICE]`: each service's revisions (condition, traffic, tag, replicas, load, panic)
 * and its rollout, from the admin API.
 */
import { parseArgs } from 'node:util';
import type { ServiceJson } from '../admin/app.js';
import { adminCall } from './admin-client.js';
import { adminFlag, COMMON_HELP, COMMON_OPTIONS, reportError, UsageError } from './args.js';
import { renderService } from './render.js';

export const USAGE = `usage: sluice status [SERVICE] [--admin HOST:PORT] [--json]

Show every service (or one) as the gateway sees it: per revision its status and reason (Ready
Serving, Activating Starting, Failed ExitCode …), the traffic percent and tag, desired / actual /
ready replicas, requests in flight and held, stable and panic concurrency, requests per second and
panic mode; under the table, why each failed or restarting revision is so, with the last lines it
wrote to stderr; and the service's rollout, if any.

options:
${COMMON_HELP}`;

export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: COMMON_OPTIONS, strict: true, allowPositionals: true });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`at most one SERVICE, got ${positionals.length}`);
    const target = adminFlag(values.admin, process.env);
    const [service] = positionals;
    const answer = await adminCall(
      target,
      'GET',
      service === undefined ? '/api/v1/services' : `/api/v1/services/${encodeURIComponent(service)}`,
    );
    if (values.json) {
      process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
      return 0;
    }
    const services = service === undefined ? (answer as { services: ServiceJson[] }).services : [answer as ServiceJson];
    process.stdout.write(services.length === 0 ? 'no services configured\n' : services.map(renderService).join('\n\n') + '\n');
    return 0;
  } catch (err) {
    return reportError('status', USAGE, err);
  }
}

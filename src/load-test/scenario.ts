/**
 * A load-test scenario: what to aim at, which gateway to watch, and the phases, read from YAML and
 * validated once, up front, with every problem naming its field path
 * (`phases[1].rate: Too small: expected number to be >0`). Every phase is bounded in time: the
 * timed ones by `duration`, a spike by the target's `timeout`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/duration.js';
import { boundProblems, issueProblems } from '../config/problems.js';
import { ConfigError } from '../errors.js';

/** The longest a scenario may run, all phases together: 6 h. */
export const MAX_SCENARIO_MS = 6 * 3_600_000;

/** `30s`, `1m30s`, `500ms` or a number of seconds, as milliseconds. */
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'want a duration such as 30s, 5m or 500ms' });
    return z.NEVER;
  }
  return ms;
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'want an http:// or https:// URL' });

const connections = z.number().int().min(1).max(10_000);
/** Requests per second over all connections. */
const rate = z.number().positive().max(1_000_000);

const target = z
  .object({
    /** Where every request goes, path and query included. */
    url: httpUrl,
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).default('GET'),
    headers: z.record(z.string(), z.string()).default({}),
    /** The request body as text. */
    body: z.string().optional(),
    /** Or a file holding it, relative to the scenario file. */
    bodyFile: z.string().min(1).optional(),
    /** A request not answered within this counts as an error. Default 30 s: long enough for a cold start. */
    timeout: duration.default(30_000),
  })
  .strict()
  .refine((t) => t.body === undefined || t.bodyFile === undefined, { message: 'give body or bodyFile, not both', path: ['bodyFile'] });

const admin = z
  .object({
    /** The gateway's admin API, e.g. http://127.0.0.1:8081. */
    url: httpUrl,
    /** Bearer token; default env SLUICE_ADMIN_TOKEN. */
    token: z.string().min(1).optional(),
    /** Only this service's revisions are summed in the gateway charts; default every service. */
    service: z.string().min(1).optional(),
  })
  .strict();

const name = z.string().min(1).max(80).optional();

/**
 * A request to the gateway's admin API made as the phase begins, e.g. starting a canary rollout:
 * `{ method: POST, path: /api/v1/services/iris/rollout, body: { to: iris-00002 } }`.
 */
const call = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'DELETE']),
    path: z.string().regex(/^\/api\/v1\/[\w./%-]*$/, 'want a path of the admin API, /api/v1/…'),
    body: z.unknown().optional(),
  })
  .strict()
  .optional();

const phase = z.discriminatedUnion('type', [
  /** Connections kept busy (closed model), or a fixed request rate over them (open model). */
  z.object({ type: z.literal('constant'), name, call, duration, connections: connections.default(10), rate: rate.optional() }).strict(),
  /** A request rate going linearly from `from` to `to` requests per second. */
  z
    .object({
      type: z.literal('ramp'),
      name,
      call,
      duration,
      from: z.number().min(0).max(1_000_000),
      to: z.number().min(0).max(1_000_000),
      connections: connections.default(10),
    })
    .strict(),
  /** N requests at once, each on its own connection; the phase ends when all are answered. */
  z.object({ type: z.literal('spike'), name, call, requests: z.number().int().min(1).max(10_000) }).strict(),
  /** No load, e.g. to watch the gateway scale to zero. */
  z.object({ type: z.literal('idle'), name, call, duration }).strict(),
]);

const scenarioSchema = z
  .object({
    name: z.string().min(1).max(120).default('loadtest'),
    description: z.string().max(2000).optional(),
    target,
    admin: admin.optional(),
    phases: z.array(phase).min(1).max(100),
  })
  .strict()
  .superRefine((s, ctx) => {
    const total = s.phases.reduce((sum, p) => sum + (p.type === 'spike' ? s.target.timeout : p.duration), 0);
    s.phases.forEach((p, i) => {
      if (p.call !== undefined && s.admin === undefined)
        ctx.addIssue({ code: 'custom', path: ['phases', i, 'call'], message: 'needs admin.url' });
    });
    if (total > MAX_SCENARIO_MS)
      ctx.addIssue({ code: 'custom', path: ['phases'], message: `phases last ${Math.round(total / 60_000)} min, at most 360` });
  });

export type Scenario = z.infer<typeof scenarioSchema>;
export type Phase = Scenario['phases'][number];

/** A phase's label: its name, else `N type` (1-based). */
export function phaseLabel(phase: Phase, index: number): string {
  return phase.name ?? `${index + 1} ${phase.type}`;
}

/** The longest a phase lasts, ms: its duration, or for a spike the request timeout. */
export function phaseBoundMs(phase: Phase, scenario: Scenario): number {
  return phase.type === 'spike' ? scenario.target.timeout : phase.duration;
}

/**
 * A scenario from YAML text; throws ConfigError listing each problem with its field path.
 *
 * @example parseScenario('target: {url: "http://127.0.0.1:8080/"}\nphases: [{type: idle, duration: 5s}]')
 */
export function parseScenario(text: string): Scenario {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`(root): not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = scenarioSchema.safeParse(doc);
  if (!parsed.success) throw new ConfigError(boundProblems(issueProblems(parsed.error.issues)));
  return parsed.data;
}

/** A scenario file, with `bodyFile` read (relative to the file) into `body`. */
export async function loadScenario(path: string): Promise<{ scenario: Scenario; text: string }> {
  const text = await readFile(path, 'utf8');
  const scenario = parseScenario(text);
  if (scenario.target.bodyFile !== undefined) {
    const file = resolve(dirname(path), scenario.target.bodyFile);
    try {
      scenario.target.body = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`target.bodyFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
    }
  }
  return { scenario, text };
}

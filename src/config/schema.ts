/**
 * The configuration file's shape, validated with zod. One field per line, each with its default.
 * Cross-field rules (traffic sums, unique names, annotation ranges) live in validate.ts.
 */
import { z } from 'zod';

const name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-"')
  .max(63);

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+)?:\d{1,5}$/, 'must be HOST:PORT');

const revisionCommon = {
  /** Revision name, unique within its service. */
  name,
  /** Max requests in flight per endpoint; 0 = unbounded (Knative's containerConcurrency). */
  containerConcurrency: z.number().int().min(0).max(1000).default(0),
  /** Deadline for one request, held time included (Knative's timeoutSeconds). */
  timeoutSeconds: z.number().positive().max(3600).default(300),
  /** How long a held request may wait for a ready endpoint before a 504. */
  activationTimeoutSeconds: z.number().positive().max(3600).default(120),
  /** Max requests held for this revision; beyond it a 503 with Retry-After. */
  queueDepth: z.number().int().min(0).max(1_000_000).default(10_000),
  /** Knative `autoscaling.knative.dev/*` annotations. */
  annotations: z.record(z.string(), z.string()).default({}),
};

/** A revision run as local child processes; the port arrives as env PORT (and `${PORT}` in args). */
const localRevision = z.object({
  ...revisionCommon,
  backend: z.literal('local'),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  /** Working directory of the process, relative to the config file; default the gateway's. */
  cwd: z.string().optional(),
  /** Path probed for readiness (200–399 means ready). */
  readinessPath: z.string().startsWith('/').default('/'),
  /** How long scale-down waits for in-flight requests before SIGTERM. */
  drainTimeoutSeconds: z.number().min(0).max(3600).default(30),
  /** Time between SIGTERM and SIGKILL. */
  terminationGraceSeconds: z.number().min(0).max(3600).default(10),
}).strict();

/** A revision whose endpoints are fixed URLs; it is never scaled. */
const staticRevision = z.object({
  ...revisionCommon,
  backend: z.literal('static'),
  urls: z.array(z.url({ protocol: /^https?$/ })).min(1),
}).strict();

export const revisionSchema = z.discriminatedUnion('backend', [localRevision, staticRevision]);

const trafficTarget = z.object({
  revision: name,
  percent: z.number().int().min(0).max(100),
  tag: name.optional(),
}).strict();

const serviceSchema = z.object({
  name,
  match: z
    .object({
      /** Host header values (port ignored), exact or `*.suffix`. */
      hosts: z.array(z.string().min(1)).default([]),
      /** Path prefix, matched on segment boundaries. */
      pathPrefix: z.string().startsWith('/').optional(),
      /** KServe V2 model name: matches `/v2/models/{model}[/...]`. */
      model: z.string().min(1).optional(),
    })
    .strict()
    .default({ hosts: [] }),
  revisions: z.array(revisionSchema).min(1),
  traffic: z.array(trafficTarget).min(1),
}).strict();

export const configSchema = z.object({
  /** Data port address, HOST:PORT; the CLI's --listen wins. */
  listen: hostPort.default('0.0.0.0:8080'),
  /** Admin address, HOST:PORT; loopback unless an admin token is set. */
  admin: hostPort.default('127.0.0.1:8081'),
  /** Knative config-autoscaler keys (kebab-case) as cluster defaults. */
  autoscaler: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  services: z.array(serviceSchema).default([]),
}).strict();

export type RawConfig = z.infer<typeof configSchema>;
export type RawService = RawConfig['services'][number];
export type RawRevision = z.infer<typeof revisionSchema>;
export type LocalRevision = Extract<RawRevision, { backend: 'local' }>;
export type StaticRevision = Extract<RawRevision, { backend: 'static' }>;

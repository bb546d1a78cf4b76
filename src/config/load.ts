/**
 * Configuration loading: YAML text → validated, resolved Config. Pure apart from `readConfigFile`.
 * Every problem names its field path: `services[0].traffic: percents sum to 90, want 100`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import {
  configSchema,
  trafficTargetSchema,
  type RawConfig,
  type RawRevision,
  type RawService,
  type LocalRevision,
  type TlsSettings,
  type TrafficTarget,
} from './schema.js';
import { parseAutoscalerDefaults } from './autoscaler-defaults.js';
import { resolveScaling, type ScalingSpec } from './scaling.js';
import { boundProblems, issueProblems } from './problems.js';
import { checkUpstream, readUpstreamTls, type UpstreamTls } from './upstream-tls.js';

export type Revision = RawRevision & {
  /** Resolved autoscaling knobs. */
  scaling: ScalingSpec;
  /** The tls block with its files read; absent without one. */
  upstreamTls?: UpstreamTls | undefined;
  /**
   * Set on a Kubernetes revision whose config writes `protocol:` itself; without it, its Service
   * port's appProtocol or name may choose h2c (src/kube/service-protocols.ts).
   */
  protocolDeclared?: true;
};
export type Service = Omit<RawService, 'revisions'> & { revisions: Revision[] };
export type Config = Omit<RawConfig, 'services'> & { services: Service[] };

function zodProblems(error: z.ZodError): string[] {
  return issueProblems(error.issues);
}

/** Cross-field rules zod's shape cannot say. */
function checkService(svc: RawService, i: number, problems: string[]): void {
  const at = `services[${i}]`;
  const names = new Set<string>();
  svc.revisions.forEach((r, j) => {
    if (names.has(r.name)) problems.push(`${at}.revisions[${j}].name: duplicate revision "${r.name}"`);
    names.add(r.name);
    // A local replica has a queue-proxy to read only when the driver starts one for it.
    if (r.backend === 'local' && r.metricsSource === 'queue-proxy' && !r.queueProxy) {
      problems.push(`${at}.revisions[${j}].metricsSource: queue-proxy on a local revision needs queueProxy: true`);
    }
    if (r.backend === 'local') checkLocalProtocol(r, `${at}.revisions[${j}]`, problems);
    checkUpstream(r, `${at}.revisions[${j}]`, problems);
  });
  checkTraffic(names, svc.traffic, `${at}.traffic`, problems);
}

/**
 * A local replica is probed the way its protocol needs, and only what the probe can speak is accepted:
 * the gRPC health check is HTTP/2 (h2c, or h2 over TLS), and the queue-proxy in front of an app
 * listens and forwards in cleartext HTTP/1.1 only.
 */
function checkLocalProtocol(r: LocalRevision, at: string, problems: string[]): void {
  if (r.readinessProbe === 'grpc' && r.protocol !== 'h2c' && r.protocol !== 'h2') {
    problems.push(`${at}.readinessProbe: grpc is probed over HTTP/2 and needs protocol h2c or h2, got protocol ${r.protocol}`);
  }
  if (r.queueProxy && r.protocol === 'h2c') {
    problems.push(`${at}.queueProxy: the queue-proxy forwards HTTP/1.1 to its app, so protocol h2c needs queueProxy: false`);
  }
  if (r.queueProxy && (r.protocol === 'h2' || r.tls !== undefined)) {
    const why = r.protocol === 'h2' ? 'protocol h2 (HTTP/2 over TLS)' : 'a tls block';
    problems.push(`${at}.queueProxy: the queue-proxy listens in cleartext HTTP/1.1, so ${why} needs queueProxy: false`);
  }
}

/**
 * Traffic rules: each target names a revision of the service, once; tags are unique; percents sum
 * to 100. `at` is the field path of the traffic list.
 */
function checkTraffic(revisions: ReadonlySet<string>, traffic: ReadonlyArray<TrafficTarget>, at: string, problems: string[]): void {
  const seen = new Set<string>();
  const tags = new Set<string>();
  let sum = 0;
  traffic.forEach((t, j) => {
    if (!revisions.has(t.revision)) problems.push(`${at}[${j}].revision: unknown revision "${t.revision}"`);
    if (seen.has(t.revision)) problems.push(`${at}[${j}].revision: revision "${t.revision}" listed twice`);
    seen.add(t.revision);
    if (t.tag !== undefined) {
      if (tags.has(t.tag)) problems.push(`${at}[${j}].tag: duplicate tag "${t.tag}"`);
      tags.add(t.tag);
    }
    sum += t.percent;
  });
  if (sum !== 100) problems.push(`${at}: percents sum to ${sum}, want 100`);
}

/** The listeners: at least one, one default certificate, a cipher list OpenSSL can use. */
function checkListeners(raw: RawConfig, problems: string[]): void {
  if (raw.listen === 'off' && raw.tls === undefined) problems.push('listen: off leaves no listener: add a tls block, or give HOST:PORT');
  if (raw.tls !== undefined) checkTls(raw.tls, problems);
}

function checkTls(tls: TlsSettings, problems: string[]): void {
  const first = tls.certificates.findIndex((c) => c.default);
  tls.certificates.forEach((c, j) => {
    if (c.default && j !== first)
      problems.push(`tls.certificates[${j}].default: only one certificate can be the default (certificates[${first}] is)`);
  });
  if (tls.ciphers === undefined) return;
  try {
    // No I/O: OpenSSL parses the list into a throwaway context.
    createSecureContext({ ciphers: tls.ciphers });
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    problems.push(`tls.ciphers: ${code === 'ERR_SSL_NO_CIPHER_MATCH' ? 'OpenSSL knows no cipher in this list' : message}`);
  }
}

/**
 * Validate a proposed traffic block for a service (shape and rules) without touching anything.
 * Returns the parsed targets; throws ConfigError naming each problem under `traffic` (at most
 * MAX_PROBLEMS of them: the block comes from an API client).
 */
export function parseTraffic(service: Service, body: unknown): TrafficTarget[] {
  const parsed = z.array(trafficTargetSchema).min(1).safeParse(body);
  if (!parsed.success) throw new ConfigError(boundProblems(issueProblems(parsed.error.issues, ['traffic'])));
  const problems: string[] = [];
  checkTraffic(new Set(service.revisions.map((r) => r.name)), parsed.data, 'traffic', problems);
  if (problems.length > 0) throw new ConfigError(boundProblems(problems));
  return parsed.data;
}

/**
 * Validate a parsed document (an object from YAML or JSON). Throws ConfigError listing every problem.
 * Files the config names (a revision's tls block) are read relative to `base`, the config file's folder.
 */
export function parseConfig(doc: unknown, base = process.cwd()): Config {
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  const raw = parsed.data;
  const problems: string[] = [];
  checkListeners(raw, problems);
  const serviceNames = new Set<string>();
  raw.services.forEach((svc, i) => {
    if (serviceNames.has(svc.name)) problems.push(`services[${i}].name: duplicate service "${svc.name}"`);
    serviceNames.add(svc.name);
    checkService(svc, i, problems);
  });
  // Parsed once: every revision shares the cluster defaults, and their problems are reported once.
  const defaults = parseAutoscalerDefaults(raw.autoscaler, problems);
  const services: Service[] = raw.services.map((svc, i) => ({
    ...svc,
    revisions: svc.revisions.map((r, j) => ({
      ...r,
      scaling: resolveScaling(defaults, r, `services[${i}].revisions[${j}]`, problems),
      upstreamTls: readUpstreamTls(r, base, `services[${i}].revisions[${j}]`, problems),
      ...(r.backend === 'kubernetes' && protocolWritten(doc, i, j) ? { protocolDeclared: true as const } : {}),
    })),
  }));
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...raw, services };
}

/** Whether the document itself writes services[i].revisions[j].protocol (the schema fills in http1 when not). */
function protocolWritten(doc: unknown, i: number, j: number): boolean {
  const services = (doc as { services?: { revisions?: Record<string, unknown>[] }[] } | null)?.services;
  return services?.[i]?.revisions?.[j]?.protocol !== undefined;
}

/** Parse YAML text; syntax errors name the line. `base`: where relative file paths start (parseConfig). */
export function parseConfigText(text: string, source = 'config', base?: string): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) throw new ConfigError([`${source}: YAML syntax: ${err.message}`]);
    throw err;
  }
  return parseConfig(doc, base);
}

export async function readConfigFile(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as Error).message}`]);
  }
  // A local revision's relative cwd (and a tls block's files) are relative to the config file, so
  // a config can name its model server's files wherever the gateway is started from.
  const base = dirname(resolve(file));
  const config = parseConfigText(text, file, base);
  for (const svc of config.services) {
    for (const rev of svc.revisions) if (rev.backend === 'local' && rev.cwd !== undefined) rev.cwd = resolve(base, rev.cwd);
  }
  resolveTlsFiles(config, base);
  return config;
}

/** Certificate and key files relative to the config file's folder `base`, as a local revision's cwd is. */
export function resolveTlsFiles(config: Config, base: string): void {
  for (const c of config.tls?.certificates ?? []) {
    if (c.certFile !== undefined) c.certFile = resolve(base, c.certFile);
    if (c.keyFile !== undefined) c.keyFile = resolve(base, c.keyFile);
  }
}

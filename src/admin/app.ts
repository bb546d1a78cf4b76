/**
 * The admin API as a Hono app: health, readiness, Prometheus metrics, the status routes, the event
 * feed (event-feed.ts) and the dashboard (dashboard.ts). Serving it (and refusing an unsafe bind)
 * lives in server.ts.
 *
 * Errors are JSON `{"error":{"code","message"}}` everywhere: unknown paths 404 `not_found`, a missing
 * or wrong bearer token 401 `unauthorized`, a body over the size limit 413 `payload_too_large`, a
 * body that is not JSON or nests too deep 400 `bad_request`, a throwing handler 500 `internal_error`
 * (logged, never a crash). Client input is answered 4xx, never 500, and messages quote what the
 * client sent only cut short (src/quote.ts).
 */
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Registry } from 'prom-client';
import { ConfigError, SluiceError } from '../errors.js';
import type { RevisionCondition } from '../core/condition.js';
import type { HoldReason, RevisionView, ServiceView, StatusSource } from '../core/status.js';
import { quote, truncate } from '../quote.js';
import { requireBearer } from '../require-bearer.js';
import { codeLabel } from '../stats/metrics.js';
import { DURATION_BOUNDS } from '../stats/revision-stats.js';
import type { GatewayStatsJson } from '../stats/stats-json.js';
import { adminBodyLimit } from './body-limit.js';
import { DASHBOARD_PATHS, dashboardRoutes } from './dashboard.js';
import { eventFeedRoute, type EventFeedOptions, type EventFeedSource } from './event-feed.js';
import { parseJsonBody } from './json-body.js';

/** The part of a pino logger the admin app uses. */
export interface AdminLogger {
  error(obj: object, msg?: string): void;
}

export interface AdminDeps {
  status: StatusSource;
  registry: Registry;
  /** When set, every route except /healthz and /readyz needs `Authorization: Bearer <token>`. */
  token?: string;
  logger?: AdminLogger;
  /** Wall clock in ms, for `/api/v1/stats`. Default Date.now. */
  now?: () => number;
  /** Traffic and rollout control; without it those routes answer 404. */
  control?: AdminControl;
  /**
   * Largest request body, bytes; a larger one is a 413 `payload_too_large`, whether it comes with a
   * Content-Length or chunked (then counted as it arrives, and not read past the limit).
   * Default MAX_BODY_BYTES.
   */
  maxBodyBytes?: number;
  /**
   * Conditions of what the gateway depends on beyond itself (Kubernetes mode:
   * `{ kubernetes: { apiReachable, since, … } }`), shown by /readyz and each service's status.
   */
  conditions?: () => Record<string, unknown>;
  /** The event bus for `GET /api/v1/events`; without it that route answers 404. */
  events?: EventFeedSource;
  /** Bounds of the event feed (slow clients, heartbeat). */
  eventFeed?: EventFeedOptions;
  /** Where the dashboard's files are (dashboard.ts DASHBOARD_DIR by default). */
  dashboardDir?: URL;
}

/** What the write routes call. Each rejects with a SluiceError (ConfigError for invalid input). */
export interface AdminControl {
  /** PUT /api/v1/services/:name/traffic with the request's JSON body. */
  setTraffic(service: string, body: unknown): Promise<unknown>;
  /** POST /api/v1/services/:name/rollout. */
  startRollout(service: string, body: unknown): Promise<unknown>;
  /** DELETE /api/v1/services/:name/rollout: abort and send traffic back to the stable revision. */
  stopRollout(service: string): Promise<unknown>;
  /** The service's rollout state for GET, or null. */
  rollout(service: string): unknown;
}

/**
 * Default largest request body: 1 MiB. The largest real body, a traffic block with a few dozen
 * targets, is a few KB; without a bound, 10 MB bodies took the gateway's RSS from 113 to 364 MB.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Routes a probe must reach without credentials, and the dashboard's files (they hold no data). */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', ...DASHBOARD_PATHS]);

/** One revision as the admin API shows it. */
export interface RevisionJson {
  name: string;
  backend: RevisionView['backend'];
  percent: number;
  tag: string | null;
  containerConcurrency: number;
  replicas: { desired: number; actual: number; ready: number };
  inflight: number;
  held: number;
  stableConcurrency: number;
  panicConcurrency: number;
  rps: number;
  panicMode: boolean;
  desiredPodCount: number;
  excessBurstCapacity: number;
  requestsTotal: number;
  coldStarts: number;
  /**
   * Responses by status code since start ("499": the client went away first). Optional, like
   * `latency`, `heldByReason` and `ejections`: clients such as `sluice status` also read older gateways.
   */
  codes?: Record<string, number>;
  /** Request durations since start: counts per bucket (seconds, one more count than bounds for +Inf). */
  latency?: { boundsSeconds: readonly number[]; counts: number[]; sumSeconds: number };
  /** Requests held since start, by why (core/status.ts HoldReason). */
  heldByReason?: Record<HoldReason, number>;
  /** Endpoints skipped for a moment after a connection to them failed, since start. */
  ejections?: number;
  /** ISO 8601, or null when the revision has never had a request. */
  lastRequestAt: string | null;
  condition: ConditionJson;
}

/** A revision's condition (core/condition.ts) as the admin API shows it. */
export interface ConditionJson {
  status: RevisionCondition['status'];
  reason: string;
  message: string;
  /** ISO 8601: when the status or reason last changed. */
  since: string;
  /** The failed replica's last stderr lines; absent when there are none. */
  output?: string;
}

/** `{ status, reason, message, since, output }`, output left out when empty. */
function conditionJson(c: RevisionCondition): ConditionJson {
  const json: ConditionJson = { status: c.status, reason: c.reason, message: c.message, since: new Date(c.since).toISOString() };
  if (c.output !== '') json.output = c.output;
  return json;
}

export interface ServiceJson {
  name: string;
  match: ServiceView['match'];
  revisions: RevisionJson[];
}

/** A service view as plain JSON: copies of the live numbers, nothing that aliases gateway state. */
export function serviceJson(view: ServiceView): ServiceJson {
  return {
    name: view.name,
    match: { ...view.match, hosts: [...view.match.hosts] },
    revisions: view.revisions.map((r) => ({
      name: r.revision,
      backend: r.backend,
      percent: r.percent,
      tag: r.tag ?? null,
      containerConcurrency: r.containerConcurrency,
      replicas: { desired: r.replicas.desired, actual: r.replicas.actual, ready: r.replicas.ready },
      inflight: r.stats.inflight,
      held: r.stats.held,
      stableConcurrency: r.autoscaler.stableConcurrency,
      panicConcurrency: r.autoscaler.panicConcurrency,
      rps: r.autoscaler.rps,
      panicMode: r.autoscaler.panicMode,
      desiredPodCount: r.autoscaler.desiredPodCount,
      excessBurstCapacity: r.autoscaler.excessBurstCapacity,
      requestsTotal: r.stats.requestsTotal,
      coldStarts: r.stats.coldStarts,
      codes: Object.fromEntries([...r.stats.codes].map(([code, n]) => [codeLabel(code), n])),
      latency: { boundsSeconds: DURATION_BOUNDS, counts: Array.from(r.stats.durationCounts), sumSeconds: r.stats.durationSum },
      heldByReason: { ...r.stats.heldByReason },
      ejections: r.stats.ejections,
      lastRequestAt: r.stats.lastRequestAt > 0 ? new Date(r.stats.lastRequestAt).toISOString() : null,
      condition: conditionJson(r.condition),
    })),
  };
}

/** Seconds of history each /api/v1/stats answer carries. */
const STATS_SECONDS = 5;

export function statsJson(services: ServiceView[], now: number): GatewayStatsJson {
  return {
    now,
    revisions: services.flatMap((s) =>
      s.revisions.map((r) => ({
        service: r.service,
        revision: r.revision,
        inflight: r.stats.inflight,
        held: r.stats.held,
        requestsTotal: r.stats.requestsTotal,
        stableConcurrency: r.autoscaler.stableConcurrency,
        panicConcurrency: r.autoscaler.panicConcurrency,
        rps: r.autoscaler.rps,
        seconds: r.stats.recentSeconds(now, STATS_SECONDS),
      })),
    ),
  };
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/**
 * Build the admin app.
 *
 * @example
 * const app = createAdminApp({ status: gateway, registry: metrics.registry, token: process.env.SLUICE_ADMIN_TOKEN });
 * await startAdminServer({ app, host: '127.0.0.1', port: 8081 });
 */
export function createAdminApp(deps: AdminDeps): Hono {
  const { status, registry, token, logger } = deps;
  const now = deps.now ?? Date.now;
  const app = new Hono();

  if (token !== undefined && token !== '') app.use('*', requireBearer({ token, realm: 'sluice-admin', open: OPEN_PATHS }));

  // After the token check, so that a client without one is refused before its body is read.
  const maxBodyBytes = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  app.use('*', adminBodyLimit(maxBodyBytes));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  // Readiness is about this gateway: listening and configured. An unreachable API server is shown
  // (conditions) but does not fail it: the gateway keeps forwarding warm traffic to the last known
  // endpoints, and a failing probe on every replica at once would take all of them out of their
  // Service and turn an API server outage into a full one.
  const conditions = deps.conditions;
  app.get('/readyz', (c) => {
    const extra = conditions ? { conditions: conditions() } : {};
    return status.ready() ? c.json({ status: 'ready', ...extra }) : c.json({ status: 'not ready', ...extra }, 503);
  });

  app.get('/metrics', async (c) => {
    const text = await registry.metrics();
    return c.body(text, 200, { 'Content-Type': registry.contentType });
  });

  const control = deps.control;
  const withRollout = (json: ServiceJson) => (control ? { ...json, rollout: control.rollout(json.name) ?? null } : json);

  app.get('/api/v1/services', (c) => c.json({ services: status.services().map((v) => withRollout(serviceJson(v))) }));

  app.get('/api/v1/services/:name', (c) => {
    const name = c.req.param('name');
    const view = status.services().find((s) => s.name === name);
    if (!view) throw new SluiceError('not_found', 404, `service ${quote(name)} not found`);
    const json = withRollout(serviceJson(view));
    return c.json(conditions ? { ...json, conditions: conditions() } : json);
  });

  if (control) {
    // Read whole (at most maxBodyBytes, checked above), then depth-checked and parsed.
    const body = async (c: { req: { text(): Promise<string> } }) => parseJsonBody(await c.req.text());
    app.put('/api/v1/services/:name/traffic', async (c) => {
      const result = await control.setTraffic(c.req.param('name'), await body(c));
      return c.json({ traffic: result });
    });
    app.post('/api/v1/services/:name/rollout', async (c) => c.json(await control.startRollout(c.req.param('name'), await body(c)), 202));
    app.delete('/api/v1/services/:name/rollout', async (c) => c.json(await control.stopRollout(c.req.param('name'))));
  }

  app.get('/api/v1/stats', (c) => c.json(statsJson(status.services(), now())));

  if (deps.events) eventFeedRoute(app, deps.events, deps.eventFeed);
  dashboardRoutes(app, deps.dashboardDir);

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${truncate(c.req.method, 16)} ${truncate(c.req.path, 200)}`), 404));

  app.onError((err, c) => {
    if (err instanceof ConfigError) {
      return c.json({ error: { code: err.code, message: err.message, problems: err.problems } }, 400);
    }
    if (err instanceof SluiceError) {
      // The rest of a body over the limit is left unread, so the connection cannot carry another
      // request: a client told so opens a new one instead of losing its next request to it.
      const headers = err.code === 'payload_too_large' ? { Connection: 'close' } : undefined;
      return c.json(errorBody(err.code, err.message), err.status as ContentfulStatusCode, headers);
    }
    logger?.error({ err, method: c.req.method, path: c.req.path }, 'admin handler failed');
    return c.json(errorBody('internal_error', 'internal error'), 500);
  });

  return app;
}

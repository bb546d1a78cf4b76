/**
 * The queue-proxy's admin port (Hono): probes, stats and metrics, as Knative's queue-proxy serves
 * them next to its data port. It binds to all addresses by default because the kubelet probes the
 * pod IP and gateways read the stats from other pods; nothing here changes state. With an admin
 * token set, /metrics and /api/v1/stats need `Authorization: Bearer <token>`; the probes and
 * /wait-for-drain stay open (the kubelet calls them).
 *
 *   GET /healthz          200 while the process serves (the app's last probe result in the body)
 *   GET /readyz           200 when the app is ready and no drain has begun, else 503
 *   GET /metrics          Prometheus text
 *   GET /api/v1/stats     per-second concurrency and counts (QueueProxyStatsJson); ?window=N seconds
 *   GET /wait-for-drain   blocks until the drain has finished, then 200 (preStop hook)
 */
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { quote } from '../quote.js';
import { requireBearer } from '../require-bearer.js';
import { serveApp, type ServedApp } from '../serve-app.js';
import type { Drain } from './drain.js';
import type { AppProbe } from './probe.js';
import type { QueueProxyStats } from './stats.js';

/**
 * How long /wait-for-drain waits for SIGTERM when it arrives first. The kubelet runs the app
 * container's preStop hook and signals this container at the same moment, so the signal is
 * normally milliseconds away; when it never comes, the app container alone is being restarted (a
 * failed liveness probe) and its restart must not wait for a drain that is not happening.
 */
const PRESTOP_SIGNAL_WAIT_MS = 5_000;

/** Default `window` of /api/v1/stats: the stable window. */
const DEFAULT_WINDOW_SECONDS = 60;
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/wait-for-drain']);

export interface QueueProxyAdminDeps {
  stats: QueueProxyStats;
  probe: AppProbe;
  drain: Drain;
  registry: Registry;
  token?: string;
  logger: Logger;
  /** Default PRESTOP_SIGNAL_WAIT_MS. */
  preStopSignalWaitMs?: number;
}

export function createQueueProxyAdminApp(deps: QueueProxyAdminDeps): Hono {
  const { stats, probe, drain, registry, token, logger } = deps;
  const app = new Hono();

  if (token !== undefined && token !== '') app.use('*', requireBearer({ token, realm: 'sluice-queue-proxy', open: OPEN_PATHS }));

  app.get('/healthz', (c) => c.json({ status: 'ok', app: probe.state, draining: drain.draining }));

  app.get('/readyz', async (c) => {
    if (drain.draining) return c.json({ status: 'draining', app: probe.state }, 503);
    const ready = await probe.ready();
    // A drain may have begun while the probe ran.
    if (drain.draining) return c.json({ status: 'draining', app: probe.state }, 503);
    return ready ? c.json({ status: 'ready', app: probe.state }) : c.json({ status: 'not ready', app: probe.state }, 503);
  });

  app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));

  app.get('/api/v1/stats', (c) => {
    const raw = c.req.query('window');
    let seconds = DEFAULT_WINDOW_SECONDS;
    if (raw !== undefined) {
      seconds = Number(raw);
      if (!/^\d+$/.test(raw) || seconds < 1 || seconds > stats.maxWindowSeconds) {
        return c.json(errorBody('bad_request', `window: want whole seconds 1..${stats.maxWindowSeconds}, got ${quote(raw)}`), 400);
      }
    }
    return c.json(stats.snapshot(Date.now(), seconds, drain.draining));
  });

  app.get('/wait-for-drain', async (c) => {
    if (!(await drain.waitBegun(deps.preStopSignalWaitMs ?? PRESTOP_SIGNAL_WAIT_MS))) {
      return c.json({ status: 'not draining' });
    }
    await drain.finished;
    return c.json({ status: 'drained' });
  });

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    logger.error({ err, method: c.req.method, path: c.req.path }, 'admin handler failed');
    return c.json(errorBody('internal_error', 'internal error'), 500);
  });
  return app;
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export type QueueProxyAdminServer = ServedApp;

/** Serve the admin app; resolves once listening. */
export function startQueueProxyAdmin(app: Hono, host: string, port: number): Promise<QueueProxyAdminServer> {
  return serveApp(app, host, port);
}

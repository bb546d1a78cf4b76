/**
 * The predictor's HTTP server: raw `node:http`, one route table built at start, static bodies
 * precomputed. It is the backend of the demo, the tests and the load tests, so a request costs
 * little more than Node's own HTTP handling: one map lookup to route, no per-request logging.
 *
 * Routes (Open Inference Protocol v2; `{m}` is the served model, `[/versions/1]` optional):
 *   GET  /v2/health/live                      200 {"live":true}
 *   GET  /v2/health/ready                     200 {"ready":true} | 503 {"ready":false}
 *   GET  /v2                                  server metadata
 *   GET  /v2/models/{m}[/versions/1]          model metadata
 *   GET  /v2/models/{m}[/versions/1]/ready    200 | 503 {"name","ready"}
 *   POST /v2/models/{m}[/versions/1]/infer    iris classification
 *   POST /v2/models/{m}[/versions/1]/generate_stream   SSE tokens
 *
 * With `grpcPort`, the same model also answers over gRPC on that port (grpc-server.ts), sharing
 * readiness and the injected error rate.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from './body.js';
import { ErrorRate } from './error-rate.js';
import { parseGenerateRequest, streamTokens } from './generate-stream.js';
import { inferResponseJson, parseInferRequest } from './infer.js';
import { MODEL_VERSION, modelMetadata } from './model.js';
import type { GrpcPredictor } from './grpc-server.js';
import { Readiness } from './readiness.js';
import { DEFAULT_OPTIONS, validateOptions, type PredictorOptions } from './options.js';
import { json, send, sendError, startEventStream } from './respond.js';
import { errorJson } from './v2.js';

export interface Predictor {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  /** The gRPC server's port, when `grpcPort` was given. */
  grpcPort?: number;
  /** Stops accepting, lets in-flight requests finish (at most `drainTimeoutMs`), then resolves. */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface Route {
  get?: Handler;
  post?: Handler;
  /** The Allow header for a 405. */
  allow: string;
}

/**
 * Starts a predictor in this process. Options default as on the CLI, except `port`, which
 * defaults to 0 (a free port) here.
 *
 * @example const p = await startPredictor({ startupDelayMs: 500 }); … await p.close();
 */
export async function startPredictor(overrides: Partial<PredictorOptions> = {}): Promise<Predictor> {
  const o: PredictorOptions = { ...DEFAULT_OPTIONS, port: 0, ...overrides };
  validateOptions(o);

  const readiness = new Readiness(o.startupDelayMs);
  const errors = new ErrorRate(o.errorRate);

  const LIVE = json({ live: true });
  const READY = json({ ready: true });
  const NOT_READY = json({ ready: false });
  const serverVersion = packageVersion();
  const SERVER_METADATA = json({ name: 'sluice-predictor', version: serverVersion, extensions: [] });
  const MODEL_METADATA = json(modelMetadata(o.model));
  const MODEL_READY = json({ name: o.model, ready: true });
  const MODEL_NOT_READY = json({ name: o.model, ready: false });
  const INJECTED = errorJson(`injected failure (error rate ${o.errorRate})`);

  const isReady = (): boolean => readiness.ready;
  const notReadyError = (): string => errorJson(readiness.notReadyReason(o.model));

  const health: Handler = (_req, res) => send(res, isReady() ? 200 : 503, isReady() ? READY : NOT_READY, readiness.draining);
  const modelReady: Handler = (_req, res) =>
    send(res, isReady() ? 200 : 503, isReady() ? MODEL_READY : MODEL_NOT_READY, readiness.draining);

  const infer: Handler = (req, res) => {
    if (!isReady()) return send(res, 503, notReadyError(), readiness.draining);
    readBody(req, o.maxBodyBytes)
      .then(async (body) => {
        const parsed = parseInferRequest(body);
        if (o.latencyMs > 0) await sleep(o.latencyMs);
        if (errors.next()) return send(res, 500, INJECTED, readiness.draining);
        send(res, 200, inferResponseJson(o.model, parsed), readiness.draining);
      })
      .catch((err: unknown) => sendError(res, err, readiness.draining));
  };

  const generateStream: Handler = (req, res) => {
    if (!isReady()) return send(res, 503, notReadyError(), readiness.draining);
    readBody(req, o.maxBodyBytes)
      .then((body) => {
        const gen = parseGenerateRequest(body);
        startEventStream(res, readiness.draining);
        streamTokens(res, o.model, gen);
      })
      .catch((err: unknown) => sendError(res, err, readiness.draining));
  };

  const routes = new Map<string, Route>([
    ['/v2/health/live', { get: (_req, res) => send(res, 200, LIVE, readiness.draining), allow: 'GET, HEAD' }],
    ['/v2/health/ready', { get: health, allow: 'GET, HEAD' }],
    ['/v2', { get: (_req, res) => send(res, 200, SERVER_METADATA, readiness.draining), allow: 'GET, HEAD' }],
  ]);
  for (const base of [`/v2/models/${o.model}`, `/v2/models/${o.model}/versions/${MODEL_VERSION}`]) {
    routes.set(base, { get: (_req, res) => send(res, 200, MODEL_METADATA, readiness.draining), allow: 'GET, HEAD' });
    routes.set(`${base}/ready`, { get: modelReady, allow: 'GET, HEAD' });
    routes.set(`${base}/infer`, { post: infer, allow: 'POST' });
    routes.set(`${base}/generate_stream`, { post: generateStream, allow: 'POST' });
  }
  const modelPrefix = `/v2/models/${o.model}/`;

  const server = createServer((req, res) => {
    // One indexOf, at most one slice, one map lookup.
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const route = routes.get(path);
    if (route === undefined) return send(res, 404, errorJson(notFoundMessage(path, o.model, modelPrefix)), readiness.draining);
    const method = req.method;
    const handler = method === 'GET' || method === 'HEAD' ? route.get : method === 'POST' ? route.post : undefined;
    if (handler === undefined) {
      return send(res, 405, errorJson(`method ${method} not allowed on ${path}; allowed: ${route.allow}`), readiness.draining, route.allow);
    }
    handler(req, res);
  });
  // Longer than the gateway's pool idle timeouts, so the gateway closes idle sockets first and never
  // sends on one this side is closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    readiness.drain();
    throw err;
  });

  const port = (server.address() as AddressInfo).port;
  let grpc: GrpcPredictor | undefined;
  if (o.grpcPort !== undefined) {
    try {
      // Loaded only with a gRPC port: grpc-js and the .proto files add about 100 ms to every start
      // of a REST-only replica, which is a cold start's critical path.
      const { startGrpcPredictor } = await import('./grpc-server.js');
      grpc = await startGrpcPredictor({ ...o, grpcPort: o.grpcPort }, readiness, errors, serverVersion);
    } catch (err) {
      readiness.drain();
      await new Promise((resolve) => server.close(resolve));
      throw new Error(`gRPC port ${o.grpcPort}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      readiness.drain();
      const grpcClosed = grpc?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections go as soon as they are idle: those idle now at once, those whose
      // response was already under way (a stream) once it has ended.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (deadline = setTimeout(resolve, o.drainTimeoutMs)));
      await Promise.race([closed, timedOut]);
      clearInterval(sweep);
      clearTimeout(deadline);
      server.closeAllConnections();
      await Promise.all([closed, grpcClosed]);
    })());

  return { url: `http://${urlHost(o.host)}:${port}`, port, ...(grpc && { grpcPort: grpc.port }), close };
}

function notFoundMessage(path: string, model: string, modelPrefix: string): string {
  if (path.startsWith('/v2/models/')) {
    if (!path.startsWith(modelPrefix) && path !== modelPrefix.slice(0, -1)) {
      const name = path.slice('/v2/models/'.length).split('/')[0];
      return `model "${name}" not found; this server serves "${model}"`;
    }
    if (path.startsWith(`${modelPrefix}versions/`)) {
      const version = path.slice(`${modelPrefix}versions/`.length).split('/')[0];
      return `model "${model}" has no version "${version}"; it has "${MODEL_VERSION}"`;
    }
  }
  return `no route for ${path}`;
}

/** IPv6 literals go in brackets in a URL. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The package version, read once at start (dist/predictor/ and src/predictor/ sit two levels down). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

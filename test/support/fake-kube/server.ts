/**
 * A fake Kubernetes API server: real HTTP on 127.0.0.1, the real JSON (objects, lists, Status
 * errors, watch streams), so tests drive it with the real @kubernetes/client-node client.
 *
 * Test hooks: `failNext` (the next N matching requests fail with a Status), `forbid` (a grant taken
 * away: 403 Forbidden as RBAC answers it, until `allowAll`), `stop()`/`start()` (the
 * API server is down for a while, same port after), `closeWatches()` (every watch ends, clients
 * re-watch), `compact()` (history dropped: watches from before now get 410), and `requests()` (what was
 * asked: method, path, query, body, answer code, and the client's bearer token as `user`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { mergePatch } from './merge-patch.js';
import { DEPLOYMENTS, parseResourcePath, type ResourcePath } from './resources.js';
import { forbidden, refuses, verbOf, type ForbidRule } from './rbac.js';
import { patchScale, readScale, replaceScale } from './scale.js';
import { KubeError, badRequest, failureStatus, reasonFor, successStatus, type StatusReason } from './status.js';
import { ObjectStore, type KubeObject, type WriteTarget } from './store.js';
import { WatchStream } from './watch.js';

export interface FakeKubeOptions {
  /** Change events kept for watches; older resourceVersions get 410. Default 1000. */
  historyLimit?: number;
  /** BOOKMARK period on watches that allow them. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** A watch from a too-old resourceVersion: an ERROR event (the API server's way) or HTTP 410. Default 'event'. */
  expiredAs?: 'event' | 'http';
}

export interface RequestRecord {
  method: string;
  /** URL path without the query. */
  path: string;
  query: Record<string, string>;
  contentType?: string;
  /** Parsed JSON body of POST, PUT and PATCH. */
  body?: unknown;
  /** Answer code; 0 while a watch is still open. */
  status: number;
  watch: boolean;
  at: number;
  /** The bearer token the client sent (a kubeconfig `user.token`): who asked, when tests give each client its own. */
  user?: string;
}

export interface FailureRule {
  /** HTTP method to match; any when absent. */
  method?: string;
  /** Path to match: exact string or pattern over the URL path. */
  path: string | RegExp;
  /** Match only watch requests (true) or only non-watch ones (false); both when absent. */
  watch?: boolean;
  /** How many matching requests fail. Default 1. */
  times?: number;
  code: number;
  reason?: StatusReason;
  message?: string;
}

const MAX_BODY = 4 * 1024 * 1024;
const PATCH_TYPES = new Set(['application/merge-patch+json', 'application/strategic-merge-patch+json']);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new KubeError(413, 'BadRequest', 'request entity too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** List items carry no kind/apiVersion on the wire; the list does. */
function listBody(path: ResourcePath, items: KubeObject[], resourceVersion: string, more?: ListMore): unknown {
  return {
    kind: `${path.resource.kind}List`,
    apiVersion: path.resource.apiVersion,
    metadata: { resourceVersion, ...more },
    items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
  };
}

interface ListMore {
  continue: string;
  remainingItemCount: number;
}

const objectKey = (o: KubeObject): string => `${o.metadata.namespace}/${o.metadata.name}`;

/**
 * One page of a list (`limit`, `continue`), as the API server pages: at most `limit` items, and
 * when more follow, an opaque `continue` token the next request passes to get the rest. Here the
 * token is the key of the last item given; items are in key order.
 */
function page(items: KubeObject[], limit: string | null, token: string | null): { items: KubeObject[]; more?: ListMore } {
  let rest = items;
  if (token !== null && token !== '') {
    let after: string;
    try {
      after = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after: string }).after;
    } catch {
      throw badRequest(`continue key is not valid: ${token}`);
    }
    rest = items.filter((o) => objectKey(o).localeCompare(after) > 0);
  }
  const n = limit === null ? 0 : Number(limit);
  if (!Number.isInteger(n) || n <= 0 || rest.length <= n) return { items: rest };
  const shown = rest.slice(0, n);
  const last = objectKey(shown[n - 1]!);
  return {
    items: shown,
    more: { continue: Buffer.from(JSON.stringify({ after: last })).toString('base64url'), remainingItemCount: rest.length - n },
  };
}

export class FakeKubeServer {
  readonly store: ObjectStore;
  private server: Server | undefined;
  private boundPort = 0;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<WatchStream>();
  private rules: Array<FailureRule & { left: number }> = [];
  private refusals: ForbidRule[] = [];
  private log: RequestRecord[] = [];
  private readonly bookmarkIntervalMs: number;
  private readonly expiredAs: 'event' | 'http';

  constructor(options: FakeKubeOptions = {}) {
    this.store = new ObjectStore({ historyLimit: options.historyLimit });
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.expiredAs = options.expiredAs ?? 'event';
  }

  /** A fake listening on 127.0.0.1 at a free port. */
  static async start(options: FakeKubeOptions = {}): Promise<FakeKubeServer> {
    const fake = new FakeKubeServer(options);
    await fake.start();
    return fake;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `http://127.0.0.1:PORT`, the kubeconfig `server`. */
  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Watches currently open. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Listen (again): first on a free port, after stop() on the same port. Objects and history survive. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.boundPort, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (err) {
        // The port of a stopped fake can take a moment to be free again.
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.boundPort = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** The API server goes down: no new connections, every open one (watches included) cut. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const watch of [...this.watches]) watch.closed();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Stop for good. */
  async close(): Promise<void> {
    this.rules = [];
    this.refusals = [];
    await this.stop();
  }

  /** The next `times` (default 1) requests matching the rule are answered `code` with a Status. */
  failNext(rule: FailureRule): void {
    this.rules.push({ ...rule, left: rule.times ?? 1 });
  }

  clearFailures(): void {
    this.rules = [];
  }

  /**
   * Take a grant away: requests matching the rule get 403 Forbidden with RBAC's message until
   * allowAll(). Checked after authentication and before anything else, as the API server does.
   *
   * @example fake.forbid({ resource: PODS, verbs: ['list'], namespace: 'models' })
   */
  forbid(rule: ForbidRule): void {
    this.refusals.push(rule);
  }

  allowAll(): void {
    this.refusals = [];
  }

  /** End every open watch cleanly; clients re-watch from their last resourceVersion. Returns how many. */
  closeWatches(): number {
    const open = [...this.watches];
    for (const watch of open) watch.end();
    return open.length;
  }

  /** Send a BOOKMARK on every open watch that allows them. */
  sendBookmarks(): void {
    for (const watch of this.watches) watch.bookmark();
  }

  /** Drop the store's history: watches from any earlier resourceVersion get 410 Expired. */
  compact(): void {
    this.store.compact();
  }

  /** Requests seen so far, oldest first, optionally only those matching method and path. */
  requests(filter: { method?: string; path?: string | RegExp; user?: string } = {}): RequestRecord[] {
    return this.log.filter(
      (r) =>
        (filter.method === undefined || r.method === filter.method) &&
        (filter.path === undefined || pathMatches(filter.path, r.path)) &&
        (filter.user === undefined || r.user === filter.user),
    );
  }

  clearRequests(): void {
    this.log = [];
  }

  private takeFailure(method: string, path: string, watch: boolean): FailureRule | undefined {
    const rule = this.rules.find(
      (r) =>
        r.left > 0 &&
        (r.method === undefined || r.method === method) &&
        (r.watch === undefined || r.watch === watch) &&
        pathMatches(r.path, path),
    );
    if (!rule) return undefined;
    rule.left--;
    this.rules = this.rules.filter((r) => r.left > 0);
    return rule;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-kube');
    const method = req.method ?? 'GET';
    const watch = method === 'GET' && (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1');
    const record: RequestRecord = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
      watch,
      at: Date.now(),
    };
    const contentType = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (contentType !== undefined) record.contentType = contentType;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (bearer) record.user = bearer[1]!.trim();
    this.log.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    res.on('close', () => (record.status ||= res.statusCode));
    try {
      let body: unknown;
      if (method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE') {
        const text = await readBody(req);
        if (text !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            throw badRequest(`body is not JSON: ${text.slice(0, 80)}`);
          }
          record.body = body;
        }
      }
      const failure = this.takeFailure(method, url.pathname, watch);
      if (failure)
        throw new KubeError(
          failure.code,
          failure.reason ?? reasonFor(failure.code),
          failure.message ?? `injected failure (${failure.code})`,
        );
      this.route(req, res, url, method, watch, contentType, body, record.user);
    } catch (err) {
      if (err instanceof KubeError) send(res, err.code, err.toStatus());
      else send(res, 500, failureStatus(500, 'InternalError', err instanceof Error ? err.message : String(err)));
    }
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
    watch: boolean,
    contentType: string | undefined,
    body: unknown,
    user: string | undefined,
  ): void {
    if (url.pathname === '/version') {
      send(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-fake', platform: 'linux/amd64' });
      return;
    }
    const path = parseResourcePath(url.pathname);
    if (!path) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');
    const verb = verbOf(method, path, watch);
    if (verb !== undefined && this.refusals.some((rule) => refuses(rule, path, verb))) throw forbidden(path, verb, user);
    const { resource, namespace, name, subresource } = path;
    const store = this.store;
    const q = url.searchParams;

    if (name === undefined) {
      if (method === 'GET' && watch) return this.watch(req, res, path, q);
      if (method === 'GET') {
        const { items, resourceVersion } = store.list(resource, namespace, q.get('labelSelector'), q.get('fieldSelector'));
        const shown = page(items, q.get('limit'), q.get('continue'));
        return send(res, 200, listBody(path, shown.items, resourceVersion, shown.more));
      }
      if (method === 'POST' && namespace !== undefined) return send(res, 201, store.create(resource, namespace, body));
      throw new KubeError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    if (namespace === undefined) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');

    if (subresource === 'scale' && resource === DEPLOYMENTS) {
      if (method === 'GET') return send(res, 200, readScale(store, namespace, name));
      if (method === 'PUT') return send(res, 200, replaceScale(store, namespace, name, body));
      if (method === 'PATCH') return send(res, 200, patchScale(store, namespace, name, this.patchBody(contentType, body)));
      throw new KubeError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    let target: WriteTarget = 'main';
    if (subresource === 'status' && resource.hasStatus) target = 'status';
    else if (subresource !== undefined) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');

    switch (method) {
      case 'GET':
        return send(res, 200, store.get(resource, namespace, name));
      case 'PUT':
        return send(res, 200, store.update(resource, namespace, name, body, target));
      case 'PATCH': {
        const patch = this.patchBody(contentType, body);
        const merged = mergePatch(store.get(resource, namespace, name), patch);
        return send(res, 200, store.update(resource, namespace, name, merged, target));
      }
      case 'DELETE': {
        if (target !== 'main') break;
        const precondition = (body as { preconditions?: { resourceVersion?: string } } | undefined)?.preconditions?.resourceVersion;
        const deleted = store.delete(resource, namespace, name, precondition);
        return send(res, 200, successStatus({ name, group: resource.group, kind: resource.plural, uid: deleted.metadata.uid }));
      }
    }
    throw new KubeError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  private patchBody(contentType: string | undefined, body: unknown): unknown {
    // A strategic merge patch of maps and scalars is the same as a merge patch; lists are replaced whole.
    if (contentType === undefined || !PATCH_TYPES.has(contentType)) {
      throw new KubeError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`,
      );
    }
    if (body === undefined) throw badRequest('empty patch');
    return body;
  }

  private watch(_req: IncomingMessage, res: ServerResponse, path: ResourcePath, q: URLSearchParams): void {
    const timeout = q.get('timeoutSeconds');
    const stream = new WatchStream(
      this.store,
      res,
      {
        resource: path.resource,
        namespace: path.namespace,
        resourceVersion: q.get('resourceVersion'),
        labelSelector: q.get('labelSelector'),
        fieldSelector: q.get('fieldSelector'),
        allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1',
        timeoutSeconds: timeout === null ? undefined : Number(timeout),
      },
      { bookmarkIntervalMs: this.bookmarkIntervalMs, expiredAs: this.expiredAs },
      (s) => this.watches.delete(s),
    );
    this.watches.add(stream);
    res.on('close', () => stream.closed());
    try {
      stream.start();
    } catch (err) {
      this.watches.delete(stream);
      throw err;
    }
  }
}

function pathMatches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === 'string' ? pattern === path : pattern.test(path);
}

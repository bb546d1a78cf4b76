/**
 * Request → service. Built once per config; matching a request costs a host normalisation, one Map
 * lookup and a short scan of that host's routes (usually one or two).
 *
 * A service matches when every criterion it sets matches: host (exact, or `*.suffix`), path prefix on
 * a segment boundary, and KServe model name (`/v2/models/{name}/...`, `/v1/models/{name}:predict`).
 * Among matches the most specific wins: exact host over wildcard over any host, then a model name,
 * then the longest prefix; ties go to the one listed first.
 */
export interface RouteSpec<S> {
  service: S;
  hosts: readonly string[];
  pathPrefix?: string;
  model?: string;
}

interface Route<S> {
  service: S;
  pathPrefix?: string;
  model?: string;
  /** Higher is more specific; routes are kept sorted by it, descending. */
  rank: number;
}

export class Router<S> {
  private readonly exact = new Map<string, Route<S>[]>();
  private readonly wildcard: Array<{ suffix: string; routes: Route<S>[] }> = [];
  private readonly anyHost: Route<S>[] = [];

  constructor(specs: ReadonlyArray<RouteSpec<S>>) {
    specs.forEach((spec, order) => {
      const base = (spec.model ? 1 : 0) * 10_000 + (spec.pathPrefix ? spec.pathPrefix.length : 0);
      const make = (hostRank: number): Route<S> => ({
        service: spec.service,
        pathPrefix: spec.pathPrefix === '/' ? undefined : spec.pathPrefix?.replace(/\/+$/, ''),
        model: spec.model,
        // Listed-first wins ties: subtract a tiny order term.
        rank: hostRank * 100_000 + base - order / 1_000,
      });
      if (spec.hosts.length === 0) {
        this.anyHost.push(make(0));
        return;
      }
      for (const raw of spec.hosts) {
        const host = raw.toLowerCase();
        if (host.startsWith('*.')) {
          const suffix = host.slice(1);
          let entry = this.wildcard.find((w) => w.suffix === suffix);
          if (!entry) this.wildcard.push((entry = { suffix, routes: [] }));
          entry.routes.push(make(1));
        } else {
          const list = this.exact.get(host) ?? [];
          list.push(make(2));
          this.exact.set(host, list);
        }
      }
    });
    const byRank = (a: Route<S>, b: Route<S>) => b.rank - a.rank;
    for (const list of this.exact.values()) list.push(...this.anyHost), list.sort(byRank);
    for (const w of this.wildcard) w.routes.push(...this.anyHost), w.routes.sort(byRank);
    this.wildcard.sort((a, b) => b.suffix.length - a.suffix.length);
    this.anyHost.sort(byRank);
  }

  /**
   * The service for a Host header value and a path (origin-form, query included), or undefined.
   * @example router.match('iris.example.com:8080', '/v2/models/iris/infer')
   */
  match(hostHeader: string | undefined, url: string): S | undefined {
    const routes = this.routesFor(normalizeHost(hostHeader));
    if (routes.length === 0) return undefined;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let model: string | null | undefined;
    for (const r of routes) {
      if (r.pathPrefix !== undefined && !hasPrefix(path, r.pathPrefix)) continue;
      if (r.model !== undefined) {
        if (model === undefined) model = modelName(path);
        if (model !== r.model) continue;
      }
      return r.service;
    }
    return undefined;
  }

  private routesFor(host: string): Route<S>[] {
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const w of this.wildcard) if (host.endsWith(w.suffix)) return w.routes;
    return this.anyHost;
  }
}

/** Lowercase, port removed (IPv6 brackets kept). */
export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  let h = host;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  return h.toLowerCase();
}

function hasPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 /* / */;
}

const V2 = '/v2/models/';
const V1 = '/v1/models/';

/**
 * The KServe model named by a path, or null: `/v2/models/iris/infer` → `iris`,
 * `/v1/models/iris:predict` → `iris`.
 */
export function modelName(path: string): string | null {
  let start: number;
  if (path.startsWith(V2)) start = V2.length;
  else if (path.startsWith(V1)) start = V1.length;
  else return null;
  let end = start;
  while (end < path.length) {
    const c = path.charCodeAt(end);
    if (c === 47 /* / */ || c === 58 /* : */) break;
    end++;
  }
  if (end === start) return null;
  const raw = path.slice(start, end);
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; // malformed escapes never match a configured name with them decoded
  }
}

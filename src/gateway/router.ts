/**
 * Request → service. Built once per config; matching a request costs one Map lookup and a short
 * scan of that host's routes (usually one or two). The host and the path come normalised
 * (host.ts, request-target.ts).
 *
 * A service matches when every criterion it sets matches: host (exact, or `*.suffix`), path prefix on
 * a segment boundary, and KServe model name (`/v2/models/{name}/...`, `/v1/models/{name}:predict`,
 * or the model a gRPC call's first message names: grpc-model-peek.ts).
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
  /** Specificity, compared in order: host kind (2 exact, 1 wildcard, 0 any), wildcard suffix length, model set, prefix length. */
  hostRank: number;
  suffixLength: number;
  modelRank: number;
  prefixLength: number;
  /** Position in the config: the first listed wins a tie. */
  order: number;
}

function bySpecificity<S>(a: Route<S>, b: Route<S>): number {
  return (
    b.hostRank - a.hostRank ||
    b.suffixLength - a.suffixLength ||
    b.modelRank - a.modelRank ||
    b.prefixLength - a.prefixLength ||
    a.order - b.order
  );
}

export class Router<S> {
  /** Per exact host: its routes, every wildcard route matching it, and the any-host routes, most specific first. */
  private readonly exact = new Map<string, Route<S>[]>();
  /** Per wildcard suffix (longest first): its routes, shorter matching wildcards' routes, any-host routes. */
  private readonly wildcard: Array<{ suffix: string; routes: Route<S>[] }> = [];
  private readonly anyHost: Route<S>[] = [];

  constructor(specs: ReadonlyArray<RouteSpec<S>>) {
    const exactOwn = new Map<string, Route<S>[]>();
    const wildOwn = new Map<string, Route<S>[]>();
    specs.forEach((spec, order) => {
      const prefix = spec.pathPrefix === undefined || spec.pathPrefix === '/' ? undefined : spec.pathPrefix.replace(/\/+$/, '');
      const make = (hostRank: number, suffixLength: number): Route<S> => ({
        service: spec.service,
        pathPrefix: prefix,
        model: spec.model,
        hostRank,
        suffixLength,
        modelRank: spec.model ? 1 : 0,
        prefixLength: prefix?.length ?? 0,
        order,
      });
      if (spec.hosts.length === 0) {
        this.anyHost.push(make(0, 0));
        return;
      }
      for (const raw of spec.hosts) {
        const host = raw.toLowerCase();
        if (host.startsWith('*.')) {
          const suffix = host.slice(1);
          const list = wildOwn.get(suffix) ?? [];
          list.push(make(1, suffix.length));
          wildOwn.set(suffix, list);
        } else {
          const list = exactOwn.get(host) ?? [];
          list.push(make(2, 0));
          exactOwn.set(host, list);
        }
      }
    });
    const matchingWildcards = (host: string): Route<S>[] =>
      [...wildOwn].filter(([suffix]) => host.endsWith(suffix)).flatMap(([, routes]) => routes);
    for (const [host, own] of exactOwn) this.exact.set(host, [...own, ...matchingWildcards(host), ...this.anyHost].sort(bySpecificity));
    for (const suffix of wildOwn.keys())
      this.wildcard.push({ suffix, routes: [...matchingWildcards(suffix), ...this.anyHost].sort(bySpecificity) });
    this.wildcard.sort((a, b) => b.suffix.length - a.suffix.length);
    this.anyHost.sort(bySpecificity);
  }

  /**
   * The service for a host (as normalizeHost gives it) and a normalised target (query included),
   * or undefined. `model`: the model the request names elsewhere (a gRPC call's first message;
   * null: it names none), instead of the one its path names.
   * @example router.match('iris.example.com', '/v2/models/iris/infer')
   * @example router.match('iris.example.com', '/inference.GRPCInferenceService/ModelInfer', 'iris')
   */
  match(host: string, url: string, model?: string | null): S | undefined {
    const routes = this.routesFor(host);
    if (routes.length === 0) return undefined;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
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

function hasPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47; /* / */
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

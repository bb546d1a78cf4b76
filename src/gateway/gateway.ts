/**
 * The gateway: config → routing tables and revision runtimes; the data-port request handler; the
 * link from scaler drivers (endpoint sets) to the activator (release held requests).
 *
 * Per request: one Map lookup for the host, a path check, one weighted pick, then the Exchange.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config, Revision } from '../config/load.js';
import type { Logger } from '../log.js';
import type { ScalerDriver } from '../scaler/driver.js';
import type { RevisionKey } from '../core/revision.js';
import type { Endpoint } from '../core/endpoint.js';
import { Activator, type Poke } from './activator.js';
import type {
  DownstreamRequest,
  DownstreamResponse,
  Listener,
  ListenerFactory,
  TransportFactory,
  UpstreamTransport,
} from './http-types.js';
import { EJECTION_MS, Exchange, type ExchangeContext } from './exchange.js';
import { headInput, upstreamRequestHeaders, type RequestHead } from './headers.js';
import { normalizeTarget, targetProblemMessage } from './request-target.js';
import { errors, sendError, sendSocketError } from './respond.js';
import { RevisionRuntime } from './revision.js';
import { Router } from './router.js';
import { routeSpecs, serviceViews, type RouteTarget, type ServiceRuntime } from './service-table.js';
import type { AutoscalerView, ServiceView, StatusSource } from '../core/status.js';
import type { ConditionListener, RevisionCondition } from '../core/condition.js';
import { NO_EVENTS, revisionFields, type EventSink } from '../core/gateway-event.js';
import { TrafficPolicy, type TrafficChoice } from './traffic-policy.js';
import { SluiceError } from '../errors.js';
import { UpgradeExchange } from './upgrade.js';
import { WebSocketTunnel } from './websocket-tunnel.js';
import { handleGrpcCall, type GrpcCall } from './grpc-dispatch.js';
import { sendGrpcError } from './grpc-status.js';
import type { RequestTracer } from './request-trace.js';

/** A request routed: its revision, its head for the endpoint, its normalised target. */
export interface Routed {
  choice: TrafficChoice;
  head: RequestHead;
  path: string;
}

export interface GatewayOptions {
  logger: Logger;
  /** A driver per backend kind present in the config. */
  drivers: Partial<Record<'local' | 'static' | 'kubernetes', ScalerDriver>>;
  /** Called when a revision needs capacity now (the autoscaler's activation poke). */
  poke?: Poke;
  /** The data port; none when the owner serves requests itself (the queue-proxy calls `handle`). */
  listener?: ListenerFactory;
  /** How requests reach endpoints: one transport per endpoint. */
  transport: TransportFactory;
  /** Add Sluice-Revision / Sluice-Cold-Start to responses. Default true; false for the queue-proxy's inner gateway. */
  announceRevision?: boolean;
  /** Called after a revision's reported condition changed and held requests were dealt with (rollouts watch canaries). */
  onCondition?: ConditionListener;
  /** Where endpoint-set, cold-start and condition events go (the event feed). Default: nowhere. */
  events?: EventSink;
  /** Traces every request (request-trace.ts); none when tracing is off. */
  tracer?: RequestTracer;
}

export class Gateway implements StatusSource, ExchangeContext {
  readonly activator: Activator;
  readonly announceRevision: boolean;
  readonly tracer: RequestTracer | undefined;
  private readonly server: Listener | undefined;
  private readonly transport: TransportFactory;
  private readonly logger: Logger;
  private readonly drivers: GatewayOptions['drivers'];
  /** Transports by endpoint id (plus the revision's upstreamKey when it has one). */
  private readonly pools = new Map<string, UpstreamTransport>();
  /** Upstream keys by protocol and TLS settings (see upstreamKey). */
  private readonly upstreamKeys = new Map<string, string>();
  private readonly revisionsByKey = new Map<RevisionKey, RevisionRuntime>();
  private serviceTable = new Map<string, ServiceRuntime>();
  private router = new Router<RouteTarget>([]);
  private listening = false;
  private closing = false;
  private pokeHook: Poke | undefined;
  private readonly conditionHook: ConditionListener | undefined;
  private readonly events: EventSink;

  constructor(options: GatewayOptions) {
    this.logger = options.logger;
    this.drivers = options.drivers;
    this.pokeHook = options.poke;
    this.conditionHook = options.onCondition;
    this.events = options.events ?? NO_EVENTS;
    this.activator = new Activator((rev) => this.pokeHook?.(rev));
    for (const driver of Object.values(this.drivers)) {
      driver?.onEndpoints((key, eps) => this.setEndpoints(key, eps));
      driver?.onCondition?.((key, condition) => this.setCondition(key, condition));
    }
    this.transport = options.transport;
    this.announceRevision = options.announceRevision ?? true;
    this.tracer = options.tracer;
    this.server = options.listener?.({ request: this.handle, upgrade: this.handleUpgrade, webSocket: this.handleWebSocket });
  }

  /** Set the activation hook (the autoscaler is built after the gateway). */
  onPoke(poke: Poke): void {
    this.pokeHook = poke;
  }

  /** The autoscaler's latest view of a revision, for the status (the loop's onDecision). */
  autoscalerView(key: RevisionKey, view: AutoscalerView): void {
    const rev = this.revisionsByKey.get(key);
    if (rev !== undefined) rev.autoscaler = view;
  }

  /** Every revision runtime, for the control loop. */
  revisions(): IterableIterator<RevisionRuntime> {
    return this.revisionsByKey.values();
  }

  /**
   * Build routing and revision runtimes from a validated config; also a hot reload. Revisions that
   * stay keep their runtime (stats, endpoints, held requests); new ones start at zero; removed ones
   * are retired: they keep serving what they hold and have in flight, then their driver stops them.
   * The switch is one assignment, so a request is routed by either the old or the new config.
   */
  apply(config: Config): void {
    const now = Date.now();
    const services = new Map<string, ServiceRuntime>();
    const live = new Set<RevisionKey>();
    for (const spec of config.services) {
      const revisions = new Map<string, RevisionRuntime>();
      for (const revSpec of spec.revisions) {
        const key = `${spec.name}/${revSpec.name}`;
        const driver = this.drivers[revSpec.backend];
        if (!driver) throw new Error(`no scaler driver for backend "${revSpec.backend}" (${key})`);
        let rev = this.revisionsByKey.get(key);
        if (rev !== undefined && rev.driver !== driver) {
          this.retire(rev); // backend changed: a new runtime under the same key
          rev = undefined;
        }
        const upstreamKey = this.upstreamKey(revSpec);
        if (rev === undefined) {
          rev = new RevisionRuntime(spec.name, revSpec, driver, now);
          rev.upstreamKey = upstreamKey;
          this.revisionsByKey.set(key, rev);
        } else {
          // Reached another way now (protocol, TLS): new requests go through new pools.
          if (rev.upstreamKey !== upstreamKey) this.closePools(rev.endpoints, rev.upstreamKey);
          rev.upstreamKey = upstreamKey;
          rev.spec = revSpec;
          rev.retired = false;
        }
        revisions.set(revSpec.name, rev);
        live.add(key);
        driver.add(key, revSpec);
        rev.reported = driver.condition?.(key);
      }
      for (const rev of revisions.values()) {
        rev.reachable = spec.traffic.some((t) => t.revision === rev.name && (t.percent > 0 || t.tag !== undefined));
      }
      services.set(spec.name, { name: spec.name, spec, revisions, policy: new TrafficPolicy(spec, revisions) });
    }
    this.serviceTable = services;
    this.router = new Router(routeSpecs(services.values()));
    for (const rev of this.revisionsByKey.values()) if (!live.has(rev.key)) this.retire(rev);
  }

  /** A revision left the config: no new requests reach it; it is stopped once it holds and serves nothing. */
  private retire(rev: RevisionRuntime): void {
    rev.retired = true;
    rev.reachable = false;
    this.sweepRetired();
  }

  /** Stop retired revisions that have finished their work. Called on reload and by the control loop. */
  sweepRetired(): void {
    for (const rev of this.revisionsByKey.values()) {
      if (!rev.retired || rev.stats.active > 0 || rev.queue.length > 0) continue;
      this.revisionsByKey.delete(rev.key);
      // Its endpoint events stop reaching us from here on: close its pools now.
      const endpoints = rev.endpoints;
      rev.endpoints = [];
      this.closeUnusedPools(endpoints, []);
      this.logger.info({ revision: rev.key }, 'revision removed: draining and stopping');
      rev.driver
        .remove(rev.key)
        .catch((err: unknown) => this.logger.error({ err, revision: rev.key }, 'stopping a removed revision failed'));
    }
  }

  // --- ExchangeContext ---

  pool(endpoint: Endpoint, rev: RevisionRuntime): UpstreamTransport {
    // Plain HTTP/1.1 (the common case) looks up by the endpoint's id alone: no string is built.
    const key = rev.upstreamKey === '' ? endpoint.id : endpoint.id + rev.upstreamKey;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = this.transport(endpoint.origin, {
        connectTimeoutMs: 5_000,
        maxConnections: rev.spec.maxConnectionsPerEndpoint,
        maxNewConnections: rev.spec.maxNewConnectionsPerEndpoint,
        protocol: rev.spec.protocol,
        tls: rev.spec.upstreamTls,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  released(rev: RevisionRuntime, now: number): void {
    if (rev.queue.length > 0) this.activator.release(rev, now);
  }

  eject(rev: RevisionRuntime, endpoint: Endpoint): void {
    if (endpoint.ejectedUntil !== 0) return;
    endpoint.ejectedUntil = Date.now() + EJECTION_MS;
    rev.stats.ejections++;
    this.logger.debug({ revision: rev.key, endpoint: endpoint.id }, 'endpoint ejected after a connection failure');
    setTimeout(() => this.activator.release(rev, Date.now()), EJECTION_MS + 1).unref();
  }

  attemptFailed(rev: RevisionRuntime, endpoint: Endpoint, failure: Parameters<ExchangeContext['attemptFailed']>[2]): void {
    if (!this.logger.isLevelEnabled('debug')) return;
    const outcome = failure.next === 'none' ? 'answered with the error' : 'tried again';
    this.logger.debug(
      { revision: rev.key, endpoint: endpoint.id, ...failure },
      `attempt failed (${failure.progress}, ${failure.code || 'no code'}): ${outcome}`,
    );
  }

  // --- endpoint sets from drivers ---

  private setEndpoints(key: RevisionKey, endpoints: readonly Endpoint[]): void {
    const rev = this.revisionsByKey.get(key);
    if (rev === undefined) return;
    const before = rev.endpoints;
    rev.endpoints = endpoints;
    const now = Date.now();
    const woke = before.length === 0 && endpoints.length > 0;
    if (woke) rev.readySince = now;
    this.closeUnusedPools(before, endpoints);
    this.logger.debug({ revision: key, endpoints: endpoints.map((e) => e.id) }, 'endpoints changed');
    const names = revisionFields(key);
    // By id, through sets: O(n) for the rare change of a large set.
    const beforeIds = new Set(before.map((e) => e.id));
    const afterIds = new Set(endpoints.map((e) => e.id));
    const added = [...afterIds].filter((id) => !beforeIds.has(id));
    const removed = [...beforeIds].filter((id) => !afterIds.has(id));
    if (added.length > 0 || removed.length > 0) {
      this.events.publish({ type: 'endpoints', ...names, fields: { ready: endpoints.length, added, removed } });
    }
    // A cold start ends here: what was held while the revision had no endpoint goes now (or its share does).
    const oldest = woke ? rev.queue.peek() : undefined;
    const heldBefore = rev.queue.length;
    this.activator.release(rev, now);
    if (oldest !== undefined && heldBefore > rev.queue.length) {
      this.events.publish({ type: 'cold_start', ...names, fields: { heldMs: now - oldest.heldAt, held: heldBefore - rev.queue.length } });
    }
  }

  private setCondition(key: RevisionKey, condition: RevisionCondition): void {
    const rev = this.revisionsByKey.get(key);
    if (rev === undefined || rev.driver.condition === undefined) return;
    rev.reported = condition;
    this.events.publish({
      type: 'condition',
      ...revisionFields(key),
      fields: { status: condition.status, reason: condition.reason, message: condition.message },
    });
    this.activator.conditionChanged(rev);
    this.conditionHook?.(key, condition);
  }

  /** Close pools of endpoints that left and no revision uses; their in-flight requests finish first. */
  private closeUnusedPools(before: readonly Endpoint[], after: readonly Endpoint[]): void {
    for (const old of before) {
      if (after.includes(old) || this.anyEndpointUses(old.id)) continue;
      // The endpoint's pools: its id, and its id with an upstream key ('#n': an id never has a '#').
      for (const [key, pool] of this.pools) {
        if (key === old.id || (key.startsWith(old.id) && key.charCodeAt(old.id.length) === 0x23) /* # */) {
          this.pools.delete(key);
          pool.close();
        }
      }
    }
  }

  /** Close the pools `endpoints` have under `upstreamKey`; their in-flight requests finish first. */
  private closePools(endpoints: readonly Endpoint[], upstreamKey: string): void {
    for (const endpoint of endpoints) {
      const key = endpoint.id + upstreamKey;
      this.pools.get(key)?.close();
      this.pools.delete(key);
    }
  }

  /** '' for plain HTTP/1.1; else `#n`, one n per distinct protocol and TLS settings seen. */
  private upstreamKey(spec: Revision): string {
    const tls = spec.upstreamTls;
    if ((spec.protocol ?? 'http1') === 'http1' && tls === undefined) return '';
    const settings =
      tls === undefined ? spec.protocol : [spec.protocol, tls.serverName ?? '', tls.ca ?? '', tls.cert ?? '', tls.key ?? ''].join('\0');
    let key = this.upstreamKeys.get(settings);
    if (key === undefined) {
      key = `#${this.upstreamKeys.size + 1}`;
      this.upstreamKeys.set(settings, key);
    }
    return key;
  }

  private anyEndpointUses(id: string): boolean {
    for (const rev of this.revisionsByKey.values()) for (const ep of rev.endpoints) if (ep.id === id) return true;
    return false;
  }

  // --- data port ---

  /**
   * Request → revision: origin-form target only (an absolute URL or authority never picks an
   * upstream), normalised; one Host (`head`, the header rules' reading); then host/path/model
   * (`model`: the one a gRPC call's first message names), then tag or sticky key or weighted
   * split. Returns the route, or the error to answer with. Cost: one Map lookup, one pick.
   */
  readonly route = (req: DownstreamRequest | IncomingMessage, head: RequestHead, model?: string | null): Routed | SluiceError => {
    const path = normalizeTarget(req.url ?? '');
    if (typeof path !== 'string') return errors.badRequest(targetProblemMessage(path.problem));
    if (this.closing) return errors.queueClosed();
    const target = this.router.match(head.host, path, model);
    if (target === undefined) return errors.routeNotFound(head.host, path, model);
    const tag = head.tag ?? target.tag;
    const choice = target.service.policy.choose(req, tag);
    if (choice === undefined) return errors.tagNotFound(target.service.name, tag!);
    return { choice, head, path };
  };

  /** The data-port request listener (public so a wrapper, e.g. the queue-proxy, can count first). */
  readonly handle = (req: DownstreamRequest, res: DownstreamResponse): void => {
    try {
      const head = upstreamRequestHeaders(headInput(req));
      if (head instanceof SluiceError) return sendError(res, head);
      if (head.grpc) return handleGrpcCall(this, req, res, head);
      const routed = this.route(req, head);
      if (routed instanceof SluiceError) return sendError(res, routed);
      this.dispatch(req, res, routed, undefined);
    } catch (err) {
      this.failed(res, err, false);
    }
  };

  /** A routed request (a gRPC call with its deadline) goes to its revision: an endpoint with room, or held. */
  readonly dispatch = (req: DownstreamRequest, res: DownstreamResponse, routed: Routed, grpc: GrpcCall | undefined): void => {
    const { choice, head, path } = routed;
    const now = Date.now();
    choice.revision.stats.arrive(now);
    const exchange = new Exchange(this, choice.revision, req, res, head, path, now);
    if (choice.setCookie !== undefined) exchange.setCookie = choice.setCookie;
    exchange.grpc = grpc;
    exchange.start(now);
  };

  /** A handler threw: answered 502 upstream_error (as a gRPC status for a gRPC call), logged. */
  readonly failed = (res: DownstreamResponse, err: unknown, grpc: boolean): void => {
    this.logger.error({ err }, 'request handler failed');
    if (res.headersSent) res.destroy();
    else if (grpc) sendGrpcError(res, errors.upstreamError(err));
    else sendError(res, errors.upstreamError(err));
  };

  /** The data-port upgrade listener (WebSocket): routed like a request, then piped. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    try {
      const requestHead = upstreamRequestHeaders(headInput(req));
      if (requestHead instanceof SluiceError) return sendSocketError(socket, requestHead);
      const routed = this.route(req, requestHead);
      if (routed instanceof SluiceError) return sendSocketError(socket, routed);
      req.url = routed.path;
      const now = Date.now();
      routed.choice.revision.stats.arrive(now);
      new UpgradeExchange(this, routed.choice.revision, req, socket, head, now).start(now);
    } catch (err) {
      this.logger.error({ err }, 'upgrade handler failed');
      socket.destroy();
    }
  };

  /**
   * The data port's WebSocket over HTTP/2 (an extended CONNECT, websocket-tunnel.ts): routed like
   * a request by its :authority and :path, then held or tunnelled to an endpoint.
   */
  readonly handleWebSocket = (req: DownstreamRequest, res: DownstreamResponse, tunnel: Duplex): void => {
    try {
      const head = upstreamRequestHeaders(headInput(req));
      if (head instanceof SluiceError) return sendError(res, head);
      const routed = this.route(req, head);
      if (routed instanceof SluiceError) return sendError(res, routed);
      const now = Date.now();
      const rev = routed.choice.revision;
      rev.stats.arrive(now);
      const webSocket = new WebSocketTunnel(this, rev, res, tunnel, head, routed.path, now);
      webSocket.setCookie = routed.choice.setCookie;
      webSocket.start(now);
    } catch (err) {
      this.failed(res, err, false);
    }
  };

  /** Listen on the data port; resolves with the bound address. */
  listen(host: string, port: number): Promise<AddressInfo> {
    if (this.server === undefined) return Promise.reject(new Error('this gateway has no listener'));
    return this.server.listen(port, host).then((address) => {
      this.listening = true;
      return address;
    });
  }

  /**
   * Stop: refuse new requests, let in-flight ones finish (up to `graceMs`), fail held ones, close
   * pools. Drivers are closed by the caller (they outlive the data port so drains can finish).
   */
  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    this.listening = false;
    const closed = this.server?.close();
    this.server?.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...this.revisionsByKey.values()].some((r) => r.stats.active > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const rev of this.revisionsByKey.values()) this.activator.failAll(rev, errors.queueClosed());
    this.server?.closeAllConnections();
    await closed;
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }

  // --- StatusSource ---

  ready(): boolean {
    return this.listening && !this.closing;
  }

  services(): ServiceView[] {
    return serviceViews(this.serviceTable.values());
  }
}

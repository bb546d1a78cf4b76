/**
 * A service as the request path sees it, and the routes a config makes: each service's own
 * hosts, and for every tag the tag hosts `<tag>-<host>` of its exact hosts. Built once per config.
 */
import type { Service } from '../config/load.js';
import type { ServiceView } from '../core/status.js';
import type { RevisionRuntime } from './revision.js';
import type { RouteSpec } from './router.js';
import { tagHost, type TrafficPolicy } from './traffic-policy.js';

export interface ServiceRuntime {
  readonly name: string;
  spec: Service;
  revisions: Map<string, RevisionRuntime>;
  policy: TrafficPolicy;
}

/** What the router finds for a request: the service, and the tag when the host was a tag host. */
export interface RouteTarget {
  service: ServiceRuntime;
  tag?: string;
}

/** The routes of `services`, in config order: each service's match, then its tag hosts. */
export function routeSpecs(services: Iterable<ServiceRuntime>): Array<RouteSpec<RouteTarget>> {
  const specs: Array<RouteSpec<RouteTarget>> = [];
  for (const service of services) {
    const { hosts, pathPrefix, model } = service.spec.match;
    specs.push({ service: { service }, hosts, pathPrefix, model });
    for (const tag of service.policy.tagNames()) {
      const tagHosts = hosts.filter((h) => !h.startsWith('*.')).map((h) => tagHost(tag, h));
      if (tagHosts.length > 0) specs.push({ service: { service, tag }, hosts: tagHosts, pathPrefix, model });
    }
  }
  return specs;
}

/** Every service and revision as the admin API and the metrics read them (copies of nothing: live objects). */
export function serviceViews(services: Iterable<ServiceRuntime>): ServiceView[] {
  const out: ServiceView[] = [];
  for (const svc of services) {
    const targets = new Map(svc.spec.traffic.map((t) => [t.revision, t]));
    out.push({
      name: svc.name,
      match: svc.spec.match,
      revisions: [...svc.revisions.values()].map((rev) => ({
        service: svc.name,
        revision: rev.name,
        backend: rev.spec.backend,
        containerConcurrency: rev.spec.containerConcurrency,
        percent: targets.get(rev.name)?.percent ?? 0,
        tag: targets.get(rev.name)?.tag,
        stats: rev.stats,
        replicas: rev.replicas,
        autoscaler: rev.autoscaler,
        condition: rev.condition,
      })),
    });
  }
  return out;
}

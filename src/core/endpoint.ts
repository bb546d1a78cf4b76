/**
 * An endpoint: one ready replica of a revision that the gateway may send requests to.
 * Drivers create and publish endpoints; the balancer counts requests on them.
 */
export interface Endpoint {
  /** Stable identity, `host:port`. */
  readonly id: string;
  /** `http://host:port`, the upstream pool origin. */
  readonly origin: string;
  /** Requests this gateway has in flight on the endpoint; maintained by the balancer. */
  inflight: number;
  /** Set when the endpoint left the ready set: no new requests, in-flight ones finish. */
  draining: boolean;
  /**
   * Wall-clock ms until which the balancer skips this endpoint (0 = not ejected): set when a
   * connection to it failed, so requests do not follow one another into a process that just died
   * before its driver has noticed.
   */
  ejectedUntil: number;
  /**
   * The endpoint's queue-proxy stats URL when it is not `http://<host>:<queueProxyAdminPort>`
   * (local replicas each have their own admin port).
   */
  statsUrl?: string;
}

export function createEndpoint(origin: string): Endpoint {
  const url = new URL(origin);
  return { id: url.host, origin: url.origin, inflight: 0, draining: false, ejectedUntil: 0 };
}

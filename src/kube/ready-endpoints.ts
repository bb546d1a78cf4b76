/**
 * One revision's ready endpoints as its EndpointSlices last listed them. An address that stays ready
 * keeps its Endpoint object, so its in-flight count survives every update; an address that leaves
 * is marked draining, so the balancer sends it nothing new while its requests finish.
 */
import { createEndpoint, type Endpoint } from '../core/endpoint.js';

export class ReadyEndpoints {
  private byOrigin = new Map<string, Endpoint>();
  private current: readonly Endpoint[] = [];

  /** The set as last published. */
  get endpoints(): readonly Endpoint[] {
    return this.current;
  }

  /**
   * Take the ready origins; true when the set changed. Survivors keep their place, newcomers go last:
   * [a, b] then origins [c, a] → [a, c], b draining.
   */
  update(origins: readonly string[]): boolean {
    const next = new Map<string, Endpoint>();
    for (const origin of origins) next.set(origin, this.byOrigin.get(origin) ?? createEndpoint(origin));
    const ordered = this.current.filter((e) => next.get(e.origin) === e);
    for (const endpoint of next.values()) if (!ordered.includes(endpoint)) ordered.push(endpoint);
    for (const [origin, endpoint] of this.byOrigin) if (!next.has(origin)) endpoint.draining = true;
    this.byOrigin = next;
    return this.replace(ordered);
  }

  /** Withdraw every endpoint (each one draining); true when there were any. */
  clear(): boolean {
    for (const endpoint of this.byOrigin.values()) endpoint.draining = true;
    this.byOrigin.clear();
    return this.replace([]);
  }

  private replace(endpoints: readonly Endpoint[]): boolean {
    const before = this.current;
    if (endpoints.length === before.length && endpoints.every((e, i) => e === before[i])) return false;
    this.current = endpoints;
    return true;
  }
}

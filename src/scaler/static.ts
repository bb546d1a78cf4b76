/**
 * Static revisions: endpoints are fixed URLs, published once, never scaled. setReplicas only
 * records what was asked so status can show it.
 */
import type { Revision } from '../config/load.js';
import type { EndpointsListener, ScalerDriver } from './driver.js';
import type { ReplicaCounts, RevisionKey } from '../core/revision.js';
import { createEndpoint, type Endpoint } from '../core/endpoint.js';

export class StaticDriver implements ScalerDriver {
  private readonly revisions = new Map<RevisionKey, { endpoints: Endpoint[]; desired: number }>();
  private readonly listeners: EndpointsListener[] = [];

  add(key: RevisionKey, revision: Revision): void {
    if (revision.backend !== 'static') throw new Error(`static driver cannot run a ${revision.backend} revision (${key})`);
    const endpoints = revision.urls.map(createEndpoint);
    const prev = this.revisions.get(key);
    this.revisions.set(key, { endpoints, desired: prev?.desired ?? endpoints.length });
    for (const l of this.listeners) l(key, endpoints);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that a throwing endpoints listener is a rejection, which the gateway logs
  async remove(key: RevisionKey): Promise<void> {
    if (!this.revisions.delete(key)) return;
    for (const l of this.listeners) l(key, []);
  }

  setReplicas(key: RevisionKey, n: number): void {
    const rev = this.revisions.get(key);
    if (rev) rev.desired = n;
  }

  replicas(key: RevisionKey): ReplicaCounts {
    const rev = this.revisions.get(key);
    const n = rev?.endpoints.length ?? 0;
    return { desired: rev?.desired ?? 0, actual: n, ready: n };
  }

  onEndpoints(listener: EndpointsListener): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    this.revisions.clear();
    return Promise.resolve();
  }
}

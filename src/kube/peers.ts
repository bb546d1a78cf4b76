/**
 * Peer gateway replicas, from the EndpointSlices of a headless Service over the gateways (the base
 * manifests' `sluice-peers`): every ready endpoint but this replica, as an admin base URL the
 * leader reads `/api/v1/stats` from.
 *
 * This replica is recognised by its pod name (the endpoint's `targetRef.name`, env POD_NAME) or its
 * pod IP (env POD_IP): either is enough, so a Service whose slices carry no targetRef still works.
 */
import { DiscoveryV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { ApiHealth } from './api-health.js';
import type { BackoffPolicy } from './backoff.js';
import { originOf, SERVICE_NAME_LABEL } from './endpoint-slices.js';
import { RestartingInformer } from './informer.js';

export interface Self {
  /** This replica's pod name. */
  name?: string;
  /** This replica's pod IP. */
  ip?: string;
}

/**
 * Admin origins of the ready peers in `slices`, this replica left out, each once, sorted.
 *
 * @example peerOrigins([{ addressType: 'IPv4', endpoints: [
 *   { addresses: ['10.0.0.7'], conditions: { ready: true }, targetRef: { name: 'sluice-a' } },
 *   { addresses: ['10.0.0.8'], conditions: { ready: true }, targetRef: { name: 'sluice-b' } }] }],
 *   8081, { name: 'sluice-a' })
 *   // → ['http://10.0.0.8:8081']
 */
export function peerOrigins(slices: readonly V1EndpointSlice[], port: number, self: Self): string[] {
  const out = new Set<string>();
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      if (self.name !== undefined && endpoint.targetRef?.name === self.name) continue;
      const addresses = endpoint.addresses ?? [];
      if (self.ip !== undefined && addresses.includes(self.ip)) continue;
      for (const address of addresses) out.add(originOf(address, port));
    }
  }
  return [...out].sort();
}

export interface PeerDiscoveryOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The headless Service whose EndpointSlices list the gateway replicas. */
  service: string;
  /** Admin port of every replica. */
  port: number;
  self: Self;
  backoff: BackoffPolicy;
  watchTimeoutSeconds: number;
  health: ApiHealth;
  log: Logger;
}

export class PeerDiscovery {
  private readonly informer: RestartingInformer<V1EndpointSlice>;
  private current: readonly string[] = [];

  constructor(private readonly options: PeerDiscoveryOptions) {
    const { namespace, service } = options;
    const labelSelector = `${SERVICE_NAME_LABEL}=${service}`;
    const discovery = options.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.informer = new RestartingInformer<V1EndpointSlice>({
      kubeConfig: options.kubeConfig,
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      labelSelector,
      list: () => discovery.listNamespacedEndpointSlice({ namespace, labelSelector }),
      backoff: options.backoff,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      onChange: (slices) => {
        const next = peerOrigins(slices, options.port, options.self);
        if (next.join() !== this.current.join()) options.log.info({ peers: next }, `peers: ${next.length === 0 ? 'none' : next.join(' ')}`);
        this.current = next;
      },
      onHealth: (ok, err) => (ok ? options.health.answered() : options.health.failed(err)),
      log: options.log,
    });
  }

  start(): void {
    this.informer.start();
  }

  /** The last known peers (kept while the API server is away). */
  peers(): readonly string[] {
    return this.current;
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}

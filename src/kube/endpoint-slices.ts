/**
 * Ready endpoints of a Service from its EndpointSlices. Pure: slices in, origins out.
 *
 * Every slice of the Service counts (a Service with more than 100 pods has several); an endpoint is
 * taken when `conditions.ready` is not false (absent means ready, per the EndpointSlice API); the port
 * is the revision's `port` when set, else the slice port named `portName` (a slice's single unnamed
 * port is taken too: a one-port Service need not name it). Terminating endpoints are not ready, so
 * they drop out as soon as a pod starts shutting down.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';

export interface PortChoice {
  /** Pod port; wins over portName when set. */
  port?: number;
  portName: string;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function slicePort(slice: V1EndpointSlice, choice: PortChoice): number | undefined {
  if (choice.port !== undefined) return choice.port;
  const ports = slice.ports ?? [];
  const named = ports.find((p) => p.name === choice.portName);
  if (named?.port !== undefined) return named.port;
  if (ports.length === 1 && (ports[0]!.name ?? '') === '') return ports[0]!.port;
  return undefined;
}

/** `http://host:port` for an address: IPv6 in brackets. */
export function originOf(address: string, port: number): string {
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

/**
 * Origins of the ready endpoints across `slices`, in slice-name then endpoint order, each once.
 *
 * @example readyOrigins([{ addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }],
 *   endpoints: [{ addresses: ['10.0.0.7'], conditions: { ready: true } }] }], { portName: 'http' })
 *   // → ['http://10.0.0.7:8080']
 */
export function readyOrigins(slices: readonly V1EndpointSlice[], choice: PortChoice): string[] {
  const sorted = [...slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const seen = new Set<string>();
  for (const slice of sorted) {
    const port = slicePort(slice, choice);
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses ?? []) seen.add(originOf(address, port));
    }
  }
  return [...seen];
}

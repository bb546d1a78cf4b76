/**
 * The resource types the fake serves and how their URLs read:
 * `/api/v1/namespaces/NS/configmaps/NAME` (and secrets), `/apis/apps/v1/namespaces/NS/deployments/NAME/scale`,
 * and the cluster-wide lists `/apis/GROUP/VERSION/PLURAL`.
 */
export interface ResourceType {
  /** API group; '' for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  /** `apps/v1`, or `v1` for the core group. */
  apiVersion: string;
  /**
   * Has a status subresource: writes to the main resource keep the stored status, and spec changes
   * bump metadata.generation (as for Deployments).
   */
  hasStatus: boolean;
}

function resource(group: string, version: string, plural: string, kind: string, hasStatus = false): ResourceType {
  return { group, version, plural, kind, apiVersion: group === '' ? version : `${group}/${version}`, hasStatus };
}

export const DEPLOYMENTS = resource('apps', 'v1', 'deployments', 'Deployment', true);
export const ENDPOINT_SLICES = resource('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice');
export const LEASES = resource('coordination.k8s.io', 'v1', 'leases', 'Lease');
export const CONFIG_MAPS = resource('', 'v1', 'configmaps', 'ConfigMap');
export const SERVICES = resource('', 'v1', 'services', 'Service', true);
export const PODS = resource('', 'v1', 'pods', 'Pod', true);
export const SECRETS = resource('', 'v1', 'secrets', 'Secret');

export const RESOURCES: readonly ResourceType[] = [DEPLOYMENTS, ENDPOINT_SLICES, LEASES, CONFIG_MAPS, SERVICES, PODS, SECRETS];

export interface ResourcePath {
  resource: ResourceType;
  /** Absent for a cluster-wide list or watch. */
  namespace?: string;
  name?: string;
  subresource?: string;
}

function find(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Parse a request path; undefined when it names nothing the fake serves. */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) {
    group = '';
    rest = parts.slice(1);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1]!;
    rest = parts.slice(2);
  } else {
    return undefined;
  }
  const version = rest[0]!;
  const tail = rest.slice(1);
  if (tail[0] === 'namespaces' && tail.length >= 3) {
    const resource = find(group, version, tail[2]!);
    if (!resource || tail.length > 5) return undefined;
    return { resource, namespace: tail[1], name: tail[3], subresource: tail[4] };
  }
  if (tail.length === 1) {
    const resource = find(group, version, tail[0]!);
    return resource ? { resource } : undefined;
  }
  return undefined;
}

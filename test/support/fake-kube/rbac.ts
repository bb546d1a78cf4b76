/**
 * Refusals the way RBAC answers them: a request whose verb on a resource the caller was not
 * granted gets 403 Forbidden with the API server's message, e.g.
 * `pods is forbidden: User "gw-a" cannot list resource "pods" in API group "" in the namespace "models"`.
 * The fake grants everything unless a test takes a grant away (FakeKubeServer.forbid).
 */
import type { ResourcePath, ResourceType } from './resources.js';
import { KubeError } from './status.js';

/** The verbs RBAC authorizes requests by. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface ForbidRule {
  resource: ResourceType;
  /** A subresource (`scale`, `status`); the main resource when absent, as RBAC grants them apart. */
  subresource?: string;
  /** Refused verbs; every verb when absent. */
  verbs?: readonly Verb[];
  /** Only in this namespace; every namespace (and the cluster scope) when absent. */
  namespace?: string;
}

/** The verb of a request as the API server's authorizer sees it: GET of a collection is list, with watch=true watch. */
export function verbOf(method: string, path: ResourcePath, watch: boolean): Verb | undefined {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : path.name === undefined ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
  }
  return undefined;
}

export function refuses(rule: ForbidRule, path: ResourcePath, verb: Verb): boolean {
  return (
    rule.resource === path.resource &&
    rule.subresource === path.subresource &&
    (rule.verbs === undefined || rule.verbs.includes(verb)) &&
    (rule.namespace === undefined || rule.namespace === path.namespace)
  );
}

/** The 403 for `user` (the bearer token; `system:anonymous` without one). */
export function forbidden(path: ResourcePath, verb: Verb, user: string | undefined): KubeError {
  const resource = path.subresource === undefined ? path.resource.plural : `${path.resource.plural}/${path.subresource}`;
  const named = path.name === undefined ? '' : ` "${path.name}"`;
  const scope = path.namespace === undefined ? 'at the cluster scope' : `in the namespace "${path.namespace}"`;
  return new KubeError(
    403,
    'Forbidden',
    `${resource}${named} is forbidden: User "${user ?? 'system:anonymous'}" cannot ${verb} resource "${resource}" in API group "${path.resource.group}" ${scope}`,
    { ...(path.name === undefined ? {} : { name: path.name }), group: path.resource.group, kind: path.resource.plural },
  );
}

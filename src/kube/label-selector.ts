/**
 * A Deployment's `spec.selector` as the `labelSelector` query of a list call: the pods it owns.
 * Pure.
 */
import type { V1LabelSelector } from '@kubernetes/client-node';

/**
 * `matchLabels` as `key=value` terms, `matchExpressions` as `key in (a,b)`, `key notin (a,b)`,
 * `key`, `!key`; undefined for a missing or empty selector (it would select every pod of the
 * namespace, which apps/v1 does not allow a Deployment anyway).
 *
 * @example labelSelectorQuery({ matchLabels: { app: 'iris' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] })
 *   // → 'app=iris,tier in (a)'
 */
export function labelSelectorQuery(selector: V1LabelSelector | undefined): string | undefined {
  const terms = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    switch (e.operator) {
      case 'In':
        terms.push(`${e.key} in (${values})`);
        break;
      case 'NotIn':
        terms.push(`${e.key} notin (${values})`);
        break;
      case 'Exists':
        terms.push(e.key);
        break;
      case 'DoesNotExist':
        terms.push(`!${e.key}`);
        break;
      default:
        // An operator this does not know: selecting without it would take pods that are not the Deployment's.
        return undefined;
    }
  }
  return terms.length === 0 ? undefined : terms.join(',');
}

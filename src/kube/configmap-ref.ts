/** The `--configmap NAMESPACE/NAME` flag, parsed without loading the Kubernetes client. */

/**
 * `NAMESPACE/NAME` → its parts, or what is wrong with it.
 *
 * @example parseConfigMapRef('sluice-system/sluice-config') // → { namespace: 'sluice-system', name: 'sluice-config' }
 */
export function parseConfigMapRef(ref: string): { namespace: string; name: string } | string {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(ref);
  if (!match) return `want NAMESPACE/NAME (e.g. sluice-system/sluice-config), got "${ref}"`;
  return { namespace: match[1]!, name: match[3]! };
}

/**
 * JSON merge patch (RFC 7386), the `application/merge-patch+json` the API server applies: objects
 * merge key by key, `null` deletes a key, anything else (arrays included) replaces.
 *
 * @example mergePatch({ spec: { replicas: 1, paused: true } }, { spec: { replicas: 3, paused: null } })
 *   // → { spec: { replicas: 3 } }
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Which certificate a TLS handshake gets, from the name the client sent (SNI): an exact name, then
 * a `*.` wildcard over exactly one label (`*.wild.example` serves `a.wild.example`, not
 * `wild.example` nor `a.b.wild.example`, as RFC 6125 §6.4.3 reads it), else the default; names
 * compare in lower case, a trailing dot ignored. Pure; one table per certificate set.
 */
import { normalizeServerName } from './certificate-names.js';

export interface SniEntry<T> {
  /** Exact names and `*.` wildcards, normalised (normalizeServerName). */
  names: readonly string[];
  value: T;
}

export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  /** Keyed by what follows `*.`. */
  private readonly wildcard = new Map<string, T>();

  /** On a name listed twice, the first entry keeps it. */
  constructor(
    entries: readonly SniEntry<T>[],
    readonly fallback: T,
  ) {
    for (const { names, value } of entries) {
      for (const name of names) {
        const map = name.startsWith('*.') ? this.wildcard : this.exact;
        const key = name.startsWith('*.') ? name.slice(2) : name;
        if (!map.has(key)) map.set(key, value);
      }
    }
  }

  /**
   * Cost: one lower-casing and at most two Map lookups per handshake.
   * @example table.pick('A.Wild.Example.')  // the `*.wild.example` entry
   */
  pick(serverName: string | undefined): T {
    if (serverName === undefined || serverName === '') return this.fallback;
    const name = normalizeServerName(serverName);
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined) ?? this.fallback;
  }
}

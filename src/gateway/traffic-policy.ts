/**
 * A service's revision choice, compiled once per config: tag (header `Sluice-Tag` or tag host)
 * first, then a sticky key if the service has stickiness, else the smooth weighted split.
 * Cost of the common case (no tag, no stickiness): one weighted pick.
 */
import { randomUUID } from 'node:crypto';
import type { Service } from '../config/load.js';
import type { Stickiness } from '../config/schema.js';
import type { RevisionRuntime } from './revision.js';
import { cookieValue, StickyRanges } from './sticky.js';
import { WeightedSplit } from './traffic.js';

export const TAG_HEADER = 'sluice-tag';

export interface TrafficChoice {
  revision: RevisionRuntime;
  /** A Set-Cookie value to send back (cookie stickiness, client had no key yet). */
  setCookie?: string;
}

export class TrafficPolicy {
  private readonly split: WeightedSplit<RevisionRuntime>;
  private readonly tags = new Map<string, RevisionRuntime>();
  private readonly sticky: StickyRanges<RevisionRuntime> | undefined;
  private readonly stickiness: Stickiness | undefined;
  private readonly stickyHeader: string | undefined;

  constructor(service: Service, revisions: ReadonlyMap<string, RevisionRuntime>) {
    const targets = service.traffic.map((t) => ({ item: revisions.get(t.revision)!, weight: t.percent, percent: t.percent }));
    this.split = new WeightedSplit(targets);
    for (const t of service.traffic) if (t.tag !== undefined) this.tags.set(t.tag, revisions.get(t.revision)!);
    this.stickiness = service.stickiness;
    if (service.stickiness) {
      this.sticky = new StickyRanges(targets);
      this.stickyHeader = service.stickiness.header?.toLowerCase();
    }
  }

  /** Tags this service answers to. */
  tagNames(): IterableIterator<string> {
    return this.tags.keys();
  }

  /**
   * The revision for a request. `tag` is from the Sluice-Tag header or the tag host (undefined if
   * neither). Returns undefined for an unknown tag.
   */
  choose(req: { readonly rawHeaders: string[] }, tag: string | undefined): TrafficChoice | undefined {
    if (tag !== undefined) {
      const revision = this.tags.get(tag);
      return revision === undefined ? undefined : { revision };
    }
    if (this.sticky === undefined) return { revision: this.split.pick()! };
    return this.chooseSticky(req);
  }

  private chooseSticky(req: { readonly rawHeaders: string[] }): TrafficChoice {
    const s = this.stickiness!;
    const raw = req.rawHeaders;
    let key: string | undefined;
    for (let i = 0; i < raw.length && key === undefined; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (this.stickyHeader !== undefined && name === this.stickyHeader) key = raw[i + 1];
      else if (s.cookie !== undefined && name === 'cookie') key = cookieValue(raw[i + 1]!, s.cookie);
    }
    if (key !== undefined && key !== '') return { revision: this.sticky!.pick(key)! };
    if (s.cookie === undefined) return { revision: this.split.pick()! }; // header mode, no key: plain split
    const fresh = randomUUID();
    return {
      revision: this.sticky!.pick(fresh)!,
      setCookie: `${s.cookie}=${fresh}; Path=/; Max-Age=${s.cookieMaxAgeSeconds}; HttpOnly; SameSite=Lax`,
    };
  }
}

/** Tag hosts of a service host: `canary` + `iris.example.com` → `canary-iris.example.com`. */
export function tagHost(tag: string, host: string): string {
  return `${tag}-${host}`;
}

/**
 * One watch stream: newline-delimited JSON events `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":…}`
 * over a chunked 200 response, as `GET …?watch=true` answers on a real API server.
 *
 * Start: no resourceVersion (or "0") → a synthetic ADDED per matching object, then live changes;
 * resourceVersion N → every change after N from history, then live changes; N older than history →
 * an ERROR event carrying a 410 Expired Status and the end of the stream (or a plain HTTP 410 when the
 * fake is set up that way), so the client must relist.
 *
 * With a selector, an object that starts matching arrives as ADDED and one that stops matching as
 * DELETED, as the API server's watch cache does.
 */
import type { ServerResponse } from 'node:http';
import type { ResourceType } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { badRequest, expired } from './status.js';
import type { KubeObject, ObjectStore, StoreEvent } from './store.js';

export interface WatchRequest {
  resource: ResourceType;
  /** Absent: every namespace. */
  namespace?: string;
  resourceVersion?: string | null;
  labelSelector?: string | null;
  fieldSelector?: string | null;
  allowWatchBookmarks: boolean;
  timeoutSeconds?: number;
}

export interface WatchSettings {
  /** Period of BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs: number;
  /** How a watch from a too-old resourceVersion fails: an ERROR event in a 200 stream, or HTTP 410. */
  expiredAs: 'event' | 'http';
}

type WireEvent = { type: string; object: unknown };

export class WatchStream {
  private unsubscribe: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private ended = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly res: ServerResponse,
    private readonly request: WatchRequest,
    private readonly settings: WatchSettings,
    private readonly onEnd: (stream: WatchStream) => void,
  ) {}

  /** Begin streaming. Throws a KubeError (answered as a plain Status) when the request is bad. */
  start(): void {
    const labels = parseLabelSelector(this.request.labelSelector);
    const fields = parseFieldSelector(this.request.fieldSelector);
    const matches = (object: KubeObject): boolean => labels(object.metadata.labels) && fields(object);
    const rvText = this.request.resourceVersion;
    let backlog: WireEvent[];
    if (rvText === undefined || rvText === null || rvText === '' || rvText === '0') {
      const { items } = this.store.list(this.request.resource, this.request.namespace);
      backlog = items.filter(matches).map((object) => ({ type: 'ADDED', object }));
    } else {
      const from = Number(rvText);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resource version: ${JSON.stringify(rvText)}`);
      const events = this.store.eventsSince(from);
      if (events === undefined) {
        const error = expired(from, this.store.oldestResourceVersion + 1);
        if (this.settings.expiredAs === 'http') throw error;
        this.open();
        this.write({ type: 'ERROR', object: error.toStatus() });
        this.end();
        return;
      }
      backlog = events.map((e) => this.translate(e, matches)).filter((e): e is WireEvent => e !== undefined);
    }
    // Subscribing in the same tick as reading the backlog: no change can fall between the two.
    this.unsubscribe = this.store.subscribe((event) => {
      const wire = this.translate(event, matches);
      if (wire !== undefined) this.write(wire);
    });
    this.open();
    for (const event of backlog) this.write(event);
    if (this.request.allowWatchBookmarks) {
      const timer = setInterval(() => this.bookmark(), this.settings.bookmarkIntervalMs);
      this.timers.push(timer);
    }
    if (this.request.timeoutSeconds !== undefined && this.request.timeoutSeconds > 0) {
      this.timers.push(setTimeout(() => this.end(), this.request.timeoutSeconds * 1000));
    }
  }

  /** Send a BOOKMARK now (when the client allowed them). */
  bookmark(): void {
    if (!this.request.allowWatchBookmarks) return;
    const { resource } = this.request;
    this.write({
      type: 'BOOKMARK',
      object: { kind: resource.kind, apiVersion: resource.apiVersion, metadata: { resourceVersion: this.store.resourceVersion } },
    });
  }

  /** End the stream cleanly (the client sees the watch close and re-watches). */
  end(): void {
    if (this.ended) return;
    this.cleanup();
    if (!this.res.writableEnded) this.res.end();
  }

  /** The connection went away. */
  closed(): void {
    this.cleanup();
  }

  private cleanup(): void {
    if (this.ended) return;
    this.ended = true;
    this.unsubscribe?.();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    this.onEnd(this);
  }

  private open(): void {
    this.res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    this.res.flushHeaders();
  }

  private write(event: WireEvent): void {
    if (this.ended || this.res.writableEnded || this.res.destroyed) return;
    this.res.write(`${JSON.stringify(event)}\n`);
  }

  private translate(event: StoreEvent, matches: (object: KubeObject) => boolean): WireEvent | undefined {
    if (event.resource !== this.request.resource) return undefined;
    if (this.request.namespace !== undefined && event.namespace !== this.request.namespace) return undefined;
    const now = event.type !== 'DELETED' && matches(event.object);
    const before = event.previous !== undefined && matches(event.previous);
    switch (event.type) {
      case 'ADDED':
        return now ? { type: 'ADDED', object: event.object } : undefined;
      case 'MODIFIED':
        if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: event.object };
        return before ? { type: 'DELETED', object: event.object } : undefined;
      case 'DELETED':
        return before ? { type: 'DELETED', object: event.object } : undefined;
    }
  }
}

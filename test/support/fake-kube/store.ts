/**
 * The fake's etcd: objects by resource, namespace and name, one global resourceVersion counter that
 * every write bumps, and a bounded history of change events that watches replay from.
 *
 * A watch from resourceVersion N needs every event after N. History keeps the last `historyLimit`
 * events; with limit 3 and events at 11..15 it holds 13, 14, 15, so a watch from 12 replays 13..15
 * and a watch from 11 gets 410 Expired (event 12 is gone) and must relist.
 */
import { randomUUID } from 'node:crypto';
import { isPlainObject } from './merge-patch.js';
import type { ResourceType } from './resources.js';
import { alreadyExists, badRequest, conflict, notFound } from './status.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { validateObject } from './validate.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  resource: ResourceType;
  namespace: string;
  /** After the change; for DELETED the last state, carrying the deletion's resourceVersion. */
  object: KubeObject;
  /** Before the change (MODIFIED and DELETED). */
  previous?: KubeObject;
  resourceVersion: number;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

export interface StoreOptions {
  /** Change events kept for watches. Default 1000. */
  historyLimit?: number;
}

/** Which part of an object a write may change: the main resource leaves status alone and vice versa. */
export type WriteTarget = 'main' | 'status';

function keyOf(resource: ResourceType, namespace: string, name: string): string {
  return `${resource.plural}.${resource.group}|${namespace}|${name}`;
}

/** RFC 3339 to the second, as the API server writes metav1.Time. */
function nowTime(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
}

/** Object minus what the server owns, to tell whether a write changes anything. */
function comparable(object: KubeObject): unknown {
  const { resourceVersion: _rv, ...metadata } = object.metadata;
  return { ...object, metadata };
}

function specOf(object: KubeObject): unknown {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = object;
  return rest;
}

export class ObjectStore {
  private rv = 1;
  /** History holds every event with resourceVersion > oldestRv. */
  private oldestRv = 1;
  private history: StoreEvent[] = [];
  private readonly objects = new Map<string, KubeObject>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly historyLimit: number;

  constructor(options: StoreOptions = {}) {
    this.historyLimit = options.historyLimit ?? 1000;
  }

  /** The latest resourceVersion, as lists report it. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** The oldest resourceVersion a watch may start from. */
  get oldestResourceVersion(): number {
    return this.oldestRv;
  }

  tryGet(resource: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const found = this.objects.get(keyOf(resource, namespace, name));
    return found === undefined ? undefined : structuredClone(found);
  }

  get(resource: ResourceType, namespace: string, name: string): KubeObject {
    const found = this.tryGet(resource, namespace, name);
    if (found === undefined) throw notFound(resource, name);
    return found;
  }

  list(resource: ResourceType, namespace: string | undefined, labelSelector?: string | null, fieldSelector?: string | null): ListResult {
    const labels = parseLabelSelector(labelSelector);
    const fields = parseFieldSelector(fieldSelector);
    const prefix = `${resource.plural}.${resource.group}|${namespace === undefined ? '' : `${namespace}|`}`;
    const items: KubeObject[] = [];
    for (const [key, object] of this.objects) {
      if (key.startsWith(prefix) && labels(object.metadata.labels) && fields(object)) items.push(structuredClone(object));
    }
    items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    return { items, resourceVersion: this.resourceVersion };
  }

  create(resource: ResourceType, namespace: string, body: unknown): KubeObject {
    if (!isPlainObject(body) || !isPlainObject(body.metadata)) throw badRequest(`${resource.kind}: metadata is required`);
    const meta = body.metadata as ObjectMeta;
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw badRequest(`the namespace of the provided object does not match the namespace sent on the request`);
    }
    let name = meta.name;
    if ((name === undefined || name === '') && typeof meta.generateName === 'string') {
      name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    }
    if (typeof name !== 'string' || name === '')
      throw badRequest(`${resource.kind}: metadata.name: Required value: name or generateName is required`);
    const key = keyOf(resource, namespace, name);
    if (this.objects.has(key)) throw alreadyExists(resource, name);
    const {
      resourceVersion: _rv,
      uid: _uid,
      creationTimestamp: _ct,
      generation: _gen,
      deletionTimestamp: _dt,
      managedFields: _mf,
      selfLink: _sl,
      ...clientMeta
    } = meta;
    const object: KubeObject = {
      ...(structuredClone(body) as KubeObject),
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      metadata: {
        ...structuredClone(clientMeta),
        name,
        namespace,
        uid: randomUUID(),
        creationTimestamp: nowTime(),
        ...(resource.hasStatus ? { generation: 1 } : {}),
      },
    };
    if (resource.hasStatus) object.status = {};
    validateObject(resource, object);
    return this.commit('ADDED', resource, namespace, object, undefined);
  }

  /**
   * Replace an object (PUT). A set `metadata.resourceVersion` is a precondition: stale → 409
   * Conflict. A write that changes nothing is not stored and bumps nothing, as on a real server.
   */
  update(resource: ResourceType, namespace: string, name: string, body: unknown, target: WriteTarget = 'main'): KubeObject {
    if (!isPlainObject(body) || !isPlainObject(body.metadata)) throw badRequest(`${resource.kind}: metadata is required`);
    const meta = body.metadata as ObjectMeta;
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw badRequest(`the namespace of the provided object does not match the namespace sent on the request`);
    }
    const stored = this.objects.get(keyOf(resource, namespace, name));
    if (stored === undefined) throw notFound(resource, name);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && meta.resourceVersion !== stored.metadata.resourceVersion) {
      throw conflict(resource, name);
    }
    let next: KubeObject;
    if (target === 'status') {
      next = { ...structuredClone(stored), status: structuredClone(body.status) };
    } else {
      const {
        resourceVersion: _rv,
        uid: _uid,
        creationTimestamp: _ct,
        generation: _gen,
        managedFields: _mf,
        selfLink: _sl,
        ...clientMeta
      } = meta;
      next = {
        ...(structuredClone(body) as KubeObject),
        apiVersion: resource.apiVersion,
        kind: resource.kind,
        metadata: {
          ...structuredClone(clientMeta),
          name,
          namespace,
          uid: stored.metadata.uid,
          creationTimestamp: stored.metadata.creationTimestamp,
          ...(stored.metadata.generation !== undefined ? { generation: stored.metadata.generation } : {}),
        },
      };
      if (resource.hasStatus) next.status = structuredClone(stored.status);
      if (resource.hasStatus && !deepEqual(specOf(next), specOf(stored))) next.metadata.generation = (stored.metadata.generation ?? 0) + 1;
    }
    next.metadata.resourceVersion = stored.metadata.resourceVersion;
    if (deepEqual(comparable(next), comparable(stored))) return structuredClone(stored);
    validateObject(resource, next);
    return this.commit('MODIFIED', resource, namespace, next, stored);
  }

  /** Change an object in place with no precondition: the fake's own controllers (the kubelet) write this way. */
  mutate(
    resource: ResourceType,
    namespace: string,
    name: string,
    change: (object: KubeObject) => void,
    target: WriteTarget = 'main',
  ): KubeObject {
    const current = this.get(resource, namespace, name);
    change(current);
    current.metadata.resourceVersion = undefined;
    return this.update(resource, namespace, name, current, target);
  }

  delete(resource: ResourceType, namespace: string, name: string, preconditionRv?: string): KubeObject {
    const key = keyOf(resource, namespace, name);
    const stored = this.objects.get(key);
    if (stored === undefined) throw notFound(resource, name);
    if (preconditionRv !== undefined && preconditionRv !== stored.metadata.resourceVersion) throw conflict(resource, name);
    return this.commit('DELETED', resource, namespace, structuredClone(stored), stored);
  }

  /** Events after `rv`, oldest first; undefined when history no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.oldestRv) return undefined;
    return this.history.filter((e) => e.resourceVersion > rv);
  }

  /** Drop all history: any watch from a resourceVersion before now gets 410 Expired. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.rv;
  }

  /** Called synchronously with every change, in resourceVersion order. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private commit(
    type: EventType,
    resource: ResourceType,
    namespace: string,
    object: KubeObject,
    previous: KubeObject | undefined,
  ): KubeObject {
    this.rv++;
    object.metadata.resourceVersion = String(this.rv);
    const key = keyOf(resource, namespace, object.metadata.name);
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, object);
    const event: StoreEvent = { type, resource, namespace, object: structuredClone(object), resourceVersion: this.rv };
    if (previous !== undefined) event.previous = structuredClone(previous);
    this.history.push(event);
    while (this.history.length > this.historyLimit) this.oldestRv = this.history.shift()!.resourceVersion;
    for (const listener of [...this.listeners]) listener(event);
    return structuredClone(object);
  }
}

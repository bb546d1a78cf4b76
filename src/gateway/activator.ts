/**
 * The activator: holds requests a revision has no capacity for, wakes the scaler, and releases held
 * requests oldest-first as endpoints gain room. Bounded (queueDepth), each held request has a
 * deadline (min of activation timeout and request timeout), and a client that leaves frees its slot
 * at once.
 */
import type { SluiceError } from '../errors.js';
import type { HoldNode } from './hold-queue.js';
import { pickEndpoint } from './balancer.js';
import { errors } from './respond.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';

/** Called when a revision needs capacity it lacks (its queue went from empty, or it is at zero). */
export type Poke = (rev: RevisionRuntime) => void;

export class Activator {
  constructor(private readonly poke: Poke) {}

  /**
   * Hold a request. Returns the node (pass it to leave() if the client goes away), or undefined when
   * the request was refused at once (queue full: it got its 503).
   */
  hold(rev: RevisionRuntime, request: HeldRequest, now: number): HoldNode<Held> | undefined {
    const depth = rev.spec.queueDepth;
    if (rev.queue.length >= depth) {
      request.fail(errors.queueFull(rev.queue.length));
      return undefined;
    }
    const held: Held = { request, timer: undefined };
    const node = rev.queue.push(held, now);
    rev.stats.held = rev.queue.length;
    const waitMs = Math.min(rev.spec.activationTimeoutSeconds, rev.spec.timeoutSeconds) * 1000;
    held.timer = setTimeout(() => this.expire(rev, node, waitMs), waitMs);
    held.timer.unref?.();
    this.poke(rev);
    return node;
  }

  /** The client went away while held: drop it now. */
  leave(rev: RevisionRuntime, node: HoldNode<Held>): void {
    if (!node.queued) return;
    rev.queue.remove(node);
    clearTimeout(node.value.timer);
    rev.stats.held = rev.queue.length;
  }

  /** Send held requests, oldest first, while some endpoint has room. Cheap when nothing is held. */
  release(rev: RevisionRuntime, now: number): void {
    while (rev.queue.length > 0) {
      const endpoint = pickEndpoint(rev.endpoints, rev.spec.containerConcurrency);
      if (endpoint === undefined) break;
      const node = rev.queue.shift()!;
      clearTimeout(node.value.timer);
      rev.stats.held = rev.queue.length;
      node.value.request.send(endpoint, now - node.heldAt);
    }
  }

  /** Fail every held request (shutdown, or the revision was removed with nowhere to go). */
  failAll(rev: RevisionRuntime, err: SluiceError): void {
    for (let node = rev.queue.shift(); node; node = rev.queue.shift()) {
      clearTimeout(node.value.timer);
      node.value.request.fail(err);
    }
    rev.stats.held = 0;
  }

  private expire(rev: RevisionRuntime, node: HoldNode<Held>, waitMs: number): void {
    if (!node.queued) return;
    rev.queue.remove(node);
    rev.stats.held = rev.queue.length;
    node.value.request.fail(errors.activationTimeout(waitMs));
  }
}

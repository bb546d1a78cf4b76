/**
 * The activator: holds requests a revision has no capacity for, wakes the scaler, and releases held
 * requests oldest-first as endpoints gain room. Bounded (queueDepth), each held request has a
 * deadline (min of activation timeout and request timeout), and a client that leaves frees its slot
 * at once.
 *
 * A burst released at a cold start is spread over the replicas being started (releaseLimit): the
 * first one ready takes its share, not the whole queue.
 *
 * Deadlines cost one timer per revision, not one per held request: requests are held in arrival
 * order with the revision's one wait, so the queue is in deadline order and the timer is due at
 * the head's. Only a request held again at the head (sent once, to go again) can have a later
 * deadline than the ones behind it; the sweep looks past those.
 */
import type { HoldReason } from '../core/status.js';
import type { SluiceError } from '../errors.js';
import type { HoldNode } from './hold-queue.js';
import { pickEndpoint, pickEndpointExcept } from './balancer.js';
import { errors } from './respond.js';
import type { Held, HeldRequest, RevisionRuntime } from './revision.js';

/** Called when a revision needs capacity it lacks (its queue went from empty, or it is at zero). */
export type Poke = (rev: RevisionRuntime) => void;

/** Held requests looked at, from the head, when the head must avoid the endpoints with room (HeldRequest.avoid). */
const AVOID_SCAN = 8;

/**
 * The most requests the activator puts in flight on one endpoint (0 = no limit). It is
 * containerConcurrency, except while replicas are still starting (desired > ready): then a ready
 * endpoint takes at most its share of the revision's demand (held + in flight) over the desired
 * replicas, and never less than the per-replica target. 2,000 held, 4 desired → 500 on the first
 * one ready, the rest as the others come up; 10 held → all 10 (the target is 70).
 *
 * @example releaseLimit(0, 4, 1, 2000, 70) // 500
 */
export function releaseLimit(cc: number, desired: number, ready: number, demand: number, target: number): number {
  if (desired <= ready) return cc;
  const share = Math.max(Math.ceil(target), Math.ceil(demand / desired));
  return cc > 0 ? Math.min(cc, share) : share;
}

/** Why `rev` holds a request now (core/status.ts HoldReason). */
function holdReason(rev: RevisionRuntime, front: boolean): HoldReason {
  if (front) return 'retry';
  if (rev.endpoints.length > 0) return 'at_capacity';
  return rev.replicas.desired === 0 ? 'scaled_to_zero' : 'starting';
}

export class Activator {
  constructor(private readonly poke: Poke) {}

  /**
   * Hold a request (`front`: ahead of the others, for one sent before that must go again).
   * Returns the node (pass it to leave() if the client goes away), or undefined when the request
   * was refused or sent at once (queue full: it got its 503; room on an endpoint: it went).
   */
  hold(rev: RevisionRuntime, request: HeldRequest, now: number, front = false): HoldNode<Held> | undefined {
    const failure = rev.failure;
    if (failure !== undefined) {
      // Holding would only time out: answer now, and ask for a replica so restarts go on.
      this.poke(rev);
      request.fail(errors.revisionFailed(rev.key, failure));
      return undefined;
    }
    const depth = rev.spec.queueDepth;
    if (rev.queue.length >= depth) {
      request.fail(errors.queueFull(rev.queue.length));
      return undefined;
    }
    const waitMs = Math.min(rev.spec.activationTimeoutSeconds, rev.spec.timeoutSeconds) * 1000;
    const held: Held = { request, deadline: now + waitMs, waitMs, front };
    const node = front ? rev.queue.unshift(held, now) : rev.queue.push(held, now);
    rev.stats.held = rev.queue.length;
    // One increment (and, with no endpoint, one replica-count lookup): held requests only, never a warm one.
    rev.stats.heldByReason[holdReason(rev, front)]++;
    if (rev.holdTimer === undefined || held.deadline < rev.holdTimerAt) this.arm(rev, held.deadline);
    this.poke(rev);
    // Endpoints with room take held requests in order, this one included when its turn comes.
    if (rev.endpoints.length > 0) this.release(rev, now);
    return node.queued ? node : undefined;
  }

  /** The client went away while held: drop it now. */
  leave(rev: RevisionRuntime, node: HoldNode<Held>): void {
    if (!node.queued) return;
    rev.queue.remove(node);
    rev.stats.held = rev.queue.length;
    if (rev.queue.length === 0) this.disarm(rev);
  }

  /** Send held requests, oldest first, while some endpoint has room. Cheap when nothing is held. */
  release(rev: RevisionRuntime, now: number): void {
    if (rev.queue.length === 0 || rev.endpoints.length === 0) return;
    const replicas = rev.replicas;
    const limit = releaseLimit(
      rev.spec.containerConcurrency,
      replicas.desired,
      replicas.ready,
      rev.queue.length + rev.stats.inflight,
      rev.spec.scaling.burstTarget,
    );
    while (rev.queue.length > 0 && this.sendNext(rev, limit, now));
    if (rev.queue.length === 0) this.disarm(rev);
  }

  /** The revision's condition changed: once it is Failed with no ready endpoint, nothing it holds can be served. */
  conditionChanged(rev: RevisionRuntime): void {
    const failure = rev.failure;
    if (failure !== undefined && rev.queue.length > 0) this.failAll(rev, errors.revisionFailed(rev.key, failure));
  }

  /** Fail every held request (shutdown, the revision was removed with nowhere to go, or it failed). */
  failAll(rev: RevisionRuntime, err: SluiceError): void {
    this.disarm(rev);
    for (let node = rev.queue.shift(); node; node = rev.queue.shift()) node.value.request.fail(err);
    rev.stats.held = 0;
  }

  /**
   * Send the oldest held request that has an endpoint with room; false when none has. Past a head
   * that must avoid the endpoints with room (HeldRequest.avoid), a few behind it may go first.
   */
  private sendNext(rev: RevisionRuntime, limit: number, now: number): boolean {
    let node = rev.queue.peek();
    for (let i = 0; node !== undefined && i < AVOID_SCAN; i++, node = node.next ?? undefined) {
      const avoid = node.value.request.avoid;
      const endpoint = avoid === undefined ? pickEndpoint(rev.endpoints, limit) : pickEndpointExcept(rev.endpoints, limit, ...avoid);
      if (endpoint !== undefined) {
        rev.queue.remove(node);
        rev.stats.held = rev.queue.length;
        node.value.request.send(endpoint, now - node.heldAt);
        return true;
      }
      if (avoid === undefined) return false; // no endpoint has room
    }
    return false;
  }

  /** Answer every held request past its deadline with 504, then wait for the next deadline. */
  private sweep(rev: RevisionRuntime): void {
    rev.holdTimer = undefined;
    const now = Date.now();
    let next = Infinity;
    let node = rev.queue.peek();
    while (node !== undefined) {
      const held = node.value;
      const after = node.next ?? undefined;
      if (held.deadline <= now) {
        rev.queue.remove(node);
        rev.stats.held = rev.queue.length;
        held.request.fail(errors.activationTimeout(held.waitMs, rev.reported));
      } else {
        next = Math.min(next, held.deadline);
        if (!held.front) break; // the rest are later still
      }
      node = after;
    }
    if (next !== Infinity) this.arm(rev, next);
  }

  private arm(rev: RevisionRuntime, at: number): void {
    clearTimeout(rev.holdTimer);
    rev.holdTimerAt = at;
    rev.holdTimer = setTimeout(this.sweep.bind(this, rev), Math.max(0, at - Date.now()));
    rev.holdTimer.unref();
  }

  private disarm(rev: RevisionRuntime): void {
    if (rev.holdTimer === undefined) return;
    clearTimeout(rev.holdTimer);
    rev.holdTimer = undefined;
  }
}

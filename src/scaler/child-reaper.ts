/**
 * Last-resort cleanup: if the gateway process exits without closing its drivers (process.exit, an
 * uncaught exception), every child it spawned gets SIGKILL synchronously in the 'exit' event, so no
 * replica outlives the gateway. One listener for the whole process, however many drivers exist.
 *
 * Signals that end the gateway without an 'exit' event (SIGTERM, SIGINT with no handler) bypass this;
 * the CLI turns those into an orderly close().
 */
import type { ChildProcess } from 'node:child_process';

const alive = new Set<ChildProcess>();
let hooked = false;

/** Remember a spawned child until untrack(). */
export function trackChild(child: ChildProcess): void {
  alive.add(child);
  if (!hooked) {
    hooked = true;
    process.on('exit', killAllChildren);
  }
}

export function untrackChild(child: ChildProcess): void {
  alive.delete(child);
}

/** SIGKILL every tracked child; synchronous, never throws. Runs from the process 'exit' event. */
function killAllChildren(): void {
  for (const child of alive) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  alive.clear();
}

/**
 * One child process of a replica, from spawn to exit: its output goes to the logger line by line,
 * the reaper kills it if the gateway exits without closing, and `exited` resolves exactly once —
 * also for a spawn that failed (ENOENT command or cwd), which emits 'error' and never 'exit'.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { trackChild, untrackChild } from './child-reaper.js';
import { forEachLine } from './output-lines.js';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it never ran (spawn error). */
  reason?: string;
}

export interface ChildSpec {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export class SupervisedChild {
  readonly pid: number | undefined;
  readonly exited: Promise<ChildExit>;
  private done = false;
  private readonly child: ChildProcess | undefined;
  private resolveExited!: (exit: ChildExit) => void;

  /**
   * Spawn now; never throws. `fields` tag every log line (`{ process: 'queue-proxy' }`); child
   * output is logged at debug, read and dropped when debug is off.
   */
  constructor(spec: ChildSpec, log: Logger, fields: Record<string, unknown> = {}) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    let child: ChildProcess;
    try {
      child = spawn(spec.command, [...spec.args], { env: spec.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    } catch (err) {
      this.finish({ code: null, signal: null, reason: `spawn failed: ${(err as Error).message}` });
      return;
    }
    this.child = child;
    this.pid = child.pid;
    const pid = child.pid;
    child.on('error', (err) => {
      if (child.pid === undefined) this.finish({ code: null, signal: null, reason: `spawn failed: ${err.message}` });
      else log.warn({ ...fields, err, pid }, 'replica process error');
    });
    child.once('exit', (code, signal) => this.finish({ code, signal }));
    const debug = log.isLevelEnabled('debug');
    if (child.stdout) forEachLine(child.stdout, debug, (line) => log.debug({ ...fields, pid, stream: 'stdout' }, line));
    if (child.stderr) forEachLine(child.stderr, debug, (line) => log.debug({ ...fields, pid, stream: 'stderr' }, line));
    if (pid !== undefined) trackChild(child);
  }

  /** True until the process has exited (or failed to spawn). */
  get running(): boolean {
    return !this.done;
  }

  /** Send `signal` if the process still runs; never throws. */
  signal(signal: NodeJS.Signals): void {
    if (this.done || this.child === undefined) return;
    try {
      this.child.kill(signal);
    } catch {
      // gone between the check and the kill
    }
  }

  private finish(exit: ChildExit): void {
    if (this.done) return;
    this.done = true;
    if (this.child) untrackChild(this.child);
    this.resolveExited(exit);
  }
}

/**
 * One child process of a replica, from spawn to exit: its output goes to the logger line by line,
 * the reaper kills it if the gateway exits without closing, and `exited` resolves exactly once —
 * also for a spawn that failed (ENOENT command or cwd), which emits 'error' and never 'exit'.
 * What it wrote last to stderr comes with the exit (ChildExit.output).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { trackChild, untrackChild } from './child-reaper.js';
import { OUTPUT_TAIL_BYTES } from '../core/condition.js';
import { forEachLine } from './output-lines.js';
import { OutputTail } from './output-tail.js';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it never ran (spawn error). */
  reason?: string;
  /** True when the process never ran: the command or its working directory does not exist, or is not executable. */
  spawnFailed?: boolean;
  /** The last lines it wrote to stderr (core/condition.ts OUTPUT_TAIL_BYTES at most); '' when none. */
  output: string;
}

/** How long after a process exits its last output may still be arriving. */
const OUTPUT_WAIT_MS = 200;

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
  private readonly stderr = new OutputTail(OUTPUT_TAIL_BYTES);

  /**
   * Spawn now; never throws. `fields` tag every log line (`{ process: 'queue-proxy' }`); child
   * output is logged at debug; stdout is read and dropped when debug is off, stderr's last lines
   * are kept for the exit (ChildExit.output).
   */
  constructor(spec: ChildSpec, log: Logger, fields: Record<string, unknown> = {}) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    let child: ChildProcess;
    try {
      child = spawn(spec.command, [...spec.args], { env: spec.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    } catch (err) {
      this.finish({ code: null, signal: null, reason: `spawn failed: ${(err as Error).message}`, spawnFailed: true });
      return;
    }
    this.child = child;
    this.pid = child.pid;
    const pid = child.pid;
    child.on('error', (err) => {
      if (child.pid === undefined) this.finish({ code: null, signal: null, reason: `spawn failed: ${err.message}`, spawnFailed: true });
      else log.warn({ ...fields, err, pid }, 'replica process error');
    });
    // The exit counts once stdio has ended too ('close'), so the stderr tail is whole; but a
    // grandchild may hold the pipes open for ever, so not longer than OUTPUT_WAIT_MS after it.
    child.once('exit', (code, signal) => {
      const finish = (): void => this.finish({ code, signal });
      child.once('close', finish);
      setTimeout(finish, OUTPUT_WAIT_MS).unref();
    });
    const debug = log.isLevelEnabled('debug');
    if (child.stdout) forEachLine(child.stdout, debug, (line) => log.debug({ ...fields, pid, stream: 'stdout' }, line));
    if (child.stderr) {
      forEachLine(child.stderr, true, (line) => {
        this.stderr.push(line);
        if (debug) log.debug({ ...fields, pid, stream: 'stderr' }, line);
      });
    }
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

  private finish(exit: Omit<ChildExit, 'output'>): void {
    if (this.done) return;
    this.done = true;
    if (this.child) untrackChild(this.child);
    this.resolveExited({ ...exit, output: this.stderr.text() });
  }
}

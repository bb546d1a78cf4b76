/**
 * The child processes a benchmark run starts (predictor, gateways, nginx), their output lines, and
 * their cleanup. Each child leads its own process group, so whatever it starts (nginx's worker, the
 * gateway's replicas) can be found and stopped even after the child itself has gone. Stopping is
 * SIGTERM, SIGKILL after a grace, then SIGKILL for any member of its group still running. Every
 * child is registered, so one call stops them all on a normal end, an error or SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { groupMembers, startTimeOf } from './proc-cpu.js';

/** Lines kept per child for error messages. */
const TAIL_LINES = 40;

/** Every child started in this run, exited or not (an exited one may have left its group behind). */
const started = new Set<Child>();
/** Set by stopAll: a run being torn down starts nothing new. */
let closed = false;

export interface SpawnOptions {
  /** Label in messages: `predictor`, `gateway`, `nginx`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<string>;
  /** Start time in clock ticks after boot (0 where /proc is missing): members of its group start later. */
  private readonly startTime: number;
  private exitStatus: string | undefined;
  private readonly tail: string[] = [];
  private readonly lineListeners = new Set<(line: string, stream: 'stdout' | 'stderr') => void>();

  constructor(options: SpawnOptions) {
    if (closed) throw new Error(`${options.name}: not started, the run is stopping`);
    this.name = options.name;
    this.proc = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group; its lifetime is still tied to this run (see stopAll)
    });
    if (this.proc.pid === undefined) throw new Error(`${this.name}: could not start ${options.command}`);
    this.pid = this.proc.pid;
    this.startTime = startTimeOf(this.pid) ?? 0;
    started.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitStatus = signal ?? `code ${code}`;
        resolve(this.exitStatus);
      });
    });
    this.proc.once('error', (err) => {
      this.tail.push(`spawn error: ${err.message}`);
    });
    // Output is always read, so a chatty child never blocks on a full pipe.
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = this.proc[stream];
      if (!source) continue;
      createInterface({ input: source, crlfDelay: Infinity }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        for (const listener of this.lineListeners) listener(line, stream);
      });
    }
  }

  get hasExited(): boolean {
    return this.exitStatus !== undefined;
  }

  /** Calls `listener` for every later output line; returns the unsubscribe function. */
  onLine(listener: (line: string, stream: 'stdout' | 'stderr') => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** The last lines of output, for an error message. */
  outputTail(): string {
    return this.tail.map((l) => `    ${this.name}| ${l}`).join('\n');
  }

  /**
   * Resolves with the first output line for which `pick` returns a value; rejects when the process
   * exits first or `timeoutMs` passes.
   */
  waitForLine<T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        off();
        fn();
      };
      const off = this.onLine((line) => {
        const value = pick(line);
        if (value !== undefined) finish(() => resolve(value));
      });
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${this.name}: no expected output within ${timeoutMs} ms\n${this.outputTail()}`))),
        timeoutMs,
      );
      void this.exited.then((status) =>
        finish(() => reject(new Error(`${this.name} exited (${status}) before it was ready\n${this.outputTail()}`))),
      );
    });
  }

  /** SIGTERM, SIGKILL after `graceMs`; then SIGKILL whatever is left in its process group. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.hasExited) {
      this.proc.kill('SIGTERM');
      const late = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
      ]);
      if (late && !this.hasExited) {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    this.killGroup();
  }

  /** SIGKILL the child and its group now (synchronous: usable from an `exit` handler). */
  killGroup(): void {
    if (!this.hasExited) this.proc.kill('SIGKILL');
    for (const pid of groupMembers(this.pid, this.startTime)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Stops every child still running, in parallel; no child can be started afterwards. */
export async function stopAll(graceMs = 5000): Promise<void> {
  closed = true;
  await Promise.all([...started].map((child) => child.stop(graceMs)));
}

/** Last resort on process exit: SIGKILL every child and its group. */
export function killAllNow(): void {
  for (const child of started) child.killGroup();
}

/**
 * The child processes a benchmark run starts (predictor, gateways, nginx), their output lines, and
 * their cleanup: SIGTERM, SIGKILL after a grace, then SIGKILL for any descendant left behind.
 * Every child is registered, so one call stops them all on a normal end, an error or SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { processTree, startTimeOf } from './proc-cpu.js';

/** Lines kept per child for error messages. */
const TAIL_LINES = 40;

const running = new Set<Child>();

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
  private exitStatus: string | undefined;
  private readonly tail: string[] = [];
  private readonly lineListeners = new Set<(line: string, stream: 'stdout' | 'stderr') => void>();

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.proc = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.proc.pid === undefined) throw new Error(`${this.name}: could not start ${options.command}`);
    this.pid = this.proc.pid;
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitStatus = signal ?? `code ${code}`;
        running.delete(this);
        resolve(this.exitStatus);
      });
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

  /** SIGTERM, SIGKILL after `graceMs`; then SIGKILL whatever it left running below it. */
  async stop(graceMs = 5000): Promise<void> {
    // Remembered with their start times, so a pid reused meanwhile by another process is left alone.
    const below = processTree(this.pid)
      .filter((pid) => pid !== this.pid)
      .map((pid) => ({ pid, startTime: startTimeOf(pid) }));
    if (!this.hasExited) {
      this.proc.kill('SIGTERM');
      const killed = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
      ]);
      if (killed && !this.hasExited) {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    for (const { pid, startTime } of below) {
      if (startTime !== undefined && startTimeOf(pid) === startTime) killQuietly(pid, 'SIGKILL');
    }
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Stops every child still running, in parallel. */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...running].map((child) => child.stop(graceMs)));
}

/** Last resort on process exit: SIGKILL every child (and its descendants) still registered. */
export function killAllNow(): void {
  for (const child of running) {
    for (const pid of processTree(child.pid).reverse()) killQuietly(pid, 'SIGKILL');
  }
}

/**
 * One simulated pod: a real `node dist/cli.js predictor` process on its own loopback address.
 * `listening` resolves with the port from the predictor's first stdout line
 * (`predictor <model> listening on http://HOST:PORT`) and rejects if it exits before that line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { trackChild, untrackChild } from '../../../src/scaler/child-reaper.js';
import { forEachLine } from '../../../src/scaler/output-lines.js';

const LISTENING = /^predictor \S+ listening on http:\/\/(.+):(\d+)\s*$/;

let nextHostIndex = 2;

/** 127.0.0.2, 127.0.0.3 … 127.0.0.254, 127.0.1.1 …: Linux routes all of 127/8 to lo. */
export function nextLoopbackHost(): string {
  for (;;) {
    const n = nextHostIndex++;
    const last = n & 255;
    if (last === 0 || last === 255) continue;
    return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${last}`;
  }
}

export interface PodProcessOptions {
  cli: string;
  model: string;
  host: string;
  /** 0: any free port. */
  port: number;
  args: string[];
  /** Each line of output, for debugging. */
  onOutput?: (line: string) => void;
}

export class PodProcess {
  readonly child: ChildProcess;
  readonly listening: Promise<number>;
  readonly exited: Promise<void>;
  private killTimer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(options: PodProcessOptions) {
    const args = [
      options.cli,
      'predictor',
      '--model',
      options.model,
      '--host',
      options.host,
      '--port',
      String(options.port),
      ...options.args,
    ];
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(this.child);
    let onPort: (port: number) => void = () => {};
    let onFail: (err: Error) => void = () => {};
    this.listening = new Promise<number>((resolve, reject) => {
      onPort = resolve;
      onFail = reject;
    });
    this.listening.catch(() => {});
    forEachLine(this.child.stdout!, true, (line) => {
      options.onOutput?.(line);
      const m = LISTENING.exec(line);
      if (m) onPort(Number(m[2]));
    });
    forEachLine(this.child.stderr!, options.onOutput !== undefined, (line) => options.onOutput?.(line));
    this.exited = new Promise<void>((resolve) => {
      const finish = (): void => {
        if (this.done) return;
        this.done = true;
        clearTimeout(this.killTimer);
        untrackChild(this.child);
        onFail(new Error(`predictor on ${options.host}:${options.port} exited before listening`));
        resolve();
      };
      this.child.once('exit', finish);
      this.child.once('error', finish);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.done;
  }

  /** SIGTERM now, SIGKILL after `graceMs` if still running. */
  terminate(graceMs: number): void {
    if (this.done) return;
    this.child.kill('SIGTERM');
    this.killTimer ??= setTimeout(() => this.kill(), graceMs);
  }

  kill(): void {
    if (!this.done) this.child.kill('SIGKILL');
  }
}

/** GET `http://host:port/path` until it answers 200; resolves false if `stillWanted` turns false first. */
export async function probeUntilReady(host: string, port: number, path: string, stillWanted: () => boolean): Promise<boolean> {
  while (stillWanted()) {
    const status = await new Promise<number>((resolve) => {
      const req = request({ host, port, path, method: 'GET', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
      req.end();
    });
    if (status === 200) return stillWanted();
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

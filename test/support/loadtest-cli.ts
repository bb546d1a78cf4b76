/** `node dist/cli.js loadtest …` as a child process: its output, exit code, and a way to signal it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './harness.js';

export interface LoadtestRun {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the process has ended. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout line that `match` accepts. */
  line(match: (line: string) => boolean): Promise<string>;
}

/** Killed with SIGKILL after `timeoutMs` if still running, so no test leaves it behind. */
export function loadtest(args: string[], timeoutMs = 60_000): LoadtestRun {
  const child = spawn(process.execPath, [CLI, 'loadtest', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of [...waiting]) {
      const hit = stdout.split('\n').find(w.match);
      if (hit !== undefined) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    done,
    line: (match) =>
      new Promise((resolve, reject) => {
        const hit = stdout.split('\n').find(match);
        if (hit !== undefined) return resolve(hit);
        waiting.push({ match, resolve });
        void done.then(() => reject(new Error(`loadtest ended without the line wanted; stdout:\n${stdout}\nstderr:\n${stderr}`)));
      }),
  };
}

/**
 * Memory and file descriptors of one process from /proc (Linux), and the kernel's count of full
 * listen queues. Each read is one small file or one directory listing, cheap enough to take every
 * 50 ms during a run (the fd listing of a process holding 20 000 sockets takes a few ms).
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Resident set size of `pid` in bytes (`VmRSS` in /proc/<pid>/status), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(text)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** Open file descriptors of `pid` (entries of /proc/<pid>/fd), or undefined once it is gone. */
export function openFds(pid: number | 'self'): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** The soft `Max open files` limit of `pid` (what `ulimit -n` shows), or undefined when unknown. */
export function fdLimit(pid: number | 'self'): number | undefined {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
    return line === undefined || line === 'unlimited' ? undefined : Number(line);
  } catch {
    return undefined;
  }
}

/**
 * The machine's `TcpExt: ListenOverflows` (/proc/net/netstat): connections a listener's full accept
 * queue turned away (their handshake is retried by the client later, or fails). Machine-wide, so
 * the difference over a phase counts every listener on the machine; on a quiet machine, ours.
 */
export function listenOverflows(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/netstat', 'utf8');
  } catch {
    return undefined;
  }
  // Two lines per group: names, then values, both starting with "TcpExt:".
  const lines = text.split('\n').filter((l) => l.startsWith('TcpExt:'));
  if (lines.length < 2) return undefined;
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  const at = names.indexOf('ListenOverflows');
  return at < 0 ? undefined : Number(values[at]);
}

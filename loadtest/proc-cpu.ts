/**
 * CPU time of a process tree from /proc (Linux): utime + stime in clock ticks. A proxy's cost per
 * request is the CPU its processes spent during a measured run divided by the requests answered.
 */
import { execSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** CPU ticks per pid, read at one moment. */
export type CpuSnapshot = Map<number, number>;

/** True where /proc/<pid>/stat can be read (Linux); elsewhere the CPU columns stay empty. */
export function procAvailable(): boolean {
  try {
    readFileSync('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
}

/** Clock ticks per second (`getconf CLK_TCK`, 100 on most Linux systems), read once per run. */
export function clockTicksPerSecond(): number {
  const hz = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim());
  if (!Number.isInteger(hz) || hz <= 0) throw new Error(`getconf CLK_TCK: want a positive integer, got "${hz}"`);
  return hz;
}

interface ProcStat {
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
  /** Start time after boot, in clock ticks: tells a process from a later one that reused its pid. */
  startTime: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces, so the
 * fields are counted from the last ')': state is field 3, ppid 4, pgrp 5, utime 14, stime 15,
 * starttime 22.
 */
function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const startTime = Number(rest[19]);
  if (![ppid, pgrp, utime, stime, startTime].every(Number.isFinite)) return undefined;
  return { ppid, pgrp, ticks: utime + stime, startTime };
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Processes in group `pgid` started no earlier than `notBefore` (clock ticks after boot): what a
 * child started as a group leader left running, its leader gone or not, and never a stranger that
 * later reused the number.
 */
export function groupMembers(pgid: number, notBefore: number): number[] {
  return allPids().filter((pid) => {
    const stat = readStat(pid);
    return stat !== undefined && stat.pgrp === pgid && stat.startTime >= notBefore;
  });
}

/** `root` and every process below it (nginx's workers, the gateway's replicas). One pass over /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Ticks per user-space process, with its start time to tell a reused pid from the same process. */
export type MachineSnapshot = Map<number, { ticks: number; startTime: number }>;

/**
 * Every user-space process's utime + stime. Kernel threads (kthreadd, pid 2, and its children) are
 * left out: softirq work for the loopback traffic under test runs there and is no one else's load.
 * Between two snapshots this is a lower bound of the work done: a process that exits in between
 * takes its last ticks with it (its reaped time lands in its parent's cutime, which also holds
 * everything the child did before the first snapshot, so it cannot be used).
 */
export function snapshotMachine(): MachineSnapshot {
  const snap: MachineSnapshot = new Map();
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (stat === undefined || pid === 2 || stat.ppid === 2) continue;
    snap.set(pid, { ticks: stat.ticks, startTime: stat.startTime });
  }
  return snap;
}

/** Ticks spent between two machine snapshots by processes other than `exclude`. */
export function otherTicksBetween(before: MachineSnapshot, after: MachineSnapshot, exclude: ReadonlySet<number>): number {
  let ticks = 0;
  for (const [pid, now] of after) {
    if (exclude.has(pid)) continue;
    const then = before.get(pid);
    ticks += now.ticks - (then !== undefined && then.startTime === now.startTime ? then.ticks : 0);
  }
  return ticks;
}

/** The start time of `pid` (see ProcStat), or undefined once it is gone. */
export function startTimeOf(pid: number): number | undefined {
  return readStat(pid)?.startTime;
}

/** CPU ticks of `root` and its descendants now. */
export function snapshotTree(root: number): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  for (const pid of processTree(root)) {
    const stat = readStat(pid);
    if (stat !== undefined) snap.set(pid, stat.ticks);
  }
  return snap;
}

/**
 * Ticks spent between two snapshots. A process that appeared in between counts in full; one that
 * left in between is lost (its ticks go to its parent only once reaped), so a run should not churn
 * processes — nginx's worker and the predictor stay up for the whole run.
 */
export function ticksBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let ticks = 0;
  for (const [pid, now] of after) ticks += now - (before.get(pid) ?? 0);
  return ticks;
}

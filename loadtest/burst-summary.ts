/**
 * The burst's figures from its raw outcomes: counts by status and by connection error, when the
 * answers came against when the replicas were ready, the spread over replicas, and the gateway's
 * memory per held request. Pure: no I/O, no clock; burst.ts measures and prints.
 */
import type { ConnectionErrorKind, Outcome } from './burst-client.js';
import { fixed, median, table } from './report.js';

/** The goal for the gateway's memory per held request (connection and request together), bytes. */
export const HELD_BYTES_GOAL = 8 * 1024;

/** A replica the gateway logged as ready (`replica ready`), ms after the burst's first write. */
export interface ReadyReplica {
  pid: number;
  readyAtMs: number;
}

export interface ReplicaShare {
  pid: number;
  /** When the gateway logged it ready, ms after the burst; null when it answered but no line was seen. */
  readyAtMs: number | null;
  /** Responses carrying its `Predictor-Pid`, any status. */
  answered: number;
  /** answered ÷ the even share (requests ÷ replicas). */
  vsEven: number | null;
}

export interface BurstSummary {
  /** Requests the run asked for (`--requests`). */
  requests: number;
  /** Responses with a status line, any status. */
  answered: number;
  /** Responses with status 200. */
  ok: number;
  /** Everything that was not a 200: other statuses and connection errors. */
  failed: number;
  /** Responses per status code, ascending. */
  byStatus: Record<string, number>;
  /** Responses per status and, for the gateway's JSON errors, their code: `200`, `502 upstream_unreachable`. */
  byStatusCode: Record<string, number>;
  /** The gateway's error messages, most frequent first (ports and numbers as they came). */
  errorMessages: { message: string; count: number }[];
  /** Connections without a response, per kind. */
  byError: Record<ConnectionErrorKind, number>;
  /** Socket error codes behind `reset`, `connect` and `other`, with counts. */
  errorCodes: Record<string, number>;
  /** `Sluice-Cold-Start` over the responses that carry it: how long they were held, ms. */
  held: { count: number; minMs: number | null; medianMs: number | null; maxMs: number | null };
  /** First and last response of any status, and the last 200, ms after the burst's first write. */
  firstAnswerMs: number | null;
  lastAnswerMs: number | null;
  lastOkMs: number | null;
  /** The first `replica ready`, ms after the burst. */
  firstReadyMs: number | null;
  /** lastAnswerMs − firstReadyMs: how long the gateway took to drain the burst once it had somewhere to send it. */
  firstReadyToLastAnswerMs: number | null;
  /** Every replica that was ready or answered, by ready time (unseen last). */
  replicas: ReplicaShare[];
  /** requests ÷ replicas.length. */
  evenShare: number | null;
  maxVsEven: number | null;
  minVsEven: number | null;
}

const ERROR_KINDS: ConnectionErrorKind[] = ['reset', 'timeout', 'closed', 'connect', 'other'];
const ERROR_LABELS: Record<ConnectionErrorKind, string> = {
  reset: 'connection reset',
  timeout: 'no answer before --timeout',
  closed: 'closed before response',
  connect: 'could not connect',
  other: 'other socket error',
};

/**
 * Worked numbers: 10 000 requests, 4 replicas ready → even share 2500; the first replica ready
 * answered 7000 → 2.80× the even share, the last one 300 → 0.12×.
 */
export function summarizeBurst(requests: number, outcomes: Outcome[], ready: ReadyReplica[]): BurstSummary {
  const byStatus = new Map<number, number>();
  const byStatusCode = new Map<string, { status: number; count: number }>();
  const messages = new Map<string, number>();
  const byError = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ConnectionErrorKind, number>;
  const errorCodes: Record<string, number> = {};
  const perPid = new Map<number, number>();
  const held: number[] = [];
  let answered = 0;
  let firstAnswerMs: number | null = null;
  let lastAnswerMs: number | null = null;
  let lastOkMs: number | null = null;
  for (const o of outcomes) {
    if (o.status === undefined) {
      const kind = o.error ?? 'other';
      byError[kind]++;
      if (o.code !== undefined) errorCodes[o.code] = (errorCodes[o.code] ?? 0) + 1;
      continue;
    }
    answered++;
    byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    const label = o.gatewayError === undefined ? String(o.status) : `${o.status} ${o.gatewayError.code}`;
    byStatusCode.set(label, { status: o.status, count: (byStatusCode.get(label)?.count ?? 0) + 1 });
    if (o.gatewayError !== undefined) messages.set(o.gatewayError.message, (messages.get(o.gatewayError.message) ?? 0) + 1);
    if (o.pid !== undefined) perPid.set(o.pid, (perPid.get(o.pid) ?? 0) + 1);
    if (o.heldMs !== undefined) held.push(o.heldMs);
    if (o.atMs !== undefined) {
      firstAnswerMs = firstAnswerMs === null ? o.atMs : Math.min(firstAnswerMs, o.atMs);
      lastAnswerMs = lastAnswerMs === null ? o.atMs : Math.max(lastAnswerMs, o.atMs);
      if (o.status === 200) lastOkMs = lastOkMs === null ? o.atMs : Math.max(lastOkMs, o.atMs);
    }
  }

  const readyAt = new Map<number, number>();
  for (const r of ready) readyAt.set(r.pid, Math.min(r.readyAtMs, readyAt.get(r.pid) ?? Infinity));
  const pids = new Set([...readyAt.keys(), ...perPid.keys()]);
  const evenShare = pids.size === 0 ? null : requests / pids.size;
  const replicas: ReplicaShare[] = [...pids]
    .map((pid) => {
      const n = perPid.get(pid) ?? 0;
      return { pid, readyAtMs: readyAt.get(pid) ?? null, answered: n, vsEven: evenShare === null ? null : n / evenShare };
    })
    .sort((a, b) => (a.readyAtMs ?? Infinity) - (b.readyAtMs ?? Infinity) || a.pid - b.pid);
  const shares = replicas.map((r) => r.vsEven).filter((v): v is number => v !== null);
  const firstReadyMs = readyAt.size === 0 ? null : Math.min(...readyAt.values());
  const ok = byStatus.get(200) ?? 0;

  return {
    requests,
    answered,
    ok,
    failed: outcomes.length - ok,
    byStatus: Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n])),
    byStatusCode: Object.fromEntries(
      [...byStatusCode].sort(([a, x], [b, y]) => x.status - y.status || a.localeCompare(b)).map(([label, v]) => [label, v.count]),
    ),
    errorMessages: [...messages].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count),
    byError,
    errorCodes,
    held: {
      count: held.length,
      minMs: held.length === 0 ? null : Math.min(...held),
      medianMs: median(held),
      maxMs: held.length === 0 ? null : Math.max(...held),
    },
    firstAnswerMs,
    lastAnswerMs,
    lastOkMs,
    firstReadyMs,
    firstReadyToLastAnswerMs: firstReadyMs === null || lastAnswerMs === null ? null : lastAnswerMs - firstReadyMs,
    replicas,
    evenShare,
    maxVsEven: shares.length === 0 ? null : Math.max(...shares),
    minVsEven: shares.length === 0 ? null : Math.min(...shares),
  };
}

/** The gateway's RSS at the moments the burst reads it, bytes; null where it could not be read. */
export interface MemoryFigures {
  /** Idle at zero, before any of the burst's connections was opened. */
  before: number | null;
  /** The burst's connections open, no request sent yet. */
  connected: number | null;
  /** The highest reading taken right after the admin API reported `heldCount` requests held. */
  allHeld: number | null;
  /** Requests held at that reading: the burst's size when all were held at once. */
  heldCount: number;
  /** The highest 50 ms sample from the burst to the last answer. */
  peak: number | null;
  /** Once every request was answered and the revision had nothing in flight or held. */
  after: number | null;
  /** RSS when half the connections were open, and how many were: the start of the connections' marginal cost. */
  halfConnected?: { count: number; rss: number } | null;
  /** RSS at the first admin reading with half the requests held or more, and how many were. */
  halfHeld?: { count: number; rss: number } | null;
}

/**
 * (RSS with all held − RSS idle at zero) ÷ requests held: a held request's memory, its connection
 * included. Worked numbers: 62 MB idle, 118 MB with 10 000 held → 5.6 KB per held request.
 */
export function bytesPerHeld(m: MemoryFigures): number | null {
  return m.before === null || m.allHeld === null || m.heldCount === 0 ? null : (m.allHeld - m.before) / m.heldCount;
}

/** The open connection's part of bytesPerHeld: (RSS connected − RSS idle) ÷ connections. */
export function bytesPerConnection(m: MemoryFigures, connections: number): number | null {
  return m.before === null || m.connected === null || connections === 0 ? null : (m.connected - m.before) / connections;
}

/** The request's part: (RSS with all held − RSS connected) ÷ requests held. */
export function bytesPerRequestOnly(m: MemoryFigures): number | null {
  return m.connected === null || m.allHeld === null || m.heldCount === 0 ? null : (m.allHeld - m.connected) / m.heldCount;
}

/**
 * What one more held request costs, its connection included: the RSS slope over the second half of
 * the connections and of the held requests. The first half also pays one-time growth (V8's young
 * generation and heap pages sized up from an idle process), which the average above spreads over
 * the burst: 58 MB idle, 69 MB with 5 000 connections and 96 MB with 10 000 → 5.5 KB each past the
 * first half, against 4.0 KB on average.
 */
export function marginalBytesPerHeld(m: MemoryFigures, connections: number): number | null {
  const hc = m.halfConnected;
  const hh = m.halfHeld;
  if (hc == null || hh == null || m.connected === null || m.allHeld === null) return null;
  if (connections <= hc.count || m.heldCount <= hh.count) return null;
  return (m.connected - hc.rss) / (connections - hc.count) + (m.allHeld - hh.rss) / (m.heldCount - hh.count);
}

const pct = (n: number, of: number): string => (of === 0 ? '—' : ((100 * n) / of).toFixed(1));

/** One row per status code and per connection error kind that occurred, with its share of the requests. */
export function outcomeTable(s: BurstSummary): string {
  const rows: string[][] = Object.entries(s.byStatusCode).map(([label, n]) => [`HTTP ${label}`, String(n), pct(n, s.requests)]);
  for (const kind of ERROR_KINDS) {
    if (s.byError[kind] > 0) rows.push([ERROR_LABELS[kind], String(s.byError[kind]), pct(s.byError[kind], s.requests)]);
  }
  const total = s.answered + ERROR_KINDS.reduce((sum, k) => sum + s.byError[k], 0);
  rows.push(['total', String(total), pct(total, s.requests)]);
  return table(['outcome', 'requests', '%'], rows);
}

/** One row per replica: its pid, when it was ready, what it answered, against the even share. */
export function replicaTable(s: BurstSummary): string {
  return table(
    ['replica pid', 'ready ms', 'answered', '÷ even share'],
    s.replicas.map((r) => [String(r.pid), fixed(r.readyAtMs, 0), String(r.answered), r.vsEven === null ? '—' : `${r.vsEven.toFixed(2)}×`]),
  );
}

const mb = (bytes: number | null): string => (bytes === null ? '—' : (bytes / 2 ** 20).toFixed(1));

export function memoryTable(m: MemoryFigures, connections: number): string {
  return table(
    ['gateway RSS', 'MB', 'what'],
    [
      ['before', mb(m.before), 'idle at zero, no burst connection open'],
      ['connected', mb(m.connected), `${connections} connections open, nothing sent`],
      ['all held', mb(m.allHeld), `admin API: ${m.heldCount} held`],
      ['peak', mb(m.peak), 'highest 50 ms sample, burst → last answer'],
      ['after', mb(m.after), 'all answered, nothing in flight'],
    ],
  );
}

/** `5.6 KB per held request (goal ≤ 8 KB) — within goal`. */
export function heldBytesLine(m: MemoryFigures, connections: number): string {
  const per = bytesPerHeld(m);
  const conn = bytesPerConnection(m, connections);
  const request = bytesPerRequestOnly(m);
  if (per === null) return 'bytes per held request: not measured (no RSS reading with requests held)';
  const marginal = marginalBytesPerHeld(m, connections);
  const judged = marginal ?? per;
  const verdict = judged <= HELD_BYTES_GOAL ? 'within goal' : 'OVER goal';
  return (
    `bytes per held request: ${(per / 1024).toFixed(2)} KB = (all held − before) ÷ ${m.heldCount}` +
    (conn === null || request === null
      ? ''
      : ` (open connection ${(conn / 1024).toFixed(2)} KB + held request ${(request / 1024).toFixed(2)} KB)`) +
    (marginal === null ? '' : `; each one more: ${(marginal / 1024).toFixed(2)} KB (RSS slope over the second half)`) +
    ` — goal ≤ ${HELD_BYTES_GOAL / 1024} KB${marginal === null ? '' : ' for one more'}: ${verdict}`
  );
}

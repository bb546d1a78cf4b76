/**
 * Human-readable output of the admin API's JSON: service tables and rollout states. Pure.
 */
import type { ServiceJson } from '../admin/app.js';
import type { RolloutState } from '../rollout/rollout-controller.js';
import { conditionNotes, printable } from './condition-notes.js';

/**
 * Align columns with two spaces between them; columns whose every cell is a number are right-aligned.
 *
 * @example table(['A', 'B'], [['x', '1'], ['yy', '22']])
 */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.]+%?$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

type ServiceWithRollout = ServiceJson & { rollout?: RolloutState | null };

/**
 * One service: a title line, its revisions as a table (with each one's condition: `Failed  ExitCode`),
 * a line for each revision that is failing or restarting (and its last stderr lines), and its
 * rollout's one-line summary if any.
 */
export function renderService(svc: ServiceWithRollout): string {
  const match = [
    svc.match.hosts.length > 0 ? `hosts ${svc.match.hosts.join(', ')}` : '',
    svc.match.pathPrefix !== undefined ? `path ${svc.match.pathPrefix}` : '',
    svc.match.model !== undefined ? `model ${svc.match.model}` : '',
  ].filter((s) => s !== '');
  const header = [
    'REVISION',
    'STATUS',
    'REASON',
    'TRAFFIC',
    'TAG',
    'DESIRED',
    'ACTUAL',
    'READY',
    'INFLIGHT',
    'HELD',
    'STABLE',
    'PANIC',
    'RPS',
    'PANIC-MODE',
  ];
  const rows = svc.revisions.map((r) => [
    r.name,
    r.condition.status,
    printable(r.condition.reason),
    `${r.percent}%`,
    r.tag ?? '-',
    String(r.replicas.desired),
    String(r.replicas.actual),
    String(r.replicas.ready),
    String(r.inflight),
    String(r.held),
    r.stableConcurrency.toFixed(2),
    r.panicConcurrency.toFixed(2),
    r.rps.toFixed(1),
    r.panicMode ? 'yes' : 'no',
  ]);
  const out = [`service ${svc.name}${match.length > 0 ? `  (${match.join('; ')})` : ''}`, indent(table(header, rows))];
  const notes = conditionNotes(svc.name, svc.revisions);
  if (notes.length > 0) out.push(indent(notes.join('\n')));
  if (svc.rollout) out.push(`  rollout: ${rolloutSummary(svc.rollout)}`);
  return out.join('\n');
}

/** `progressing canary shop-1 → shop-2, step 2 of 4 (shop-2 at 25 %)`. */
function rolloutSummary(r: RolloutState): string {
  const where = `step ${r.step} of ${r.steps.length} (${r.to} at ${r.percent} %)`;
  const why = r.reason !== null ? `: ${printable(r.reason)}` : r.waiting !== null ? `; waiting: ${r.waiting}` : '';
  return `${r.phase} ${r.strategy} ${r.from} → ${r.to}, ${where}${why}`;
}

/** A rollout in full: phase, plan, analysis limits, reason, then the timeline. */
export function renderRollout(r: RolloutState): string {
  const holds = r.steps.slice(0, -1).map((s) => s.holdSeconds);
  const sameHold = holds.every((h) => h === holds[0]);
  const steps =
    r.steps.length > 10
      ? [...r.steps.slice(0, 5).map((s) => `${s.percent} %`), '…', `${r.steps.at(-1)!.percent} %`]
      : r.steps.map((s) => `${s.percent} %`);
  const heldFor = holds.length === 0 ? '' : sameHold ? `, each held ${holds[0]} s` : `, held ${holds[0]} s then ${holds[1]} s`;
  const limits = [
    `error rate ≤ ${r.analysis.maxErrorRate}`,
    ...(r.analysis.maxP99Ms !== null ? [`p99 ≤ ${r.analysis.maxP99Ms} ms`] : []),
    `at least ${r.analysis.minRequests} requests per interval`,
  ];
  const lines = [
    `rollout of ${r.service}: ${r.phase} (${r.strategy} ${r.from} → ${r.to})`,
    `  now:      step ${r.step} of ${r.steps.length}, ${r.to} at ${r.percent} %${r.nextCheckAt !== null ? `; next check at ${clock(r.nextCheckAt)}` : ''}`,
    `  steps:    ${steps.join(' → ')}${heldFor}`,
    `  analysis: ${limits.join(', ')}`,
  ];
  if (r.waiting !== null) lines.push(`  waiting:  ${r.waiting}`);
  // A reason may quote a failed replica's stderr (a canary that could not start).
  if (r.reason !== null) lines.push(`  reason:   ${printable(r.reason)}`);
  lines.push('  timeline:');
  const width = Math.max(...r.timeline.map((e) => e.type.length));
  for (const e of r.timeline) lines.push(`    ${clock(e.at)}  ${e.type.padEnd(width)}  ${printable(e.message)}`);
  return lines.join('\n');
}

/** `12:00:01.123Z` from an ISO time. */
function clock(iso: string): string {
  return iso.slice(11, 23) + 'Z';
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

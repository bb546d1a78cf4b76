/**
 * `sluice loadtest compare A B`: two runs of a scenario side by side, phase by phase (matched by
 * position: phase 2 of A against phase 2 of B, named from A). Each figure shows A, B and the
 * change, `+12.0 %` for B 12 % above A; a figure one side lacks is shown as —.
 */
import { CHART_SCRIPT } from './report-charts.js';
import { escapeHtml, htmlTable, reportPage } from './report-page.js';
import type { LoadtestResults, PhaseResult } from './results.js';
import { textTable } from './text-table.js';

interface Metric {
  label: string;
  pick(p: PhaseResult): number | null;
  digits: number;
}

const METRICS: Metric[] = [
  { label: 'rps', pick: (p) => p.rps, digits: 1 },
  { label: 'answers', pick: (p) => p.requests, digits: 0 },
  { label: 'non-2xx', pick: (p) => p.requests - p.ok, digits: 0 },
  { label: 'errors', pick: (p) => p.errors, digits: 0 },
  { label: 'p50 ms', pick: (p) => p.latencyMs.p50, digits: 1 },
  { label: 'p90 ms', pick: (p) => p.latencyMs.p90, digits: 1 },
  { label: 'p99 ms', pick: (p) => p.latencyMs.p99, digits: 1 },
  { label: 'max ms', pick: (p) => p.latencyMs.max, digits: 1 },
  { label: 'cold starts', pick: (p) => p.coldStarts, digits: 0 },
  { label: 'peak desired', pick: (p) => p.maxDesired, digits: 0 },
  { label: 'peak ready', pick: (p) => p.maxReady, digits: 0 },
];

export interface ComparisonRow {
  phase: string;
  metric: string;
  a: number | null;
  b: number | null;
  /** B − A. */
  delta: number | null;
  /** (B − A) ÷ A, percent; null when A is 0 or missing. */
  percent: number | null;
  digits: number;
}

export function comparePhases(a: LoadtestResults, b: LoadtestResults): ComparisonRow[] {
  const count = Math.max(a.phases.length, b.phases.length);
  const rows: ComparisonRow[] = [];
  for (let i = 0; i < count; i++) {
    const pa = a.phases[i];
    const pb = b.phases[i];
    const phase = pa?.name ?? pb?.name ?? String(i + 1);
    for (const m of METRICS) {
      const va = pa === undefined ? null : m.pick(pa);
      const vb = pb === undefined ? null : m.pick(pb);
      const delta = va === null || vb === null ? null : vb - va;
      const percent = delta === null || va === null || va === 0 ? null : (delta / va) * 100;
      rows.push({ phase, metric: m.label, a: va, b: vb, delta, percent, digits: m.digits });
    }
  }
  return rows;
}

const fmt = (v: number | null, digits: number) => (v === null ? '—' : v.toFixed(digits));
const signed = (v: number | null, digits: number, unit = '') => (v === null ? '—' : `${v > 0 ? '+' : ''}${v.toFixed(digits)}${unit}`);

/** The rows as cells: phase, metric, A, B, Δ, Δ %. */
export function comparisonCells(rows: readonly ComparisonRow[]): string[][] {
  return rows.map((r) => [
    r.phase,
    r.metric,
    fmt(r.a, r.digits),
    fmt(r.b, r.digits),
    signed(r.delta, r.digits),
    signed(r.percent, 1, ' %'),
  ]);
}

export const COMPARISON_HEADER = ['phase', 'metric', 'A', 'B', 'B − A', 'change'];

/** Plain text, columns padded; the phase named on its first row only. */
export function comparisonText(rows: readonly ComparisonRow[]): string {
  const cells = comparisonCells(rows).map((r, i) => (i > 0 && rows[i - 1]!.phase === rows[i]!.phase ? ['', ...r.slice(1)] : r));
  return textTable(COMPARISON_HEADER, cells, 2);
}

const PAGE_SCRIPT = String.raw`
const n = Math.max(DATA.a.length, DATA.b.length);
const xs = Array.from({ length: n }, (_, i) => i + 0.5);
const col = (rows, pick) => xs.map((_, i) => (rows[i] ? pick(rows[i]) : null));
drawChart('p99', 'p99 latency (ms), A vs B', xs, [
  { label: 'A p99', unit: 'ms', color: '#2f7ed8', values: col(DATA.a, (s) => s.latencyMs.p99) },
  { label: 'B p99', color: '#d64545', values: col(DATA.b, (s) => s.latencyMs.p99) },
], []);
drawChart('rps', 'Answers per second, A vs B', xs, [
  { label: 'A', unit: 'requests/s', color: '#2f7ed8', values: col(DATA.a, (s) => s.requests) },
  { label: 'B', color: '#d64545', values: col(DATA.b, (s) => s.requests) },
], []);
`;

export async function renderComparison(a: LoadtestResults, b: LoadtestResults, names: { a: string; b: string }): Promise<string> {
  const cells = comparisonCells(comparePhases(a, b)).map((r) => r.map(escapeHtml));
  const body = `<h1>${escapeHtml(a.scenario.name)}: A vs B</h1>
<p class="meta">A: ${escapeHtml(names.a)} (${escapeHtml(a.startedAt)})<br>B: ${escapeHtml(names.b)} (${escapeHtml(b.startedAt)})</p>
<h2>Per phase</h2>
${htmlTable(COMPARISON_HEADER, cells)}
<h2>Over time</h2>
<div id="p99" class="chart"></div><div id="rps" class="chart"></div>`;
  return reportPage(`compare — sluice loadtest`, body, { a: a.seconds, b: b.seconds }, CHART_SCRIPT + PAGE_SCRIPT);
}

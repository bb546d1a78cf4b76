/**
 * report.html for one run: the summary per phase, then charts over the run's seconds — latency
 * p50/p90/p99; throughput and errors; replicas desired vs ready with each scale decision marked;
 * held requests and concurrency with each cold start marked; the traffic split when there are several
 * revisions — and the scenario as written.
 */
import { CHART_SCRIPT } from './report-charts.js';
import { escapeHtml, htmlTable, reportPage } from './report-page.js';
import type { LoadtestResults, PhaseResult } from './results.js';

const num = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '—' : v.toFixed(digits));

/** The summary table's rows, one per phase, as text. */
export function phaseRows(phases: readonly PhaseResult[]): string[][] {
  return phases.map((p) => [
    p.name,
    p.type,
    `${num(p.startS, 1)}–${num(p.endS, 1)} s`,
    String(p.requests),
    p.requestedRps === null ? num(p.rps, 1) : `${num(p.rps, 1)} / ${num(p.requestedRps, 1)}`,
    String(p.requests - p.ok),
    String(p.errors),
    num(p.latencyMs.p50, 1),
    num(p.latencyMs.p90, 1),
    num(p.latencyMs.p99, 1),
    num(p.latencyMs.max, 1),
    String(p.coldStarts),
    p.maxDesired === null ? '—' : `${p.maxDesired} / ${p.maxReady}`,
  ]);
}

export const PHASE_HEADER = [
  'phase',
  'type',
  'time',
  'answers',
  'rps (achieved / asked)',
  'non-2xx',
  'errors',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'max ms',
  'cold starts',
  'peak desired / ready',
];

const PAGE_SCRIPT = String.raw`
const secs = DATA.seconds;
const xs = secs.map((s) => s.t + 0.5);
const phaseMarks = DATA.phases.map((p) => ({ t: p.startS, color: '#9aa3af', label: p.name, row: 1 }));
drawChart('latency', 'Latency (ms)', xs, [
  { label: 'p50', unit: 'ms', color: '#2f7ed8', values: secs.map((s) => s.latencyMs.p50) },
  { label: 'p90', unit: 'ms', color: '#f0a30a', values: secs.map((s) => s.latencyMs.p90) },
  { label: 'p99', unit: 'ms', color: '#d64545', values: secs.map((s) => s.latencyMs.p99) },
], phaseMarks);
drawChart('throughput', 'Throughput and errors (per second)', xs, [
  { label: 'answers/s', unit: 'requests/s', color: '#2f7ed8', fill: true, values: secs.map((s) => s.requests) },
  { label: 'non-2xx + errors', color: '#d64545', bars: true, axis: 'right', unit: 'failed/s', values: secs.map((s) => s.requests - s.ok + s.errors) },
], phaseMarks);
const g = DATA.gateway;
if (g) {
  const gx = g.samples.map((s) => s.t);
  const decisions = g.scaleDecisions.map((d, i) => ({ t: d.t, color: '#7b3fb0', dash: true, label: d.from + '→' + d.to + ' ' + d.reason, row: 2 + (i % 3) }));
  drawChart('replicas', 'Replicas: desired vs ready (dashed: scale decisions, from ' + g.source + ')', gx, [
    { label: 'desired', unit: 'replicas', color: '#7b3fb0', values: g.samples.map((s) => s.desired) },
    { label: 'ready', color: '#2a9d5c', fill: true, values: g.samples.map((s) => s.ready) },
    { label: 'actual', color: '#9aa3af', values: g.samples.map((s) => s.actual) },
  ], phaseMarks.concat(decisions));
  const colds = g.coldStarts.map((c) => ({ t: c.t, color: '#d64545', dash: true, label: 'cold start ' + Math.round(c.heldMs) + ' ms ×' + c.held, row: 2 }));
  drawChart('held', 'Held requests, and concurrency over the last second (dashed: cold starts)', gx, [
    { label: 'held', unit: 'requests', color: '#d64545', fill: true, values: g.samples.map((s) => s.held) },
    { label: 'concurrency', color: '#2f7ed8', values: g.samples.map((s) => s.concurrency) },
    { label: 'panic', color: '#f0a30a', axis: 'right', range: [0, 1], unit: 'panic (1 = yes)', values: g.samples.map((s) => (s.panic ? 1 : 0)) },
  ], phaseMarks.concat(colds));
  const keys = [...new Set(g.samples.flatMap((s) => s.revisions.map((r) => r.service + '/' + r.revision)))];
  const colors = ['#2f7ed8', '#d64545', '#2a9d5c', '#7b3fb0', '#f0a30a', '#9aa3af'];
  if (keys.length > 1) {
    drawChart('traffic', 'Traffic per revision (%)', gx, keys.map((key, i) => ({
      label: key, unit: '%', color: colors[i % colors.length],
      values: g.samples.map((s) => {
        const r = s.revisions.find((x) => x.service + '/' + x.revision === key);
        return r ? r.percent : null;
      }),
    })), phaseMarks);
  }
}
`;

/** Revisions seen in the samples: with more than one (a canary), the traffic split is charted too. */
function revisionCount(g: NonNullable<LoadtestResults['gateway']>): number {
  return new Set(g.samples.flatMap((s) => s.revisions.map((r) => `${r.service}/${r.revision}`))).size;
}

/** The admin calls the phases made (a rollout started, say), with the gateway's answer. */
function callList(phases: readonly PhaseResult[]): string {
  const items = phases.flatMap((p) =>
    p.call === undefined
      ? []
      : [
          `<li>${escapeHtml(p.name)}: ${escapeHtml(`${p.call.method} ${p.call.path}`)} → ${p.call.status === 0 ? 'unreachable' : p.call.status} <code>${escapeHtml(p.call.answer.slice(0, 200))}</code></li>`,
        ],
  );
  return items.length === 0 ? '' : `<ul>${items.join('')}</ul>`;
}

export async function renderReport(results: LoadtestResults): Promise<string> {
  const s = results.scenario;
  const g = results.gateway;
  const gatewayPart =
    g === null
      ? '<p class="note">No gateway admin URL in the scenario (admin.url): replicas, held requests and cold starts are not charted.</p>'
      : `<div id="replicas" class="chart"></div><div id="held" class="chart"></div>${revisionCount(g) > 1 ? '<div id="traffic" class="chart"></div>' : ''}
<h2>Scale decisions (${escapeHtml(g.source === 'events' ? 'from the event feed' : 'observed between samples')})</h2>
${
  g.scaleDecisions.length === 0
    ? '<p>None.</p>'
    : htmlTable(
        ['t (s)', 'revision', 'from', 'to', 'reason'],
        g.scaleDecisions.map((d) => [
          num(d.t, 1),
          escapeHtml(`${d.service}/${d.revision}`),
          String(d.from),
          String(d.to),
          escapeHtml(d.reason),
        ]),
      )
}
<h2>Cold starts</h2>
${
  g.coldStarts.length === 0
    ? '<p>None.</p>'
    : htmlTable(
        ['t (s)', 'held ms', 'released'],
        g.coldStarts.map((c) => [num(c.t, 1), num(c.heldMs), String(c.held)]),
      )
}`;
  const body = `<h1>${escapeHtml(s.name)}</h1>
<p class="meta">${escapeHtml(s.target.method)} ${escapeHtml(s.target.url)} · started ${escapeHtml(results.startedAt)} · ${escapeHtml(results.outcome)}${
    s.description === undefined ? '' : `<br>${escapeHtml(s.description)}`
  }</p>
<h2>Phases</h2>
${htmlTable(
  PHASE_HEADER,
  phaseRows(results.phases).map((r) => r.map(escapeHtml)),
)}
${callList(results.phases)}
<h2>Over time</h2>
<div id="latency" class="chart"></div><div id="throughput" class="chart"></div>
${gatewayPart}
<h2>Scenario</h2>
<pre>${escapeHtml(results.scenarioText)}</pre>`;
  const data = { seconds: results.seconds, phases: results.phases, gateway: g };
  return reportPage(`${s.name} — sluice loadtest`, body, data, CHART_SCRIPT + PAGE_SCRIPT);
}

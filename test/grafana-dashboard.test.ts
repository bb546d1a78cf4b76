/**
 * deploy/grafana/sluice-dashboard.json against what Sluice exports: every query parses as PromQL
 * (Prometheus's own grammar, @prometheus-io/lezer-promql), and every metric and label it names is in
 * the /metrics of a running gateway (the harness's, with the default process metrics on, after a
 * cold start and some traffic so the histogram and summary have samples).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IRIS_ROW, predictorRevision, startGateway, type TestGateway } from './support/harness.js';

interface Target {
  expr: string;
  refId: string;
  datasource: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
}

const FILE = fileURLToPath(new URL('../deploy/grafana/sluice-dashboard.json', import.meta.url));
const dashboard = JSON.parse(readFileSync(FILE, 'utf8')) as Dashboard;
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Labels Prometheus adds at scrape time, not Sluice. */
const TARGET_LABELS = new Set(['job', 'instance']);

/** Grafana's interval variables, as Prometheus would get them. */
function expand(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m');
}

interface Selector {
  metric: string;
  labels: string[];
}

/** Parse `expr`; throws naming the place of a syntax error; returns the vector selectors (metric and matcher labels) and grouping labels. */
function analyse(expr: string): { selectors: Selector[]; grouping: string[] } {
  const text = expand(expr);
  const tree = parser.parse(text);
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const cursor = tree.cursor();
  do {
    const node = cursor.node;
    if (node.type.isError) throw new Error(`syntax error at ${node.from}: …${text.slice(Math.max(0, node.from - 20), node.from + 20)}…`);
    if (node.name === 'VectorSelector') {
      const id = node.getChild('Identifier');
      const labels: string[] = [];
      let metric = id === null ? '' : text.slice(id.from, id.to);
      const matchers = node.getChild('LabelMatchers');
      for (const m of matchers?.getChildren('UnquotedLabelMatcher') ?? []) {
        const name = m.getChild('LabelName')!;
        const label = text.slice(name.from, name.to);
        if (label === '__name__')
          metric = JSON.parse(text.slice(m.getChild('StringLiteral')!.from, m.getChild('StringLiteral')!.to)) as string;
        else labels.push(label);
      }
      selectors.push({ metric, labels });
    }
    if (node.name === 'GroupingLabels') for (const l of node.getChildren('LabelName')) grouping.push(text.slice(l.from, l.to));
  } while (cursor.next());
  return { selectors, grouping };
}

/** Metric sample names → the label names seen on them, from a Prometheus text exposition. */
function exported(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (m === null) throw new Error(`malformed sample line: ${line}`);
    const labels = out.get(m[1]!) ?? new Set<string>();
    for (const pair of m[2]?.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g) ?? []) labels.add(pair[1]!);
    out.set(m[1]!, labels);
  }
  return out;
}

describe('the PromQL check itself', () => {
  it.each([
    ['sum(rate(sluice_requests_total[5m])', /syntax error/],
    ['sluice_requests_total{service=}', /syntax error/],
    ['rate(sluice_requests_total[5m]) +', /syntax error/],
  ])('refuses %s', (expr, want) => {
    expect(() => analyse(expr)).toThrow(want);
  });

  it('finds metrics, matcher labels and grouping labels', () => {
    expect(
      analyse('sum by (le, revision) (rate(a_bucket{service=~"$service"}[$__rate_interval])) / on() group_left {__name__="b", kind="x"}'),
    ).toEqual({
      selectors: [
        { metric: 'a_bucket', labels: ['service'] },
        { metric: 'b', labels: ['kind'] },
      ],
      grouping: ['le', 'revision'],
    });
  });
});

describe('deploy/grafana/sluice-dashboard.json', () => {
  let gw: TestGateway | undefined;
  let metrics: Map<string, Set<string>>;

  beforeAll(async () => {
    gw = await startGateway(
      `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
services:
  - name: iris
    match: { model: iris }
    revisions:${predictorRevision('iris-1')}
    traffic: [{ revision: iris-1, percent: 100 }]
`,
      { defaultMetrics: true },
    );
    // A cold start, then traffic: the duration histogram and the cold-start summary get samples.
    for (let i = 0; i < 5; i++) {
      const res = await request(`${gw.url}/v2/models/iris/infer`, { method: 'POST', body: JSON.stringify(IRIS_ROW) });
      await res.body.text();
      expect(res.statusCode).toBe(200);
    }
    const res = await request(`${gw.adminUrl}/metrics`);
    metrics = exported(await res.body.text());
  }, 30_000);

  afterAll(async () => {
    await gw?.close();
  });

  it('has panels with unique ids, on the data source variable, each with a query', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const p of queryPanels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (const t of p.targets!) expect(t.datasource.uid).toBe('${datasource}');
    }
  });

  it.each(exprs.map((e) => [e.panel, e.expr]))('%s: %s parses and names only exported metrics and labels', (_, expr) => {
    const { selectors, grouping } = analyse(expr);
    expect(selectors.length).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (const { metric, labels } of selectors) {
      expect(metrics.has(metric), `${metric} is not in /metrics`).toBe(true);
      for (const label of labels) {
        if (!TARGET_LABELS.has(label)) expect(metrics.get(metric)!.has(label), `${metric} has no label ${label}`).toBe(true);
      }
      for (const label of metrics.get(metric)!) seen.add(label);
    }
    for (const label of grouping) if (!TARGET_LABELS.has(label)) expect(seen.has(label), `grouping by ${label}`).toBe(true);
  });

  it('has template variables whose label_values queries name exported metrics and labels', () => {
    const queries = dashboard.templating.list.filter((v) => v.type === 'query');
    expect(queries.map((v) => v.name)).toEqual(['job', 'service', 'revision']);
    for (const v of queries) {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\((.+), ([a-z_]+)\)$/.exec(query);
      expect(m, query).not.toBeNull();
      const { selectors } = analyse(m![1]!);
      expect(metrics.has(selectors[0]!.metric)).toBe(true);
      if (!TARGET_LABELS.has(m![2]!)) expect(metrics.get(selectors[0]!.metric)!.has(m![2]!)).toBe(true);
    }
  });

  it('covers each revision figure and the gateway process', () => {
    const used = new Set(exprs.flatMap((e) => analyse(e.expr).selectors.map((s) => s.metric)));
    for (const metric of [
      'sluice_revision_replicas',
      'sluice_revision_stable_concurrency',
      'sluice_revision_inflight',
      'sluice_requests_total',
      'sluice_revision_held_requests',
      'sluice_cold_start_seconds_count',
      'sluice_request_duration_seconds_bucket',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(used.has(metric), metric).toBe(true);
    }
  });
});

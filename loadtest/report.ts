/** Plain-text tables and the derived ratios; the JSON file is the same data, unformatted. */
import { cpus } from 'node:os';
import type { ColdStartSample } from './cold-start.js';
import type { TargetRun } from './load.js';

/** A target that could not be measured, and why. */
export interface SkippedTarget {
  target: string;
  skipped: string;
}

export type TargetRow = TargetRun | SkippedTarget;

export function isRun(row: TargetRow | undefined): row is TargetRun {
  return row !== undefined && !('skipped' in row);
}

/** The hot-path budget: the gateway's CPU per proxied request at most this many times nginx's. */
export const CPU_BUDGET_VS_NGINX = 2.5;

export interface Ratios {
  /** Gateway CPU µs/req ÷ nginx CPU µs/req in the saturating runs (the fixed-rate figure is in fixed-rate.ts). */
  gatewayVsNginxCpu: number | null;
  /** The same over TLS (rows gateway-tls and nginx-tls), when those ran. */
  tlsGatewayVsNginxCpu: number | null;
  /** Gateway rps ÷ direct rps. */
  gatewayVsDirectRps: number | null;
  /** nginx rps ÷ direct rps. */
  nginxVsDirectRps: number | null;
  /** Gateway CPU µs/req ÷ the predictor's own CPU µs/req in the direct run. */
  gatewayCpuVsPredictorCpu: number | null;
  /** p50 latency through the gateway minus direct, ms. */
  gatewayAddedP50Ms: number | null;
  /** p50 latency through nginx minus direct, ms. */
  nginxAddedP50Ms: number | null;
}

export const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
const minus = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined ? null : a - b);

export function ratios(rows: TargetRow[]): Ratios {
  const find = (name: string): TargetRun | undefined => {
    const row = rows.find((r) => r.target === name);
    return isRun(row) ? row : undefined;
  };
  const direct = find('direct');
  const gateway = find('gateway');
  const nginx = find('nginx');
  return {
    gatewayVsNginxCpu: ratio(gateway?.proxyCpuUsPerReq, nginx?.proxyCpuUsPerReq),
    tlsGatewayVsNginxCpu: ratio(find('gateway-tls')?.proxyCpuUsPerReq, find('nginx-tls')?.proxyCpuUsPerReq),
    gatewayVsDirectRps: ratio(gateway?.rps, direct?.rps),
    nginxVsDirectRps: ratio(nginx?.rps, direct?.rps),
    gatewayCpuVsPredictorCpu: ratio(gateway?.proxyCpuUsPerReq, direct?.predictorCpuUsPerReq),
    gatewayAddedP50Ms: minus(gateway?.p50Ms, direct?.p50Ms),
    nginxAddedP50Ms: minus(nginx?.p50Ms, direct?.p50Ms),
  };
}

export function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

export function times(value: number | null): string {
  return value === null ? 'n/a' : `${value.toFixed(2)}×`;
}

/** Columns padded to their widest cell; the first left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function throughputTable(rows: TargetRow[]): string {
  return table(
    ['target', 'rps', 'p50 ms', 'p99 ms', 'non-2xx/err', 'proxy CPU µs/req', 'predictor CPU µs/req', 'other load (CPUs)'],
    rows.map((r) =>
      isRun(r)
        ? [
            r.target,
            fixed(r.rps, 0),
            fixed(r.p50Ms, 2),
            fixed(r.p99Ms, 2),
            `${r.non2xx}/${r.errors}`,
            r.target === 'direct' ? '—' : fixed(r.proxyCpuUsPerReq, 1),
            fixed(r.predictorCpuUsPerReq, 1),
            fixed(r.otherCpus, 2),
          ]
        : [r.target, `skipped: ${r.skipped}`],
    ),
  );
}

export function ratioLines(r: Ratios): string {
  const verdict = r.gatewayVsNginxCpu === null ? '' : r.gatewayVsNginxCpu <= CPU_BUDGET_VS_NGINX ? ' — within budget' : ' — OVER budget';
  const ms = (v: number | null): string => (v === null ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(2)} ms`);
  return [
    `gateway / nginx CPU per request at saturation: ${times(r.gatewayVsNginxCpu)} (budget ≤ ${CPU_BUDGET_VS_NGINX}×)${verdict}`,
    ...(r.tlsGatewayVsNginxCpu === null
      ? []
      : [`gateway-tls / nginx-tls CPU per request at saturation (HTTP/1.1 over TLS): ${times(r.tlsGatewayVsNginxCpu)}`]),
    `gateway / direct rps:                          ${times(r.gatewayVsDirectRps)}`,
    `nginx / direct rps:                            ${times(r.nginxVsDirectRps)}`,
    `gateway CPU / predictor CPU (per request, predictor's from the direct run): ${times(r.gatewayCpuVsPredictorCpu)}`,
    `p50 added: gateway ${ms(r.gatewayAddedP50Ms)}, nginx ${ms(r.nginxAddedP50Ms)}`,
  ].join('\n');
}

type SampleField = Exclude<keyof ColdStartSample, 'status'>;
const COLD_COLUMNS: [SampleField, string][] = [
  ['totalMs', 'total ms'],
  ['heldMs', 'held ms'],
  ['toScaleMs', '→scale'],
  ['toSpawnMs', '→spawned'],
  ['toListeningMs', '→listening'],
  ['toReadyMs', '→ready'],
  ['toEndpointsMs', '→endpoints'],
  ['endpointsToResponseMs', 'endpoints→response'],
];

/** Median of the values (the mean of the middle two for an even count); null when empty. */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export type ColdStartSummary = Record<SampleField, { min: number | null; median: number | null }>;

export function summarizeColdStarts(samples: ColdStartSample[]): ColdStartSummary {
  const out = {} as ColdStartSummary;
  for (const [field] of COLD_COLUMNS) {
    const values = samples.map((s) => s[field]).filter((v): v is number => v !== null);
    out[field] = { min: values.length ? Math.min(...values) : null, median: median(values) };
  }
  return out;
}

export function coldStartTable(samples: ColdStartSample[], summary: ColdStartSummary): string {
  const rows = samples.map((s, i) => [
    `#${i + 1}${s.status === 200 ? '' : ` (${s.status})`}`,
    ...COLD_COLUMNS.map(([f]) => fixed(s[f], f === 'totalMs' ? 1 : 0)),
  ]);
  rows.push(['min', ...COLD_COLUMNS.map(([f]) => fixed(summary[f].min, f === 'totalMs' ? 1 : 0))]);
  rows.push(['median', ...COLD_COLUMNS.map(([f]) => fixed(summary[f].median, f === 'totalMs' ? 1 : 0))]);
  return table(['sample', ...COLD_COLUMNS.map(([, h]) => h)], rows);
}

/** The machine a results file was measured on: Node, platform, CPUs, `extra`, and the load average at the start. */
export function machineInfo(loadAverageAtStart: number[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cpu = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model.trim(),
    ...extra,
    loadAverageAtStart,
  };
}

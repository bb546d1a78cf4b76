/**
 * Figures of the fixed-rate CPU phase: the proxies' CPU per request at one offered rate, gateway and
 * nginx interleaved over several rounds. Pure: the runs come from runAtRate (load.ts).
 *
 * Why this shape, rather than one saturating run per target:
 *
 *  - equal offered load: every target gets the same requests per second over the same connections,
 *    below saturation, so the load generator, the proxy and the predictor do not fight over the
 *    CPUs as they do at saturation, and a cheaper proxy is not charged for the extra requests it
 *    lets through;
 *  - interleaving: the targets alternate round by round (and swap which goes first on alternate
 *    rounds), so a slow drift of the machine (another tenant, CPU frequency, a warming cache)
 *    weighs on both alike instead of on whichever ran later;
 *  - the median over rounds: one run hit by a spike of background work moves it by one rank, not by
 *    its size. The minimum is the run least disturbed, printed beside it.
 */
import type { RateRun } from './load.js';
import { CPU_BUDGET_VS_NGINX, fixed, median, ratio, table, times } from './report.js';

/** A run that reached less than this share of the requested rate had a saturated target. */
export const SATURATED_BELOW = 0.9;

/** The fields of a run the figures are made of. */
export type RateSample = Pick<RateRun, 'target' | 'round' | 'requestedRps' | 'rps' | 'proxyCpuUsPerReq' | 'predictorCpuUsPerReq'>;

/** The targets in round `round`'s order (1-based): as given in odd rounds, reversed in even ones. */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  return round % 2 === 1 ? [...targets] : [...targets].reverse();
}

/** One figure over the rounds: the value of each round (index = round − 1), and its min and median. */
export interface Spread {
  perRound: (number | null)[];
  min: number | null;
  median: number | null;
}

export function spread(perRound: (number | null)[]): Spread {
  const values = perRound.filter((v): v is number => v !== null && Number.isFinite(v));
  return { perRound, min: values.length > 0 ? Math.min(...values) : null, median: median(values) };
}

export interface FixedRateTarget {
  target: string;
  /** The proxy's process-tree CPU per 2xx response, µs. */
  proxyCpuUsPerReq: Spread;
  /** The predictor's, in the same runs: about equal across targets when the load was. */
  predictorCpuUsPerReq: Spread;
  /** Achieved 2xx responses per second in each round's measured window. */
  rps: Spread;
}

/** One proxy's CPU per request against another's over the same rounds. */
export interface PairRatio {
  /** Median gateway CPU/req ÷ median nginx CPU/req: the budget figure. */
  ofMedians: number | null;
  /** Lowest gateway CPU/req ÷ lowest nginx CPU/req. */
  ofMinimums: number | null;
  /** Gateway ÷ nginx within each round (index = round − 1). */
  perRound: (number | null)[];
  medianOfRounds: number | null;
}

/** The targets that serve HTTP/1.1 over TLS, each beside its cleartext one (overhead.ts). */
export const TLS_TARGETS = { gateway: 'gateway-tls', nginx: 'nginx-tls' } as const;

export interface FixedRateSummary {
  requestedRps: number;
  rounds: number;
  targets: FixedRateTarget[];
  gatewayVsNginx: PairRatio;
  /** The same over TLS, when the TLS targets ran. */
  tlsGatewayVsNginx?: PairRatio;
  /** Runs below SATURATED_BELOW × the requested rate: their CPU/req is not at that rate. */
  saturated: { target: string; round: number; rps: number }[];
}

export function summarizeFixedRate(runs: readonly RateSample[], requestedRps: number, rounds: number): FixedRateSummary {
  const names = [...new Set(runs.map((r) => r.target))];
  const byRound = (target: string, pick: (r: RateSample) => number | null): (number | null)[] =>
    Array.from({ length: rounds }, (_, i) => {
      const run = runs.find((r) => r.target === target && r.round === i + 1);
      return run === undefined ? null : pick(run);
    });
  const targets = names.map((target) => ({
    target,
    proxyCpuUsPerReq: spread(byRound(target, (r) => r.proxyCpuUsPerReq)),
    predictorCpuUsPerReq: spread(byRound(target, (r) => r.predictorCpuUsPerReq)),
    rps: spread(byRound(target, (r) => r.rps)),
  }));
  const pair = (gatewayName: string, nginxName: string): PairRatio => {
    const gateway = targets.find((t) => t.target === gatewayName)?.proxyCpuUsPerReq;
    const nginx = targets.find((t) => t.target === nginxName)?.proxyCpuUsPerReq;
    const perRound = Array.from({ length: rounds }, (_, i) => ratio(gateway?.perRound[i], nginx?.perRound[i]));
    return {
      ofMedians: ratio(gateway?.median, nginx?.median),
      ofMinimums: ratio(gateway?.min, nginx?.min),
      perRound,
      medianOfRounds: median(perRound.filter((v): v is number => v !== null)),
    };
  };
  const tls = names.includes(TLS_TARGETS.gateway) ? { tlsGatewayVsNginx: pair(TLS_TARGETS.gateway, TLS_TARGETS.nginx) } : {};
  return {
    requestedRps,
    rounds,
    targets,
    gatewayVsNginx: pair('gateway', 'nginx'),
    ...tls,
    saturated: runs.filter((r) => r.rps < SATURATED_BELOW * r.requestedRps).map((r) => ({ target: r.target, round: r.round, rps: r.rps })),
  };
}

/** Per target, each round's CPU µs per 2xx response, then min and median; the per-round ratio below. */
export function fixedRateTable(s: FixedRateSummary): string {
  const rounds = Array.from({ length: s.rounds }, (_, i) => `#${i + 1}`);
  const row = (label: string, v: Spread, digits: number): string[] => [
    label,
    ...v.perRound.map((x) => fixed(x, digits)),
    fixed(v.min, digits),
    fixed(v.median, digits),
  ];
  const rows = s.targets.map((t) => row(t.target, t.proxyCpuUsPerReq, 1));
  const ratioRow = (label: string, r: PairRatio | undefined): void => {
    // The min of per-round ratios is not the ratio of minimums: left blank so it is not read as one.
    if (r?.perRound.some((v) => v !== null)) rows.push([label, ...r.perRound.map((v) => fixed(v, 2)), '', fixed(r.medianOfRounds, 2)]);
  };
  ratioRow('gateway ÷ nginx', s.gatewayVsNginx);
  ratioRow(`${TLS_TARGETS.gateway} ÷ ${TLS_TARGETS.nginx}`, s.tlsGatewayVsNginx);
  for (const t of s.targets) rows.push(row(`predictor, ${t.target} runs`, t.predictorCpuUsPerReq, 1));
  return table(['CPU µs/req', ...rounds, 'min', 'median'], rows);
}

/** The headline (budget verdict on the ratio of medians), the other two ratios and the achieved rates. */
export function fixedRateLines(s: FixedRateSummary): string {
  const r = s.gatewayVsNginx;
  const verdict = r.ofMedians === null ? '' : r.ofMedians <= CPU_BUDGET_VS_NGINX ? ' — within budget' : ' — OVER budget';
  const highest = (v: Spread): number | null => {
    const values = v.perRound.filter((x): x is number => x !== null);
    return values.length > 0 ? Math.max(...values) : null;
  };
  const achieved = s.targets.map((t) => `${t.target} ${fixed(t.rps.min, 0)}–${fixed(highest(t.rps), 0)}`).join(', ');
  const lines = [
    `gateway / nginx CPU per request at ${s.requestedRps} rps (median of ${s.rounds} interleaved rounds): ` +
      `${times(r.ofMedians)} (budget ≤ ${CPU_BUDGET_VS_NGINX}×)${verdict}`,
    `  ratio of minimums:          ${times(r.ofMinimums)}`,
    `  median of per-round ratios: ${times(r.medianOfRounds)}`,
  ];
  const t = s.tlsGatewayVsNginx;
  if (t !== undefined) {
    const tlsVerdict = t.ofMedians === null ? '' : t.ofMedians <= CPU_BUDGET_VS_NGINX ? ' — within budget' : ' — OVER budget';
    lines.push(
      `${TLS_TARGETS.gateway} / ${TLS_TARGETS.nginx} CPU per request (HTTP/1.1 over TLS, the same rounds): ` +
        `${times(t.ofMedians)} (budget ≤ ${CPU_BUDGET_VS_NGINX}×)${tlsVerdict}`,
      `  ratio of minimums:          ${times(t.ofMinimums)}`,
      `  median of per-round ratios: ${times(t.medianOfRounds)}`,
    );
  }
  lines.push(`achieved rate, 2xx/s in the measured windows: ${achieved}`);
  if (s.saturated.length > 0) {
    const runs = s.saturated.map((x) => `${x.target} #${x.round} ${x.rps.toFixed(0)} rps`).join(', ');
    lines.push(
      `note: below ${Math.round(SATURATED_BELOW * 100)}% of ${s.requestedRps} rps: ${runs}. Those targets were saturated, ` +
        `so their CPU per request is not at ${s.requestedRps} rps; try a lower --cpu-rate`,
    );
  }
  return lines.join('\n');
}

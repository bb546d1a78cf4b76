/**
 * The gRPC rows of `npm run bench`: unary ModelInfer (the Open Inference Protocol over gRPC) at a
 * fixed offered rate, h2load as the client, to a gRPC predictor (`sluice predictor --grpc-port`)
 * directly, through the gateway (one static revision, `protocol: h2c`, routed by the method's path
 * prefix) and through nginx's `grpc_pass` (when nginx is on the PATH), interleaved over rounds as
 * the other fixed-rate phases are (fixed-rate.ts), with the CPU each proxy spent per call.
 *
 * h2load sends each call as one POST with `content-type: application/grpc` and `te: trailers`,
 * its body the framed ModelInferRequest (a 5-byte gRPC frame header, then the message encoded with
 * the predictor's own .proto). It counts HTTP statuses only, and a gRPC error is HTTP 200 with a
 * `grpc-status` trailer, so each target first answers one ModelInfer through a real grpc-js
 * client, with the right class, before it is loaded.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type Client, type GrpcObject, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fixedRateLines, fixedRateTable, roundOrder, summarizeFixedRate, type FixedRateSummary } from './fixed-rate.js';
import { startGateway } from './gateway.js';
import { findH2load, runH2loadAtRate, type H2loadSettings } from './h2load.js';
import type { RateRun } from './load.js';
import { findNginx, startNginx } from './nginx.js';
import type { BenchOptions } from './options.js';
import { ROOT } from './paths.js';
import { startPredictor } from './predictor.js';
import type { Child } from './processes.js';

const PROTO = join(ROOT, 'dist', 'predictor', 'proto', 'grpc_predict_v2.proto');
const METHOD_PATH = '/inference.GRPCInferenceService/ModelInfer';
/** One virginica row; the predictor answers class 2. */
const REQUEST = {
  model_name: 'iris',
  inputs: [{ name: 'input-0', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [6.7, 3.0, 5.2, 2.3] } }],
};

export interface GrpcPhaseOptions {
  cliPath: string;
  h2load: string;
  tmp: string;
  /** nginx on the PATH, or undefined (no nginx row). */
  nginxBinary: string | undefined;
  rps: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  clients: number;
  streams: number;
  ticksPerSecond: number;
  log: (text: string) => void;
}

export type GrpcPhase =
  { settings: H2loadSettings & { rounds: number }; runs: RateRun[]; summary: FixedRateSummary; skipped?: undefined } | { skipped: string };

const definition = loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
const method = (definition['inference.GRPCInferenceService'] as Record<string, { requestSerialize(value: object): Buffer }>).ModelInfer!;

/** The request as h2load sends it: gRPC frame header (not compressed, 4-byte big-endian length), then the message. */
export function framedRequest(): Buffer {
  const message = method.requestSerialize(REQUEST);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** One ModelInfer through grpc-js; the problem, or undefined when it answered class 2. */
async function checkTarget(address: string): Promise<string | undefined> {
  const inference = loadPackageDefinition(definition).inference as GrpcObject;
  const ClientOf = inference.GRPCInferenceService as unknown as new (
    address: string,
    creds: ReturnType<typeof credentials.createInsecure>,
  ) => Client;
  const client = new ClientOf(address, credentials.createInsecure());
  try {
    const answer = await new Promise<{ outputs: { contents: { int64_contents: number[] } }[] }>((resolve, reject) =>
      (
        client as unknown as Record<string, (req: object, opts: object, cb: (err: ServiceError | null, res: never) => void) => void>
      ).ModelInfer!.call(client, REQUEST, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    const predicted = answer.outputs[0]?.contents.int64_contents[0];
    return predicted === 2 ? undefined : `ModelInfer answered class ${String(predicted)}, want 2`;
  } catch (err) {
    return `ModelInfer failed: ${(err as Error).message}`;
  } finally {
    client.close();
  }
}

/** The phase; every process it starts is stopped before it returns. */
export async function grpcPhase(o: GrpcPhaseOptions): Promise<GrpcPhase> {
  const running = await startPredictor(o.cliPath, 'iris', { grpc: true });
  const predictor = { child: running.child, restUrl: running.url, grpcAddress: running.grpcAddress! };
  const children: Child[] = [predictor.child];
  try {
    const configPath = join(o.tmp, 'grpc.yaml');
    await writeFile(
      configPath,
      JSON.stringify({
        services: [
          {
            name: 'iris-grpc',
            match: { pathPrefix: '/inference.GRPCInferenceService/' },
            revisions: [{ name: 'iris-grpc', backend: 'static', protocol: 'h2c', urls: [`http://${predictor.grpcAddress}`] }],
            traffic: [{ revision: 'iris-grpc', percent: 100 }],
          },
        ],
      }),
    );
    const gateway = await startGateway({ cliPath: o.cliPath, configPath, logLevel: 'info', name: 'grpc gateway' });
    children.push(gateway.child);
    const targets: { target: string; address: string; child?: Child }[] = [
      { target: 'direct', address: predictor.grpcAddress },
      { target: 'gateway', address: new URL(gateway.url).host, child: gateway.child },
    ];
    if (o.nginxBinary !== undefined) {
      try {
        const nginx = await startNginx(o.nginxBinary, join(o.tmp, 'nginx-grpc'), predictor.restUrl, undefined, predictor.grpcAddress);
        children.push(nginx.child);
        targets.push({ target: 'nginx', address: nginx.grpcAddress!, child: nginx.child });
      } catch (err) {
        o.log(`gRPC nginx: did not start, no nginx row: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    const ready: typeof targets = [];
    for (const t of targets) {
      const problem = await checkTarget(t.address);
      if (problem === undefined) ready.push(t);
      else o.log(`gRPC ${t.target}: skipped, ${problem}`);
    }
    if (!ready.some((t) => t.target === 'gateway')) return { skipped: 'the gateway did not answer ModelInfer' };

    const bodyFile = join(o.tmp, 'model-infer.bin');
    await writeFile(bodyFile, framedRequest());
    const settings: H2loadSettings = {
      rps: o.rps,
      durationS: o.durationS,
      warmupS: o.warmupS,
      clients: o.clients,
      streams: o.streams,
      path: METHOD_PATH,
      bodyFile,
      headers: ['content-type: application/grpc', 'te: trailers'],
    };
    o.log(
      `\ngRPC: unary ModelInfer at ${o.rps} calls/s, h2load with ${o.clients} connections × up to ${o.streams} streams: ` +
        `${o.rounds} rounds × ${ready.map((t) => t.target).join(', ')}, each ${o.warmupS} s warm-up + ${o.durationS} s measured`,
    );
    const runs: RateRun[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const these: RateRun[] = [];
      for (const t of roundOrder(ready, round)) {
        const cpu = { predictorPid: predictor.child.pid, ticksPerSecond: o.ticksPerSecond, ...(t.child ? { proxyPid: t.child.pid } : {}) };
        these.push(await runH2loadAtRate(o.h2load, t.target, round, `http://${t.address}`, settings, cpu));
      }
      runs.push(...these);
      o.log(
        `  round ${round}: ` +
          these
            .map(
              (r) =>
                `${r.target} ${r.proxyCpuUsPerReq?.toFixed(1) ?? '—'} µs/call (predictor ${r.predictorCpuUsPerReq?.toFixed(1) ?? '—'}) at ${r.rps.toFixed(0)}/s`,
            )
            .join(', '),
      );
    }
    return {
      settings: { ...settings, rounds: o.rounds },
      runs,
      summary: summarizeFixedRate(runs, runs[0]?.requestedRps ?? o.rps, o.rounds),
    };
  } finally {
    for (const child of children.reverse()) await child.stop();
  }
}

/**
 * The phase as `npm run bench` runs it, after the HTTP phases (their proxies stopped): skipped with
 * `--no-grpc`, `--cpu-rounds 0`, without /proc or without h2load; otherwise run and printed, with
 * the same rate, rounds and h2load connections as the h2c rows.
 */
export async function grpcBench(
  options: BenchOptions,
  cliPath: string,
  tmp: string,
  ticksPerSecond: number | undefined,
  log: (text: string) => void,
): Promise<GrpcPhase> {
  const h2load = findH2load();
  let result: GrpcPhase;
  if (options.noGrpc) result = { skipped: '--no-grpc' };
  else if (options.cpuRounds === 0) result = { skipped: '--cpu-rounds 0' };
  else if (ticksPerSecond === undefined) result = { skipped: 'no /proc: CPU time is not measured' };
  else if (h2load === undefined) result = { skipped: 'h2load not on the PATH (Debian package nghttp2-client)' };
  else {
    result = await grpcPhase({
      cliPath,
      h2load,
      tmp,
      nginxBinary: options.noNginx ? undefined : findNginx(),
      rps: options.cpuRate,
      durationS: options.cpuDurationS,
      warmupS: 1,
      rounds: options.cpuRounds,
      clients: options.h2Clients,
      streams: options.h2Streams,
      ticksPerSecond,
      log,
    });
  }
  if (result.skipped !== undefined) {
    log(`
gRPC ModelInfer rows: skipped (${result.skipped})`);
    return result;
  }
  log(`
gRPC: CPU µs per ModelInfer call at ${result.summary.requestedRps} calls/s, ${result.settings.durationS} s measured per run:`);
  log(fixedRateTable(result.summary));
  log('\n' + fixedRateLines(result.summary).replace(/^gateway \/ nginx/, 'gRPC: gateway / nginx grpc_pass'));
  const failing = result.runs.filter((r) => r.non2xx > 0 || r.errors > 0);
  if (failing.length > 0) {
    log('note: non-2xx/errors (measured part): ' + failing.map((r) => `${r.target} #${r.round} ${r.non2xx}/${r.errors}`).join(', '));
  }
  return result;
}

/**
 * The predictor's gRPC server (`--grpc-port`): the Open Inference Protocol's GRPCInferenceService
 * and the gRPC health service on one grpc-js server, answering for the same iris model as the REST
 * server, with the same readiness (readiness.ts), latency and injected error rate.
 *
 * Statuses: a bad request INVALID_ARGUMENT (the message REST would give), another model or version
 * NOT_FOUND, inference while not ready UNAVAILABLE, an injected failure INTERNAL. ModelStreamInfer
 * answers each request in order; a failed request is an `error_message` in its response and the
 * stream goes on, as Triton does.
 */
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatHostPort } from '../net-address.js';
import type { ErrorRate } from './error-rate.js';
import { healthService } from './grpc-health.js';
import { grpcInferResponse, parseGrpcInferRequest } from './grpc-infer.js';
import { HEALTH_SERVICE, INFERENCE_SERVICE, type GrpcInferRequest, type GrpcInferResponse, type ModelRef } from './grpc-protos.js';
import { MODEL_VERSION, modelMetadata } from './model.js';
import type { PredictorOptions } from './options.js';
import type { Readiness } from './readiness.js';
import { V2Error } from './v2.js';

export interface GrpcPredictor {
  port: number;
  /** Stops accepting calls, lets running ones finish (at most `drainTimeoutMs`), then cancels the rest. */
  close(): Promise<void>;
}

/** The gRPC status of a V2Error's HTTP status; anything else is INTERNAL. */
const STATUS_OF: ReadonlyMap<number, status> = new Map([
  [400, status.INVALID_ARGUMENT],
  [404, status.NOT_FOUND],
  [503, status.UNAVAILABLE],
]);

function serviceError(err: unknown): Partial<ServiceError> {
  if (err instanceof V2Error) return { code: STATUS_OF.get(err.status) ?? status.INTERNAL, details: err.message };
  return { code: status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}` };
}

/** Unary handler from an async function: its value is the answer, what it throws the status. */
function unary<Req>(fn: (req: Req) => unknown): (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => void {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(serviceError(err)),
      );
  };
}

export async function startGrpcPredictor(
  o: PredictorOptions & { grpcPort: number },
  readiness: Readiness,
  errors: ErrorRate,
  serverVersion: string,
): Promise<GrpcPredictor> {
  const metadata = modelMetadata(o.model);

  /** Throws NOT_FOUND unless `name` (and `version`, when given) is the served model. */
  const checkModel = ({ name, version }: ModelRef): void => {
    if (name !== o.model) throw new V2Error(404, `model "${name}" not found; this server serves "${o.model}"`);
    if (version !== '' && version !== MODEL_VERSION) {
      throw new V2Error(404, `model "${o.model}" has no version "${version}"; it has "${MODEL_VERSION}"`);
    }
  };

  const infer = async (req: GrpcInferRequest): Promise<GrpcInferResponse> => {
    checkModel({ name: req.model_name, version: req.model_version });
    if (!readiness.ready) throw new V2Error(503, readiness.notReadyReason(o.model));
    const parsed = parseGrpcInferRequest(req);
    if (o.latencyMs > 0) await sleep(o.latencyMs);
    if (errors.next()) throw new V2Error(500, `injected failure (error rate ${o.errorRate})`);
    return grpcInferResponse(o.model, parsed);
  };

  const streamInfer = async (call: ServerDuplexStream<GrpcInferRequest, unknown>): Promise<void> => {
    if (!readiness.ready) {
      call.emit('error', { code: status.UNAVAILABLE, details: readiness.notReadyReason(o.model) });
      return;
    }
    // One request at a time, in order: reading the next waits for this answer, so a client that
    // sends faster than the model answers is held back by HTTP/2 flow control, not buffered here.
    // destroyOnReturn false: the loop ending (the client half-closed) must leave the write side open
    // for the answers still to come and the status.
    for await (const req of call.iterator({ destroyOnReturn: false }) as AsyncIterable<GrpcInferRequest>) {
      let answer: object;
      try {
        answer = { infer_response: await infer(req) };
      } catch (err) {
        answer = { error_message: serviceError(err).details };
      }
      if (!call.write(answer)) await once(call, 'drain');
    }
    call.end();
  };

  const health = healthService(readiness);
  // A message over the body limit is refused RESOURCE_EXHAUSTED by grpc-js before it is decoded.
  const server = new Server({ 'grpc.max_receive_message_length': o.maxBodyBytes });
  server.addService(INFERENCE_SERVICE, {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: readiness.ready })),
    ModelReady: unary((req: ModelRef) => {
      checkModel(req);
      return { ready: readiness.ready };
    }),
    ServerMetadata: unary(() => ({ name: 'sluice-predictor', version: serverVersion, extensions: [] })),
    ModelMetadata: unary((req: ModelRef) => {
      checkModel(req);
      return metadata;
    }),
    ModelInfer: unary(infer),
    ModelStreamInfer: (call: ServerDuplexStream<GrpcInferRequest, unknown>) => {
      streamInfer(call).catch((err: unknown) => call.destroy(err instanceof Error ? err : new Error(String(err))));
    },
  });
  server.addService(HEALTH_SERVICE, health.implementation);

  const address = formatHostPort(o.host, o.grpcPort);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      health.endWatches();
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (deadline = setTimeout(resolve, o.drainTimeoutMs)));
      await Promise.race([drained, timedOut]);
      clearTimeout(deadline);
      server.forceShutdown();
    })());

  return { port, close };
}

/**
 * The predictor's two gRPC services, loaded from the .proto files beside this module
 * (`proto/`, copied to `dist/predictor/proto/` by the build): the Open Inference Protocol's
 * `inference.GRPCInferenceService` and `grpc.health.v1.Health`. The message types below are the
 * decoded shapes those files give with LOAD_OPTIONS (field names as in the .proto, int64 as
 * numbers, enums as their names, defaults and empty arrays filled in).
 */
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/** Absolute paths of the .proto files, for clients that load them too. */
export const PROTO_FILES = {
  inference: fileURLToPath(new URL('./proto/grpc_predict_v2.proto', import.meta.url)),
  health: fileURLToPath(new URL('./proto/health.proto', import.meta.url)),
} as const;

/**
 * int64 as Number: tensor shapes and class indexes are far below 2^53; a larger shape element
 * loses precision and is refused by the shape check like any other wrong shape.
 */
export const LOAD_OPTIONS: Options = { keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, oneofs: true };

const definitions = loadSync([PROTO_FILES.inference, PROTO_FILES.health], LOAD_OPTIONS);

export const INFERENCE_SERVICE = definitions['inference.GRPCInferenceService'] as ServiceDefinition;
export const HEALTH_SERVICE = definitions['grpc.health.v1.Health'] as ServiceDefinition;

/** Names the health service answers for: the server as a whole, and the inference service. */
export const HEALTH_SERVICE_NAMES: ReadonlySet<string> = new Set(['', 'inference.GRPCInferenceService']);

export interface ModelRef {
  name: string;
  version: string;
}

/** InferTensorContents: only the numeric fields the iris model reads or writes are typed. */
export interface TensorContents {
  int64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
}

export interface GrpcInputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents: TensorContents | null;
}

export interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  inputs: GrpcInputTensor[];
  outputs: { name: string }[];
  raw_input_contents: Buffer[];
}

export interface GrpcOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents: TensorContents;
}

export interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: GrpcOutputTensor[];
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

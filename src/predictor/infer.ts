/**
 * `POST /v2/models/{m}/infer` for the iris classifier: validate the V2 inference request, run the
 * model, shape the V2 inference response. No I/O here; the server hands in the body bytes.
 *
 * Request:  {"id"?, "inputs": [{"name", "shape": [N, 4], "datatype": "FP32"|"FP64", "data": [...]}],
 *            "outputs"?: [{"name"}], "parameters"?: {}}
 * Response: {"model_name", "model_version", "id", "outputs": [
 *             {"name": "predict", "shape": [N], "datatype": "INT64", "data": [class, ...]},
 *             {"name": "probabilities", "shape": [N, 3], "datatype": "FP32", "data": [p, ...]}]}
 */
import { randomUUID } from 'node:crypto';
import { IRIS_CLASSES, IRIS_FEATURES, predictIris } from './iris-model.js';
import { MODEL_VERSION, OUTPUTS, OUTPUT_PREDICT, OUTPUT_PROBABILITIES } from './model.js';
import { NUMERIC_DATATYPES, V2Error, describe, flattenNumbers, isObject, type ResponseOutput } from './v2.js';

export interface InferRequest {
  id: string;
  /** Row-major [rows, 4] features. */
  features: number[];
  rows: number;
  /** Output names asked for; all outputs when the request names none. */
  outputs: ReadonlySet<string>;
}

const ALL_OUTPUTS: ReadonlySet<string> = new Set(OUTPUTS.map((o) => o.name));

/** Parses and validates an inference request body; throws a 400 V2Error naming the bad field. */
export function parseInferRequest(body: string): InferRequest {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch (err) {
    throw new V2Error(400, `invalid JSON: ${(err as Error).message}`);
  }
  return validateInferRequest(req);
}

/**
 * Validates an inference request in the V2 JSON shape, however it arrived (a REST body, or a gRPC
 * ModelInferRequest turned into that shape by grpc-infer.ts); throws a 400 V2Error naming the bad field.
 */
export function validateInferRequest(req: unknown): InferRequest {
  if (!isObject(req)) throw new V2Error(400, `request body: want a JSON object, got ${describe(req)}`);

  let id: string;
  if (req.id === undefined) id = randomUUID();
  else if (typeof req.id === 'string') id = req.id;
  else throw new V2Error(400, `id: want a string, got ${describe(req.id)}`);

  if (req.parameters !== undefined && !isObject(req.parameters)) {
    throw new V2Error(400, `parameters: want an object, got ${describe(req.parameters)}`);
  }

  const inputs = req.inputs;
  if (inputs === undefined) throw new V2Error(400, 'inputs: required');
  if (!Array.isArray(inputs)) throw new V2Error(400, `inputs: want an array of tensors, got ${describe(inputs)}`);
  if (inputs.length !== 1) throw new V2Error(400, `inputs: the model takes 1 input tensor, got ${inputs.length}`);
  const input: unknown = inputs[0];
  if (!isObject(input)) throw new V2Error(400, `inputs[0]: want a tensor object, got ${describe(input)}`);
  if (typeof input.name !== 'string') throw new V2Error(400, `inputs[0].name: want a string, got ${describe(input.name)}`);
  if (typeof input.datatype !== 'string' || !NUMERIC_DATATYPES.has(input.datatype)) {
    throw new V2Error(400, `inputs[0].datatype: unsupported ${describe(input.datatype)}, want FP32 or FP64`);
  }

  const shape = input.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 2 ||
    !Number.isInteger(shape[0]) ||
    (shape[0] as number) < 1 ||
    shape[1] !== IRIS_FEATURES
  ) {
    throw new V2Error(400, `inputs[0].shape: want [N, ${IRIS_FEATURES}] with N >= 1, got ${JSON.stringify(shape) ?? 'nothing'}`);
  }
  const rows = shape[0] as number;

  if (input.data === undefined) throw new V2Error(400, 'inputs[0].data: required');
  const features: number[] = [];
  const count = flattenNumbers(input.data, features, 'inputs[0].data');
  if (count !== rows * IRIS_FEATURES) {
    throw new V2Error(400, `inputs[0].data: ${count} values for shape [${rows}, ${IRIS_FEATURES}], want ${rows * IRIS_FEATURES}`);
  }

  return { id, features, rows, outputs: parseRequestedOutputs(req.outputs) };
}

function parseRequestedOutputs(outputs: unknown): ReadonlySet<string> {
  if (outputs === undefined) return ALL_OUTPUTS;
  if (!Array.isArray(outputs)) throw new V2Error(400, `outputs: want an array of {"name"}, got ${describe(outputs)}`);
  if (outputs.length === 0) return ALL_OUTPUTS;
  const names = new Set<string>();
  outputs.forEach((o: unknown, i) => {
    const name = isObject(o) ? o.name : undefined;
    if (typeof name !== 'string') throw new V2Error(400, `outputs[${i}].name: want a string, got ${describe(name)}`);
    if (!ALL_OUTPUTS.has(name)) {
      throw new V2Error(400, `outputs[${i}].name: unknown output ${describe(name)}, want one of ${[...ALL_OUTPUTS].join(', ')}`);
    }
    names.add(name);
  });
  return names;
}

/** The V2 inference response: what REST sends as JSON and gRPC as a ModelInferResponse. */
export interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: ResponseOutput[];
}

/** Runs the model on a validated request; returns the response body as JSON. */
export function inferResponseJson(modelName: string, req: InferRequest): string {
  return JSON.stringify(inferResponse(modelName, req));
}

/** Runs the model on a validated request. */
export function inferResponse(modelName: string, req: InferRequest): InferResponse {
  const { classes, probabilities } = predictIris(req.features, req.rows);
  const outputs: ResponseOutput[] = [];
  if (req.outputs.has(OUTPUT_PREDICT)) {
    outputs.push({ name: OUTPUT_PREDICT, shape: [req.rows], datatype: 'INT64', data: classes });
  }
  if (req.outputs.has(OUTPUT_PROBABILITIES)) {
    // Six decimals are plenty for FP32 probabilities and keep the body short.
    for (let i = 0; i < probabilities.length; i++) probabilities[i] = Math.round(probabilities[i]! * 1e6) / 1e6;
    outputs.push({ name: OUTPUT_PROBABILITIES, shape: [req.rows, IRIS_CLASSES.length], datatype: 'FP32', data: probabilities });
  }
  return { model_name: modelName, model_version: MODEL_VERSION, id: req.id, outputs };
}

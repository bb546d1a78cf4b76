/**
 * ModelInfer for the iris classifier in gRPC terms: a decoded ModelInferRequest becomes the V2 JSON
 * request shape and goes through the same validation as a REST body (infer.ts), and the model's
 * answer becomes a ModelInferResponse with the same values REST sends. No I/O.
 *
 * Input elements come from `inputs[0].contents.fp32_contents` (or `fp64_contents` for FP64), or from
 * `raw_input_contents[0]`: the tensor's elements flattened row-major, little-endian, 4 bytes each for
 * FP32 and 8 for FP64 — 1 row of 4 features is 16 raw bytes of FP32.
 */
import { inferResponse, validateInferRequest, type InferRequest } from './infer.js';
import type { GrpcInferRequest, GrpcInferResponse, GrpcInputTensor, TensorContents } from './grpc-protos.js';
import { V2Error } from './v2.js';

const ELEMENT_BYTES: Readonly<Record<string, number>> = { FP32: 4, FP64: 8 };

/** Validates a ModelInferRequest; throws a 400 V2Error naming the bad field. */
export function parseGrpcInferRequest(msg: GrpcInferRequest): InferRequest {
  const raw = msg.raw_input_contents;
  if (raw.length > 0 && raw.length !== msg.inputs.length) {
    throw new V2Error(400, `raw_input_contents: ${raw.length} entries for ${msg.inputs.length} inputs, want one per input`);
  }
  return validateInferRequest({
    // An empty id is proto3's "not set": the REST path then makes one up, and so does this one.
    ...(msg.id === '' ? {} : { id: msg.id }),
    inputs: msg.inputs.map((input, i) => ({
      name: input.name,
      datatype: input.datatype,
      shape: input.shape,
      data: raw.length > 0 ? rawElements(input, raw[i]!, i) : typedElements(input, i),
    })),
    outputs: msg.outputs.map((o) => ({ name: o.name })),
  });
}

function typedElements(input: GrpcInputTensor, i: number): number[] {
  const contents = input.contents;
  if (contents === null) throw new V2Error(400, `inputs[${i}].contents: required when raw_input_contents is not given`);
  return (input.datatype === 'FP64' ? contents.fp64_contents : contents.fp32_contents) ?? [];
}

function rawElements(input: GrpcInputTensor, bytes: Buffer, i: number): number[] {
  if (input.contents !== null && hasElements(input.contents)) {
    throw new V2Error(400, `inputs[${i}].contents: must be empty when raw_input_contents is given`);
  }
  const size = ELEMENT_BYTES[input.datatype];
  // An unknown datatype is refused by the shared validation, naming the datatypes it takes.
  if (size === undefined) return [];
  if (bytes.length % size !== 0) {
    throw new V2Error(
      400,
      `raw_input_contents[${i}]: ${bytes.length} bytes is not a whole number of ${size}-byte ${input.datatype} elements`,
    );
  }
  const out = new Array<number>(bytes.length / size);
  for (let k = 0; k < out.length; k++) out[k] = size === 4 ? bytes.readFloatLE(k * 4) : bytes.readDoubleLE(k * 8);
  return out;
}

function hasElements(c: TensorContents): boolean {
  return (c.fp32_contents?.length ?? 0) + (c.fp64_contents?.length ?? 0) + (c.int64_contents?.length ?? 0) > 0;
}

/** Runs the model on a validated request; the outputs carry REST's values in their datatype's field. */
export function grpcInferResponse(modelName: string, req: InferRequest): GrpcInferResponse {
  const res = inferResponse(modelName, req);
  return {
    ...res,
    outputs: res.outputs.map((o) => ({
      name: o.name,
      datatype: o.datatype,
      shape: o.shape,
      contents: o.datatype === 'INT64' ? { int64_contents: o.data } : { fp32_contents: o.data },
    })),
  };
}

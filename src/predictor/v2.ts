/**
 * Open Inference Protocol (KServe V2) vocabulary shared by the predictor's handlers: the error
 * class every handler throws, and the tensor shapes of the JSON bodies.
 *
 * V2 error bodies are `{"error": "message"}`; the status travels with the error so one place
 * (server.ts) turns it into a response.
 */
export class V2Error extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'V2Error';
  }
}

/** `{"error": message}` as a JSON string. */
export function errorJson(message: string): string {
  return JSON.stringify({ error: message });
}

/** Tensor metadata as `GET /v2/models/{m}` lists it; -1 in a shape is a variable dimension. */
export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

/** One output tensor of an inference response. */
export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

/** Datatypes the predictor reads as numbers. */
export const NUMERIC_DATATYPES: ReadonlySet<string> = new Set(['FP32', 'FP64']);

/** A plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Flattens `data` (flat or nested up to MAX_DEPTH levels, row-major) into `into`, checking every leaf is a
 * finite number. Returns the number of leaves written, or throws a 400 naming `field` and the
 * first bad element by its flat index.
 *
 * @example flattenNumbers([[1, 2], [3, 4]], out, 'inputs[0].data') === 4
 */
export function flattenNumbers(data: unknown, into: number[], field: string): number {
  if (!Array.isArray(data)) throw new V2Error(400, `${field}: want an array of numbers, got ${describe(data)}`);
  const start = into.length;
  pushLeaves(data, into, field, start, 1);
  return into.length - start;
}

/** Nesting deeper than any real tensor is refused rather than recursed into. */
const MAX_DEPTH = 32;

function pushLeaves(data: unknown[], into: number[], field: string, start: number, depth: number): void {
  if (depth > MAX_DEPTH) throw new V2Error(400, `${field}: nested deeper than ${MAX_DEPTH} levels`);
  for (const v of data) {
    // JSON.parse reads 1e400 as Infinity, so finiteness is checked too.
    if (typeof v === 'number' && Number.isFinite(v)) into.push(v);
    else if (Array.isArray(v)) pushLeaves(v, into, field, start, depth + 1);
    else throw new V2Error(400, `${field}: element ${into.length - start} is not a finite number (got ${describe(v)})`);
  }
}

/** A short description of a JSON value for error messages: `"abc"`, `null`, `an object`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (value === undefined) return 'nothing';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects were answered above; a JSON value has only numbers and booleans left
  return String(value);
}

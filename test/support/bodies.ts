/**
 * The JSON bodies the tests read, in the sources' own types where they have one. A test narrows a
 * parsed body (`unknown`) to the one it expects: `(r.body as ErrorBody).error.code`.
 */
import type { ResponseOutput } from '../../src/predictor/v2.js';

/**
 * The data path's and the admin API's error: `{"error":{"code","message","service","revision"}}`.
 * `code` is an ErrorCode (src/errors.ts), or a refusal's own on the data port (src/downstream/refusal.ts).
 */
export interface ErrorBody {
  error: { code: string; message: string; service?: string; revision?: string; problems?: string[] };
}

/** A V2 inference response from the demo predictor. */
export interface InferBody {
  model_name: string;
  outputs: ResponseOutput[];
}

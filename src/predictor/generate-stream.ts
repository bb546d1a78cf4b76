/**
 * `POST /v2/models/{m}/generate_stream`, shaped like KServe's generate extension: Server-Sent
 * Events, one token per event, each written (and so flushed as its own chunk) on its own timer
 * tick. It exists so tests can see that the gateway forwards a streamed body chunk by chunk.
 *
 * Request: {"text_input": "...", "parameters": {"max_tokens": N (1..1000, default 5),
 *                                               "interval_ms": M (0..60000, default 10)}}
 * Events:  data: {"model_name":"iris","text_output":"token-0","index":0}\n\n  … up to index N-1.
 */
import type { ServerResponse } from 'node:http';
import { V2Error, describe, isObject } from './v2.js';

export interface GenerateRequest {
  maxTokens: number;
  intervalMs: number;
}

const MAX_TOKENS = 1000;
const MAX_INTERVAL_MS = 60_000;

/** Parses and validates a generate_stream body; throws a 400 V2Error naming the bad field. */
export function parseGenerateRequest(body: string): GenerateRequest {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch (err) {
    throw new V2Error(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(req)) throw new V2Error(400, `request body: want a JSON object, got ${describe(req)}`);
  if (req.text_input !== undefined && typeof req.text_input !== 'string') {
    throw new V2Error(400, `text_input: want a string, got ${describe(req.text_input)}`);
  }
  const p = req.parameters ?? {};
  if (!isObject(p)) throw new V2Error(400, `parameters: want an object, got ${describe(p)}`);
  return {
    maxTokens: integerIn('parameters.max_tokens', p.max_tokens, 5, 1, MAX_TOKENS),
    intervalMs: integerIn('parameters.interval_ms', p.interval_ms, 10, 0, MAX_INTERVAL_MS),
  };
}

function integerIn(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new V2Error(400, `${field}: want an integer ${min}..${max}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Writes the events to `res` (whose status and headers are already set): the first at once, then
 * one every `intervalMs`, then ends. Stops early if the client goes away.
 */
export function streamTokens(res: ServerResponse, modelName: string, gen: GenerateRequest): void {
  const prefix = `data: {"model_name":${JSON.stringify(modelName)},"text_output":"token-`;
  let index = 0;
  let timer: NodeJS.Timeout | undefined;
  const writeNext = (): void => {
    timer = undefined;
    if (res.destroyed) return;
    res.write(`${prefix}${index}","index":${index}}\n\n`);
    index++;
    if (index >= gen.maxTokens) res.end();
    else timer = setTimeout(writeNext, gen.intervalMs);
  };
  res.on('close', () => {
    if (timer) clearTimeout(timer);
  });
  writeNext();
}

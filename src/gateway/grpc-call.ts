/**
 * What makes a request a gRPC call, and what the gateway reads of one besides routing: its
 * content type (`application/grpc`, `application/grpc+proto`, `application/grpc;…` — not
 * `application/grpc-web`, which is ordinary HTTP/1.1 and passes through as such), its deadline
 * (`grpc-timeout`), and whether its method names a model in its first message (the Open
 * Inference Protocol's ModelInfer, ModelReady, ModelMetadata and Triton's ModelStreamInfer).
 * Pure; table-tested in test/grpc-call.test.ts.
 */
import { SluiceError } from '../errors.js';

const GRPC = 'application/grpc';

/** `content-type` of a gRPC call. Cost: one prefix compare, lower-casing only when it differs. */
export function isGrpcContentType(value: string): boolean {
  if (value.length < GRPC.length) return false;
  const v = value.startsWith(GRPC) ? value : value.toLowerCase();
  if (!v.startsWith(GRPC)) return false;
  if (v.length === GRPC.length) return true;
  const next = v.charCodeAt(GRPC.length);
  return next === 0x2b /* + */ || next === 0x3b; /* ; */
}

/** Methods whose request message has the model's name as field 1 (grpc-model-peek.ts). */
const MODEL_METHODS = new Set(
  ['ModelInfer', 'ModelStreamInfer', 'ModelReady', 'ModelMetadata'].map((m) => `/inference.GRPCInferenceService/${m}`),
);

/** Whether a call to `path` (no query: gRPC paths have none) is routed by the model its first message names. */
export function namesModel(path: string): boolean {
  return MODEL_METHODS.has(path);
}

/** Milliseconds per grpc-timeout unit (H, M, S, m, u, n). */
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** The longest wait a Node timer takes (2^31 − 1 ms, about 24.8 days): longer deadlines wait this long. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A `grpc-timeout` value in ms (rounded up: `500u` → 1), or the error to answer with. The gRPC
 * spec: a positive integer of at most 8 digits, then one unit. It names no status for a malformed
 * one; this answers INVALID_ARGUMENT (the client's mistake; grpc-go's server says INTERNAL).
 *
 * @example parseGrpcTimeout('100m') // 100
 * @example parseGrpcTimeout('5S') // 5000
 */
export function parseGrpcTimeout(value: string): number | SluiceError {
  const unit = UNIT_MS[value.charAt(value.length - 1)];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d{1,8}$/.test(digits)) {
    const shown = value.length > 20 ? `${value.slice(0, 20)}…` : value;
    return new SluiceError('bad_request', 400, `grpc-timeout "${shown}" is not 1 to 8 digits and a unit (H, M, S, m, u or n)`);
  }
  return Math.min(MAX_TIMER_MS, Math.ceil(Number(digits) * unit));
}

/** The call's `grpc-timeout` in ms (undefined without one), or the error for a malformed one. Cost: one pass over the headers. */
export function grpcTimeoutMs(rawHeaders: readonly string[]): number | undefined | SluiceError {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 12 && name.toLowerCase() === 'grpc-timeout') return parseGrpcTimeout(rawHeaders[i + 1]!.trim());
  }
  return undefined;
}

/**
 * `grpc-timeout` for the endpoint: what is left of the call's deadline, in ms (at least 1), or in
 * seconds past 8 digits of ms (a day: `86400000m`; 30 days: `2592000S`).
 */
export function remainingTimeout(deadlineAt: number, now: number): string {
  const ms = Math.max(1, Math.ceil(deadlineAt - now));
  return ms <= 99_999_999 ? `${ms}m` : `${Math.ceil(ms / 1000)}S`;
}

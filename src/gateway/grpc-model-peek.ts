/**
 * The model a gRPC call names, read from the start of its first message without decoding the
 * rest: the gRPC frame header (1 byte compressed flag, 4 bytes big-endian length, gRPC over HTTP/2
 * "Length-Prefixed-Message"), then protobuf fields up to field 1 — `model_name` of
 * ModelInferRequest, `name` of ModelReadyRequest and ModelMetadataRequest — a length-delimited
 * UTF-8 string (tag 0x0a). Encoders write fields in number order, so field 1 is usually the first
 * bytes after the header: a ModelInfer for "iris" is routed on its first 11 bytes.
 *
 * Pure: bytes in, one verdict out. Every input is bounded: at most `limit` bytes are looked at,
 * names longer than MAX_MODEL_NAME are refused, a length running past the message is refused.
 * A message that repeats field 1 is routed by the first (proto3 lets the last win, but either name
 * is served by the one revision the call went to).
 */

/** What the first bytes say. */
export type ModelPeek =
  /** Too few bytes yet: read more (the caller stops at its limit). */
  | { kind: 'more' }
  | { kind: 'model'; name: string }
  /** The model cannot be read here (compressed, absent, too far in): route by host and path only. */
  | { kind: 'unknown'; reason: string }
  /** Not a gRPC message the method can carry: answered INVALID_ARGUMENT. */
  | { kind: 'invalid'; reason: string };

/** Longest model name accepted, bytes (Kubernetes names are at most 253; model names are short). */
export const MAX_MODEL_NAME = 1024;

/** Bytes looked at before giving up (64 KiB: what a held request's body keeps unread anyway). */
export const PEEK_LIMIT = 64 * 1024;

const HEADER = 5;
const MORE: ModelPeek = { kind: 'more' };
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `bytes`: the request body so far; `ended`: no more will come; `limit`: bytes allowed to wait for.
 *
 * @example peekModelName(Buffer.from('00000000060a0469726973', 'hex'), false) // { kind: 'model', name: 'iris' }
 */
export function peekModelName(bytes: Buffer, ended: boolean, limit = PEEK_LIMIT): ModelPeek {
  const verdict = peek(bytes);
  if (verdict.kind !== 'more') return verdict;
  if (ended) {
    return bytes.length === 0
      ? { kind: 'unknown', reason: 'the call sent no message' }
      : { kind: 'invalid', reason: `the request ended inside its first message (${bytes.length} bytes)` };
  }
  if (bytes.length >= limit) return { kind: 'unknown', reason: `no model name within the first ${limit} bytes` };
  return MORE;
}

function peek(bytes: Buffer): ModelPeek {
  if (bytes.length < HEADER) return MORE;
  const flag = bytes[0]!;
  if (flag > 1) return { kind: 'invalid', reason: `gRPC message flag ${flag}, want 0 or 1` };
  if (flag === 1) return { kind: 'unknown', reason: 'the first message is compressed' };
  const end = HEADER + bytes.readUInt32BE(1);
  let pos = HEADER;
  while (pos < end) {
    const tag = varint(bytes, pos, end);
    if (tag === undefined) return MORE;
    if (tag.value === BAD) return { kind: 'invalid', reason: 'malformed protobuf field tag' };
    pos = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (field === 0) return { kind: 'invalid', reason: 'protobuf field number 0' };
    if (field === 1) {
      if (wire !== 2) return { kind: 'invalid', reason: `field 1 has wire type ${wire}, want 2 (a string)` };
      const length = varint(bytes, pos, end);
      if (length === undefined) return MORE;
      if (length.value === BAD || length.next + length.value > end) return { kind: 'invalid', reason: 'field 1 runs past the message' };
      if (length.value > MAX_MODEL_NAME)
        return { kind: 'invalid', reason: `model name of ${length.value} bytes, more than ${MAX_MODEL_NAME}` };
      const stop = length.next + length.value;
      if (stop > bytes.length) return MORE;
      try {
        return { kind: 'model', name: utf8.decode(bytes.subarray(length.next, stop)) };
      } catch {
        return { kind: 'invalid', reason: 'model name is not UTF-8' };
      }
    }
    const next = skip(bytes, pos, end, wire);
    if (next === undefined) return MORE;
    if (next === BAD) return { kind: 'invalid', reason: `field ${field} (wire type ${wire}) is malformed or runs past the message` };
    pos = next;
  }
  return { kind: 'unknown', reason: 'the first message names no model' };
}

const BAD = -1;

/** The position after a field's value of `wire` type at `pos`; undefined: more bytes needed. */
function skip(bytes: Buffer, pos: number, end: number, wire: number): number | undefined {
  let stop: number;
  if (wire === 0) {
    const v = varint(bytes, pos, end, 10);
    return v === undefined ? undefined : v.value === BAD ? BAD : v.next;
  }
  if (wire === 1) stop = pos + 8;
  else if (wire === 5) stop = pos + 4;
  else if (wire === 2) {
    const length = varint(bytes, pos, end);
    if (length === undefined) return undefined;
    if (length.value === BAD) return BAD;
    stop = length.next + length.value;
  } else return BAD; // 3 and 4 (groups) are not proto3; 6 and 7 do not exist
  if (stop > end) return BAD;
  return stop > bytes.length ? undefined : stop;
}

/**
 * A base-128 varint at `pos`, BAD when longer than `max` bytes (5 for tags and lengths, which fit
 * in 32 bits; 10 for a value skipped) or past `end`; undefined when the bytes stop first.
 */
function varint(bytes: Buffer, pos: number, end: number, max = 5): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < max; i++) {
    if (pos + i >= end) return { value: BAD, next: pos };
    if (pos + i >= bytes.length) return undefined;
    const b = bytes[pos + i]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return { value, next: pos + i + 1 };
  }
  return { value: BAD, next: pos };
}

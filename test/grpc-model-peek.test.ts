import { describe, expect, it } from 'vitest';
import { MAX_MODEL_NAME, peekModelName, type ModelPeek } from '../src/gateway/grpc-model-peek.js';

/** A gRPC frame: flag, 4-byte length, the message. */
function frame(message: Buffer, flag = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2). */
function bytesField(field: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([varint(field * 8 + 2), varint(v.length), v]);
}

const IRIS = frame(bytesField(1, 'iris'));
/** A ModelInferRequest as encoders write it: model_name, model_version, id, then an input tensor. */
const INFER = frame(
  Buffer.concat([bytesField(1, 'iris'), bytesField(2, '1'), bytesField(3, 'req-7'), bytesField(5, Buffer.alloc(300, 7))]),
);

interface Row {
  label: string;
  bytes: Buffer;
  ended?: boolean;
  limit?: number;
  want: ModelPeek['kind'];
  wantName?: string;
  /** A word the reason must contain. */
  wantReason?: string;
}

const rows: Row[] = [
  { label: 'model_name alone', bytes: IRIS, want: 'model', wantName: 'iris' },
  { label: 'model_name first, more fields after', bytes: INFER, want: 'model', wantName: 'iris' },
  { label: 'only the first 11 bytes of a large request are needed', bytes: INFER.subarray(0, 11), want: 'model', wantName: 'iris' },
  { label: 'a UTF-8 name', bytes: frame(bytesField(1, 'modèle-ü')), want: 'model', wantName: 'modèle-ü' },
  { label: 'nothing yet', bytes: Buffer.alloc(0), want: 'more' },
  { label: 'frame header cut short', bytes: IRIS.subarray(0, 3), want: 'more' },
  { label: 'header only', bytes: IRIS.subarray(0, 5), want: 'more' },
  { label: 'tag but no length yet', bytes: IRIS.subarray(0, 6), want: 'more' },
  { label: 'name cut short', bytes: IRIS.subarray(0, 9), want: 'more' },
  { label: 'body ended inside the message', bytes: IRIS.subarray(0, 9), ended: true, want: 'invalid', wantReason: 'ended inside' },
  { label: 'body ended with no message', bytes: Buffer.alloc(0), ended: true, want: 'unknown', wantReason: 'no message' },
  { label: 'compressed flag set', bytes: frame(bytesField(1, 'iris'), 1), want: 'unknown', wantReason: 'compressed' },
  { label: 'reserved flag bits', bytes: frame(bytesField(1, 'iris'), 2), want: 'invalid', wantReason: 'flag 2' },
  {
    label: 'other fields first (varint, fixed64, fixed32, bytes)',
    bytes: frame(
      Buffer.concat([
        varint(3 * 8 + 0),
        varint(2 ** 31),
        varint(4 * 8 + 1),
        Buffer.alloc(8, 1),
        varint(5 * 8 + 5),
        Buffer.alloc(4, 2),
        bytesField(6, Buffer.alloc(40)),
        bytesField(1, 'late'),
      ]),
    ),
    want: 'model',
    wantName: 'late',
  },
  {
    label: 'a 10-byte varint (negative int64) before field 1',
    bytes: frame(Buffer.concat([Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), bytesField(1, 'x')])),
    want: 'model',
    wantName: 'x',
  },
  { label: 'field 1 absent (empty message)', bytes: frame(Buffer.alloc(0)), want: 'unknown', wantReason: 'names no model' },
  { label: 'field 1 absent, others present', bytes: frame(bytesField(2, 'v1')), want: 'unknown', wantReason: 'names no model' },
  { label: 'empty model name', bytes: frame(bytesField(1, '')), want: 'model', wantName: '' },
  {
    label: 'model name longer than the limit',
    bytes: frame(bytesField(1, 'm'.repeat(MAX_MODEL_NAME + 1))),
    want: 'invalid',
    wantReason: 'more than',
  },
  {
    label: 'name length past the message end',
    bytes: frame(Buffer.concat([Buffer.from([0x0a]), varint(200), Buffer.from('iris')])),
    want: 'invalid',
    wantReason: 'past the message',
  },
  {
    label: 'huge declared name length',
    bytes: Buffer.concat([
      frame(Buffer.alloc(0)).subarray(0, 1),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0x0a]),
      varint(2 ** 31),
    ]),
    want: 'invalid',
    wantReason: 'more than',
  },
  { label: 'field 1 not a string', bytes: frame(Buffer.from([0x08, 0x05])), want: 'invalid', wantReason: 'wire type 0' },
  { label: 'field number 0', bytes: frame(Buffer.from([0x02, 0x00])), want: 'invalid', wantReason: 'number 0' },
  { label: 'group wire type', bytes: frame(Buffer.from([0x13, 0x00])), want: 'invalid', wantReason: 'wire type 3' },
  {
    label: 'skipped field runs past the message',
    bytes: frame(Buffer.concat([Buffer.from([0x12]), varint(100), Buffer.alloc(3)])),
    want: 'invalid',
    wantReason: 'runs past',
  },
  {
    label: 'tag varint longer than 5 bytes',
    bytes: frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
    want: 'invalid',
    wantReason: 'tag',
  },
  { label: 'name not UTF-8', bytes: frame(bytesField(1, Buffer.from([0xc3, 0x28]))), want: 'invalid', wantReason: 'UTF-8' },
  {
    label: 'a large field first, within the limit so far',
    bytes: frame(Buffer.concat([bytesField(5, Buffer.alloc(100_000)), bytesField(1, 'iris')])).subarray(0, 1000),
    want: 'more',
  },
  {
    label: 'a large field first, past the limit',
    bytes: frame(Buffer.concat([bytesField(5, Buffer.alloc(100_000)), bytesField(1, 'iris')])).subarray(0, 1000),
    limit: 1000,
    want: 'unknown',
    wantReason: 'within the first 1000 bytes',
  },
];

describe('peekModelName', () => {
  it.each(rows)('$label', (row) => {
    const got = peekModelName(row.bytes, row.ended ?? false, row.limit);
    expect(got.kind).toBe(row.want);
    if (row.wantName !== undefined) expect(got).toEqual({ kind: 'model', name: row.wantName });
    if (row.wantReason !== undefined) expect((got as { reason: string }).reason).toContain(row.wantReason);
  });

  it('gives the same verdict for every split of the bytes once they are all there', () => {
    for (let cut = 0; cut < INFER.length; cut++) {
      const got = peekModelName(INFER.subarray(0, cut), false);
      expect(got.kind, `first ${cut} bytes`).toBe(cut < 11 ? 'more' : 'model');
    }
  });
});

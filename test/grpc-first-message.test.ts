import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Http1Request } from '../src/downstream/http1-request.js';
import { readFirstMessage, type ReplayedRequest } from '../src/gateway/grpc-first-message.js';
import type { ModelPeek } from '../src/gateway/grpc-model-peek.js';

/** A request as the data port's HTTP/2 streams give it, with its flow-control calls counted. */
function request() {
  const flow = { paused: 0, resumed: 0, pauseBody: () => void flow.paused++, resumeBody: () => void flow.resumed++ };
  const req = new Http1Request('POST', '/inference.GRPCInferenceService/ModelStreamInfer', ['host', 'a'], '2.0', true, {} as Socket, flow);
  return { req, flow };
}

/** A gRPC frame holding a ModelInferRequest with model_name `model` and id `id`. */
function frame(model: string, id: string): Buffer {
  const m = Buffer.from(model);
  const i = Buffer.from(id);
  const message = Buffer.concat([Buffer.from([0x0a, m.length]), m, Buffer.from([0x1a, i.length]), i]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Everything the replayed body gives, once it ends. */
function readAllOf(body: ReplayedRequest): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

describe('readFirstMessage', () => {
  it('a body that has all arrived is peeked at once and can be taken whole again', () => {
    const { req } = request();
    const body = frame('iris', 'x');
    req.push(body);
    req.finish();
    let got: { peek: ModelPeek; req: ReplayedRequest } | undefined;
    readFirstMessage(req, (peek, replayed) => (got = { peek, req: replayed }));
    expect(got?.peek).toEqual({ kind: 'model', name: 'iris' });
    expect(got?.req.readAll()).toEqual(body);
    expect(got?.req.method).toBe('POST');
    expect(got?.req.rawHeaders).toEqual(['host', 'a']);
  });

  it('a first message split over several chunks: decided once field 1 is in, every byte replayed in order', async () => {
    const { req } = request();
    const first = frame('iris', 'first');
    const second = frame('iris', 'second');
    let got: { peek: ModelPeek; req: ReplayedRequest } | undefined;
    readFirstMessage(req, (peek, replayed) => (got = { peek, req: replayed }));
    req.push(first.subarray(0, 3));
    await tick();
    req.push(first.subarray(3, 8));
    await tick();
    expect(got).toBeUndefined(); // "iris" not all there yet
    req.push(first.subarray(8));
    await tick();
    expect(got?.peek).toEqual({ kind: 'model', name: 'iris' });
    expect(got?.req.readAll()).toBeUndefined(); // the rest of the stream is still to come
    // What arrives while nobody reads waits in the original request.
    req.push(second.subarray(0, 4));
    const all = readAllOf(got!.req);
    await tick();
    req.push(second.subarray(4));
    req.finish();
    expect(await all).toEqual(Buffer.concat([first, second]));
  });

  it('a body that ends inside the first message is refused', async () => {
    const { req } = request();
    let peek: ModelPeek | undefined;
    readFirstMessage(req, (p) => (peek = p));
    req.push(frame('iris', 'x').subarray(0, 7));
    await tick();
    req.finish();
    await tick();
    expect(peek?.kind).toBe('invalid');
  });

  it('cancelled before the message comes: never decides, and leaves the body unread', async () => {
    const { req } = request();
    let called = false;
    const cancel = readFirstMessage(req, () => (called = true));
    req.push(frame('iris', 'x').subarray(0, 4));
    await tick();
    cancel();
    req.push(frame('iris', 'x').subarray(4));
    await tick();
    expect(called).toBe(false);
  });

  it('a paused reader stops the replay, and resuming goes on where it stopped', async () => {
    const { req } = request();
    const a = frame('iris', 'a');
    const b = frame('iris', 'b');
    req.push(a);
    req.push(b);
    let replayed: ReplayedRequest | undefined;
    readFirstMessage(req, (_p, r) => (replayed = r));
    await tick();
    const chunks: Buffer[] = [];
    replayed!.on('data', (c: Buffer) => {
      chunks.push(c);
      replayed!.pause();
    });
    await tick();
    expect(Buffer.concat(chunks).length).toBeLessThan(a.length + b.length);
    expect(replayed!.isPaused()).toBe(true);
    const rest = new Promise<void>((resolve) => replayed!.on('end', resolve));
    replayed!.removeAllListeners('data');
    replayed!.on('data', (c: Buffer) => chunks.push(c));
    replayed!.resume();
    req.finish();
    await rest;
    expect(Buffer.concat(chunks)).toEqual(Buffer.concat([a, b]));
  });
});

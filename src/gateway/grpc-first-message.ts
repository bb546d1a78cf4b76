/**
 * Reading the start of a gRPC call's body to learn its model, then handing the body on whole:
 * the bytes read are replayed in front of the rest (ReplayedRequest), so the endpoint gets the
 * call as sent and nothing buffers more than the peek needed (at most PEEK_LIMIT bytes; a ModelInfer
 * naming "iris" needs its first 11).
 *
 * A unary call's message usually came with its head: its body has all arrived, is taken in one
 * piece (`readAll`) and peeked at once, without a tick. A streaming call's first message may come
 * later: the body is read until the peek has its verdict, then paused again.
 */
import { EventEmitter } from 'node:events';
import type { DownstreamRequest } from './http-types.js';
import { peekModelName, type ModelPeek } from './grpc-model-peek.js';

/** What the peek found, and the request to send on: its body starts again from the first byte. */
export type PeekDone = (peek: ModelPeek, req: ReplayedRequest) => void;

/**
 * Read the start of `req`'s body until its model is known (or cannot be), then call `done` once.
 * Returns a cancel function (the client went away, the deadline passed): `done` is then never called.
 */
export function readFirstMessage(req: DownstreamRequest, done: PeekDone): () => void {
  const whole = req.readAll?.();
  if (whole !== undefined) {
    done(peekModelName(whole, true), new ReplayedRequest(req, [whole], true));
    return noop;
  }
  const chunks: Buffer[] = [];
  let seen: Buffer = Buffer.alloc(0);
  let finished = false;
  const stop = (): void => {
    finished = true;
    req.off('data', onData);
    req.off('end', onEnd);
  };
  const decide = (ended: boolean): void => {
    const peek = peekModelName(seen, ended);
    if (peek.kind === 'more') return;
    stop();
    if (!ended) req.pause();
    done(peek, new ReplayedRequest(req, chunks, ended));
  };
  const onData = (data: Buffer | string): void => {
    if (finished) return;
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    chunks.push(chunk);
    // Usually one chunk: no copy. Bounded: the peek decides by PEEK_LIMIT bytes.
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    decide(false);
  };
  const onEnd = (): void => {
    if (!finished) decide(true);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  if (req.isPaused()) req.resume();
  return stop;
}

function noop(): void {}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type, which the on() override must keep
type Listener = (...args: any[]) => void;

/**
 * A request whose first body bytes were read already: the same method, target, head and socket,
 * and a body that gives those bytes first, then what the original still has (Readable-like, as
 * the upstream transports read a body: 'data' from the tick after the first listener, pause,
 * resume; `readAll` when the whole body was read during the peek).
 */
export class ReplayedRequest extends EventEmitter implements DownstreamRequest {
  /** null: not yet read from; true: flowing; false: paused by the reader. */
  private flowing: boolean | null = null;
  private scheduled = false;
  private attached = false;
  private endEmitted = false;

  constructor(
    private readonly source: DownstreamRequest,
    private chunks: Buffer[],
    /** The source's body ended during the peek: every byte is in `chunks`. */
    private readonly sourceEnded: boolean,
  ) {
    super();
  }

  get method(): string | undefined {
    return this.source.method;
  }
  get url(): string | undefined {
    return this.source.url;
  }
  get httpVersion(): string {
    return this.source.httpVersion;
  }
  get rawHeaders(): string[] {
    return this.source.rawHeaders;
  }
  get socket(): DownstreamRequest['socket'] {
    return this.source.socket;
  }

  override on(event: string | symbol, listener: Listener): this {
    super.on(event, listener);
    if (event === 'data' && this.flowing !== false) this.resume();
    return this;
  }

  pause(): this {
    this.flowing = false;
    if (this.attached) this.source.pause();
    return this;
  }

  resume(): this {
    this.flowing = true;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(flowNow, this);
    }
    return this;
  }

  isPaused(): boolean {
    return this.flowing === false;
  }

  /** The whole body at once, when the peek read all of it and nothing was read since. */
  readAll(): Buffer | undefined {
    if (!this.sourceEnded || this.flowing !== null || this.endEmitted) return undefined;
    this.endEmitted = true;
    const chunks = this.chunks;
    this.chunks = [];
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** Give the replayed bytes while the reader wants them, then the source's own flow. */
  flow(): void {
    this.scheduled = false;
    while (this.flowing === true && this.chunks.length > 0) this.emit('data', this.chunks.shift()!);
    if (this.flowing !== true || this.chunks.length > 0) return;
    if (this.sourceEnded) {
      if (!this.endEmitted) {
        this.endEmitted = true;
        this.emit('end');
      }
      return;
    }
    if (!this.attached) {
      this.attached = true;
      this.source.on('data', this.onSourceData);
      this.source.on('end', this.onSourceEnd);
    }
    this.source.resume();
  }

  private readonly onSourceData = (chunk: Buffer | string): void => {
    this.emit('data', chunk);
  };

  private readonly onSourceEnd = (): void => {
    if (this.endEmitted) return;
    this.endEmitted = true;
    this.emit('end');
  };
}

function flowNow(req: ReplayedRequest): void {
  req.flow();
}

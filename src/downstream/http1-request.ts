/**
 * A request as the data port parsed it: method, target, raw headers, and its body as a small
 * readable source ('data' / 'end' events, pause / resume) that the upstream connection streams.
 *
 * Body chunks are buffered until someone reads them: a held request keeps its body here while the
 * revision wakes, and past HIGH_WATER_MARK bytes the client's socket stops being read. Attaching a
 * 'data' listener starts the flow on the next tick, as with a Readable, so the upstream connection
 * can write the head first. Cost for a small body that arrived with the head: one array push, one
 * tick, two emits.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/** Bytes of unread body kept before the client's socket is paused. */
export const HIGH_WATER_MARK = 64 * 1024;

/** What the request needs from its connection. */
export interface BodyFlowControl {
  /** Too much unread body: stop reading the socket. */
  pauseBody(): void;
  /** The body was read down: reading may go on. */
  resumeBody(): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type, which the on() / addListener() overrides must keep
type Listener = (...args: any[]) => void;

export class Http1Request extends EventEmitter {
  /** The whole message (head and body) has been parsed. */
  complete = false;
  /** null: not yet read from; true: flowing; false: paused by the reader. */
  private flowing: boolean | null = null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private flowScheduled = false;
  private ended = false;
  private overLimit = false;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly rawHeaders: string[],
    readonly httpVersion: string,
    /** The client allows the connection to stay open after this request. */
    readonly shouldKeepAlive: boolean,
    readonly socket: Socket,
    private readonly flow: BodyFlowControl,
  ) {
    super();
  }

  // --- the reader's side (Readable-like) ---

  override on(event: string | symbol, listener: Listener): this {
    super.on(event, listener);
    if (event === 'data' && this.flowing !== false) this.resume();
    return this;
  }

  override addListener(event: string | symbol, listener: Listener): this {
    return this.on(event, listener);
  }

  pause(): this {
    this.flowing = false;
    return this;
  }

  /** Flow from the next tick; with no 'data' listener the body is read and dropped. */
  resume(): this {
    this.flowing = true;
    if (!this.flowScheduled) {
      this.flowScheduled = true;
      process.nextTick(flowNow, this);
    }
    return this;
  }

  isPaused(): boolean {
    return this.flowing === false;
  }

  // --- the connection's side ---

  /** Body bytes from the parser (a Buffer of their own). */
  push(chunk: Buffer): void {
    if (this.flowing === true && this.chunks.length === 0 && !this.flowScheduled) {
      this.deliver(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > HIGH_WATER_MARK && !this.overLimit) {
      this.overLimit = true;
      this.flow.pauseBody();
    }
  }

  /** The message is complete. */
  finish(): void {
    this.complete = true;
    if (this.flowing === true && this.chunks.length === 0 && !this.flowScheduled) this.emitEnd();
  }

  /** Emit what is buffered, as long as the reader wants it. */
  drainBuffered(): void {
    this.flowScheduled = false;
    while (this.flowing === true && this.chunks.length > 0) {
      const chunk = this.chunks.shift()!;
      this.buffered -= chunk.length;
      this.deliver(chunk);
    }
    if (this.overLimit && this.buffered <= HIGH_WATER_MARK / 2) {
      this.overLimit = false;
      this.flow.resumeBody();
    }
    if (this.flowing === true && this.chunks.length === 0 && this.complete) this.emitEnd();
  }

  /**
   * The whole body in one Buffer when it has all arrived and nothing of it was read yet (the
   * usual small request body, which comes with the head); undefined otherwise. Taking it ends
   * the body: no 'data' or 'end' follows. Cost: none for one chunk, one copy for several.
   */
  readAll(): Buffer | undefined {
    if (!this.complete || this.flowing !== null || this.ended) return undefined;
    this.ended = true;
    const chunks = this.chunks;
    this.chunks = [];
    this.buffered = 0;
    if (this.overLimit) {
      this.overLimit = false;
      this.flow.resumeBody();
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** Nobody will read the rest: drop what is buffered, and let the socket be read again. */
  dump(): void {
    this.chunks = [];
    this.buffered = 0;
    this.removeAllListeners('data');
    if (this.overLimit) {
      this.overLimit = false;
      this.flow.resumeBody();
    }
  }

  private deliver(chunk: Buffer): void {
    if (this.listenerCount('data') > 0) this.emit('data', chunk);
  }

  private emitEnd(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end');
  }
}

function flowNow(req: Http1Request): void {
  req.drainBuffered();
}

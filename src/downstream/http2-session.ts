/**
 * One client's HTTP/2 connection on the data port: node:http2's session over the socket, with what
 * the data port adds to it: the streams open now (for the idle timeout and a graceful stop), and
 * the rapid-reset rule (reset-flood.ts), which ends a session whose client resets streams faster
 * than the limit with GOAWAY ENHANCE_YOUR_CALM. Its held and in-flight requests hear 'close' and
 * leave the gateway at once.
 *
 * Idle: node:http2 calls back after `idleTimeoutMs` without a frame either way; with no stream
 * open the session ends with GOAWAY, otherwise the gateway's own deadlines bound its requests (a
 * held stream can be silent for as long as a cold start takes) and the next frame re-arms the timer.
 */
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { ResetFlood } from './reset-flood.js';
import type { StreamOwner } from './http2-stream-response.js';

/** What a session tells the set of sessions it belongs to. */
export interface SessionOwner {
  /** The session has closed. */
  forget(client: ClientSession): void;
  /** The client reset more streams in a second than allowed; its session is being destroyed. */
  flooded(client: ClientSession): void;
}

export class ClientSession implements StreamOwner {
  /** Streams handed to the gateway and not yet closed. */
  open = 0;
  private readonly resets: ResetFlood;

  constructor(
    readonly session: ServerHttp2Session,
    /** The connection's own socket (node:http2's `session.socket` is a guarded proxy of it). */
    readonly socket: Socket,
    idleTimeoutMs: number,
    maxResetsPerSecond: number,
    private readonly owner: SessionOwner,
  ) {
    this.resets = new ResetFlood(maxResetsPerSecond);
    // Not setTimeout's callback, which node:http2 registers with once(): the timer fires again after later frames.
    session.setTimeout(idleTimeoutMs);
    session.on('timeout', this.onIdle);
    session.once('close', this.onClose);
  }

  streamOpened(): void {
    this.open++;
  }

  /** StreamOwner: a stream closed. One the client reset (a code other than NO_ERROR, not reset here) counts against the limit. */
  streamClosed(stream: ServerHttp2Stream, resetHere: boolean): void {
    this.open--;
    if (!resetHere) this.maybeReset(stream);
  }

  /** A stream closed before it was handed to the gateway. */
  resetBeforeServed(stream: ServerHttp2Stream): void {
    this.maybeReset(stream);
  }

  private maybeReset(stream: ServerHttp2Stream): void {
    const session = this.session;
    if (stream.rstCode === constants.NGHTTP2_NO_ERROR || session.destroyed || session.closed) return;
    if (this.resets.record(Date.now())) {
      this.owner.flooded(this);
      // GOAWAY ENHANCE_YOUR_CALM; every stream still open closes (its request leaves the gateway).
      const err = new Error(`more than ${this.resets.limit} streams reset within ${this.resets.windowMs} ms`);
      session.destroy(Object.assign(err, { code: 'RAPID_RESET' }), constants.NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  /** GOAWAY: no new stream; the session closes once its open streams have (at once when none). */
  close(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  /** Close now: open streams are cut (their responses hear 'close'). */
  destroy(): void {
    if (!this.session.destroyed) this.session.destroy();
  }

  private readonly onIdle = (): void => {
    if (this.open === 0) this.close();
  };

  private readonly onClose = (): void => {
    this.owner.forget(this);
  };
}

/**
 * The burst's load client: N raw TCP connections to the gateway, one request each. The connections
 * are opened first, in batches small enough for the gateway's accept queue; then every request's
 * bytes are written in one synchronous loop, so they reach the gateway as close together as this
 * process can send them. Only the response head is read: the status line, `Predictor-Pid` and
 * `Sluice-Cold-Start`; and for a response other than 200 its (small) body, for the gateway's error code.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** How a connection failed without a response: what the summary counts beside the status codes. */
export type ConnectionErrorKind =
  /** ECONNRESET or EPIPE: the gateway (or the kernel) reset the connection. */
  | 'reset'
  /** No response head before the run's deadline. */
  | 'timeout'
  /** The connection closed (FIN) before a whole response head arrived. */
  | 'closed'
  /** The connection could not be opened at all (refused, EMFILE …); no request was sent on it. */
  | 'connect'
  /** Any other socket error, or a head that could not be parsed. */
  | 'other';

export interface Outcome {
  /** HTTP status of the response; undefined when there was none. */
  status?: number;
  /** `Predictor-Pid`: the replica process that answered (the predictor sets it on every response). */
  pid?: number;
  /** `Sluice-Cold-Start`: how long the gateway held the request for a ready endpoint, ms. */
  heldMs?: number;
  /** When the head (or the error) arrived, ms after the burst's first write; undefined for timeouts and connect failures. */
  atMs?: number;
  /** For a response other than 200: the gateway's JSON error (`{"error":{"code","message"}}`), when the body was one. */
  gatewayError?: { code: string; message: string };
  error?: ConnectionErrorKind;
  /** The socket error's code (ECONNRESET, EMFILE …) when there was one. */
  code?: string;
}

export interface ResponseHead {
  status: number;
  pid?: number;
  heldMs?: number;
  contentLength?: number;
}

/** A response head longer than this is not a response from the gateway; the connection counts as `other`. */
const MAX_HEAD = 16 * 1024;
/** An error body is read up to this many bytes for its code and message; the gateway's are a few hundred. */
const MAX_ERROR_BODY = 4096;

/**
 * The gateway's error body, `{"error":{"code":"upstream_unreachable","message":"…",…}}`, or
 * undefined for anything else (a predictor's own error, a cut body).
 */
export function parseGatewayError(body: string): { code: string; message: string } | undefined {
  try {
    const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    return typeof error?.code === 'string'
      ? { code: error.code, message: typeof error.message === 'string' ? error.message : '' }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses a response head (the text before the blank line): the status line, and the two headers
 * the burst reads. Undefined when the status line is not `HTTP/1.x NNN`.
 *
 *   parseResponseHead('HTTP/1.1 200 OK\r\npredictor-pid: 4242\r\nsluice-cold-start: 812')
 *     → { status: 200, pid: 4242, heldMs: 812 }
 */
export function parseResponseHead(head: string): ResponseHead | undefined {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '')?.[1];
  if (status === undefined) return undefined;
  const out: ResponseHead = { status: Number(status) };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name !== 'predictor-pid' && name !== 'sluice-cold-start' && name !== 'content-length') continue;
    const raw = line.slice(colon + 1).trim();
    const value = Number(raw);
    if (!Number.isFinite(value) || raw === '') continue;
    if (name === 'predictor-pid') out.pid = value;
    else if (name === 'sluice-cold-start') out.heldMs = value;
    else out.contentLength = value;
  }
  return out;
}

/** One request as raw HTTP/1.1 bytes, built once and written on every connection. */
export function inferRequest(host: string, path: string, body: string): Buffer {
  return Buffer.from(
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    'latin1',
  );
}

interface Connection {
  socket: Socket;
  /** Bytes received so far (latin1), until the head has been parsed; then the error body's. */
  received: string;
  /** A non-200 head whose body is still being read, and when that head came. */
  errorHead?: { head: ResponseHead; atMs: number };
  outcome?: Outcome;
}

export class BurstClient {
  private readonly connections: Connection[] = [];
  /** Connections that could not be opened; they count in the outcomes but send nothing. */
  private readonly refused: Outcome[] = [];
  private firedAt = 0;
  private unsettled = 0;
  private onSettled: (() => void) | undefined;

  constructor(
    private readonly port: number,
    private readonly request: Buffer,
  ) {}

  /** Connections open and ready for the burst. */
  get open(): number {
    return this.connections.length;
  }

  /**
   * Opens `count` connections, `batch` at a time: each batch is connected before `settle(opened)`
   * is awaited (the caller waits there until the gateway has accepted them), then the next batch
   * starts. Stops early at `deadlineMs` (Date.now()). Resolves with the connect failures.
   */
  async connect(count: number, batch: number, settle: (opened: number) => Promise<void>, deadlineMs: number): Promise<number> {
    while (this.connections.length + this.refused.length < count && Date.now() < deadlineMs) {
      const n = Math.min(batch, count - this.connections.length - this.refused.length);
      const results = await Promise.all(Array.from({ length: n }, () => this.connectOne()));
      for (const result of results) {
        if ('socket' in result) this.connections.push(result);
        else this.refused.push(result);
      }
      await settle(this.connections.length);
    }
    return this.refused.length;
  }

  private connectOne(): Promise<Connection | Outcome> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: this.port, noDelay: true });
      const failed = (err: NodeJS.ErrnoException): void => {
        socket.destroy();
        resolve({ error: 'connect', code: err.code });
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        const conn: Connection = { socket, received: '' };
        this.listen(conn);
        resolve(conn);
      });
    });
  }

  private listen(conn: Connection): void {
    const { socket } = conn;
    socket.on('data', (chunk: Buffer) => {
      if (conn.outcome !== undefined) return;
      conn.received += chunk.toString('latin1');
      if (conn.errorHead !== undefined) return this.errorBody(conn, false);
      const end = conn.received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (conn.received.length > MAX_HEAD) this.settle(conn, { error: 'other', code: 'HEAD_TOO_LONG' }, true);
        return;
      }
      const head = parseResponseHead(conn.received.slice(0, end));
      if (head === undefined) return this.settle(conn, { error: 'other', code: 'BAD_STATUS_LINE' }, true);
      // A 200 is done at its head: our side ends (FIN) and the gateway closes once its response is out.
      if (head.status === 200) return this.settle(conn, { status: head.status, pid: head.pid, heldMs: head.heldMs }, false);
      // Anything else: its body too, for the gateway's error code.
      conn.errorHead = { head, atMs: performance.now() - this.firedAt };
      conn.received = conn.received.slice(end + 4);
      this.errorBody(conn, false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (conn.errorHead !== undefined) return this.errorBody(conn, true);
      const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
      this.settle(conn, { error: reset ? 'reset' : 'other', code: err.code }, true);
    });
    socket.on('close', () => {
      if (conn.errorHead !== undefined) return this.errorBody(conn, true);
      this.settle(conn, { error: 'closed' }, true);
    });
  }

  /** Settles a non-200 response once its body is in (or the connection ended, or the cap was reached). */
  private errorBody(conn: Connection, ended: boolean): void {
    const { head, atMs } = conn.errorHead!;
    const want = Math.min(head.contentLength ?? MAX_ERROR_BODY, MAX_ERROR_BODY);
    if (!ended && conn.received.length < want) return;
    const gatewayError = parseGatewayError(conn.received.slice(0, want));
    this.settle(conn, { status: head.status, pid: head.pid, heldMs: head.heldMs, atMs, ...(gatewayError && { gatewayError }) }, false);
  }

  /** Records the first outcome of a connection (later events are the same connection going away). */
  private settle(conn: Connection, outcome: Outcome, destroy: boolean): void {
    if (conn.outcome !== undefined) return;
    conn.outcome = this.firedAt === 0 || outcome.atMs !== undefined ? outcome : { ...outcome, atMs: performance.now() - this.firedAt };
    if (destroy) conn.socket.destroy();
    else conn.socket.end();
    if (this.firedAt !== 0 && --this.unsettled === 0) this.onSettled?.();
  }

  /**
   * The burst: the request written on every open connection in one synchronous loop. Returns the
   * loop's duration, ms: how far apart the first and the last request left this process.
   */
  fire(): number {
    this.firedAt = performance.now();
    this.unsettled = this.connections.filter((c) => c.outcome === undefined).length;
    for (const conn of this.connections) {
      if (conn.outcome === undefined) conn.socket.write(this.request);
    }
    return performance.now() - this.firedAt;
  }

  /** Epoch ms (same clock as Date.now(), sub-ms) of the burst's first write. */
  get firedAtEpochMs(): number {
    return performance.timeOrigin + this.firedAt;
  }

  /**
   * Resolves once every connection has its outcome, or at `deadlineMs` (Date.now()): what is still
   * open then counts as a timeout and is closed.
   */
  async settled(deadlineMs: number): Promise<void> {
    if (this.unsettled > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()));
        this.onSettled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.onSettled = undefined;
    for (const conn of this.connections) {
      if (conn.outcome === undefined) {
        conn.outcome = { error: 'timeout' };
        conn.socket.destroy();
      }
    }
  }

  /** Every connection's outcome, connect failures included (those are the last). */
  outcomes(): Outcome[] {
    return [...this.connections.map((c) => c.outcome ?? { error: 'timeout' as const }), ...this.refused];
  }

  /** Closes every connection now (teardown on an error or Ctrl-C). */
  destroy(): void {
    for (const conn of this.connections) conn.socket.destroy();
  }
}

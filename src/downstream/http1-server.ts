/**
 * The data port's HTTP/1.1 server: a `net` server whose connections parse requests with Node's
 * native parser (Http1Connection) and answer with Http1Response, in place of `http.Server`, whose
 * two streams per request cost about 13 µs of CPU more; what it keeps of `http.Server` and why is in
 * docs/architecture.md ("Why the data port has its own HTTP/1.1 server and client").
 */
import type { IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Http1Connection, type ConnectionHost, type ResponseClass } from './http1-connection.js';
import type { Http1Request } from './http1-request.js';
import { Http1Response, keepAliveHeader } from './http1-response.js';
import { nativeParser, type NativeParserModule, type ParseError, type ParserFence } from './native-parser.js';
import type { H2cHandoff } from './preface.js';
import { refuseOnSocket } from './refusal.js';

export interface Http1Handlers {
  request(req: Http1Request, res: Http1Response): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** A response is over, ended or cut short (`res.writableFinished` tells which); once per response. */
  closed?(res: Http1Response): void;
}

export interface Http1ServerOptions {
  /** How long an idle keep-alive connection stays open, ms (default 65 s, above common load balancers' 60 s). */
  keepAliveTimeoutMs?: number;
  /** How long a request head may take to arrive in full, ms (default 60 s, as http.Server's headersTimeout). */
  headersTimeoutMs?: number;
  /** The class responses are made of, as http.createServer's `ServerResponse` option (default Http1Response). */
  Response?: ResponseClass;
  /** Node's parser as the fence found it (default: this process's verdict). */
  parser?: ParserFence;
  /** Where a connection that begins with the HTTP/2 preface goes (h2c with prior knowledge); without it, it is refused with 400. */
  h2c?: H2cHandoff;
}

export class Http1Server implements ConnectionHost {
  readonly native: NativeParserModule;
  readonly keepAliveLine: string;
  readonly Response: ResponseClass;
  readonly h2c: H2cHandoff | undefined;
  closing = false;
  private readonly server: Server;
  private readonly connections = new Set<Http1Connection>();
  /** Sockets handed over to the upgrade handler (WebSockets), cut by closeAllConnections. */
  private readonly upgraded = new Set<Socket>();
  private readonly keepAliveTimeoutMs: number;
  private readonly headersTimeoutMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  /** Resolves close() once the last connection is forgotten. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly handlers: Http1Handlers,
    options: Http1ServerOptions = {},
  ) {
    const fence = options.parser ?? nativeParser;
    if (!fence.ok) throw new Error(`the data port's HTTP/1.1 server needs Node's HTTP parser: ${fence.problem}`);
    this.native = fence.native;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 65_000;
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
    this.Response = options.Response ?? Http1Response;
    this.h2c = options.h2c;
    this.keepAliveLine = keepAliveHeader(this.keepAliveTimeoutMs);
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, this.onConnection);
  }

  /**
   * Resolves with the bound address. The listen backlog is the kernel's largest (somaxconn, as Go
   * servers use) rather than Node's 511: a burst of clients connecting at once is held, not reset.
   */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        this.startSweeper();
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /**
   * Serve a connection accepted elsewhere (the TLS listener's, once its handshake is done) as if
   * accepted here; the server need not listen itself.
   */
  acceptConnection(socket: Socket): void {
    this.startSweeper();
    this.onConnection(socket);
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Open connections (h2c sessions included). */
  get connectionCount(): number {
    return this.connections.size + (this.h2c?.sessionCount ?? 0);
  }

  /**
   * Stop accepting; responses in progress say `Connection: close` and their connections close
   * after them. Resolves once every connection has closed.
   */
  close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    // net.Server calls back once its sockets are destroyed, which can be before each one's
    // 'close' event (where a connection is forgotten): wait for those too.
    const sessions = this.h2c?.close();
    return new Promise<void>((resolve) => this.server.close(() => resolve()))
      .then(() => new Promise<void>((resolve) => (this.connections.size === 0 ? resolve() : (this.drained = resolve))))
      .then(() => sessions);
  }

  /** Close connections with no request in progress; the others close after their response. */
  closeIdleConnections(): void {
    for (const conn of this.connections) conn.closeWhenIdle();
    this.h2c?.closeIdleSessions();
  }

  closeAllConnections(): void {
    for (const conn of this.connections) conn.socket.destroy();
    for (const socket of this.upgraded) socket.destroy();
    this.h2c?.closeAllSessions();
  }

  // --- ConnectionHost ---

  request(req: Http1Request, res: Http1Response): void {
    this.handlers.request(req, res);
  }

  responseClosed(res: Http1Response): void {
    this.handlers.closed?.(res);
  }

  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    this.handlers.upgrade(req, socket, head);
  }

  clientError(err: ParseError | Error, socket: Socket): void {
    refuseOnSocket(err, socket);
  }

  forget(conn: Http1Connection): void {
    this.connections.delete(conn);
    if (this.connections.size === 0 && this.drained !== undefined) {
      this.drained();
      this.drained = undefined;
    }
  }

  /** Heads are checked a few times per timeout: one timer per server, none per request. */
  private startSweeper(): void {
    if (this.sweeper !== undefined || this.closing) return;
    this.sweeper = setInterval(this.sweep, Math.max(100, Math.min(this.headersTimeoutMs / 4, 15_000))).unref();
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    const limit = this.headersTimeoutMs;
    for (const conn of this.connections) {
      if (conn.headStartedAt !== 0 && now - conn.headStartedAt > limit) conn.headersTimedOut(limit);
    }
  };

  private readonly onConnection = (socket: Socket): void => {
    if (this.closing) return void socket.destroy();
    this.connections.add(new Http1Connection(socket, this, this.keepAliveTimeoutMs));
  };
}

/** Asked of listen(); the kernel caps it at net.core.somaxconn (4096 on current Linux). */
const LISTEN_BACKLOG = 65_535;

/**
 * The data port on node:http: the fallback for a Node whose HTTP parser the data port's own server
 * cannot use (native-parser.ts's fence), or when asked for with SLUICE_HTTP_SERVER=node. It keeps
 * the data port's contract — JSON refusals (400, 408, 431, 505), HTTP/0.9 closed without an
 * answer, WebSocket upgrades handed over and other upgrades declined, CONNECT refused, keep-alive
 * with a 65 s hint, a 60 s deadline for a head, `Connection: close` once stopping, a graceful stop
 * — at the cost of an IncomingMessage and a ServerResponse per request (about 13 µs more, README).
 *
 * Where it falls short of Http1Server: "GET /" with no version and nothing after it waits for
 * the head deadline (node:http gives no head before it is complete); a declined upgrade is served
 * on a connection that then closes, and one with a body is refused; a request body is always
 * streamed (no readAll), so a retry can only resend a body not yet read.
 */
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { prefaceOf, type H2cHandoff } from './preface.js';
import { refuseOnSocket } from './refusal.js';
import { isWebSocketUpgrade } from './upgrade-request.js';

export interface NodeHttpHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** A response is over, ended or cut short (`res.writableFinished` tells which); once per response. */
  closed?(res: ServerResponse): void;
}

export interface NodeHttpServerOptions {
  /** How long an idle keep-alive connection stays open, ms (default 65 s). */
  keepAliveTimeoutMs?: number;
  /** How long a request head may take to arrive in full, ms (default 60 s). */
  headersTimeoutMs?: number;
  /**
   * Where a connection that begins with the HTTP/2 preface goes (h2c with prior knowledge). With
   * it, a connection's first bytes are read here before node:http's parser gets them back.
   */
  h2c?: H2cHandoff;
}

/** Asked of listen(); the kernel caps it at net.core.somaxconn. */
const LISTEN_BACKLOG = 65_535;

export class NodeHttpServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Sockets handed over to the upgrade handler (WebSockets), cut by closeAllConnections. */
  private readonly upgraded = new Set<Socket>();
  /** Responses not yet over: told to close their connection when the server stops. */
  private readonly open = new Set<ServerResponse>();
  /** Sockets that have carried a request. */
  private readonly served = new WeakSet<Socket>();
  private readonly headersTimeoutMs: number;
  private readonly keepAliveTimeoutMs: number;
  private readonly h2c: H2cHandoff | undefined;
  /** Sockets whose first bytes have not yet told HTTP/1.1 from HTTP/2 (sniff): idle, as far as closing goes. */
  private readonly sniffing = new Set<Socket>();
  private closing = false;

  constructor(
    private readonly handlers: NodeHttpHandlers,
    options: NodeHttpServerOptions = {},
  ) {
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 65_000;
    this.server = createServer(
      {
        keepAliveTimeout: this.keepAliveTimeoutMs,
        headersTimeout: this.headersTimeoutMs,
        // Heads are checked a few times per timeout, as Http1Server's sweep does.
        connectionsCheckingInterval: Math.max(100, Math.min(this.headersTimeoutMs / 4, 15_000)),
        // The gateway's own deadlines bound a request once its head is in.
        requestTimeout: 0,
        maxHeaderSize: 16 * 1024,
        noDelay: true,
        // The gateway refuses a request without Host itself, with its JSON error.
        requireHostHeader: false,
      },
      this.onRequest,
    );
    this.h2c = options.h2c;
    // node:http's own connection listener runs only once the first bytes tell HTTP/1.1 (sniff).
    const http1 = this.h2c === undefined ? undefined : (this.server.listeners('connection') as ((socket: Socket) => void)[]);
    if (http1 !== undefined) this.server.removeAllListeners('connection');
    this.server.on('upgrade', this.onUpgrade);
    this.server.on('connect', this.onConnect);
    this.server.on('clientError', this.onClientError);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      // node:http times keep-alive only after a first response: a client that connects and sends
      // nothing is closed after the keep-alive timeout too, as Http1Server does. (Not the socket's
      // own timeout: node:http destroys a socket whose timeout fires while a handler is busy.)
      const idle = setTimeout(() => {
        if (!this.served.has(socket)) socket.destroy();
      }, this.keepAliveTimeoutMs).unref();
      socket.once('close', () => clearTimeout(idle));
    });
    if (http1 !== undefined) this.server.on('connection', (socket: Socket) => this.sniff(socket, http1, this.h2c!));
  }

  /**
   * Read a connection's first bytes: the HTTP/2 preface hands it to the HTTP/2 sessions; anything
   * else goes to node:http's parser with those bytes put back. One read and one unshift per
   * connection, nothing per request.
   */
  private sniff(socket: Socket, http1: ((socket: Socket) => void)[], h2c: H2cHandoff): void {
    let head: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
      const kind = prefaceOf(head);
      if (kind === 'more') return;
      this.sniffing.delete(socket);
      socket.off('data', onData);
      socket.off('error', ignoreError);
      // Not flowing: the bytes wait in the socket for whoever reads next.
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      if (kind === 'h2') {
        this.served.add(socket);
        this.sockets.delete(socket);
        return h2c.serve(socket, head);
      }
      socket.unshift(head);
      for (const listener of http1) listener.call(this.server, socket);
    };
    this.sniffing.add(socket);
    socket.once('close', () => this.sniffing.delete(socket));
    // Until a parser owns the socket, its errors only close it.
    socket.on('error', ignoreError);
    socket.on('data', onData);
  }

  /** Resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /**
   * Serve a connection accepted elsewhere (the TLS listener's, once its handshake is done) as if
   * accepted here. Without a listen() of its own, node:http does not run its head deadline: a head
   * that never completes is then cut by the idle timer below, after the keep-alive timeout.
   */
  acceptConnection(socket: Socket): void {
    if (this.closing) return void socket.destroy();
    this.server.emit('connection', socket);
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Open HTTP connections (not counting handed-over upgrades; h2c sessions included). */
  get connectionCount(): number {
    let n = this.h2c?.sessionCount ?? 0;
    for (const socket of this.sockets) if (!this.upgraded.has(socket)) n++;
    return n;
  }

  /** Stop accepting; responses in progress say `Connection: close`. Resolves once every connection has closed. */
  close(): Promise<void> {
    this.closing = true;
    for (const res of this.open) this.closeAfter(res);
    // As node:http's close() closes its idle connections: those not yet handed to it are idle too.
    for (const socket of this.sniffing) socket.destroy();
    const sessions = this.h2c?.close();
    return new Promise<void>((resolve) => this.server.close(() => resolve())).then(() => sessions);
  }

  /** Close connections with no request in progress; the others close after their response. */
  closeIdleConnections(): void {
    for (const res of this.open) this.closeAfter(res);
    this.server.closeIdleConnections();
    for (const socket of this.sniffing) socket.destroy();
    this.h2c?.closeIdleSessions();
  }

  /** The response's connection closes once it is sent: `Connection: close` if its head is still to go. */
  private closeAfter(res: ServerResponse): void {
    if (!res.headersSent) return void (res.shouldKeepAlive = false);
    const socket = res.socket;
    res.once('finish', () => socket?.end());
  }

  closeAllConnections(): void {
    this.server.closeAllConnections();
    for (const socket of this.upgraded) socket.destroy();
    for (const socket of this.sniffing) socket.destroy();
    this.h2c?.closeAllSessions();
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) {
      // HTTP/0.9 has no status line to answer with; other versions are told what is served.
      if (req.httpVersionMajor === 0) return void req.socket.destroy();
      return refuseOnSocket({ code: 'HTTP_VERSION', message: `HTTP/${req.httpVersion} is not served here; use HTTP/1.1` }, req.socket);
    }
    this.serve(req, res);
  };

  private serve(req: IncomingMessage, res: ServerResponse): void {
    this.served.add(req.socket);
    if (this.closing) res.shouldKeepAlive = false;
    this.open.add(res);
    res.once('close', () => {
      this.open.delete(res);
      this.handlers.closed?.(res);
    });
    this.handlers.request(req, res);
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    this.served.add(socket);
    if (req.method === 'GET' && isWebSocketUpgrade(req.rawHeaders)) {
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      // Bytes after the head wait in the socket until the upgrade handler reads (as Http1Server does).
      socket.pause();
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      return this.handlers.upgrade(req, socket, head);
    }
    // Any other upgrade (h2c from `curl --http2`, …) is declined (RFC 9110 §7.8): the request is
    // served as HTTP/1.1. node:http has stopped parsing this connection, so it closes afterwards.
    if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') {
      return refuseOnSocket(new Error('an Upgrade request with a body is not served here; send it without Upgrade'), socket);
    }
    if (req.headers['transfer-encoding'] !== undefined) {
      return refuseOnSocket(new Error('an Upgrade request with a body is not served here; send it without Upgrade'), socket);
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      res.detachSocket(socket);
      socket.end();
    });
    this.serve(req, res);
  };

  private readonly onConnect = (req: IncomingMessage, socket: Socket): void => {
    // CONNECT is a forward proxy's method.
    refuseOnSocket(new Error(`CONNECT ${req.url} cannot be served here`), socket);
  };

  private readonly onClientError = (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void => {
    // RFC 9112 §9.6: requests after one that asked to close are ignored, not refused; the
    // connection closes after that one's response.
    if (err.code === 'HPE_CLOSED_CONNECTION') return;
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      return refuseOnSocket({ code: 'HEADERS_TIMEOUT', message: `request head not complete within ${this.headersTimeoutMs} ms` }, socket);
    }
    refuseOnSocket(err, socket);
  };
}

function ignoreError(): void {}

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_KEEP_ALIVE_MS,
  keepAliveFor,
  type Progress,
  type UpstreamHandler,
  type UpstreamRequest,
} from '../src/upstream/upstream-connection.js';
import { UpstreamError } from '../src/upstream/upstream-error.js';
import { UpstreamPool, type UpstreamPoolOptions } from '../src/upstream/upstream-pool.js';
import { selfSignedLocalhost } from './support/certs.js';

// --- a handler that records what it hears ---

/** Records one exchange; `settled` resolves on its end or its error (never rejects). */
class Recorder implements UpstreamHandler {
  status: number | undefined;
  headers: string[] = [];
  chunks: Buffer[] = [];
  tail: Buffer | undefined;
  ended = false;
  error: Error | undefined;
  /** Whether any byte of the request can have reached the endpoint (progress past 'unsent'). */
  sent: boolean | undefined;
  progress: Progress | undefined;
  reused: boolean | undefined;
  /** Every call in order: 'head' | 'data' | 'end' | 'error'. */
  calls: string[] = [];
  readonly settled: Promise<void>;
  private settle!: () => void;

  /** `onData` decides what onResponseData returns (default: true, keep reading). */
  constructor(private readonly onData: (chunk: Buffer, calls: number) => boolean = () => true) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  onResponseHead(status: number, headers: string[]): void {
    this.calls.push('head');
    this.status = status;
    this.headers = headers;
  }

  onResponseData(chunk: Buffer): boolean {
    this.calls.push('data');
    // Kept as given: a handler may hold on to the chunks it is handed.
    this.chunks.push(chunk);
    return this.onData(chunk, this.chunks.length);
  }

  onResponseEnd(tail: Buffer | undefined): void {
    this.calls.push('end');
    this.tail = tail;
    this.ended = true;
    this.settle();
  }

  onUpstreamError(err: Error, progress: Progress, reused: boolean): void {
    this.calls.push('error');
    this.error = err;
    this.sent = progress !== 'unsent';
    this.progress = progress;
    this.reused = reused;
    this.settle();
  }

  /** The whole body: data chunks, then the tail. */
  get body(): string {
    return Buffer.concat([...this.chunks, ...(this.tail === undefined ? [] : [this.tail])]).toString('utf8');
  }

  /** First value of a response header, any case. */
  header(name: string): string | undefined {
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i]!.toLowerCase() === name) return this.headers[i + 1];
    return undefined;
  }

  /** Waits for the end; fails with the exchange's error if there was one. */
  async ok(): Promise<this> {
    await this.settled;
    if (this.error !== undefined)
      throw new Error(`exchange failed: ${(this.error as NodeJS.ErrnoException).code ?? ''} ${this.error.message}`);
    return this;
  }

  /** Waits for the error; fails if the exchange ended instead. */
  async failed(): Promise<{
    code: string | undefined;
    sent: boolean | undefined;
    progress: Progress | undefined;
    reused: boolean | undefined;
    err: Error;
  }> {
    await this.settled;
    if (this.error === undefined) throw new Error(`exchange ended (status ${this.status}) where an error was expected`);
    return {
      code: (this.error as NodeJS.ErrnoException).code,
      sent: this.sent,
      progress: this.progress,
      reused: this.reused,
      err: this.error,
    };
  }
}

/** Sends one request on `p` and waits for its response to end. */
async function roundTrip(p: UpstreamPool, req: UpstreamRequest): Promise<Recorder> {
  const r = new Recorder();
  p.request(req, r, Date.now());
  await r.ok();
  return r;
}

function request(over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: 'GET', path: '/', headers: ['Host', 'backend.test'], body: null, contentLength: 0, timeoutMs: 10_000, ...over };
}

/** Polls `check` every 5 ms; fails after `timeoutMs` (a bound, not a measurement). */
async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// --- servers and pools, all closed after each test ---

const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  remotePort: number;
}

interface TestHttpServer {
  server: HttpServer;
  origin: string;
  /** Every request, once its body has been read. */
  seen: Seen[];
  /** Every connection the server accepted. */
  sockets: Socket[];
}

/**
 * A node:http (or, given `tls`, node:https) server on 127.0.0.1; `handle` answers once the request
 * body has been read. It may be async: what it returns is ignored.
 */
async function httpServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => unknown,
  tls?: { key: Buffer; cert: Buffer },
): Promise<TestHttpServer> {
  const server: HttpServer = tls === undefined ? createHttpServer() : createHttpsServer(tls);
  const t: TestHttpServer = { server, origin: '', seen: [], sockets: [] };
  server.on('connection', (socket: Socket) => t.sockets.push(socket));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      t.seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, remotePort: req.socket.remotePort! });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  t.origin = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return t;
}

interface TestNetServer {
  origin: string;
  sockets: Socket[];
}

/** A raw TCP server on 127.0.0.1 for answers node:http would never write. */
async function netServer(onConnection: (socket: Socket) => void): Promise<TestNetServer> {
  const sockets: Socket[] = [];
  const server: NetServer = createNetServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { origin: `http://127.0.0.1:${port}`, sockets };
}

/** Answers the first request on each connection with `response` (written once the request head is in). */
function answerWith(response: string, then?: (socket: Socket) => void): (socket: Socket) => void {
  return (socket) => {
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.write(response);
      then?.(socket);
    };
    socket.on('data', onData);
  };
}

function pool(origin: string, options?: UpstreamPoolOptions): UpstreamPool {
  const p = new UpstreamPool(origin, options);
  cleanups.push(() => p.destroy());
  return p;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Lets pending I/O run: a few event-loop turns and a short pause (nothing is measured). */
async function turns(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 50));
}

function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.end('hello');
}

// --- tests ---

describe('keepAliveFor', () => {
  it.each([
    { label: 'no hint: the default', hintMs: -1, want: DEFAULT_KEEP_ALIVE_MS },
    { label: 'no hint is 4 s', hintMs: -1, want: 4000 },
    { label: 'timeout=5: a second less', hintMs: 5000, want: 4000 },
    { label: 'timeout=2: a second less', hintMs: 2000, want: 1000 },
    { label: 'timeout=1: not reused', hintMs: 1000, want: 0 },
    { label: 'timeout=0: not reused', hintMs: 0, want: 0 },
    { label: 'timeout=60: a second less', hintMs: 60_000, want: 59_000 },
  ])('$label', ({ hintMs, want }) => {
    expect(keepAliveFor(hintMs)).toBe(want);
  });
});

describe('UpstreamPool', () => {
  it('GET round-trips: the server sees method, path and headers', async () => {
    const srv = await httpServer((_req, res) => {
      res.setHeader('X-Answer', '42');
      res.end('hello');
    });
    const p = pool(srv.origin);
    const r = await roundTrip(
      p,
      request({ path: '/v2/models/iris?x=1', headers: ['Host', 'backend.test', 'X-Request-Id', 'abc-123', 'Accept', 'text/plain'] }),
    );
    expect(r.status).toBe(200);
    expect(r.header('x-answer')).toBe('42');
    expect(r.body).toBe('hello');
    expect(r.calls.at(0)).toBe('head');
    expect(r.calls.at(-1)).toBe('end');
    expect(srv.seen).toHaveLength(1);
    expect(srv.seen[0]).toMatchObject({ method: 'GET', url: '/v2/models/iris?x=1', body: '' });
    expect(srv.seen[0]!.headers).toMatchObject({ host: 'backend.test', 'x-request-id': 'abc-123', accept: 'text/plain' });
    expect(srv.seen[0]!.headers['transfer-encoding']).toBeUndefined();
  });

  it('POST with a Content-Length body round-trips', async () => {
    const srv = await httpServer((req, res, body) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ method: req.method, got: body }));
    });
    const p = pool(srv.origin);
    const payload = Buffer.from('{"inputs":[1,2,3,4]}');
    const r = new Recorder();
    p.request(
      request({
        method: 'POST',
        path: '/v2/models/iris/infer',
        headers: ['Host', 'backend.test', 'Content-Type', 'application/json'],
        body: Readable.from([payload.subarray(0, 7), payload.subarray(7)]),
        contentLength: payload.length,
      }),
      r,
      Date.now(),
    );
    await r.ok();
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ method: 'POST', got: payload.toString() });
    expect(srv.seen[0]).toMatchObject({ method: 'POST', url: '/v2/models/iris/infer', body: payload.toString() });
    expect(srv.seen[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'content-length': String(payload.length) });
    expect(srv.seen[0]!.headers['transfer-encoding']).toBeUndefined();
    expect(p.size).toBe(1);
  });

  it('a body without a length goes upstream chunked, streamed as it comes', async () => {
    const received: string[] = [];
    const srv = await httpServer(hello);
    srv.server.prependListener('request', (req: IncomingMessage) => req.on('data', (c: Buffer) => received.push(c.toString())));
    const p = pool(srv.origin);
    const body = new PassThrough();
    const r = new Recorder();
    p.request(request({ method: 'POST', path: '/upload', body, contentLength: -1 }), r, Date.now());
    const parts = ['alpha,', 'beta,', 'gamma,', 'delta'];
    for (const part of parts) {
      body.write(Buffer.from(part));
      // Each part reaches the server before the next is written: the body is not held back.
      await until(() => received.join('').endsWith(part), `server to receive "${part}"`);
    }
    body.end();
    await r.ok();
    expect(r.body).toBe('hello');
    expect(srv.seen[0]!.headers['transfer-encoding']).toBe('chunked');
    expect(srv.seen[0]!.headers['content-length']).toBeUndefined();
    expect(srv.seen[0]!.body).toBe(parts.join(''));
    // The connection is reusable after a chunked request body.
    await roundTrip(p, request());
    expect(srv.sockets).toHaveLength(1);
  });

  it('an empty chunked body is sent as just the last chunk', async () => {
    const srv = await httpServer((_req, res, body) => res.end(`got ${body.length}`));
    const p = pool(srv.origin);
    const body = new PassThrough();
    const r = new Recorder();
    p.request(request({ method: 'POST', body, contentLength: -1 }), r, Date.now());
    body.end();
    await r.ok();
    expect(r.body).toBe('got 0');
    expect(srv.seen[0]!.headers['transfer-encoding']).toBe('chunked');
  });

  it('consecutive requests reuse one connection', async () => {
    const srv = await httpServer((req, res) => res.end(`answer to ${req.url}`));
    const p = pool(srv.origin);
    for (let i = 0; i < 5; i++) {
      const r = await roundTrip(p, request({ path: `/n/${i}` }));
      expect(r.body).toBe(`answer to /n/${i}`);
      expect(p.size).toBe(1);
    }
    expect(srv.sockets).toHaveLength(1);
    expect(new Set(srv.seen.map((s) => s.remotePort)).size).toBe(1);
  });

  it('two requests at once use two connections, then both are kept', async () => {
    const held: ServerResponse[] = [];
    const srv = await httpServer((_req, res) => held.push(res));
    const p = pool(srv.origin);
    const a = new Recorder();
    const b = new Recorder();
    p.request(request({ path: '/a' }), a, Date.now());
    p.request(request({ path: '/b' }), b, Date.now());
    await until(() => held.length === 2, 'both requests at the server');
    expect(p.size).toBe(2);
    for (const res of held) res.end('done');
    await Promise.all([a.ok(), b.ok()]);
    expect(p.size).toBe(2);
    expect(srv.sockets).toHaveLength(2);
  });

  it('chunks handed to handlers stay intact while other connections read', async () => {
    const names = ['a', 'b', 'c'];
    const recorders = names.map(() => new Recorder());
    const srv = await httpServer(async (req, res) => {
      const i = names.indexOf(req.url!.slice(1));
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      // Each connection sends its chunks only once the client has the previous ones, so the
      // connections' reads interleave.
      for (let k = 0; k < 4; k++) {
        res.write(`${names[i]}${k}`.repeat(100));
        await until(() => recorders[i]!.chunks.length > k, `client to receive ${names[i]}${k}`);
      }
      res.end(`${names[i]}-end`.repeat(10));
    });
    const p = pool(srv.origin);
    names.forEach((name, i) => p.request(request({ path: `/${name}` }), recorders[i]!, Date.now()));
    await Promise.all(recorders.map((r) => r.ok()));
    names.forEach((name, i) => {
      const want = [0, 1, 2, 3].map((k) => `${name}${k}`.repeat(100)).join('') + `${name}-end`.repeat(10);
      expect(recorders[i]!.body, name).toBe(want);
    });
    expect(p.size).toBe(3);
  });

  it('a Content-Length body over many reads arrives intact, and stays intact after later reads', async () => {
    const bodies = [randomBytes(1024 * 1024), randomBytes(300 * 1024)];
    const srv = await httpServer((req, res) => res.end(bodies[Number(req.url!.slice(1))]));
    const p = pool(srv.origin);
    const first = await roundTrip(p, request({ path: '/0' }));
    const second = await roundTrip(p, request({ path: '/1' }));
    expect(first.chunks.length).toBeGreaterThan(1);
    expect(first.tail).toBeDefined();
    expect(Buffer.concat([...first.chunks, first.tail!]).equals(bodies[0]!)).toBe(true);
    expect(Buffer.concat([...second.chunks, second.tail!]).equals(bodies[1]!)).toBe(true);
  });

  it('a response with Connection: close is not reused', async () => {
    const srv = await httpServer((_req, res) => {
      res.setHeader('Connection', 'close');
      res.end('bye');
    });
    const p = pool(srv.origin);
    const first = await roundTrip(p, request());
    expect(first.body).toBe('bye');
    expect(p.size).toBe(0);
    const second = await roundTrip(p, request());
    expect(second.body).toBe('bye');
    expect(srv.sockets).toHaveLength(2);
  });

  it('a server Keep-Alive: timeout=1 hint leaves nothing to reuse', async () => {
    const srv = await httpServer(hello);
    srv.server.keepAliveTimeout = 1000;
    const p = pool(srv.origin);
    const first = await roundTrip(p, request());
    expect(first.header('keep-alive')).toBe('timeout=1');
    expect(keepAliveFor(1000)).toBe(0);
    expect(p.size).toBe(0);
    const second = await roundTrip(p, request());
    expect(second.body).toBe('hello');
    expect(srv.sockets).toHaveLength(2);
  });

  it('a server Keep-Alive: timeout=5 hint keeps the connection', async () => {
    const srv = await httpServer(hello);
    srv.server.keepAliveTimeout = 5000;
    const p = pool(srv.origin);
    const first = await roundTrip(p, request());
    expect(first.header('keep-alive')).toBe('timeout=5');
    expect(p.size).toBe(1);
  });

  it('an idle connection the server closes leaves the pool; the next request opens a new one', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    await roundTrip(p, request());
    expect(p.size).toBe(1);
    srv.sockets[0]!.end();
    await until(() => p.size === 0, 'the pool to see the server close its idle connection');
    const second = await roundTrip(p, request());
    expect(second.body).toBe('hello');
    expect(p.size).toBe(1);
    expect(srv.sockets).toHaveLength(2);
  });

  it('an idle connection past its keep-alive allowance is not reused', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    await roundTrip(p, request());
    // The clock passed in says the connection has been idle longer than it may be.
    const second = new Recorder();
    p.request(request(), second, Date.now() + DEFAULT_KEEP_ALIVE_MS + 1);
    await second.ok();
    expect(srv.sockets).toHaveLength(2);
    expect(p.size).toBe(1);
  });

  it('connect refused: ECONNREFUSED, not sent', async () => {
    const p = pool(`http://127.0.0.1:${await closedPort()}`);
    const r = new Recorder();
    p.request(request(), r, Date.now());
    const { code, sent } = await r.failed();
    expect(code).toBe('ECONNREFUSED');
    expect(sent).toBe(false);
    expect(r.calls).toEqual(['error']);
    await until(() => p.size === 0, 'the refused connection to leave the pool');
  });

  it('a server that never answers: UPSTREAM_TIMEOUT, sent', async () => {
    const srv = await netServer(() => {});
    const p = pool(srv.origin);
    const r = new Recorder();
    p.request(request({ timeoutMs: 200 }), r, Date.now());
    const { code, sent, err } = await r.failed();
    expect(err).toBeInstanceOf(UpstreamError);
    expect(code).toBe('UPSTREAM_TIMEOUT');
    expect(sent).toBe(true);
    expect(r.calls).toEqual(['error']);
    expect(p.size).toBe(0);
  });

  it('a malformed response: UPSTREAM_BAD_RESPONSE, connection closed', async () => {
    const srv = await netServer(answerWith('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'));
    const p = pool(srv.origin);
    const r = new Recorder();
    p.request(request(), r, Date.now());
    const { code, sent, err } = await r.failed();
    expect(err).toBeInstanceOf(UpstreamError);
    expect(code).toBe('UPSTREAM_BAD_RESPONSE');
    expect(err.message).toMatch(/conflicting Content-Length/);
    expect(sent).toBe(true);
    expect(p.size).toBe(0);
  });

  it('a server that closes mid-body: UPSTREAM_CLOSED after the bytes that came', async () => {
    const srv = await netServer(answerWith('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello', (socket) => socket.end()));
    const p = pool(srv.origin);
    const r = new Recorder();
    p.request(request(), r, Date.now());
    const { code, sent } = await r.failed();
    expect(code).toBe('UPSTREAM_CLOSED');
    expect(sent).toBe(true);
    expect(r.status).toBe(200);
    expect(Buffer.concat(r.chunks).toString()).toBe('hello');
    expect(r.calls.at(-1)).toBe('error');
    expect(r.calls).not.toContain('end');
    expect(p.size).toBe(0);
  });

  it('a server that closes before answering: UPSTREAM_CLOSED, sent', async () => {
    const srv = await netServer(answerWith('', (socket) => socket.end()));
    const p = pool(srv.origin);
    const r = new Recorder();
    p.request(request(), r, Date.now());
    const { code, sent } = await r.failed();
    expect(code).toBe('UPSTREAM_CLOSED');
    expect(sent).toBe(true);
    expect(r.calls).toEqual(['error']);
  });

  it('a body read until close ends when the server closes, and is not reused', async () => {
    const srv = await netServer(
      answerWith('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed to the end', (socket) => socket.end()),
    );
    const p = pool(srv.origin);
    const r = await roundTrip(p, request());
    expect(r.body).toBe('streamed to the end');
    expect(p.size).toBe(0);
  });

  it('a chunked response arrives as several onResponseData calls before onResponseEnd', async () => {
    const parts = ['first ', 'second ', 'third'];
    const r = new Recorder();
    const srv = await httpServer(async (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      for (let i = 0; i < parts.length; i++) {
        res.write(parts[i]);
        // The next chunk leaves only once the client has this one.
        await until(() => Buffer.concat(r.chunks).toString() === parts.slice(0, i + 1).join(''), `client to receive chunk ${i}`);
      }
      res.end();
    });
    const p = pool(srv.origin);
    p.request(request(), r, Date.now());
    await r.ok();
    expect(r.header('transfer-encoding')).toBe('chunked');
    expect(r.chunks.length).toBeGreaterThanOrEqual(parts.length);
    expect(r.body).toBe(parts.join(''));
    expect(r.tail).toBeUndefined();
    expect(r.calls[0]).toBe('head');
    expect(r.calls.at(-1)).toBe('end');
    expect(r.calls.slice(1, -1).every((c) => c === 'data')).toBe(true);
    expect(p.size).toBe(1);
  });

  it('backpressure: false from onResponseData pauses the connection until resume()', async () => {
    let res: ServerResponse | undefined;
    const srv = await httpServer((req, r) => {
      if (req.url === '/next') return void r.end('next');
      res = r;
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.write('first');
    });
    const p = pool(srv.origin);
    const r = new Recorder((_chunk, n) => n > 1);
    const conn = p.request(request(), r, Date.now());
    await until(() => r.chunks.length === 1, 'the first chunk');
    // The rest leaves the server (handed to the kernel) while the client is paused…
    await new Promise<void>((resolve) => res!.end('second', () => resolve()));
    // …and is not delivered: some turns of the event loop later the handler has heard nothing more.
    await turns();
    expect(r.chunks.map(String)).toEqual(['first']);
    expect(r.ended).toBe(false);
    conn.resume();
    await r.ok();
    expect(r.body).toBe('firstsecond');
    // The connection goes back to the pool, reading again.
    expect(p.size).toBe(1);
    const next = await roundTrip(p, request({ path: '/next' }));
    expect(next.body).toBe('next');
    expect(srv.sockets).toHaveLength(1);
  });

  it('abort() closes the connection and the handler hears nothing more', async () => {
    let res: ServerResponse | undefined;
    const srv = await httpServer((req, r) => {
      if (req.url === '/next') return void r.end('next');
      res = r;
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.write('part one');
    });
    const p = pool(srv.origin);
    const r = new Recorder();
    const conn = p.request(request(), r, Date.now());
    await until(() => r.chunks.length === 1, 'the first chunk');
    conn.abort();
    expect(p.size).toBe(0);
    await until(() => srv.sockets[0]!.destroyed, 'the server to see the close');
    // Whatever the server still writes goes nowhere.
    res!.write('part two');
    res!.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.calls).toEqual(['head', 'data']);
    expect(r.ended).toBe(false);
    expect(r.error).toBeUndefined();
    // The pool goes on with a new connection.
    const next = await roundTrip(p, request({ path: '/next' }));
    expect(next.body).toBe('next');
    expect(srv.sockets).toHaveLength(2);
  });

  it('abort() from onResponseHead while the rest of the response is in the same read', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    const r = new Recorder();
    const onHead = r.onResponseHead.bind(r);
    r.onResponseHead = (status, headers) => {
      onHead(status, headers);
      conn.abort();
    };
    const conn = p.request(request(), r, Date.now());
    await until(() => r.calls.length > 0, 'the head');
    await until(() => srv.sockets[0]!.destroyed, 'the server to see the close');
    expect(r.calls).toEqual(['head']);
    expect(p.size).toBe(0);
    const next = await roundTrip(p, request());
    expect(next.body).toBe('hello');
    expect(p.size).toBe(1);
  });

  it('destroy() fails an in-flight request with UPSTREAM_ABORTED', async () => {
    const srv = await httpServer(() => {});
    const p = pool(srv.origin);
    const r = new Recorder();
    p.request(request({ path: '/slow' }), r, Date.now());
    await until(() => srv.seen.length === 1, 'the request at the server');
    p.destroy();
    const { code, sent, err } = await r.failed();
    expect(err).toBeInstanceOf(UpstreamError);
    expect(code).toBe('UPSTREAM_ABORTED');
    expect(sent).toBe(true);
    expect(r.calls).toEqual(['error']);
    expect(p.size).toBe(0);
    await until(() => srv.sockets[0]!.destroyed, 'the server to see the close');
  });

  it('request on a closed pool throws UPSTREAM_ABORTED', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    p.close();
    let thrown: unknown;
    try {
      p.request(request(), new Recorder(), Date.now());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UpstreamError);
    expect((thrown as UpstreamError).code).toBe('UPSTREAM_ABORTED');
    expect(p.size).toBe(0);
    expect(srv.sockets).toHaveLength(0);
  });

  it('request on a destroyed pool throws UPSTREAM_ABORTED', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    p.destroy();
    expect(() => p.request(request(), new Recorder(), Date.now())).toThrow(UpstreamError);
  });

  it('close(): idle connections close now, a busy one once its response ends', async () => {
    let held: ServerResponse | undefined;
    const srv = await httpServer((req, res) => {
      if (req.url === '/hold') held = res;
      else res.end('quick');
    });
    const p = pool(srv.origin);
    const busy = new Recorder();
    p.request(request({ path: '/hold' }), busy, Date.now());
    await roundTrip(p, request({ path: '/quick' }));
    await until(() => held !== undefined, 'the held request at the server');
    expect(p.size).toBe(2);
    p.close();
    expect(p.size).toBe(1);
    held!.end('late');
    await busy.ok();
    expect(busy.body).toBe('late');
    expect(p.size).toBe(0);
  });

  it('HEAD with a Content-Length response header ends without a body; the connection stays in step', async () => {
    const srv = await httpServer((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'Content-Length': '5' });
        res.end();
      } else {
        res.end('hello');
      }
    });
    const p = pool(srv.origin);
    const head = await roundTrip(p, request({ method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('5');
    expect(head.chunks).toEqual([]);
    expect(head.tail).toBeUndefined();
    expect(head.calls).toEqual(['head', 'end']);
    expect(p.size).toBe(1);
    const get = await roundTrip(p, request());
    expect(get.body).toBe('hello');
    expect(srv.sockets).toHaveLength(1);
    expect(srv.seen.map((s) => s.method)).toEqual(['HEAD', 'GET']);
  });

  it('a 204 and a 304 end without a body and keep the connection', async () => {
    const srv = await httpServer((req, res) => {
      res.statusCode = req.url === '/204' ? 204 : 304;
      res.end();
    });
    const p = pool(srv.origin);
    for (const path of ['/204', '/304']) {
      const r = await roundTrip(p, request({ path }));
      expect(r.status).toBe(Number(path.slice(1)));
      expect(r.calls).toEqual(['head', 'end']);
    }
    expect(srv.sockets).toHaveLength(1);
  });
});

describe('UpstreamPool over https', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-upstream-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A self-signed certificate for 127.0.0.1, made now (no network). */
  function selfSigned(): { key: Buffer; cert: Buffer; certPath: string } {
    const { key, cert, certFile } = selfSignedLocalhost(dir);
    return { key, cert, certPath: certFile };
  }

  it('an https origin works when the endpoint certificate is trusted, and is refused when it is not', async () => {
    const { key, cert, certPath } = selfSigned();
    const srv = await httpServer((req, res) => res.end(`secure ${req.url}`), { key, cert });
    expect(srv.origin.startsWith('https://')).toBe(true);

    // Not trusted: the pool verifies the certificate, and nothing was sent.
    const p = pool(srv.origin);
    const untrusted = new Recorder();
    p.request(request(), untrusted, Date.now());
    const { code, sent } = await untrusted.failed();
    expect(code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(sent).toBe(false);
    expect(srv.seen).toHaveLength(0);

    // Trusted: a process started with the certificate as an extra CA (the pool has no CA option),
    // running the built pool, makes two requests on one connection.
    const poolModule = pathToFileURL(fileURLToPath(new URL('../dist/upstream/upstream-pool.js', import.meta.url))).href;
    const script = `
      import { UpstreamPool } from ${JSON.stringify(poolModule)};
      const pool = new UpstreamPool(process.env.ORIGIN);
      const one = (path) => new Promise((resolve) => {
        const chunks = [];
        let status;
        pool.request({ method: 'GET', path, headers: ['Host', '127.0.0.1'], body: null, contentLength: 0, timeoutMs: 10000 }, {
          onResponseHead: (s) => { status = s; },
          onResponseData: (c) => { chunks.push(Buffer.from(c)); return true; },
          onResponseEnd: (t) => { if (t) chunks.push(Buffer.from(t)); resolve({ status, body: Buffer.concat(chunks).toString() }); },
          onUpstreamError: (err, progress) => resolve({ error: err.code ?? err.message, sent: progress !== 'unsent' }),
        }, Date.now());
      });
      const results = [await one('/a'), await one('/b')];
      console.log(JSON.stringify({ results, size: pool.size }));
      pool.destroy();
    `;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { env: { ...process.env, ORIGIN: srv.origin, NODE_EXTRA_CA_CERTS: certPath }, timeout: 15_000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    expect(JSON.parse(stdout)).toEqual({
      results: [
        { status: 200, body: 'secure /a' },
        { status: 200, body: 'secure /b' },
      ],
      size: 1,
    });
    expect(srv.seen.map((s) => s.url)).toEqual(['/a', '/b']);
    expect(srv.sockets).toHaveLength(2); // the refused handshake, then one connection for both requests
  }, 30_000);
});

// --- bounds: a burst waits for connections instead of opening thousands ---

/** A node:http server that holds every response until the test ends it. */
async function heldServer(): Promise<TestHttpServer & { held: Array<{ url: string; res: ServerResponse }>; answerAll(): void }> {
  const held: Array<{ url: string; res: ServerResponse }> = [];
  const srv = await httpServer((req, res) => held.push({ url: req.url!, res }));
  return Object.assign(srv, {
    held,
    answerAll() {
      for (const h of held.splice(0)) h.res.end(`done ${h.url}`);
    },
  });
}

describe('UpstreamPool bounds', () => {
  it('opens at most maxNewConnections before the endpoint answers on them; the rest wait, in order', async () => {
    const srv = await heldServer();
    const p = pool(srv.origin, { maxNewConnections: 3 });
    const recorders = Array.from({ length: 10 }, (_, i) => {
      const r = new Recorder();
      p.request(request({ path: `/${i}` }), r, Date.now());
      return r;
    });
    await until(() => srv.held.length === 3, 'three requests at the endpoint');
    await turns();
    expect(srv.sockets).toHaveLength(3);
    expect(srv.held.map((h) => h.url).sort()).toEqual(['/0', '/1', '/2']);
    expect(p.queued).toBe(7);

    // Answered on: the three are proven and reused, and three new ones may open.
    srv.answerAll();
    await until(() => srv.held.length === 6, 'six more requests at the endpoint');
    await turns();
    expect(srv.sockets).toHaveLength(6);
    expect(srv.held.map((h) => h.url).sort()).toEqual(['/3', '/4', '/5', '/6', '/7', '/8']);
    expect(p.queued).toBe(1);

    srv.answerAll();
    await until(() => srv.held.length === 1, 'the last request at the endpoint');
    expect(srv.held[0]!.url).toBe('/9');
    srv.answerAll();
    await Promise.all(recorders.map((r) => r.ok()));
    expect(recorders.map((r) => r.body)).toEqual(recorders.map((_, i) => `done /${i}`));
    expect(p.queued).toBe(0);
  });

  it('never opens more than maxConnections, reusing them for the requests that wait', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin, { maxConnections: 2 });
    const recorders = Array.from({ length: 50 }, () => {
      const r = new Recorder();
      p.request(request(), r, Date.now());
      return r;
    });
    await Promise.all(recorders.map((r) => r.ok()));
    expect(recorders.every((r) => r.status === 200 && r.body === 'hello')).toBe(true);
    expect(srv.sockets).toHaveLength(2);
    expect(p.size).toBe(2);
  });

  it('a waiting request that is aborted never reaches the endpoint, and its handler hears nothing', async () => {
    const srv = await heldServer();
    const p = pool(srv.origin, { maxConnections: 1 });
    const first = new Recorder();
    p.request(request({ path: '/first' }), first, Date.now());
    const waiting = new Recorder();
    const call = p.request(request({ path: '/aborted' }), waiting, Date.now());
    const last = new Recorder();
    p.request(request({ path: '/last' }), last, Date.now());
    await until(() => srv.held.length === 1, 'the first request at the endpoint');
    call.abort();
    expect(p.queued).toBe(1);
    srv.answerAll();
    await until(() => srv.held.length === 1, 'the next request at the endpoint');
    expect(srv.held[0]!.url).toBe('/last');
    srv.answerAll();
    await Promise.all([first.ok(), last.ok()]);
    await turns();
    expect(waiting.calls).toEqual([]);
    expect(srv.seen.map((s) => s.url)).toEqual(['/first', '/last']);
  });

  it('when the endpoint refuses connections, the requests waiting behind fail unsent too', async () => {
    const p = pool(`http://127.0.0.1:${await closedPort()}`, { maxNewConnections: 1 });
    const recorders = Array.from({ length: 3 }, () => {
      const r = new Recorder();
      p.request(request({ method: 'POST', body: Buffer.from('x'), contentLength: 1 }), r, Date.now());
      return r;
    });
    const failures = await Promise.all(recorders.map((r) => r.failed()));
    expect(failures.map((f) => [f.code, f.progress])).toEqual(Array(3).fill(['ECONNREFUSED', 'unsent']));
    expect(p.queued).toBe(0);
  });

  it('a request that waits past its timeout fails with UPSTREAM_TIMEOUT, unsent', async () => {
    const srv = await heldServer();
    const p = pool(srv.origin, { maxConnections: 1 });
    const first = new Recorder();
    p.request(request({ timeoutMs: 10_000 }), first, Date.now());
    const waiting = new Recorder();
    p.request(request({ timeoutMs: 100 }), waiting, Date.now());
    const { code, progress } = await waiting.failed();
    expect([code, progress]).toEqual(['UPSTREAM_TIMEOUT', 'unsent']);
    srv.answerAll();
    await first.ok();
    expect(srv.seen).toHaveLength(1);
  });

  it('close() fails the requests still waiting, unsent, and lets the busy one finish', async () => {
    const srv = await heldServer();
    const p = pool(srv.origin, { maxConnections: 1 });
    const busy = new Recorder();
    p.request(request(), busy, Date.now());
    const waiting = new Recorder();
    p.request(request(), waiting, Date.now());
    await until(() => srv.held.length === 1, 'the busy request at the endpoint');
    p.close();
    const { code, progress } = await waiting.failed();
    expect([code, progress]).toEqual(['UPSTREAM_ABORTED', 'unsent']);
    srv.answerAll();
    await busy.ok();
    expect(busy.body).toBe('done /');
  });

  it('2,000 requests at once reach a node:http endpoint without one reset (its listen backlog is 511)', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    const recorders = Array.from({ length: 2000 }, () => {
      const r = new Recorder();
      p.request(request(), r, Date.now());
      return r;
    });
    await Promise.all(recorders.map((r) => r.settled));
    const errors = recorders.filter((r) => r.error !== undefined).map((r) => (r.error as NodeJS.ErrnoException).code);
    expect(errors).toEqual([]);
    expect(recorders.every((r) => r.status === 200)).toBe(true);
    expect(srv.sockets.length).toBeLessThanOrEqual(1000);
  }, 30_000);
});

describe('UpstreamPool: how far a failed request got', () => {
  it('head: the endpoint reset after the head and before any body byte; the body stays unread and paused', async () => {
    const srv = await netServer((socket) => {
      let head = '';
      socket.on('data', (c: Buffer) => {
        head += c.toString('latin1');
        if (head.includes('\r\n\r\n')) socket.resetAndDestroy();
      });
    });
    const p = pool(srv.origin);
    const body = new PassThrough();
    const r = new Recorder();
    p.request(request({ method: 'POST', body, contentLength: 5 }), r, Date.now());
    const { code, progress, reused } = await r.failed();
    expect([code, progress, reused]).toEqual(['ECONNRESET', 'head', false]);
    expect(body.isPaused()).toBe(true);
    body.write('hello');
    expect((body.read() as Buffer | null)?.toString()).toBe('hello');
  });

  it('sent on a fresh connection, then sent on a reused one: the endpoint reset before answering', async () => {
    let requests = 0;
    const srv = await netServer((socket) => {
      let buffered = '';
      socket.on('data', (c: Buffer) => {
        buffered += c.toString('latin1');
        while (buffered.includes('\r\n\r\n')) {
          buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
          requests++;
          // The first request on a connection is answered, the second is reset.
          if (requests % 2 === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          else socket.resetAndDestroy();
        }
      });
    });
    const p = pool(srv.origin);
    expect((await roundTrip(p, request())).body).toBe('ok');
    const r = new Recorder();
    p.request(request(), r, Date.now());
    const second = await r.failed();
    expect([second.code, second.progress, second.reused]).toEqual(['ECONNRESET', 'sent', true]);

    const silent = await netServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const q = pool(silent.origin);
    const r2 = new Recorder();
    q.request(request(), r2, Date.now());
    const first = await r2.failed();
    expect([first.code, first.progress, first.reused]).toEqual(['ECONNRESET', 'sent', false]);
  });

  it('answering: the endpoint reset after the response began', async () => {
    const srv = await netServer(
      answerWith('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel', (socket) => setTimeout(() => socket.resetAndDestroy(), 20)),
    );
    const p = pool(srv.origin);
    const r = new Recorder();
    p.request(request(), r, Date.now());
    const { progress } = await r.failed();
    expect(progress).toBe('answering');
  });

  it('a POST without a body is sent with content-length: 0; a GET without one has no framing header', async () => {
    const srv = await httpServer(hello);
    const p = pool(srv.origin);
    await roundTrip(p, request({ method: 'POST' }));
    await roundTrip(p, request({ method: 'GET' }));
    expect(srv.seen[0]!.headers['content-length']).toBe('0');
    expect(srv.seen[1]!.headers['content-length']).toBeUndefined();
    expect(srv.seen[1]!.headers['transfer-encoding']).toBeUndefined();
  });

  it('a whole body goes with its length, whatever length the caller had in mind', async () => {
    const srv = await httpServer((_req, res, body) => res.end(`got ${body}`));
    const p = pool(srv.origin);
    const r = await roundTrip(p, request({ method: 'PUT', body: Buffer.from('abc'), contentLength: -1 }));
    expect(r.body).toBe('got abc');
    expect(srv.seen[0]!.headers['content-length']).toBe('3');
    expect(srv.seen[0]!.headers['transfer-encoding']).toBeUndefined();
  });
});

/**
 * The data port's server (src/downstream/) on its own, with real sockets on 127.0.0.1: framing
 * both ways, keep-alive and pipelining, 100 Continue, requests the parser refuses, clients that
 * leave, the Upgrade hand-over, stopping, the keep-alive timeout and backpressure. Clients are raw
 * `net` sockets, so the bytes on the wire are what is checked.
 *
 * The file runs against the server the data port would choose: its own HTTP/1.1 server, or the
 * node:http adapter with SLUICE_HTTP_SERVER=node (CI runs both). What only the former has
 * (readAll, the Response class option, the early HTTP/0.9 refusal) is in the describe blocks
 * registered for it alone, at the end.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseDataPort, createDataPortServer, type DataPortServer } from '../src/downstream/data-port-server.js';
import type { Http1Request } from '../src/downstream/http1-request.js';
import { Http1Response } from '../src/downstream/http1-response.js';
import { Http1Server, type Http1ServerOptions } from '../src/downstream/http1-server.js';
import type { ErrorBody } from './support/bodies.js';

/** The server under test: what the data port would run on here (SLUICE_HTTP_SERVER=node for the adapter). */
const KIND = chooseDataPort().kind;
/** Set while a test of the data port's own server runs: start() then makes an Http1Server whatever KIND is. */
let forced: 'http1' | undefined;

/**
 * A test of what only the data port's own server does (readAll, the early HTTP/0.9 refusal, a
 * request handed over only once its read is parsed, 'close' only for a response cut short, reading
 * a body only as it is consumed; node-http-server.ts lists these): it runs against an Http1Server
 * in every run, the node:http one included.
 */
function onHttp1Server(name: string, fn: () => Promise<void>): void {
  it(name, async () => {
    forced = 'http1';
    try {
      await fn();
    } finally {
      forced = undefined;
    }
  });
}
onHttp1Server.each =
  <T>(rows: readonly T[]) =>
  (name: string, fn: (row: T) => Promise<void>): void => {
    it.each(rows as T[])(name, async (row: T) => {
      forced = 'http1';
      try {
        await fn(row);
      } finally {
        forced = undefined;
      }
    });
  };

/** Bound on every wait for an event; a hang fails the test with what it waited for. */
const WAIT_MS = 5_000;
/** Test timeout: above WAIT_MS, so a failed wait reports itself rather than the runner's timeout. */
const TEST_MS = 20_000;

// --- what a test opens, closed after it ---

const servers: DataPortServer[] = [];
/** Client sockets, and server-side sockets handed to an upgrade handler. */
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await server.close();
  }
});

/** Handlers here may be async or return a count: the server ignores what they return. */
type RequestHandler = (req: Http1Request, res: Http1Response) => unknown;
type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

/**
 * The data port's server on 127.0.0.1:0 (an Http1Server when given its own options, such as
 * Response); an upgrade without a handler here is destroyed.
 */
async function start(
  request: RequestHandler,
  options: Http1ServerOptions & { upgrade?: UpgradeHandler; closed?: (res: Http1Response) => void } = {},
): Promise<{ server: DataPortServer; port: number }> {
  const upgrade: UpgradeHandler =
    options.upgrade ??
    ((_req, socket) => {
      sockets.push(socket);
      socket.destroy();
    });
  const handlers = { request, upgrade, closed: options.closed } as unknown as Parameters<typeof createDataPortServer>[1];
  const server =
    options.Response !== undefined ? new Http1Server(handlers, options) : createDataPortServer(forced ?? KIND, handlers, options);
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

// --- waiting ---

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The first value `probe` returns other than undefined (polled every 5 ms); fails after WAIT_MS. */
async function eventually<T>(probe: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  await eventually(() => (check() ? true : undefined), what);
}

/** `promise`, or a failure naming `what` when it has not settled within WAIT_MS. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for: ${what}`)), WAIT_MS)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise and the function that resolves it: a handler waits on it, the test opens it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

// --- handler helpers ---

/** The whole request body, through 'data' and 'end'. */
function readBody(req: Http1Request): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** A complete response with a Content-Length. */
function send(res: Http1Response, status: number, body: string | Buffer, headers: string[] = []): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, [...headers, 'content-length', String(bytes.length)]);
  res.end(bytes);
}

/** 'close' emitted by a response, as a promise. */
function closeOf(res: Http1Response): Promise<void> {
  return new Promise((resolve) => res.once('close', () => resolve()));
}

// --- a raw client ---

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}

interface RawResponse {
  statusLine: string;
  status: number;
  /** Header lines as sent ("name: value"). */
  lines: string[];
  /** The body, chunked framing removed. */
  body: Buffer;
  /** The body bytes as sent (with chunked framing, if any). */
  rawBody: Buffer;
}

/** All values of one header (name case-insensitive), joined with ", "; undefined when absent. */
function header(res: RawResponse, name: string): string | undefined {
  const values: string[] = [];
  for (const line of res.lines) {
    const colon = line.indexOf(':');
    if (line.slice(0, colon).toLowerCase() === name) values.push(line.slice(colon + 1).trim());
  }
  return values.length === 0 ? undefined : values.join(', ');
}

/**
 * One response from the front of `bytes`, with the number of bytes it took; undefined while it is
 * incomplete. `head`: the answer to a HEAD (no body). `ended`: the server closed its side, so a
 * body without a length ends here.
 */
function parseResponse(bytes: Buffer, head: boolean, ended: boolean): { response: RawResponse; used: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = bytes.toString('latin1', 0, end).split('\r\n');
  const status = Number(statusLine!.split(' ')[1]);
  const start = end + 4;
  const partial: RawResponse = { statusLine: statusLine!, status, lines, body: Buffer.alloc(0), rawBody: Buffer.alloc(0) };
  const length = header(partial, 'content-length');
  const done = (body: Buffer, used: number) => ({ response: { ...partial, body, rawBody: bytes.subarray(start, used) }, used });
  if (head || status < 200 || status === 204 || status === 304) return done(Buffer.alloc(0), start);
  if (header(partial, 'transfer-encoding') === 'chunked') {
    const chunks: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(bytes.toString('latin1', at, lineEnd).split(';')[0]!, 16);
      if (size === 0) {
        // No trailers from this server: the last chunk is "0\r\n\r\n".
        if (bytes.length < lineEnd + 4) return undefined;
        return done(Buffer.concat(chunks), lineEnd + 4);
      }
      if (bytes.length < lineEnd + 2 + size + 2) return undefined;
      chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (length !== undefined) {
    const used = start + Number(length);
    return bytes.length < used ? undefined : done(bytes.subarray(start, used), used);
  }
  return ended ? done(bytes.subarray(start), bytes.length) : undefined;
}

/** A raw TCP client: writes what it is given, keeps every byte it receives. */
class RawClient {
  readonly socket: Socket;
  /** The server closed its side. */
  ended = false;
  closed = false;
  private chunks: Buffer[] = [];

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    sockets.push(this.socket);
    this.socket.on('error', () => {}); // a reset shows up as 'close'
    this.socket.on('data', (data: Buffer) => this.chunks.push(data));
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('close', () => (this.closed = true));
  }

  /** Bytes received and not yet taken by `response()`. */
  get received(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next response (an interim one too); its bytes are taken from `received`. */
  async response(head = false): Promise<RawResponse> {
    const { response, used } = await eventually(() => parseResponse(this.received, head, this.ended), 'a complete response');
    this.chunks = [this.received.subarray(used)];
    return response;
  }

  async receivedText(text: string): Promise<void> {
    await waitFor(() => this.received.includes(text), JSON.stringify(text));
  }

  async untilClosed(): Promise<void> {
    await waitFor(() => this.closed, 'the connection to close');
  }
}

// --- 1. a GET with a Content-Length body ---

const HANDLER_DATE = 'Tue, 01 Jan 2030 00:00:00 GMT';
/** IMF-fixdate, as `Date.prototype.toUTCString` writes it. */
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

describe('Http1Server: a GET answered with a Content-Length body', { timeout: TEST_MS }, () => {
  const rows: Array<{ label: string; options?: Http1ServerOptions; headers: string[]; wantLines: string[] }> = [
    {
      label: 'a date is added when the handler gives none; keep-alive for 65 s by default',
      headers: ['content-type', 'text/plain'],
      wantLines: ['content-type: text/plain', 'content-length: 5', 'date: <generated>', 'connection: keep-alive', 'keep-alive: timeout=65'],
    },
    {
      label: "the handler's own Date is kept, not doubled",
      headers: ['Date', HANDLER_DATE, 'content-type', 'text/plain'],
      wantLines: [
        `Date: ${HANDLER_DATE}`,
        'content-type: text/plain',
        'content-length: 5',
        'connection: keep-alive',
        'keep-alive: timeout=65',
      ],
    },
    {
      label: 'the keep-alive hint is keepAliveTimeoutMs in whole seconds (5,500 ms → 5)',
      options: { keepAliveTimeoutMs: 5_500 },
      headers: ['x-a', '1'],
      wantLines: ['x-a: 1', 'content-length: 5', 'date: <generated>', 'connection: keep-alive', 'keep-alive: timeout=5'],
    },
  ];

  it.each(rows)('$label', async ({ options, headers, wantLines }) => {
    const seen: Http1Request[] = [];
    const { port } = await start((req, res) => {
      seen.push(req);
      send(res, 200, 'hello', headers);
    }, options);
    const client = new RawClient(port);
    client.write('GET /path?q=1 HTTP/1.1\r\nHost: test\r\nX-Client: yes\r\n\r\n');
    const res = await client.response();

    expect(res.statusLine).toBe('HTTP/1.1 200 OK');
    // The names of the headers the server adds may come in either case (node:http capitalises them).
    const serverCase = (l: string) => l.replace(/^(connection|keep-alive|date)(?=: )/i, (name) => name.toLowerCase());
    const generated = wantLines.includes('date: <generated>');
    const lines = res.lines.map(serverCase).map((line) => {
      if (!generated || !line.startsWith('date: ')) return line;
      expect(line.slice(6)).toMatch(IMF_FIXDATE);
      return 'date: <generated>';
    });
    expect(lines.sort()).toEqual(wantLines.map(serverCase).sort());
    expect(res.body.toString()).toBe('hello');
    expect(client.received.length).toBe(0);

    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe('/path?q=1');
    expect(seen[0]!.httpVersion).toBe('1.1');
    expect(seen[0]!.rawHeaders).toEqual(['Host', 'test', 'X-Client', 'yes']);
  });

  it('answers two requests one after the other on one connection', async () => {
    const seen: Http1Request[] = [];
    const { server, port } = await start((req, res) => {
      seen.push(req);
      send(res, 200, `you asked for ${req.url}`);
    });
    const client = new RawClient(port);
    client.write(get('/first'));
    const first = await client.response();
    client.write(get('/second'));
    const second = await client.response();

    expect(first.body.toString()).toBe('you asked for /first');
    expect(second.body.toString()).toBe('you asked for /second');
    expect(header(second, 'connection')).toBe('keep-alive');
    expect(seen.map((req) => req.url)).toEqual(['/first', '/second']);
    expect(seen[1]!.socket).toBe(seen[0]!.socket);
    expect(server.connectionCount).toBe(1);
    expect(client.closed).toBe(false);
  });
});

// --- 2. request bodies ---

describe('Http1Server: request bodies reach the handler byte-exact', { timeout: TEST_MS }, () => {
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const rows: Array<{ label: string; parts: Array<string | Buffer>; want: Buffer }> = [
    {
      label: 'Content-Length body with the head',
      parts: ['POST /u HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world'],
      want: Buffer.from('hello world'),
    },
    {
      label: 'Content-Length body over several writes',
      parts: ['POST /u HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhel', 'lo wo', 'rld'],
      want: Buffer.from('hello world'),
    },
    {
      label: 'binary Content-Length body (every byte value)',
      parts: [Buffer.concat([Buffer.from('PUT /b HTTP/1.1\r\nHost: test\r\nContent-Length: 256\r\n\r\n'), binary])],
      want: binary,
    },
    {
      label: 'chunked body',
      parts: ['POST /u HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'],
      want: Buffer.from('hello world'),
    },
    {
      label: 'chunked body split inside chunk sizes and data, with an extension and a trailer',
      parts: [
        'POST /u HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r',
        '\nhel',
        'lo\r\n1',
        '0\r\n0123456789abcdef\r\n0\r\nx-trailer: t\r\n\r\n',
      ],
      want: Buffer.from('hello0123456789abcdef'),
    },
    { label: 'GET without a body: end still fires', parts: [get('/nobody')], want: Buffer.alloc(0) },
    { label: 'Content-Length: 0', parts: ['POST /u HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n'], want: Buffer.alloc(0) },
    {
      label: 'empty chunked body',
      parts: ['POST /u HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      want: Buffer.alloc(0),
    },
  ];

  it.each(rows)('$label', async ({ parts, want }) => {
    const bodies: Buffer[] = [];
    const { port } = await start(async (req, res) => {
      const body = await readBody(req);
      bodies.push(body);
      send(res, 200, String(body.length));
    });
    const client = new RawClient(port);
    for (const part of parts) {
      client.write(part);
      await sleep(10); // separate reads on the server, most of the time
    }
    const res = await client.response();
    expect(res.status).toBe(200);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.equals(want)).toBe(true);
  });

  onHttp1Server('hands a body that came with the head over whole through readAll(), and then emits no data or end', async () => {
    const got: Array<{ complete: boolean; all: Buffer | undefined; again: Buffer | undefined; events: number }> = [];
    const { port } = await start((req, res) => {
      const row = { complete: req.complete, all: req.readAll(), again: req.readAll(), events: 0 };
      got.push(row);
      req.on('data', () => row.events++);
      req.on('end', () => row.events++);
      setTimeout(() => send(res, 200, 'ok'), 20);
    });
    const client = new RawClient(port);
    client.write('POST /u HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world');
    expect((await client.response()).status).toBe(200);
    expect(got).toHaveLength(1);
    expect(got[0]!.complete).toBe(true);
    expect(got[0]!.all?.toString()).toBe('hello world');
    expect(got[0]!.again).toBeUndefined();
    expect(got[0]!.events).toBe(0);
  });

  onHttp1Server('gives no readAll() for a body still arriving, and streams it instead', async () => {
    const got: Array<{ all: Buffer | undefined; body: Buffer }> = [];
    const { port } = await start(async (req, res) => {
      const all = req.readAll();
      got.push({ all, body: await readBody(req) });
      send(res, 200, 'ok');
    });
    const client = new RawClient(port);
    client.write('POST /u HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello');
    await sleep(20);
    client.write(' world');
    expect((await client.response()).status).toBe(200);
    expect(got).toHaveLength(1);
    expect(got[0]!.all).toBeUndefined();
    expect(got[0]!.body.toString()).toBe('hello world');
  });

  it('delivers a 5 MiB body in order to a slow reader that pauses after every chunk', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let readerPaused = false;
    let dataWhilePaused = 0;
    const { port } = await start((req, res) => {
      req.on('data', (chunk: Buffer) => {
        if (readerPaused) dataWhilePaused++;
        chunks.push(chunk);
        req.pause();
        readerPaused = true;
        // Every eighth chunk waits a few ms, the others a turn of the event loop.
        setTimeout(
          () => {
            readerPaused = false;
            req.resume();
          },
          chunks.length % 8 === 0 ? 5 : 0,
        );
      });
      req.on('end', () => send(res, 200, 'read'));
    });
    const client = new RawClient(port);
    client.write(`POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: ${body.length}\r\n\r\n`);
    client.write(body);
    const res = await client.response();
    expect(res.body.toString()).toBe('read');
    expect(dataWhilePaused).toBe(0);
    const received = Buffer.concat(chunks);
    expect(received.length).toBe(body.length);
    expect(received.equals(body)).toBe(true);
  });
});

// --- 3 and 4. responses without a length ---

describe('Http1Server: a response without Content-Length', { timeout: TEST_MS }, () => {
  it('is chunked to an HTTP/1.1 client, and a flushed head and each write reach it before end()', async () => {
    const steps = [gate(), gate(), gate()];
    const { port } = await start(async (_req, res) => {
      res.writeHead(200, ['content-type', 'text/event-stream']);
      res.flushHeaders();
      await steps[0]!.promise;
      res.write(Buffer.from('first'));
      await steps[1]!.promise;
      res.write(Buffer.from('second'));
      await steps[2]!.promise;
      res.end(Buffer.from('third'));
    });
    const client = new RawClient(port);
    client.write(get('/stream'));

    await client.receivedText('\r\n\r\n');
    const head = client.received.toString('latin1');
    expect(head.endsWith('\r\n\r\n')).toBe(true); // the head alone, nothing after it yet
    steps[0]!.open();
    await client.receivedText('5\r\nfirst\r\n');
    steps[1]!.open();
    await client.receivedText('6\r\nsecond\r\n');
    expect(client.received.includes('0\r\n\r\n')).toBe(false);
    steps[2]!.open();

    const res = await client.response();
    expect(res.statusLine).toBe('HTTP/1.1 200 OK');
    expect(header(res, 'transfer-encoding')).toBe('chunked');
    expect(header(res, 'content-length')).toBeUndefined();
    expect(header(res, 'connection')).toBe('keep-alive');
    expect(res.rawBody.toString()).toBe('5\r\nfirst\r\n6\r\nsecond\r\n5\r\nthird\r\n0\r\n\r\n');
    expect(client.closed).toBe(false);
  });

  const rows: Array<{
    label: string;
    request: string;
    /** The handler gives a Content-Length. */
    length: boolean;
    wantConnection: string;
    wantRawBody: string;
    /** The server closes the connection after the response. */
    wantClosed: boolean;
  }> = [
    {
      label: 'HTTP/1.1: chunked, connection kept',
      request: 'GET / HTTP/1.1\r\nHost: test\r\n\r\n',
      length: false,
      wantConnection: 'keep-alive',
      wantRawBody: '3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n',
      wantClosed: false,
    },
    {
      label: 'HTTP/1.0: body ended by closing the connection, no chunked framing',
      request: 'GET / HTTP/1.0\r\n\r\n',
      length: false,
      wantConnection: 'close',
      wantRawBody: 'abcdef',
      wantClosed: true,
    },
    {
      label: 'HTTP/1.0 asking for keep-alive: still ended by close',
      request: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      length: false,
      wantConnection: 'close',
      wantRawBody: 'abcdef',
      wantClosed: true,
    },
    {
      label: 'HTTP/1.0 asking for keep-alive, response with a length: connection kept',
      request: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      length: true,
      wantConnection: 'keep-alive',
      wantRawBody: 'abcdef',
      wantClosed: false,
    },
    {
      label: 'HTTP/1.0 without keep-alive, response with a length: closed after it',
      request: 'GET / HTTP/1.0\r\n\r\n',
      length: true,
      wantConnection: 'close',
      wantRawBody: 'abcdef',
      wantClosed: true,
    },
  ];

  it.each(rows)('$label', async ({ request, length, wantConnection, wantRawBody, wantClosed }) => {
    const { port } = await start((_req, res) => {
      res.writeHead(200, length ? ['content-length', '6'] : []);
      res.write(Buffer.from('abc'));
      res.end(Buffer.from('def'));
    });
    const client = new RawClient(port);
    client.write(request);
    if (wantClosed) await client.untilClosed();
    const res = await client.response();
    expect(res.statusLine).toBe('HTTP/1.1 200 OK');
    expect(header(res, 'connection')).toBe(wantConnection);
    expect(header(res, 'transfer-encoding')).toBe(length || wantClosed ? undefined : 'chunked');
    expect(res.rawBody.toString()).toBe(wantRawBody);
    if (!wantClosed) {
      // Still open: a next request is answered.
      client.write(request);
      expect((await client.response()).body.toString()).toBe('abcdef');
      expect(client.closed).toBe(false);
    }
  });
});

// --- 5. responses without a body ---

describe('Http1Server: HEAD, 204 and 304 carry no body', { timeout: TEST_MS }, () => {
  const rows: Array<{ label: string; method: string; status: number; headers: string[]; wantLength: string | undefined }> = [
    {
      label: 'HEAD: Content-Length kept as given, the body the handler writes is not sent',
      method: 'HEAD',
      status: 200,
      headers: ['content-length', '11'],
      wantLength: '11',
    },
    { label: 'HEAD without a length', method: 'HEAD', status: 200, headers: [], wantLength: undefined },
    { label: '204 with a body written', method: 'GET', status: 204, headers: [], wantLength: undefined },
    { label: '304 with a body written', method: 'GET', status: 304, headers: ['etag', '"v1"'], wantLength: undefined },
  ];

  it.each(rows)('$label', async ({ method, status, headers, wantLength }) => {
    const { port } = await start((req, res) => {
      if (req.url === '/next') return send(res, 200, 'next');
      res.writeHead(status, headers);
      res.write(Buffer.from('hello'));
      res.end(Buffer.from(' world'));
    });
    const client = new RawClient(port);
    client.write(`${method} / HTTP/1.1\r\nHost: test\r\n\r\n`);
    const res = await client.response(method === 'HEAD');
    expect(res.status).toBe(status);
    expect(header(res, 'content-length')).toBe(wantLength);
    if (status !== 200) expect(header(res, 'transfer-encoding')).toBeUndefined();

    // No body bytes: the next thing on the connection is the next response's status line.
    client.write(get('/next'));
    await client.receivedText('next');
    expect(client.received.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect((await client.response()).body.toString()).toBe('next');
  });
});

// --- 6. pipelining ---

/** Answers `${method} ${path} ${body}` after the delay in `?delay=ms`. */
const delayedEcho: RequestHandler = async (req, res) => {
  const body = await readBody(req);
  const delay = Number(/delay=(\d+)/.exec(req.url)?.[1] ?? 0);
  if (delay > 0) await sleep(delay);
  const text = `${req.method} ${req.url.split('?')[0]} ${body.toString()}`;
  send(res, 200, text);
};

describe('Http1Server: pipelined requests', { timeout: TEST_MS }, () => {
  it('answers requests sent in one write in order, whatever each one takes', async () => {
    const { port } = await start(delayedEcho);
    const client = new RawClient(port);
    client.write(
      get('/1?delay=60') +
        'POST /2 HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\ntwo' +
        get('/3?delay=30') +
        'POST /4?delay=5 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfour\r\n0\r\n\r\n' +
        'HEAD /5?delay=10 HTTP/1.1\r\nHost: test\r\n\r\n' +
        get('/6'),
    );
    const bodies: string[] = [];
    for (let i = 1; i <= 6; i++) {
      const res = await client.response(i === 5);
      bodies.push(i === 5 ? `HEAD ${header(res, 'content-length')}` : res.body.toString());
    }
    expect(bodies).toEqual(['GET /1 ', 'POST /2 two', 'GET /3 ', 'POST /4 four', 'HEAD 8', 'GET /6 ']);
    expect(client.received.length).toBe(0);
    expect(client.closed).toBe(false);
  });

  it('answers 100 requests sent in one write, in order', async () => {
    const { port } = await start(delayedEcho);
    const client = new RawClient(port);
    let burst = '';
    for (let i = 0; i < 100; i++) burst += get(`/${i}?delay=${i % 7 === 0 ? 3 : 0}`);
    client.write(burst);
    for (let i = 0; i < 100; i++) expect((await client.response()).body.toString()).toBe(`GET /${i} `);
  });

  it('reads the body of a pipelined request that arrives after the request is dispatched', async () => {
    const first = gate();
    let firstStarted = false;
    const { port } = await start(async (req, res) => {
      if (req.url === '/first') {
        firstStarted = true;
        await first.promise;
        return send(res, 200, 'first');
      }
      const body = await readBody(req);
      send(res, 200, `second got ${body.toString()}`);
    });
    const client = new RawClient(port);
    // The second head arrives while the first request is in progress; its body comes later.
    client.write(get('/first') + 'POST /second HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\n');
    await waitFor(() => firstStarted, 'the first request to start');
    first.open();
    expect((await client.response()).body.toString()).toBe('first');
    client.write('hello');
    expect((await client.response()).body.toString()).toBe('second got hello');
  });
});

// --- 7. 100 Continue ---

describe('Http1Server: Expect: 100-continue', { timeout: TEST_MS }, () => {
  it('sends 100 Continue before the client sends the body, then the final response', async () => {
    const completeAtDispatch: boolean[] = [];
    const { port } = await start(async (req, res) => {
      completeAtDispatch.push(req.complete);
      const body = await readBody(req);
      send(res, 201, `got ${body.toString()}`);
    });
    const client = new RawClient(port);
    client.write('PUT /up HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    await client.receivedText('\r\n\r\n');
    expect(client.received.toString('latin1')).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    const interim = await client.response();
    expect(interim.status).toBe(100);

    client.write('hello');
    const res = await client.response();
    expect(res.statusLine).toBe('HTTP/1.1 201 Created');
    expect(res.body.toString()).toBe('got hello');
    expect(completeAtDispatch).toEqual([false]);
  });
});

// --- 8. requests the parser refuses ---

describe('Http1Server: malformed requests', { timeout: TEST_MS }, () => {
  const bigValue = 'a'.repeat(17 * 1024);
  const rows: Array<{ label: string; parts: string[]; wantStatus: number; wantCode?: string }> = [
    { label: 'not a request line', parts: ['NOT A REQUEST\r\n\r\n'], wantStatus: 400 },
    { label: 'unknown HTTP version', parts: ['GET / HTTP/7.1\r\nHost: test\r\n\r\n'], wantStatus: 505, wantCode: 'version_not_supported' },
    { label: 'HTTP/1.2', parts: ['GET / HTTP/1.2\r\nHost: test\r\n\r\n'], wantStatus: 505, wantCode: 'version_not_supported' },
    {
      label: 'HTTP/2.0 in a request line (h2 is not spoken like this)',
      parts: ['GET / HTTP/2.0\r\nHost: test\r\n\r\n'],
      wantStatus: 505,
      wantCode: 'version_not_supported',
    },
    { label: 'a malformed version', parts: ['GET / HTTP/1.x\r\nHost: test\r\n\r\n'], wantStatus: 400 },
    { label: 'a bare LF after the version', parts: ['GET / HTTP/1.1\nHost: test\n\n'], wantStatus: 400 },
    { label: 'space in a header name', parts: ['GET / HTTP/1.1\r\nHost: test\r\nBad Name: 1\r\n\r\n'], wantStatus: 400 },
    { label: 'control character in a header name', parts: ['GET / HTTP/1.1\r\nHost: test\r\nBad\x01: 1\r\n\r\n'], wantStatus: 400 },
    { label: 'header line without a colon', parts: ['GET / HTTP/1.1\r\nHost: test\r\nnocolon\r\n\r\n'], wantStatus: 400 },
    { label: 'Content-Length not a number', parts: ['POST / HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n'], wantStatus: 400 },
    {
      label: 'both Content-Length and Transfer-Encoding',
      parts: ['POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      wantStatus: 400,
    },
    {
      label: 'CONNECT (a forward proxy method)',
      parts: ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
      wantStatus: 400,
    },
    { label: 'head over 16 KiB in one write', parts: [`GET / HTTP/1.1\r\nHost: test\r\nX-Big: ${bigValue}\r\n\r\n`], wantStatus: 431 },
    {
      label: 'head over 16 KiB over many writes',
      parts: ['GET / HTTP/1.1\r\nHost: test\r\n', ...Array.from({ length: 20 }, (_, i) => `X-H${i}: ${'b'.repeat(1000)}\r\n`), '\r\n'],
      wantStatus: 431,
    },
  ];

  it.each(rows)('$label → $wantStatus, handler not called, connection closed', async ({ parts, wantStatus, wantCode = 'bad_request' }) => {
    let calls = 0;
    const { port } = await start(
      (_req, res) => {
        calls++;
        send(res, 200, 'served');
      },
      {
        upgrade: (_req, socket) => {
          calls++;
          sockets.push(socket);
          socket.destroy();
        },
      },
    );
    const client = new RawClient(port);
    for (const part of parts) {
      if (client.closed) break;
      client.write(part);
      if (parts.length > 1) await sleep(2);
    }
    await client.untilClosed();
    const res = await client.response();
    expect(res.status).toBe(wantStatus);
    expect(header(res, 'connection')).toBe('close');
    expect(header(res, 'content-type')).toBe('application/json');
    const json = JSON.parse(res.body.toString()) as { error: { code: string; message: unknown } };
    expect(json.error.code).toBe(wantCode);
    expect(typeof json.error.message).toBe('string');
    expect(calls).toBe(0);
  });

  onHttp1Server.each([
    { label: 'a request line without a version, and nothing more', parts: ['GET /\r\n'] },
    { label: 'a request line without a version, after empty lines', parts: ['\r\n\r\nGET /index.html\r\n'] },
    { label: 'an HTTP/0.9 request with an empty line', parts: ['GET /\r\n\r\n'] },
    { label: 'HTTP/0.9 written out', parts: ['GET / HTTP/0.9\r\nHost: test\r\n\r\n'] },
  ])('HTTP/0.9, $label: closed at once without an answer, handler not called', async ({ parts }) => {
    let calls = 0;
    const { port } = await start(() => calls++);
    const client = new RawClient(port);
    for (const part of parts) client.write(part);
    // Closed by the server long before its 60 s head deadline (the test's own timeout is shorter).
    await client.untilClosed();
    expect(client.received.length).toBe(0);
    expect(calls).toBe(0);
  });

  it("a bad chunk size after a valid head (the request was already handed over): 400, connection closed, its response hears 'close'", async () => {
    const closes: Array<Promise<void>> = [];
    let dispatched!: () => void;
    const handedOver = new Promise<void>((resolve) => (dispatched = resolve));
    const { port } = await start((_req, res) => {
      closes.push(closeOf(res)); // the head is valid, so the request was dispatched; never answered
      dispatched();
    });
    const client = new RawClient(port);
    client.write('POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n');
    await within(handedOver, 'the request reaching the handler');
    client.write('zz\r\nhello\r\n0\r\n\r\n');
    await client.untilClosed();
    expect(closes).toHaveLength(1);
    await within(closes[0]!, "the response's close");
    const res = await client.response();
    expect(res.status).toBe(400);
    expect(header(res, 'connection')).toBe('close');
    expect((JSON.parse(res.body.toString()) as { error: { code: string } }).error.code).toBe('bad_request');
  });

  onHttp1Server('a bad chunk size in the same read as its head: 400, connection closed, the handler never called', async () => {
    let calls = 0;
    const { port } = await start(() => calls++);
    const client = new RawClient(port);
    client.write('POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
    await client.untilClosed();
    const res = await client.response();
    expect(res.status).toBe(400);
    expect((JSON.parse(res.body.toString()) as { error: { code: string } }).error.code).toBe('bad_request');
    expect(calls).toBe(0);
  });

  it('serves a head of 100 headers that arrives over several writes (below 16 KiB)', async () => {
    const seen: Http1Request[] = [];
    const { port } = await start((req, res) => {
      seen.push(req);
      send(res, 200, 'ok');
    });
    const client = new RawClient(port);
    const lines = Array.from({ length: 100 }, (_, i) => `X-H${i}: v${i}\r\n`);
    client.write('GET /a-long-');
    await sleep(5);
    client.write('target HTTP/1.1\r\nHost: test\r\n' + lines.slice(0, 50).join(''));
    await sleep(5);
    client.write(lines.slice(50).join('') + '\r\n');
    expect((await client.response()).body.toString()).toBe('ok');
    expect(seen[0]!.url).toBe('/a-long-target');
    expect(seen[0]!.rawHeaders).toEqual(['Host', 'test', ...Array.from({ length: 100 }, (_, i) => [`X-H${i}`, `v${i}`]).flat()]);
  });
});

// --- 9. Connection: close from the client ---

describe('Http1Server: a head that takes too long', { timeout: TEST_MS }, () => {
  it('answers 408 request_timeout and closes when a head trickles in past headersTimeoutMs', async () => {
    let calls = 0;
    const { port } = await start(() => calls++, { headersTimeoutMs: 300 });
    const client = new RawClient(port);
    client.write('GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    // One byte every 50 ms keeps the connection active, so only the head deadline can end it.
    const trickle = setInterval(() => client.socket.writable && client.write('a'), 50);
    try {
      await client.untilClosed();
    } finally {
      clearInterval(trickle);
    }
    const res = await client.response();
    expect(res.status).toBe(408);
    expect((JSON.parse(res.body.toString()) as { error: { code: string } }).error.code).toBe('request_timeout');
    expect(calls).toBe(0);
  });

  it('serves a head that arrives in pieces within headersTimeoutMs, and keeps the connection for the next one', async () => {
    const { port } = await start((req, res) => send(res, 200, req.url), { headersTimeoutMs: 1_000 });
    const client = new RawClient(port);
    for (const piece of ['GET /slow', '-but-in-time HTTP/1.1\r\n', 'Host: test\r\n', '\r\n']) {
      client.write(piece);
      await sleep(30);
    }
    expect((await client.response()).body.toString()).toBe('/slow-but-in-time');
    // The deadline is per head: a connection idle after its request, longer than the deadline, is not cut by it.
    await sleep(1_500);
    client.write(get('/next'));
    expect((await client.response()).body.toString()).toBe('/next');
  });
});

describe('Http1Server: Connection: close from the client', { timeout: TEST_MS }, () => {
  const rows: Array<{ label: string; length: boolean }> = [
    { label: 'response with a Content-Length', length: true },
    { label: 'chunked response', length: false },
  ];

  it.each(rows)('$label: says connection: close and closes the connection after it', async ({ length }) => {
    const { port } = await start(async (_req, res) => {
      await sleep(5);
      res.writeHead(200, length ? ['content-length', '4'] : []);
      res.end(Buffer.from('done'));
    });
    const client = new RawClient(port);
    client.write(get('/a', 'Connection: close\r\n'));
    await client.untilClosed();
    const res = await client.response();
    expect(header(res, 'connection')).toBe('close');
    expect(res.body.toString()).toBe('done');
    expect(client.received.length).toBe(0);
  });

  it('answers the request that said close, and not one pipelined behind it (RFC 9112 §9.6)', async () => {
    const urls: string[] = [];
    const { port } = await start(async (req, res) => {
      urls.push(req.url);
      await sleep(5);
      send(res, 200, 'done');
    });
    const client = new RawClient(port);
    client.write(get('/a', 'Connection: close\r\n') + get('/b'));
    await client.untilClosed();
    const res = await client.response();
    expect(header(res, 'connection')).toBe('close');
    expect(res.body.toString()).toBe('done');
    expect(client.received.length).toBe(0);
    expect(urls).toEqual(['/a']);
  });
});

// --- 10. clients that leave ---

describe('Http1Server: the closed hook and the response class', { timeout: TEST_MS }, () => {
  it('reports each response once when it is over: ended ones finished, cut-short ones not', async () => {
    const closed: Array<{ url: string; finished: boolean }> = [];
    let held: Http1Response | undefined;
    const { port } = await start(
      (req, res) => {
        if (req.url === '/hold')
          held = res; // never answered: the client leaves
        else send(res, 200, 'ok');
      },
      { closed: (res) => closed.push({ url: res.req.url, finished: res.writableFinished }) },
    );
    const client = new RawClient(port);
    client.write(get('/a'));
    await client.response();
    client.write(get('/b', 'Connection: close\r\n'));
    await client.response();
    await client.untilClosed();
    const leaver = new RawClient(port);
    leaver.write(get('/hold'));
    await waitFor(() => held !== undefined, 'the held request at the handler');
    leaver.socket.destroy();
    await waitFor(() => closed.length === 3, 'three closed reports');
    await sleep(50); // a second report for any of them would land by now
    expect(closed).toEqual([
      { url: '/a', finished: true },
      { url: '/b', finished: true },
      { url: '/hold', finished: false },
    ]);
  });

  it('makes its responses of the class given as Response', async () => {
    class TaggedResponse extends Http1Response {
      override writeHead(statusCode: number, headers: string[]): this {
        return super.writeHead(statusCode, [...headers, 'x-class', 'tagged']);
      }
    }
    const made: boolean[] = [];
    const { port } = await start(
      (_req, res) => {
        made.push(res instanceof TaggedResponse);
        send(res, 200, 'ok');
      },
      { Response: TaggedResponse },
    );
    const client = new RawClient(port);
    client.write(get('/'));
    const res = await client.response();
    expect(made).toEqual([true]);
    expect(header(res, 'x-class')).toBe('tagged');
  });
});

describe('Http1Server: a client that leaves before the response ends', { timeout: TEST_MS }, () => {
  const rows: Array<{ label: string; answerFirst: boolean; leave: (client: RawClient) => void }> = [
    { label: 'destroyed before the handler answers', answerFirst: false, leave: (client) => client.socket.destroy() },
    { label: 'destroyed mid-response, after the head and a chunk', answerFirst: true, leave: (client) => client.socket.destroy() },
    { label: 'half-closed (end) while the request is pending', answerFirst: false, leave: (client) => client.socket.end() },
    { label: 'half-closed (end) mid-response', answerFirst: true, leave: (client) => client.socket.end() },
  ];

  it.each(rows)("$label: the response emits 'close'", async ({ answerFirst, leave }) => {
    const responses: Http1Response[] = [];
    const { server, port } = await start((_req, res) => {
      responses.push(res);
      if (answerFirst) {
        res.writeHead(200, []);
        res.flushHeaders();
        res.write(Buffer.from('part'));
      }
    });
    const client = new RawClient(port);
    client.write(get('/'));
    const res = await eventually(() => responses[0], 'the handler to be called');
    const closed = closeOf(res);
    if (answerFirst) await client.receivedText('4\r\npart\r\n');
    leave(client);
    await within(closed, "the response's close");
    await waitFor(() => server.connectionCount === 0, 'the server to forget the connection');
  });

  onHttp1Server("a response that ended does not emit 'close' when its connection closes later", async () => {
    let closes = 0;
    const { server, port } = await start((_req, res) => {
      res.on('close', () => closes++);
      send(res, 200, 'ok');
    });
    const client = new RawClient(port);
    client.write(get('/'));
    await client.response();
    client.socket.destroy();
    await waitFor(() => server.connectionCount === 0, 'the server to forget the connection');
    expect(closes).toBe(0);
  });
});

// --- 11. Upgrade ---

describe('Http1Server: Upgrade requests', { timeout: TEST_MS }, () => {
  it('hands the request, the socket and the bytes after the head to the upgrade handler, and stops reading', async () => {
    const upgrades: Array<{ req: IncomingMessage; socket: Socket; head: Buffer }> = [];
    let requests = 0;
    const { server, port } = await start(() => requests++, {
      // Shorter than the wait below: an upgraded socket is no longer subject to it.
      keepAliveTimeoutMs: 250,
      upgrade: (req, socket, head) => {
        sockets.push(socket);
        upgrades.push({ req, socket, head });
      },
    });
    const client = new RawClient(port);
    client.write(
      'GET /chat?room=1 HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'X-Multi: a\r\nx-multi: b\r\nCookie: a=1\r\nCookie: b=2\r\n\r\nEARLY-BYTES',
    );
    const { req, socket, head } = await eventually(() => upgrades[0], 'the upgrade handler to be called');
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/chat?room=1');
    expect(req.httpVersion).toBe('1.1');
    expect(req.rawHeaders).toEqual([
      'Host',
      'test',
      'Connection',
      'Upgrade',
      'Upgrade',
      'websocket',
      'X-Multi',
      'a',
      'x-multi',
      'b',
      'Cookie',
      'a=1',
      'Cookie',
      'b=2',
    ]);
    expect(req.headers).toEqual({ host: 'test', connection: 'Upgrade', upgrade: 'websocket', 'x-multi': 'a, b', cookie: 'a=1; b=2' });
    expect(head.toString()).toBe('EARLY-BYTES');
    expect(requests).toBe(0);
    expect(server.connectionCount).toBe(0);

    // The handler reads the socket only later (as a held upgrade does); nothing is lost meanwhile.
    client.write('LATER');
    await sleep(600);
    const later: Buffer[] = [];
    socket.on('data', (data: Buffer) => later.push(data));
    await waitFor(() => Buffer.concat(later).toString() === 'LATER', 'the bytes sent after the hand-over');
    expect(client.received.length).toBe(0); // the server wrote nothing on the handed-over socket
    expect(client.closed).toBe(false);

    socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
    await client.receivedText('\r\n\r\n');
    expect(client.received.toString()).toBe('HTTP/1.1 101 Switching Protocols\r\n\r\n');
  });
});

describe('Http1Server: Upgrade requests that are declined', { timeout: TEST_MS }, () => {
  it.each([
    {
      label: 'Upgrade: h2c (curl --http2) on a GET',
      request:
        'GET /a HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
      want: 'GET /a ',
    },
    {
      label: 'Upgrade: h2c on a POST with a body',
      request: 'POST /a HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello',
      want: 'POST /a hello',
    },
    {
      label: 'Upgrade: websocket on a POST (RFC 6455 wants a GET)',
      request: 'POST /a HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi',
      want: 'POST /a hi',
    },
  ])('$label: served as HTTP/1.1, and a request pipelined behind it too', async ({ request, want }) => {
    let upgrades = 0;
    const { port } = await start(delayedEcho, {
      upgrade: (_req, socket) => {
        upgrades++;
        sockets.push(socket);
        socket.destroy();
      },
    });
    const client = new RawClient(port);
    client.write(request + get('/next'));
    const hasBody = request.startsWith('POST');
    if (KIND === 'node' && hasBody) {
      // node:http has stopped parsing the connection at the head: a body it cannot read is refused.
      const refused = await client.response();
      expect(refused.status).toBe(400);
      expect((JSON.parse(refused.body.toString()) as ErrorBody).error.message).toContain('Upgrade request with a body');
      await client.untilClosed();
    } else {
      const first = await client.response();
      expect(first.status).toBe(200);
      expect(first.body.toString()).toBe(want);
      if (KIND === 'http1') {
        expect(header(first, 'connection')).toBe('keep-alive');
        const second = await client.response();
        expect(second.body.toString()).toBe('GET /next ');
      } else {
        // node:http: served, then the connection closes (it was no longer parsed past the head).
        expect(header(first, 'connection')).toBe('close');
        await client.untilClosed();
      }
    }
    expect(upgrades).toBe(0);
    expect(client.received.toString('latin1')).not.toContain('101');
  });
});

// --- 12. stopping ---

describe('Http1Server: stopping', { timeout: TEST_MS }, () => {
  /** A server where GET /slow waits for `slow` to open; anything else is answered at once. */
  /** A server with one idle keep-alive connection (answered /fast) and one busy on /slow until `slow` opens. */
  async function idleAndBusy(slow: { promise: Promise<void> }) {
    const started = { slow: 0 };
    const responses: Http1Response[] = [];
    const { server, port } = await start(async (req, res) => {
      responses.push(res);
      if (req.url !== '/slow') return send(res, 200, 'fast');
      started.slow++;
      await slow.promise;
      if (!res.writableFinished) send(res, 200, 'slow');
    });
    const idle = new RawClient(port);
    idle.write(get('/fast'));
    await idle.response();
    const busy = new RawClient(port);
    busy.write(get('/slow'));
    await waitFor(() => started.slow === 1, 'the slow request to start');
    return { server, port, responses, idle, busy };
  }

  it('closeIdleConnections closes idle keep-alive connections, and busy ones only after their response', async () => {
    const slow = gate();
    const { server, idle, busy } = await idleAndBusy(slow);

    server.closeIdleConnections();
    await idle.untilClosed();
    expect(busy.closed).toBe(false);
    expect(server.connectionCount).toBe(1);

    slow.open();
    const res = await busy.response();
    expect(res.body.toString()).toBe('slow');
    expect(header(res, 'connection')).toBe('close');
    await busy.untilClosed();
  });

  const closeRows: Array<{ label: string; flushBeforeClose: boolean; wantConnection: string }> = [
    { label: 'head not yet written at close(): it says connection: close', flushBeforeClose: false, wantConnection: 'close' },
    { label: 'head already sent with keep-alive at close()', flushBeforeClose: true, wantConnection: 'keep-alive' },
  ];

  it.each(closeRows)(
    'close(), $label; the connection closes after the response and close() resolves',
    async ({ flushBeforeClose, wantConnection }) => {
      const flushed = gate();
      const finish = gate();
      const { server, port } = await start(async (_req, res) => {
        if (flushBeforeClose) {
          res.writeHead(200, ['content-length', '4']);
          res.flushHeaders();
        }
        flushed.open();
        await finish.promise;
        if (!flushBeforeClose) res.writeHead(200, ['content-length', '4']);
        res.end(Buffer.from('done'));
      });
      const client = new RawClient(port);
      client.write(get('/'));
      await within(flushed.promise, 'the handler to start');
      if (flushBeforeClose) await client.receivedText('\r\n\r\n');

      let stopped = false;
      const closed = server.close().then(() => (stopped = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      expect(client.closed).toBe(false);

      finish.open();
      const res = await client.response();
      expect(res.body.toString()).toBe('done');
      expect(header(res, 'connection')).toBe(wantConnection);
      await client.untilClosed();
      await within(closed, 'close() to resolve');
      expect(server.connectionCount).toBe(0);

      // No longer listening.
      const refused = connect(server.address()?.port ?? port, '127.0.0.1');
      sockets.push(refused);
      const error = await within(new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve)), 'a refused connection');
      expect(error.code).toBe('ECONNREFUSED');
    },
  );

  it('close() and closeIdleConnections() while the request body is still arriving after a flushed response head', async () => {
    const finish = gate();
    const { server, port } = await start(async (_req, res) => {
      res.writeHead(200, ['content-length', '2']);
      res.flushHeaders();
      await finish.promise;
      res.end(Buffer.from('ok'));
    });
    const client = new RawClient(port);
    client.write('POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n12345');
    await client.receivedText('\r\n\r\n');

    const closed = server.close();
    server.closeIdleConnections();
    finish.open();
    expect((await client.response()).body.toString()).toBe('ok');
    client.write('67890'); // the rest of the body, read and dropped; then the connection closes
    await client.untilClosed();
    await within(closed, 'close() to resolve');
  });

  it('closeAllConnections cuts idle and busy connections; the busy response hears close', async () => {
    const slow = gate();
    const { server, responses, idle, busy } = await idleAndBusy(slow);
    const busyClosed = closeOf(responses[1]!);

    const closed = server.close();
    server.closeAllConnections();
    await idle.untilClosed();
    await busy.untilClosed();
    await within(busyClosed, "the busy response's close");
    await within(closed, 'close() to resolve');
    expect(busy.received.length).toBe(0);
  });
});

// --- 13. keep-alive timeout ---

describe('Http1Server: keep-alive timeout', { timeout: TEST_MS }, () => {
  const rows: Array<{ label: string; request: boolean }> = [
    { label: 'idle after a response', request: true },
    { label: 'connected and never sent a request', request: false },
  ];

  it.each(rows)('closes a connection $label', async ({ request }) => {
    const { server, port } = await start((_req, res) => send(res, 200, 'ok'), { keepAliveTimeoutMs: 200 });
    const client = new RawClient(port);
    if (request) {
      client.write(get('/'));
      expect((await client.response()).body.toString()).toBe('ok');
    }
    await client.untilClosed();
    await waitFor(() => server.connectionCount === 0, 'the server to forget the connection');
  });

  it('still answers a request whose handler takes longer than the timeout', async () => {
    const { port } = await start(
      async (_req, res) => {
        await sleep(700); // over three timeouts
        send(res, 200, 'late');
      },
      { keepAliveTimeoutMs: 200 },
    );
    const client = new RawClient(port);
    client.write(get('/'));
    const res = await client.response();
    expect(res.body.toString()).toBe('late');
    // Idle again: the timeout applies again.
    await client.untilClosed();
  });
});

// --- 14. a response that ends before the request body has arrived ---

describe('Http1Server: a response ended before the request body was read', { timeout: TEST_MS }, () => {
  it('reads and drops the rest of a body that follows in later writes, then serves the next request', async () => {
    const { port } = await start((req, res) => send(res, 200, `answered ${req.url}`));
    const client = new RawClient(port);
    client.write(`POST /first HTTP/1.1\r\nHost: test\r\nContent-Length: 10000\r\n\r\n${'x'.repeat(100)}`);
    expect((await client.response()).body.toString()).toBe('answered /first');
    client.write('y'.repeat(9_900));
    client.write(get('/next'));
    expect((await client.response()).body.toString()).toBe('answered /next');
  });

  it('reads and drops the rest of a chunked body, then serves the next request', async () => {
    const { port } = await start((req, res) => send(res, 200, `answered ${req.url}`));
    const client = new RawClient(port);
    client.write('POST /first HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    expect((await client.response()).body.toString()).toBe('answered /first');
    client.write('6\r\n world\r\n0\r\n\r\n' + get('/next'));
    expect((await client.response()).body.toString()).toBe('answered /next');
  });

  onHttp1Server('drops a body of which more than 64 KiB was buffered unread before the response ended', async () => {
    const body = Buffer.alloc(1024 * 1024, 'z');
    const headOf = `POST /first HTTP/1.1\r\nHost: test\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { port } = await start(async (req, res) => {
      if (req.url === '/first') {
        // Answer only once over 64 KiB of the body sits unread in the request.
        await waitFor(() => req.socket.bytesRead > headOf.length + 64 * 1024, 'the server to read over 64 KiB of the body');
      }
      send(res, 200, `answered ${req.url}`);
    });
    const client = new RawClient(port);
    client.write(headOf);
    client.write(body);
    expect((await client.response()).body.toString()).toBe('answered /first');
    client.write(get('/next'));
    expect((await client.response()).body.toString()).toBe('answered /next');
  });
});

// --- 15. backpressure ---

describe('Http1Server: backpressure to a client that does not read', { timeout: TEST_MS }, () => {
  it("write() returns false, and 'drain' comes once the client reads", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 'd');
    let written = 0;
    let framing = 0;
    /** A 'false' got no 'drain' for a while: the buffers are full, the client may start reading. */
    let stuck = false;
    let drainedWhileReading = false;
    const done = gate();
    const { port } = await start(async (_req, res) => {
      res.writeHead(200, []);
      // Fill the socket, the kernel's buffers and the client's: write until a 'false' gets no
      // 'drain' for a while (the client reads nothing, so it stops coming), capped at 256 MiB.
      for (let i = 0; i < 256; i++) {
        written += chunk.length;
        framing += chunk.length.toString(16).length + 4;
        if (res.write(chunk)) continue;
        const drained = await Promise.race([
          new Promise<boolean>((resolve) => res.once('drain', () => resolve(true))),
          sleep(300).then(() => false),
        ]);
        if (!drained) {
          stuck = true;
          await within(new Promise<void>((resolve) => res.once('drain', () => resolve())), "'drain' after the client reads");
          drainedWhileReading = true;
          break;
        }
      }
      res.end();
      done.open();
    });

    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    socket.write(get('/'));
    // No 'data' listener yet: the client does not read.
    await waitFor(() => stuck, 'write() to return false with no drain');
    let received = 0;
    let tail = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      received += data.length;
      tail = Buffer.concat([tail, data]).subarray(-5);
    });
    await within(done.promise, 'the response to end');
    expect(drainedWhileReading).toBe(true);
    await waitFor(() => tail.toString() === '0\r\n\r\n', 'the last chunk');
    // Everything written arrived: body + chunk framing + the last chunk, after the head.
    const headBytes = received - written - framing - 5;
    expect(headBytes).toBeGreaterThan(0);
    expect(headBytes).toBeLessThan(300);
  });
});

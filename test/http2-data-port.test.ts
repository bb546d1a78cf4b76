/**
 * HTTP/2 on the data port's server (src/downstream/), without the gateway: h2c with prior knowledge
 * beside HTTP/1.1 on one port, a stream as a request and its response, flow control both ways, the
 * limits (concurrent streams, header list size, idle timeout, rapid reset), malformed requests,
 * stopping, and the TLS hand-off. Real sockets on 127.0.0.1; node:http2's client, a raw frame
 * writer for what it refuses to send.
 *
 * The file runs against the server the data port would choose here (SLUICE_HTTP_SERVER=node for
 * the node:http adapter; CI runs both).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, type ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { chooseDataPort, createDataPortServer, type DataPortServer } from '../src/downstream/data-port-server.js';
import type { Http2StreamRequest } from '../src/downstream/http2-stream-request.js';
import type { Http2StreamResponse } from '../src/downstream/http2-stream-response.js';
import { Http2Sessions, type Http2Limits } from '../src/downstream/http2-sessions.js';
import type { ErrorBody } from './support/bodies.js';
import { dataFrame, getFields, h2Request, h2Session, headersFrame, PREFACE_BYTES, RawH2, rstFrame, SETTINGS_FRAME } from './support/h2.js';
import { selfSignedLocalhost } from './support/certs.js';

const KIND = chooseDataPort().kind;
const WAIT_MS = 5_000;
const TEST_MS = 20_000;

const LIMITS: Http2Limits = { maxConcurrentStreams: 250, maxHeaderListSize: 16_384, idleTimeoutMs: 65_000, maxResetsPerSecond: 100 };

type StreamHandler = (req: Http2StreamRequest, res: Http2StreamResponse) => void;

const servers: DataPortServer[] = [];
const clients: ClientHttp2Session[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await server.close();
  }
});

/** The data port's server with h2c on 127.0.0.1:0; HTTP/1.1 requests are answered "h1 ok". */
async function start(
  h2: StreamHandler,
  limits: Partial<Http2Limits> = {},
): Promise<{ port: number; server: DataPortServer; sessions: Http2Sessions }> {
  const sessions = new Http2Sessions(h2, { ...LIMITS, ...limits });
  const h1 = {
    request(_req: unknown, res: { writeHead(s: number, h: string[]): unknown; end(b: string): unknown }) {
      res.writeHead(200, ['content-type', 'text/plain', 'content-length', '5']);
      res.end('h1 ok');
    },
    upgrade(_req: unknown, socket: Socket) {
      socket.destroy();
    },
  } as unknown as Parameters<typeof createDataPortServer>[1];
  const server = createDataPortServer(KIND, h1, { h2c: sessions });
  servers.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { port, server, sessions };
}

async function session(port: number): Promise<ClientHttp2Session> {
  const s = await h2Session(`http://127.0.0.1:${port}`);
  clients.push(s);
  return s;
}

async function raw(port: number): Promise<RawH2> {
  const r = await RawH2.open(port);
  sockets.push(r.socket);
  return r;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

/** A raw HTTP/1.1 exchange; resolves with what came back before the server closed or `ms` passed. */
function http1(port: number, text: string, ms = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    sockets.push(socket);
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    setTimeout(() => socket.destroy(), ms);
  });
}

/** Echoes method, target, version, headers, client address and the body's length as JSON. */
const echo: StreamHandler = (req, res) => {
  let bytes = 0;
  req.on('data', (c: Buffer) => (bytes += c.length));
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      remoteAddress: req.socket.remoteAddress,
      bytes,
    });
    res.writeHead(200, ['Content-Type', 'application/json', 'X-Up', 'a', 'x-up', 'b']);
    res.end(body);
  });
};

describe('h2c with prior knowledge beside HTTP/1.1', () => {
  it(
    'serves a stream as a request, and HTTP/1.1 on the same port',
    async () => {
      const { port } = await start(echo);
      const s = await session(port);
      const r = await h2Request(
        s,
        { ':method': 'POST', ':path': '/v2/models/iris/infer?x=1', 'content-type': 'text/plain', cookie: ['a=1', 'b=2'] },
        'hello',
      );
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-up']).toBe('a, b');
      const seen = JSON.parse(r.body.toString()) as {
        method: string;
        url: string;
        httpVersion: string;
        rawHeaders: string[];
        remoteAddress: string;
        bytes: number;
      };
      expect(seen).toMatchObject({
        method: 'POST',
        url: '/v2/models/iris/infer?x=1',
        httpVersion: '2.0',
        remoteAddress: '127.0.0.1',
        bytes: 5,
      });
      // Host from :authority first; no pseudo-headers; crumbs joined; a body of unknown length marked chunked.
      expect(seen.rawHeaders.slice(0, 2)).toEqual(['host', `127.0.0.1:${port}`]);
      expect(seen.rawHeaders.some((h) => h.startsWith(':'))).toBe(false);
      expect(seen.rawHeaders.join('|')).toContain('cookie|a=1; b=2');
      expect(seen.rawHeaders.join('|')).toContain('transfer-encoding|chunked');

      const text = await http1(port, 'GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      expect(text.endsWith('h1 ok')).toBe(true);
    },
    TEST_MS,
  );

  it(
    'takes a preface that arrives in pieces',
    async () => {
      const { port } = await start(echo);
      const r = await raw(port);
      r.write(PREFACE_BYTES.subarray(0, 3));
      await sleep(30);
      r.write(PREFACE_BYTES.subarray(3, 18));
      await sleep(30);
      r.write(PREFACE_BYTES.subarray(18), SETTINGS_FRAME, headersFrame(1, getFields('/split', 'test')));
      await waitFor(() => r.data(1).length > 0, 'the answer on stream 1');
      expect(JSON.parse(r.data(1).toString())).toMatchObject({ url: '/split', httpVersion: '2.0' });
    },
    TEST_MS,
  );

  it(
    'refuses a preface after an HTTP/1.1 request on the connection (the preface opens a connection or nothing)',
    async () => {
      const { port } = await start(echo);
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n'));
      sockets.push(socket);
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (text += d));
      const closed = new Promise((resolve) => socket.on('close', resolve));
      await waitFor(() => text.endsWith('h1 ok'), 'the HTTP/1.1 answer');
      socket.write(Buffer.concat([PREFACE_BYTES, SETTINGS_FRAME]));
      await closed;
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      expect(text).toContain('HTTP/1.1 400 Bad Request');
    },
    TEST_MS,
  );
});

describe('the request body', () => {
  it(
    'a body that came with its head is whole when the handler gets the request (readAll), as on HTTP/1.1',
    async () => {
      let whole: Buffer | undefined;
      const { port } = await start((req, res) => {
        whole = req.readAll();
        res.end('ok');
      });
      const r = await raw(port);
      const post: [string, string][] = [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', '/infer'],
        [':authority', 'test'],
        ['content-length', '11'],
      ];
      r.start(headersFrame(1, post, false), dataFrame(1, 'hello world'));
      await waitFor(() => r.data(1).length > 0, 'the answer');
      expect(whole?.toString()).toBe('hello world');
    },
    TEST_MS,
  );

  it(
    'streams whose bodies were read to their end all close once their responses are written: the session then closes on GOAWAY',
    async () => {
      // Node destroys such a stream only after its last write has finished (http2-late-destroy.ts);
      // one left undestroyed would keep its session, and close(), from ever finishing.
      const { port, server, sessions } = await start(echo);
      const s = await session(port);
      const bodies = Array.from({ length: 200 }, (_, i) => 'x'.repeat(1 + (i % 7) * 300));
      const answers = await Promise.all(
        bodies.map((body) => h2Request(s, { ':method': 'POST', ':path': '/infer', 'content-length': String(body.length) }, body)),
      );
      expect(answers.map((a) => (JSON.parse(a.body.toString()) as { bytes: number }).bytes)).toEqual(bodies.map((b) => b.length));
      await server.close();
      expect(sessions.sessionCount).toBe(0);
      expect(server.connectionCount).toBe(0);
    },
    TEST_MS,
  );

  it(
    'Expect: 100-continue gets a 100 before the client sends its body',
    async () => {
      const { port } = await start(echo);
      const s = await session(port);
      const stream = s.request({ ':method': 'PUT', ':path': '/up', expect: '100-continue' }, { endStream: false });
      const body = new Promise<string>((resolve, reject) => {
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => (text += d));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      await new Promise<void>((resolve) => stream.once('continue', resolve));
      stream.end('after the 100');
      expect(JSON.parse(await body)).toMatchObject({ method: 'PUT', bytes: 13 });
    },
    TEST_MS,
  );
});

describe('flow control', () => {
  it(
    'a request body nobody reads is held back by the stream window, then streams when read',
    async () => {
      const size = 4 * 1024 * 1024;
      let read: (() => void) | undefined;
      let received = 0;
      const { port } = await start((req, res) => {
        read = () => {
          req.on('data', (c: Buffer) => (received += c.length));
          req.on('end', () => res.end(String(received)));
        };
      });
      const s = await session(port);
      const stream = s.request({ ':method': 'PUT', ':path': '/upload', 'content-length': String(size) }, { endStream: false });
      const done = new Promise<string>((resolve, reject) => {
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => (text += d));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      stream.end(Buffer.alloc(size, 7));
      await waitFor(() => read !== undefined, 'the request');
      await sleep(200);
      // Unread, the server took at most its 64 KiB window: the rest waits in the client.
      expect(stream.bufferSize).toBeGreaterThan(size - 512 * 1024);
      read!();
      expect(await done).toBe(String(size));
    },
    TEST_MS,
  );

  it(
    'write returns false for a client that does not read, and drains once it does',
    async () => {
      const chunk = Buffer.alloc(64 * 1024, 1);
      let written = 0;
      let blocked = false;
      let drained: Promise<void> | undefined;
      const total = 8 * 1024 * 1024;
      const { port } = await start((_req, res) => {
        res.writeHead(200, ['content-type', 'application/octet-stream']);
        const pump = (): void => {
          while (written < total) {
            written += chunk.length;
            if (!res.write(chunk)) {
              blocked = true;
              drained = new Promise((resolve) => res.once('drain', resolve)).then(pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
      const s = await session(port);
      const stream = s.request({ ':path': '/download' });
      stream.pause();
      await waitFor(() => blocked, 'write to return false');
      await sleep(200);
      // The client reads nothing: the gateway's side stopped after its window and buffer.
      expect(written).toBeLessThan(total / 4);
      let got = 0;
      const ended = new Promise<void>((resolve) => stream.on('end', resolve));
      stream.on('data', (c: Buffer) => (got += c.length));
      stream.resume();
      await ended;
      expect(drained).toBeDefined();
      expect(got).toBe(total);
    },
    TEST_MS,
  );
});

describe('limits', () => {
  it(
    'refuses streams beyond maxConcurrentStreams with REFUSED_STREAM',
    async () => {
      const held: Http2StreamResponse[] = [];
      const { port } = await start((_req, res) => void held.push(res), { maxConcurrentStreams: 2 });
      const r = await raw(port);
      r.start(headersFrame(1, getFields('/a', 'test')), headersFrame(3, getFields('/b', 'test')), headersFrame(5, getFields('/c', 'test')));
      await waitFor(() => r.resetCode(5) !== undefined, 'stream 5 refused');
      expect(r.resetCode(5)).toBe(constants.NGHTTP2_REFUSED_STREAM);
      expect(held).toHaveLength(2);
    },
    TEST_MS,
  );

  it(
    'resets a stream whose headers exceed maxHeaderListSize; the session goes on',
    async () => {
      const { port } = await start(echo, { maxHeaderListSize: 4096 });
      const s = await session(port);
      // The first exchange settles SETTINGS both ways.
      expect((await h2Request(s, { ':path': '/small' })).status).toBe(200);
      const err = await h2Request(s, { ':path': '/big', 'x-big': 'x'.repeat(6000) }).catch((e: unknown) => e as Error & { code?: string });
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain('NGHTTP2_ENHANCE_YOUR_CALM');
      expect((await h2Request(s, { ':path': '/after' })).status).toBe(200);
    },
    TEST_MS,
  );

  it(
    'closes a session idle for idleTimeoutMs with GOAWAY, but not while a stream is open',
    async () => {
      let answer: (() => void) | undefined;
      const { port, sessions } = await start(
        (_req, res) => {
          answer = () => res.end('late');
        },
        { idleTimeoutMs: 200 },
      );
      const s = await session(port);
      let goaway = false;
      s.on('goaway', () => (goaway = true));
      const pending = h2Request(s, { ':path': '/slow' });
      await waitFor(() => answer !== undefined, 'the request');
      await sleep(600);
      // Three timeouts long with a stream open: the session stays.
      expect(goaway).toBe(false);
      expect(sessions.sessionCount).toBe(1);
      answer!();
      expect((await pending).body.toString()).toBe('late');
      await waitFor(() => goaway && s.closed, 'GOAWAY once idle');
      await waitFor(() => sessions.sessionCount === 0, 'the session forgotten');
    },
    TEST_MS,
  );
});

describe('malformed requests', () => {
  const rows: { label: string; extra: [string, string][] }[] = [
    { label: 'connection', extra: [['connection', 'close']] },
    { label: 'keep-alive', extra: [['keep-alive', 'timeout=5']] },
    { label: 'proxy-connection', extra: [['proxy-connection', 'keep-alive']] },
    { label: 'transfer-encoding', extra: [['transfer-encoding', 'chunked']] },
    { label: 'upgrade', extra: [['upgrade', 'websocket']] },
    { label: 'te other than trailers', extra: [['te', 'gzip']] },
    { label: 'an upper-case name', extra: [['X-Upper', '1']] },
  ];
  it.each(rows)(
    'a $label header gets a stream error (PROTOCOL_ERROR); the connection serves the next stream',
    async ({ extra }) => {
      let calls = 0;
      const { port } = await start((req, res) => {
        calls++;
        echo(req, res);
      });
      const r = await raw(port);
      r.start(headersFrame(1, getFields('/bad', 'test', extra)));
      await waitFor(() => r.resetCode(1) !== undefined, 'stream 1 reset');
      expect(r.resetCode(1)).toBe(constants.NGHTTP2_PROTOCOL_ERROR);
      r.write(headersFrame(3, getFields('/good', 'test')));
      await waitFor(() => r.data(3).length > 0, 'stream 3 answered');
      expect(calls).toBe(1);
    },
    TEST_MS,
  );

  it(
    'answers 400 with the JSON error when Host and :authority differ, without calling the handler',
    async () => {
      let calls = 0;
      const { port } = await start(() => void calls++);
      const s = await session(port);
      const r = await h2Request(s, { ':path': '/x', ':authority': 'iris.example.com', host: 'admin.internal' });
      expect(r.status).toBe(400);
      const body = JSON.parse(r.body.toString()) as ErrorBody;
      expect(body.error.code).toBe('bad_request');
      expect(body.error.message).toContain('differs from :authority');
      expect(calls).toBe(0);
    },
    TEST_MS,
  );
});

describe('rapid reset', () => {
  it(
    'a client that resets more than maxResetsPerSecond streams gets GOAWAY ENHANCE_YOUR_CALM; its held streams close; others are served',
    async () => {
      const limit = 20;
      const held: Http2StreamResponse[] = [];
      let closed = 0;
      const { port, sessions } = await start(
        (req, res) => {
          if (req.url === '/hold') {
            held.push(res);
            res.on('close', () => closed++);
          } else echo(req, res);
        },
        { maxResetsPerSecond: limit },
      );
      const other = await session(port);
      const flood = await raw(port);
      // Five streams held, then HEADERS + RST_STREAM(CANCEL) pairs, more than the limit at once.
      const frames: Buffer[] = [];
      for (let i = 0; i < 5; i++) frames.push(headersFrame(1 + 2 * i, getFields('/hold', 'test')));
      for (let i = 5; i < 5 + limit + 5; i++)
        frames.push(headersFrame(1 + 2 * i, getFields('/reset', 'test'), false), rstFrame(1 + 2 * i, constants.NGHTTP2_CANCEL));
      flood.start(...frames);
      await waitFor(() => flood.goawayCode() !== undefined, 'GOAWAY');
      expect(flood.goawayCode()).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await waitFor(() => flood.closed, 'the connection closed');
      // The held responses heard 'close' (the gateway frees their slots on it).
      await waitFor(() => closed === 5, 'every held stream closed');
      expect(held).toHaveLength(5);
      expect(held.every((res) => !res.writableFinished)).toBe(true);
      // Another client is served, on its session as before.
      expect((await h2Request(other, { ':path': '/still' })).status).toBe(200);
      await waitFor(() => sessions.sessionCount === 1, 'only the other session left');
    },
    TEST_MS,
  );

  it(
    'resets within the limit are just cancelled requests',
    async () => {
      const { port } = await start((req, res) => {
        if (req.url !== '/hold') echo(req, res);
      });
      const r = await raw(port);
      const frames: Buffer[] = [];
      for (let i = 0; i < 10; i++)
        frames.push(headersFrame(1 + 2 * i, getFields('/hold', 'test')), rstFrame(1 + 2 * i, constants.NGHTTP2_CANCEL));
      r.start(...frames, headersFrame(21, getFields('/after', 'test')));
      await waitFor(() => r.data(21).length > 0, 'stream 21 answered');
      expect(r.goawayCode()).toBeUndefined();
    },
    TEST_MS,
  );
});

describe('stopping', () => {
  it(
    'close() sends GOAWAY, lets the open stream finish, then resolves',
    async () => {
      let answer: (() => void) | undefined;
      const { port, server } = await start((_req, res) => {
        answer = () => {
          res.writeHead(200, ['content-length', '4']);
          res.end('done');
        };
      });
      const s = await session(port);
      let goaway = false;
      s.on('goaway', () => (goaway = true));
      const pending = h2Request(s, { ':path': '/long' });
      await waitFor(() => answer !== undefined, 'the request');
      let stopped = false;
      const closing = server.close().then(() => (stopped = true));
      await waitFor(() => goaway, 'GOAWAY');
      expect(stopped).toBe(false);
      answer!();
      expect((await pending).body.toString()).toBe('done');
      await closing;
      expect(server.connectionCount).toBe(0);
    },
    TEST_MS,
  );

  it(
    'closeIdleConnections closes an idle session at once and a busy one after its stream; closeAllConnections cuts the rest',
    async () => {
      const open: Http2StreamResponse[] = [];
      let cut = 0;
      const { port, server } = await start((_req, res) => {
        open.push(res);
        res.on('close', () => cut++);
      });
      const idle = await session(port);
      const busy = await session(port);
      const pending = h2Request(busy, { ':path': '/busy' }).catch((e: unknown) => e);
      await waitFor(() => open.length === 1, 'the busy request');
      server.closeIdleConnections();
      await waitFor(() => idle.closed || idle.destroyed, 'the idle session closed');
      expect(busy.destroyed).toBe(false);
      server.closeAllConnections();
      await waitFor(() => cut === 1, "the busy stream's response heard 'close'");
      expect(await pending).toBeInstanceOf(Error);
      await server.close();
    },
    TEST_MS,
  );
});

describe('the TLS hand-off', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-h2-tls-'));
  const tlsServers: TlsServer[] = [];
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    for (const s of tlsServers.splice(0)) s.close();
  });

  it(
    'serves a TLS socket whose ALPN is h2 as it serves h2c',
    async () => {
      const { key, cert } = selfSignedLocalhost(dir);
      const sessions = new Http2Sessions((req, res) => {
        const encrypted = (req.socket as TLSSocket).encrypted === true;
        res.writeHead(200, ['content-type', 'text/plain']);
        res.end(`${req.httpVersion} ${req.url} encrypted=${encrypted}`);
      }, LIMITS);
      const tls = createTlsServer({ key, cert, ALPNProtocols: ['h2'] }, (socket) => sessions.serveSecure(socket));
      tlsServers.push(tls);
      await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
      const { port } = tls.address() as { port: number };
      const s = await h2Session(`https://127.0.0.1:${port}`, { ca: cert });
      clients.push(s);
      const r = await h2Request(s, { ':path': '/secure' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('2.0 /secure encrypted=true');
      s.destroy();
      sessions.closeAllSessions();
      await sessions.close();
    },
    TEST_MS,
  );
});

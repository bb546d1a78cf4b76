/**
 * The HTTP/2 transport (src/upstream/http2-transport.ts) against node:http2 servers on 127.0.0.1:
 * one session for many streams, the endpoint's concurrency limit with waiting in order, the
 * progress a failure reports (refused and unprocessed streams are unsent), connect timeouts,
 * endpoints that do not speak HTTP/2, a new session after one died, timeouts, aborts and trailers;
 * more sessions when every one is full, up to maxConnections, closed again once idle.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { constants, type ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Http2Call } from '../src/upstream/http2-call.js';
import type { EndpointSession } from '../src/upstream/http2-session.js';
import { Http2Transport, type Http2TransportOptions } from '../src/upstream/http2-transport.js';
import type { Progress, UpstreamHandler, UpstreamRequest } from '../src/upstream/upstream-connection.js';
import { pump, settled, until } from './support/harness.js';
import { h2Server, type H2Server } from './support/h2-server.js';

/** Records one exchange; `settled` resolves on its end or its error. */
class Recorder implements UpstreamHandler {
  status: number | undefined;
  headers: string[] = [];
  body = '';
  trailers: string[] | undefined;
  ended = false;
  error: (Error & { code?: string }) | undefined;
  progress: Progress | undefined;
  reused: boolean | undefined;
  /** Every callback in order: 'head' | 'data' | 'trailers' | 'end' | 'error'. */
  calls: string[] = [];
  readonly settled: Promise<void>;
  private settle!: () => void;

  constructor(private readonly onData: (chunk: Buffer) => boolean = () => true) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  onResponseHead(status: number, headers: string[]): void {
    this.calls.push('head');
    this.status = status;
    this.headers = headers;
  }

  onResponseData(chunk: Buffer): boolean {
    if (this.calls.at(-1) !== 'data') this.calls.push('data');
    this.body += chunk.toString();
    return this.onData(chunk);
  }

  onResponseTrailers(trailers: string[]): void {
    this.calls.push('trailers');
    this.trailers = trailers;
  }

  onResponseEnd(): void {
    this.calls.push('end');
    this.ended = true;
    this.settle();
  }

  onUpstreamError(err: Error, progress: Progress, reused: boolean): void {
    this.calls.push('error');
    this.error = err;
    this.progress = progress;
    this.reused = reused;
    this.settle();
  }
}

const transports: Http2Transport[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const t of transports.splice(0)) t.destroy();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function transport(origin: string, connectTimeoutMs = 5_000, options: Http2TransportOptions = {}): Http2Transport {
  const t = new Http2Transport(origin, { connectTimeoutMs, ...options });
  transports.push(t);
  return t;
}

async function server(...args: Parameters<typeof h2Server>): Promise<H2Server> {
  const s = await h2Server(...args);
  cleanups.push(() => s.close());
  return s;
}

function get(path: string, extra: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: 'GET', path, headers: ['host', 'iris.test'], body: null, contentLength: 0, timeoutMs: 10_000, ...extra };
}

/** Answers each stream with its path after `hold` resolves for it. */
function answering(hold: (stream: ServerHttp2Stream) => Promise<void> = () => Promise.resolve()) {
  return (stream: ServerHttp2Stream, headers: { ':path'?: string }) => {
    stream.resume();
    void hold(stream).then(() => {
      if (stream.closed) return;
      stream.respond({ ':status': 200 });
      stream.end(String(headers[':path']));
    });
  };
}

describe('Http2Transport: streams on one session', () => {
  it('carries many concurrent requests on one session', async () => {
    const srv = await server(answering());
    const t = transport(srv.origin);
    const rs = Array.from({ length: 20 }, () => new Recorder());
    rs.forEach((r, i) => t.request(get(`/r${i}`), r));
    await Promise.all(rs.map((r) => r.settled));
    expect(rs.map((r) => r.body)).toEqual(rs.map((_, i) => `/r${i}`));
    expect(srv.sessions).toHaveLength(1);
    expect(t.size).toBe(1);
  });

  it("keeps to the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS; requests beyond wait and start in order", async () => {
    const open = new Set<ServerHttp2Stream>();
    let most = 0;
    const release: Array<() => void> = [];
    const srv = await server(
      answering((stream) => {
        open.add(stream);
        most = Math.max(most, open.size);
        stream.on('close', () => open.delete(stream));
        return new Promise((resolve) => release.push(resolve));
      }),
      { settings: { maxConcurrentStreams: 2 } },
    );
    const t = transport(srv.origin);
    const rs = Array.from({ length: 6 }, () => new Recorder());
    rs.forEach((r, i) => t.request(get(`/r${i}`), r));
    for (let answered = 0; answered < 6; answered++) {
      await until(() => release.length > answered, `stream ${answered + 1} at the endpoint`);
      expect(open.size).toBeLessThanOrEqual(2);
      release[answered]!();
    }
    await Promise.all(rs.map((r) => r.settled));
    expect(most).toBe(2);
    expect(srv.streams.map((s) => s.headers[':path'])).toEqual(['/r0', '/r1', '/r2', '/r3', '/r4', '/r5']);
    expect(rs.every((r) => r.status === 200)).toBe(true);
  });

  it('opens a new session after the endpoint closed the last one, and says the stream went on a reused session', async () => {
    const srv = await server(answering());
    const t = transport(srv.origin);
    const first = new Recorder();
    t.request(get('/a'), first);
    await first.settled;
    srv.sessions[0]!.destroy();
    await until(() => t.size === 0, 'the session to close');
    const second = new Recorder();
    t.request(get('/b'), second);
    await second.settled;
    expect(second.body).toBe('/b');
    expect(srv.sessions).toHaveLength(2);
  });

  it("hears the head before the body when Node hands over body bytes before its deferred 'response' event", async () => {
    // node:http2 emits 'response' on the next tick but the body bytes of the same read at once (seen
    // under load over TLS). A stream standing in for Node's does the same: bytes first, then the head.
    const stream = Object.assign(new PassThrough(), { id: 1, rstCode: 0, setTimeout: () => {}, close: () => {} });
    const session = {
      h2: { request: () => stream },
      authority: 'iris.test',
      served: 0,
      active: 0,
      lastStreamId: Infinity,
      error: undefined,
    };
    const r = new Recorder();
    const call = new Http2Call(get('/order'), r, { streamClosed: () => {} });
    call.start(session as unknown as EndpointSession, 'http');
    await new Promise((resolve) => setImmediate(resolve)); // the stream reads from here on, as Node's does
    stream.push('body');
    process.nextTick(() => stream.emit('response', { ':status': 200 }, 0, [':status', '200', 'content-type', 'text/plain']));
    await new Promise((resolve) => setImmediate(resolve));
    stream.push(null);
    await r.settled;
    expect(r.calls).toEqual(['head', 'data', 'end']);
    expect([r.status, r.headers, r.body]).toEqual([200, ['content-type', 'text/plain'], 'body']);
  });

  it('passes trailers on before the end', async () => {
    const srv = await server((stream) => {
      stream.resume();
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
      stream.end('body');
    });
    const t = transport(srv.origin);
    const r = new Recorder();
    t.request(get('/t', { teTrailers: true }), r);
    await r.settled;
    expect(r.body).toBe('body');
    expect(r.calls).toEqual(['head', 'data', 'trailers', 'end']);
    expect(r.trailers).toEqual(['grpc-status', '0', 'grpc-message', 'ok']);
    expect(srv.streams[0]!.headers.te).toBe('trailers');
  });

  it('pauses the stream while the handler cannot take more, and resumes it', async () => {
    const size = 4 * 1024 * 1024;
    let written = 0;
    let blocked = false;
    const srv = await server((stream) => {
      stream.resume();
      stream.respond({ ':status': 200 });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      pump(
        stream,
        chunk,
        () => {
          if (written >= size) return false;
          written += chunk.length;
          return true;
        },
        (waiting) => (blocked = waiting),
      );
    });
    const t = transport(srv.origin);
    let paused = true;
    const r = new Recorder(() => !paused);
    const call = t.request(get('/big'), r);
    await until(() => r.body.length > 0, 'the first bytes');
    expect(await settled(() => written)).toBeLessThan(size);
    expect(blocked).toBe(true);
    paused = false;
    call.resume();
    await r.settled;
    expect(r.body.length).toBe(size);
  });

  it('streams a request body, pausing it while the stream cannot take more', async () => {
    let received = 0;
    let stream: ServerHttp2Stream | undefined;
    const srv = await server((s) => {
      stream = s;
      s.pause();
      s.on('data', (c: Buffer) => (received += c.length));
      s.on('end', () => {
        s.respond({ ':status': 200 });
        s.end(String(received));
      });
    });
    const t = transport(srv.origin);
    const body = new PassThrough();
    const r = new Recorder();
    t.request({ method: 'POST', path: '/up', headers: ['host', 'iris.test'], body, contentLength: -1, timeoutMs: 10_000 }, r);
    const chunk = Buffer.alloc(64 * 1024, 'y');
    let sent = 0;
    let waiting = false;
    let stop = false;
    pump(
      body,
      chunk,
      () => {
        if (stop) return false;
        sent += chunk.length;
        return true;
      },
      (w) => (waiting = w),
    );
    await until(() => stream !== undefined && body.isPaused() && waiting, 'the body to be held back');
    expect(received).toBe(0);
    stop = true;
    stream!.resume();
    await r.settled;
    expect(Number(r.body)).toBe(sent);
    expect(srv.streams[0]!.headers['content-length']).toBeUndefined();
  });
});

/** An endpoint allowing `streams` at once per session whose streams wait until released; counts the most open at once on each session. */
async function holdingServer(streams: number) {
  const open = new Map<number, number>();
  const most = new Map<number, number>();
  const release: Array<() => void> = [];
  const srv = await server(
    (stream, headers, seen) => {
      const at = seen.session;
      open.set(at, (open.get(at) ?? 0) + 1);
      most.set(at, Math.max(most.get(at) ?? 0, open.get(at)!));
      stream.on('close', () => open.set(at, open.get(at)! - 1));
      answering(() => new Promise((resolve) => release.push(resolve)))(stream, headers);
    },
    { settings: { maxConcurrentStreams: streams } },
  );
  return { srv, release, most };
}

describe('Http2Transport: more sessions when every one is full (maxConnections)', () => {
  it.each([
    { label: 'maxConnections 3: three sessions take the six at once', maxConnections: 3, wantSessions: 3, wantAtOnce: 6 },
    { label: 'maxConnections 2: two sessions, two requests wait', maxConnections: 2, wantSessions: 2, wantAtOnce: 4 },
    { label: 'maxConnections 1: one session, four requests wait', maxConnections: 1, wantSessions: 1, wantAtOnce: 2 },
  ])('streams limit 2, six requests in flight — $label, and all complete', async ({ maxConnections, wantSessions, wantAtOnce }) => {
    const { srv, release, most } = await holdingServer(2);
    const t = transport(srv.origin, 5_000, { maxConnections });
    const rs = Array.from({ length: 6 }, () => new Recorder());
    rs.forEach((r, i) => t.request(get(`/r${i}`), r));
    await until(() => release.length === wantAtOnce, `${wantAtOnce} streams at the endpoint`);
    expect(await settled(() => release.length)).toBe(wantAtOnce);
    expect(srv.sessions).toHaveLength(wantSessions);
    expect(t.size).toBe(wantSessions);
    for (let answered = 0; answered < 6; answered++) {
      await until(() => release.length > answered, `stream ${answered + 1} at the endpoint`);
      release[answered]!();
    }
    await Promise.all(rs.map((r) => r.settled));
    expect(rs.map((r) => [r.status, r.body])).toEqual(rs.map((_, i) => [200, `/r${i}`]));
    expect([...most.values()].every((n) => n <= 2)).toBe(true);
    expect(srv.sessions).toHaveLength(wantSessions);
  });

  it('new streams go to the oldest session with room; sessions beyond need close once idle, and one stays', async () => {
    const { srv, release } = await holdingServer(2);
    const t = transport(srv.origin, 5_000, { maxConnections: 3, idleMs: 20 });
    const rs = Array.from({ length: 6 }, () => new Recorder());
    rs.forEach((r, i) => t.request(get(`/r${i}`), r));
    await until(() => release.length === 6, 'six streams at the endpoint');
    for (const done of release) done();
    await Promise.all(rs.map((r) => r.settled));
    await until(() => t.size === 1, 'the extra sessions closed');
    await until(() => srv.sessions.filter((s) => s.closed || s.destroyed).length === 2, 'the endpoint to see two sessions close');
    const kept = srv.sessions.findIndex((s) => !s.closed && !s.destroyed);
    // Two at once fit the one session left: no new session for them.
    const more = [new Recorder(), new Recorder()];
    more.forEach((r, i) => t.request(get(`/again${i}`), r));
    await until(() => release.length === 8, 'two more streams at the endpoint');
    release[6]!();
    release[7]!();
    await Promise.all(more.map((r) => r.settled));
    expect(more.map((r) => r.body)).toEqual(['/again0', '/again1']);
    expect(srv.sessions).toHaveLength(3);
    expect(srv.streams.slice(6).map((x) => x.session)).toEqual([kept, kept]);
  });

  it('a session that dies moves the waiting requests to a new one', async () => {
    let first = true;
    const release: Array<() => void> = [];
    const srv = await server(
      (stream, headers) => {
        // The first request is answered at once, so its session has served; the others wait.
        const now = first;
        first = false;
        answering(() => (now ? Promise.resolve() : new Promise((resolve) => release.push(resolve))))(stream, headers);
      },
      { settings: { maxConcurrentStreams: 1 } },
    );
    const t = transport(srv.origin, 5_000, { maxConnections: 2 });
    const rs = Array.from({ length: 4 }, () => new Recorder());
    rs.forEach((r, i) => t.request(get(`/r${i}`), r));
    await rs[0]!.settled;
    // r1 on the first session, r2 on the second; r3 waits: both sessions full, and two is the limit.
    await until(() => release.length === 2, 'r1 and r2 at the endpoint');
    expect(await settled(() => srv.streams.length)).toBe(3);
    srv.sessions[srv.streams.find((x) => x.headers[':path'] === '/r1')!.session]!.destroy();
    await rs[1]!.settled;
    expect(rs[1]!.error).toBeDefined();
    await until(() => release.length === 3, 'r3 on a new session');
    for (const done of release) done();
    await Promise.all(rs.map((r) => r.settled));
    expect([rs[2]!.body, rs[3]!.body]).toEqual(['/r2', '/r3']);
    expect(srv.sessions).toHaveLength(3);
    expect(srv.streams.find((x) => x.headers[':path'] === '/r3')!.session).toBe(2);
  });
});

describe('Http2Transport: failures and how far the request got', () => {
  it('a stream the endpoint refuses (REFUSED_STREAM) is unsent', async () => {
    const srv = await server((stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    const t = transport(srv.origin);
    const r = new Recorder();
    t.request(get('/x'), r);
    await r.settled;
    expect(r.error?.code).toBe('UPSTREAM_REFUSED');
    expect(r.progress).toBe('unsent');
  });

  it('streams above a GOAWAY last stream id are unsent; the one below it is answered', async () => {
    let first: number | undefined;
    const srv = await server((stream) => {
      stream.resume();
      first ??= stream.id;
      if (stream.id !== first) return;
      // Hold the answer until the other streams have reached the endpoint too.
      void until(() => srv.streams.length >= 3, 'three streams').then(() => {
        stream.session!.goaway(constants.NGHTTP2_NO_ERROR, first);
        stream.respond({ ':status': 200 });
        stream.end('first');
      });
    });
    const t = transport(srv.origin);
    const rs = [new Recorder(), new Recorder(), new Recorder()];
    rs.forEach((r, i) => t.request(get(`/g${i}`), r));
    await Promise.all(rs.map((r) => r.settled));
    expect(rs[0]!.body).toBe('first');
    for (const r of rs.slice(1)) {
      expect(r.error?.code).toBe('UPSTREAM_REFUSED');
      expect(r.progress).toBe('unsent');
    }
  });

  it('a session the endpoint destroys: the stream it had is sent, requests still waiting fail unsent', async () => {
    const srv = await server((stream) => stream.session!.destroy(), { settings: { maxConcurrentStreams: 1 } });
    const t = transport(srv.origin);
    const rs = [new Recorder(), new Recorder(), new Recorder()];
    rs.forEach((r, i) => t.request(get(`/d${i}`), r));
    await Promise.all(rs.map((r) => r.settled));
    expect(rs.map((r) => r.progress)).toEqual(['sent', 'unsent', 'unsent']);
    expect(rs[0]!.error?.code).toBe('UPSTREAM_CLOSED');
    expect(srv.streams).toHaveLength(1);
  });

  it('a reset after the response began is answering', async () => {
    // node:http2's server ends a stream's writable side before any reset, so this endpoint writes
    // the frames itself: SETTINGS, then for the first HEADERS a response head (":status: 200",
    // HPACK static index 8), four bytes of body, and RST_STREAM(INTERNAL_ERROR).
    const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
      const head = Buffer.alloc(9);
      head.writeUIntBE(payload.length, 0, 3);
      head[3] = type;
      head[4] = flags;
      head.writeUInt32BE(stream, 5);
      return Buffer.concat([head, payload]);
    };
    const sockets: Socket[] = [];
    const raw = createNetServer((socket) => {
      sockets.push(socket.on('error', () => {}));
      socket.write(frame(4, 0, 0, Buffer.alloc(0)));
      let buf = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        let at = 24; // the client preface
        while (buf.length >= at + 9) {
          const length = buf.readUIntBE(at, 3);
          const type = buf[at + 3]!;
          if (buf.length < at + 9 + length) break;
          if (type === 4 && (buf[at + 4]! & 1) === 0) socket.write(frame(4, 1, 0, Buffer.alloc(0))); // SETTINGS ACK
          if (type === 1) {
            const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
            // One write: the head and the body arrive in one read, yet the head is heard first.
            socket.write(Buffer.concat([frame(1, 4, id, Buffer.from([0x88])), frame(0, 0, id, Buffer.from('part'))]));
            socket.write(frame(3, 0, id, Buffer.from([0, 0, 0, 2])));
          }
          at += 9 + length;
        }
        buf = Buffer.concat([buf.subarray(0, 24), buf.subarray(at)]);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => raw.close(() => resolve()));
    });
    const t = transport(`http://127.0.0.1:${(raw.address() as { port: number }).port}`);
    const r = new Recorder();
    t.request(get('/x'), r);
    await r.settled;
    expect(r.status).toBe(200);
    expect(r.body).toBe('part');
    expect(r.calls).toEqual(['head', 'data', 'error']);
    expect(r.progress).toBe('answering');
    expect(r.error?.code).toBe('UPSTREAM_RESET');
    expect(r.error?.message).toContain('INTERNAL_ERROR');
  });

  it('a refused connection fails every request unsent with ECONNREFUSED', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const t = transport(`http://127.0.0.1:${port}`);
    const rs = [new Recorder(), new Recorder()];
    rs.forEach((r) => t.request(get('/x'), r));
    await Promise.all(rs.map((r) => r.settled));
    expect(rs.map((r) => [r.error?.code, r.progress])).toEqual([
      ['ECONNREFUSED', 'unsent'],
      ['ECONNREFUSED', 'unsent'],
    ]);
  });

  it('an endpoint that never sends its SETTINGS fails unsent after the connect timeout', async () => {
    const sockets: Socket[] = [];
    const silent: NetServer = createNetServer((s) => sockets.push(s.on('error', () => {})));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const t = transport(`http://127.0.0.1:${(silent.address() as { port: number }).port}`, 100);
    const r = new Recorder();
    t.request(get('/x'), r);
    await r.settled;
    expect(r.error?.code).toBe('UPSTREAM_CONNECT_TIMEOUT');
    expect(r.progress).toBe('unsent');
  });

  it('an HTTP/1.1 endpoint reached as h2c: unsent, UPSTREAM_PROTOCOL, saying so', async () => {
    const h1: HttpServer = createHttpServer((_req, res) => res.end('h1'));
    await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      h1.closeAllConnections();
      return new Promise<void>((resolve) => h1.close(() => resolve()));
    });
    const t = transport(`http://127.0.0.1:${(h1.address() as { port: number }).port}`);
    const r = new Recorder();
    t.request(get('/x'), r);
    await r.settled;
    expect(r.error?.code).toBe('UPSTREAM_PROTOCOL');
    expect(r.error?.message).toMatch(/HTTP\/2/);
    expect(r.progress).toBe('unsent');
  });

  it('no response byte within the request timeout: UPSTREAM_TIMEOUT, the stream cancelled', async () => {
    let cancelled: number | undefined;
    const srv = await server((stream) => {
      stream.resume();
      stream.on('close', () => (cancelled = stream.rstCode));
    });
    const t = transport(srv.origin);
    const r = new Recorder();
    t.request(get('/slow', { timeoutMs: 100 }), r);
    await r.settled;
    expect(r.error?.code).toBe('UPSTREAM_TIMEOUT');
    expect(r.progress).toBe('sent');
    await until(() => cancelled !== undefined, 'the stream to close at the endpoint');
    expect(cancelled).toBe(constants.NGHTTP2_CANCEL);
  });

  it('abort cancels the stream and the handler hears nothing more', async () => {
    let cancelled: number | undefined;
    const srv = await server((stream) => {
      stream.resume();
      stream.on('close', () => (cancelled = stream.rstCode));
    });
    const t = transport(srv.origin);
    const r = new Recorder();
    const call = t.request(get('/x'), r);
    await until(() => srv.streams.length === 1, 'the stream at the endpoint');
    call.abort();
    await until(() => cancelled !== undefined, 'the stream to close at the endpoint');
    expect(cancelled).toBe(constants.NGHTTP2_CANCEL);
    expect(r.ended).toBe(false);
    expect(r.error).toBeUndefined();
    // The session stays for the next request.
    const next = new Recorder();
    srv.streams.length = 0;
    t.request(get('/y'), next);
    await until(() => srv.streams.length === 1, 'the next stream');
    expect(srv.sessions).toHaveLength(1);
  });
});

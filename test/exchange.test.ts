/**
 * The forwarder (src/gateway/exchange.ts) end to end: a real gateway on 127.0.0.1 in front of
 * upstream servers made here (node:http, or node:net where the bytes on the wire matter), through
 * the gateway's own HTTP/1.1 upstream client. Bodies both ways, framing, timeouts, broken
 * endpoints, clients that leave, connection reuse, hop-by-hop headers and interim responses.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startGateway, until, type TestGateway } from './support/harness.js';

let gw: TestGateway | undefined;
/** Undo what a test started (servers, their sockets, timers), run after the gateway closes. */
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// --- upstream servers ---

/**
 * A node:http upstream on 127.0.0.1:0; closed (with its connections) after the test. The handler
 * may be async: node:http ignores what it returns.
 */
async function httpUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => unknown,
): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * A raw TCP upstream on 127.0.0.1:0: `onHead` runs once per connection when a whole request head
 * (up to CRLFCRLF) has arrived, with the socket to answer on. Every socket is destroyed after the test.
 */
async function rawUpstream(
  onHead: (socket: Socket, head: string) => void,
): Promise<{ server: NetServer; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let text = '';
    let answered = false;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      if (answered) return;
      text += d;
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      answered = true;
      onHead(socket, text.slice(0, end));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as { port: number }).port, sockets };
}

// --- gateway config ---

/** Starts the gateway (closed after the test); tests use the returned one, never a later test's. */
async function gateway(yaml: string): Promise<TestGateway> {
  gw = await startGateway(yaml);
  return gw;
}

interface Route {
  /** Path prefix the service matches; none: it matches every request. */
  prefix?: string;
  port: number;
  /** Extra revision fields, YAML lines indented for a revision entry. */
  revision?: string;
}

/** One static service per route, each with one revision whose only endpoint is 127.0.0.1:port. */
function config(routes: Route[]): string {
  let yaml = 'services:\n';
  routes.forEach((route, i) => {
    yaml += `  - name: svc-${i}\n`;
    if (route.prefix !== undefined) yaml += `    match: { pathPrefix: ${route.prefix} }\n`;
    yaml += `    revisions:
      - name: svc-${i}-r
        backend: static
        urls: ["http://127.0.0.1:${route.port}"]
${route.revision ?? ''}
    traffic: [{ revision: svc-${i}-r, percent: 100 }]
`;
  });
  return yaml;
}

// --- clients ---

/**
 * A raw client exchange on a fresh connection to the gateway: writes `parts` in order (waiting
 * `gapMs` between them), resolves with every byte received until the gateway closes the connection.
 */
function rawExchange(port: number, parts: Array<string | Buffer>, gapMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const socket = connect(
      port,
      '127.0.0.1',
      () =>
        void (async () => {
          for (let i = 0; i < parts.length; i++) {
            if (i > 0 && gapMs > 0) await sleep(gapMs);
            socket.write(parts[i]!);
          }
        })(),
    );
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(received)));
  });
}

/** Status code, lowercased headers and body of a raw response without chunked framing. */
function parseRaw(bytes: Buffer): { status: number; headers: Map<string, string>; body: Buffer } {
  const end = bytes.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)![1]);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers, body: bytes.subarray(end + 4) };
}

/** `promise`, or a failure naming `what` when it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for: ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('request and response bodies', () => {
  it('forwards a body the client sent chunked, whole and still chunked', async () => {
    let seen: { te: string | undefined; cl: string | undefined; body: Buffer } | undefined;
    const upstream = await httpUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: Buffer.concat(chunks) };
        res.end('ok');
      });
    });
    const g = await gateway(config([{ port: upstream.port }]));
    // Several chunks in separate writes, some carrying CRLF, NUL and bytes above 0x7f.
    const pieces = [
      Buffer.from('hello'),
      Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x30, 0x0d, 0x0a, 0x0d, 0x0a]),
      randomBytes(3000),
      Buffer.from(' world'),
    ];
    const framed = pieces.map((p) => Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]));
    const reply = await rawExchange(
      g.port,
      [`POST /upload HTTP/1.1\r\nHost: g.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, ...framed, '0\r\n\r\n'],
      20,
    );
    const res = parseRaw(reply);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok');
    expect(seen).toBeDefined();
    expect(seen!.te).toBe('chunked');
    expect(seen!.cl).toBeUndefined();
    expect(seen!.body.equals(Buffer.concat(pieces))).toBe(true);
  });

  it('streams a 5 MiB body up and the same 5 MiB echoed back, byte for byte', async () => {
    const payload = randomBytes(5 * 1024 * 1024);
    let received: { sha: string; length: number } | undefined;
    const upstream = await httpUpstream((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
      });
      req.on('end', () => (received = { sha: hash.digest('hex'), length }));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    const g = await gateway(config([{ port: upstream.port }]));
    const res = await request(`${g.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: payload });
    expect(res.statusCode).toBe(200);
    const echoed = await readAll(res.body);
    expect(received).toEqual({ sha: sha256(payload), length: payload.length });
    expect(echoed.length).toBe(payload.length);
    expect(sha256(echoed)).toBe(sha256(payload));
  });

  it('streams a chunked response of unknown length as it comes, and answers HEAD with headers only', async () => {
    const parts = [Buffer.from('first part,'), Buffer.from('second,'), randomBytes(64 * 1024), Buffer.from('last')];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let sawHead!: () => void;
    const headSeen = new Promise<void>((resolve) => (sawHead = resolve));
    const upstream = await httpUpstream(async (req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1234' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      // The body only once the client has the head, the rest only once it has the first part:
      // a forwarder that waited for body bytes or buffered them would stall here.
      await headSeen;
      res.write(parts[0]);
      await released;
      for (const part of parts.slice(1)) {
        await sleep(20);
        res.write(part);
      }
      res.end();
    });
    const g = await gateway(config([{ port: upstream.port }]));

    const res = await within(request(`${g.url}/stream`), 3_000, 'response head at the client before any body byte was written');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    sawHead();
    const chunks: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
    })();
    await until(() => Buffer.concat(chunks).length >= parts[0]!.length, 'first part at the client while the response is still open', 5_000);
    expect(Buffer.concat(chunks).equals(parts[0]!)).toBe(true);
    release();
    await reading;
    expect(Buffer.concat(chunks).equals(Buffer.concat(parts))).toBe(true);

    // HEAD: the endpoint's Content-Length reaches the client, and not one body byte follows the head.
    const head = await rawExchange(g.port, ['HEAD /stream HTTP/1.1\r\nHost: g.test\r\nConnection: close\r\n\r\n']);
    const parsed = parseRaw(head);
    expect(parsed.status).toBe(200);
    expect(parsed.headers.get('content-length')).toBe('1234');
    expect(parsed.headers.get('content-type')).toBe('text/plain');
    expect(parsed.body.length).toBe(0);

    // The upstream connection the HEAD used is still in step: the next GET gets its own response.
    const again = await request(`${g.url}/stream`);
    expect(again.statusCode).toBe(200);
    expect((await readAll(again.body)).equals(Buffer.concat(parts))).toBe(true);
  });
});

describe('failing endpoints', () => {
  it('answers 504 request_timeout when the endpoint accepts and never answers', async () => {
    const silent = await rawUpstream(() => {});
    const g = await gateway(config([{ port: silent.port, revision: '        timeoutSeconds: 1' }]));
    const res = await request(`${g.url}/slow`);
    expect(res.statusCode).toBe(504);
    expect(res.headers['content-type']).toBe('application/json');
    const body = (await res.body.json()) as { error: { code: string; service: string; revision: string } };
    expect(body.error.code).toBe('request_timeout');
    expect(body.error.revision).toBe('svc-0-r');
    // The gateway gave up on that connection.
    await until(() => silent.sockets.size === 0, 'upstream connection closed after the timeout', 5_000);
  });

  it('answers 502 upstream_error to a malformed response and keeps serving', async () => {
    const broken = await rawUpstream((socket) => socket.end('HTTP/1.1 200 OK\r\nBad Header\r\n\r\n'));
    const healthy = await httpUpstream((_req, res) => res.end('healthy'));
    const g = await gateway(
      config([
        { prefix: '/bad', port: broken.port },
        { prefix: '/good', port: healthy.port },
      ]),
    );

    for (let i = 0; i < 2; i++) {
      const res = await request(`${g.url}/bad`);
      expect(res.statusCode).toBe(502);
      expect(res.headers['content-type']).toBe('application/json');
      const body = (await res.body.json()) as { error: { code: string } };
      expect(body.error.code).toBe('upstream_error');
    }
    const ok = await request(`${g.url}/good`);
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toBe('healthy');
  });

  it('aborts the client response when the endpoint closes before its Content-Length is sent', async () => {
    const truncating = await rawUpstream((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n${'x'.repeat(10)}`);
      setTimeout(() => socket.end(), 20);
    });
    const healthy = await httpUpstream((_req, res) => res.end('healthy'));
    const g = await gateway(
      config([
        { prefix: '/cut', port: truncating.port },
        { prefix: '/good', port: healthy.port },
      ]),
    );

    // What the client ends up with: an error (right), a complete body (wrong), or a stall (wrong:
    // the gateway kept the connection open with 90 bytes still owed).
    let stall: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      request(`${g.url}/cut`)
        .then(async (res) => `complete: ${res.statusCode} with ${(await readAll(res.body)).length} body bytes`)
        .catch(() => 'aborted'),
      new Promise<string>((resolve) => (stall = setTimeout(() => resolve('stalled: no end and no error within 3 s'), 3_000))),
    ]);
    clearTimeout(stall);
    expect(outcome).toBe('aborted');

    // Same through a raw socket: whatever arrived is not a whole 100-byte body.
    const raw = await rawExchange(g.port, ['GET /cut HTTP/1.1\r\nHost: g.test\r\nConnection: close\r\n\r\n']);
    const headEnd = raw.indexOf('\r\n\r\n');
    if (headEnd >= 0) {
      expect(parseRaw(raw).headers.get('content-length')).toBe('100');
      expect(raw.length - headEnd - 4).toBeLessThan(100);
    }

    const ok = await request(`${g.url}/good`);
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toBe('healthy');
  });
});

describe('connections', () => {
  it('closes the upstream connection when the client goes away mid-response', async () => {
    let upstreamResponseClosed = false;
    let upstreamSocketClosed = false;
    let requests = 0;
    const upstream = await httpUpstream((req, res) => {
      requests++;
      req.socket.once('close', () => (upstreamSocketClosed = true));
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 20);
      res.once('close', () => {
        clearInterval(timer);
        upstreamResponseClosed = true;
      });
    });
    const g = await gateway(config([{ port: upstream.port }]));
    const rev = g.revision('svc-0', 'svc-0-r');

    const client = connect(g.port, '127.0.0.1', () => client.write('GET /ticks HTTP/1.1\r\nHost: g.test\r\n\r\n'));
    client.on('error', () => {});
    let received = '';
    await within(
      new Promise<void>((resolve) => {
        client.setEncoding('latin1');
        client.on('data', (d: string) => {
          received += d;
          // Head and at least one streamed chunk arrived: leave in the middle of the response.
          if (received.includes('\r\n\r\n') && received.includes('tick')) resolve();
        });
      }),
      3_000,
      'response head and a first chunk at the client',
    );
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    client.destroy();

    await until(() => upstreamResponseClosed && upstreamSocketClosed, 'upstream saw its connection close after the client left', 5_000);
    await until(() => rev.stats.inflight === 0, 'request no longer in flight', 5_000);
    expect(requests).toBe(1);
  });

  it('reuses one upstream connection for sequential requests', async () => {
    let connections = 0;
    const upstream = await httpUpstream((req, res) => res.end(`reply to ${req.url}`));
    upstream.server.on('connection', () => connections++);
    const g = await gateway(config([{ port: upstream.port }]));
    for (let i = 0; i < 20; i++) {
      const res = await request(`${g.url}/n/${i}`);
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe(`reply to /n/${i}`);
    }
    expect(connections).toBe(1);
  });

  it('passes header bytes above 0x7f and small bodies through byte for byte, both ways, on a reused connection', async () => {
    const seen: Array<{ header: Buffer; body: Buffer }> = [];
    const upstream = await httpUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ header: Buffer.from(req.headers['x-name'] as string, 'latin1'), body: Buffer.concat(chunks) });
        res.setHeader('x-back', req.headers['x-name'] as string);
        res.end(Buffer.concat(chunks));
      });
    });
    const g = await gateway(config([{ port: upstream.port }]));
    const name = Buffer.from('café ☕', 'utf8');
    const body = Buffer.from([0x00, 0xff, 0xc3, 0xa9, 0x80, 0x0d, 0x0a]);
    const head = (n: number) =>
      Buffer.from(
        `POST /b/${n} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\nConnection: ${n === 1 ? 'close' : 'keep-alive'}\r\nX-Name: `,
        'latin1',
      );
    // Two requests on one client connection (the second reuses the upstream connection), each
    // head and body in one write, so the gateway has the whole body when it forwards.
    const reply = await rawExchange(
      g.port,
      [0, 1].map((n) => Buffer.concat([head(n), name, Buffer.from('\r\n\r\n'), body])),
      50,
    );
    expect(seen).toHaveLength(2);
    for (const s of seen) {
      expect(s.header.equals(name)).toBe(true);
      expect(s.body.equals(body)).toBe(true);
    }
    const text = reply.toString('latin1');
    expect(text.split('HTTP/1.1 200 ').length - 1).toBe(2);
    expect(text).toContain(`x-back: ${name.toString('latin1')}\r\n`);
    expect(reply.subarray(reply.length - body.length).equals(body)).toBe(true);
  });

  it('drops hop-by-hop headers of the response, including those its Connection header names', async () => {
    const upstream = await rawUpstream((socket) =>
      socket.end(
        'HTTP/1.1 200 OK\r\n' +
          'Connection: close, X-Hop\r\n' +
          'X-Hop: 1\r\n' +
          'Keep-Alive: timeout=7\r\n' +
          'X-End-To-End: kept\r\n' +
          'Content-Type: text/plain\r\n' +
          'Content-Length: 2\r\n' +
          '\r\n' +
          'ok',
      ),
    );
    const g = await gateway(config([{ port: upstream.port }]));
    const res = await request(`${g.url}/hop`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('ok');
    expect(res.headers['x-hop']).toBeUndefined();
    expect(res.headers['x-end-to-end']).toBe('kept');
    expect(res.headers['content-type']).toBe('text/plain');
    // The gateway's own server may advertise its keep-alive for the client connection; never the endpoint's.
    expect(String(res.headers['keep-alive'] ?? '')).not.toMatch(/timeout=7\b/);
    expect(String(res.headers.connection ?? '')).not.toMatch(/x-hop/i);
  });

  it('passes over a 100 Continue from the endpoint and forwards the final response', async () => {
    let connection = 0;
    const upstream = await rawUpstream((socket) => {
      const final = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfinal';
      // First connection: the interim and the final response in separate writes; then in one.
      if (connection++ === 0) {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        setTimeout(() => socket.end(final), 20);
      } else {
        socket.end('HTTP/1.1 100 Continue\r\n\r\n' + final);
      }
    });
    const g = await gateway(config([{ port: upstream.port }]));
    for (let i = 0; i < 2; i++) {
      const res = await request(`${g.url}/continue`, { method: 'POST', body: 'payload' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe('5');
      expect(await res.body.text()).toBe('final');
    }
    expect(connection).toBe(2);
  });
});

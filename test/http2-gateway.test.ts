/**
 * HTTP/2 through the gateway, end to end: h2c with prior knowledge on the data port (node:http2's
 * client, curl and h2load as clients) to HTTP/1.1 endpoints — the demo predictor run as a local
 * revision, and an HTTP/1.1 server in this process behind a static revision for bodies and
 * holds. Each stream is a request for everything that counts: routing, holding at zero, a reset
 * that frees its slot, the JSON errors, streaming bodies both ways with backpressure, the
 * rapid-reset rule; and the TLS hand-off serves the same through the gateway.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { http2Sessions } from '../src/app/protocols.js';
import { parseConfig } from '../src/config/load.js';
import type { ErrorBody, InferBody } from './support/bodies.js';
import { FRAME, getFields, h2Request, h2Session, headersFrame, RawH2, rstFrame, type H2Response } from './support/h2.js';
import { IRIS_ROW, predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';
import { selfSignedLocalhost } from './support/certs.js';

const TEST_MS = 30_000;
const INFER = '/v2/models/iris/infer';

let gw: TestGateway | undefined;
const clients: ClientHttp2Session[] = [];
const sockets: Socket[] = [];
const upstreams: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'sluice-h2-gateway-'));

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of sockets.splice(0)) s.destroy();
  await gw?.close();
  gw = undefined;
  const closing = upstreams.splice(0);
  for (const u of closing) u.closeAllConnections();
  await Promise.all(closing.map((u) => new Promise((r) => u.close(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The predictor service (model iris, a local revision at zero) and, with `files`, a static one under /files. */
function config(options: { predictor?: string; files?: { url: string; body?: string }; http2?: string } = {}): string {
  const services: string[] = [];
  if (options.predictor !== undefined)
    services.push(`
  - name: iris
    match:
      model: iris
    revisions:${options.predictor}
    traffic:
      - revision: iris-1
        percent: 100`);
  if (options.files !== undefined)
    services.push(`
  - name: files
    match:
      hosts: [files.test]
      pathPrefix: /files
    revisions:
      - name: files-1
        backend: static
        urls: [${options.files.url}]
${options.files.body ?? ''}
    traffic:
      - revision: files-1
        percent: 100`);
  return `
autoscaler:
  scale-to-zero-grace-period: 1s
  allow-zero-initial-scale: true
  initial-scale: 0
${options.http2 ?? ''}
services:${services.join('')}
`;
}

async function session(): Promise<ClientHttp2Session> {
  const s = await h2Session(gw!.url);
  clients.push(s);
  return s;
}

function infer(s: ClientHttp2Session): Promise<H2Response> {
  return h2Request(s, { ':method': 'POST', ':path': INFER, 'content-type': 'application/json' }, JSON.stringify(IRIS_ROW));
}

/** What an endpoint behind a static revision saw and did; its routes are under /files. */
interface Upstream {
  url: string;
  /** Request targets, in arrival order. */
  paths: string[];
  /** Ends every response held on /files/slow. */
  release(): void;
  /** /files/download: bytes handed to the socket so far, and whether the socket is full (waiting for 'drain'). */
  written: number;
  blocked: boolean;
  /** sha256 of what /files/download sent. */
  sentSha: string;
}

/** A 64 KiB block the bodies repeat. */
const BLOCK = randomBytes(64 * 1024);

async function startUpstream(): Promise<Upstream> {
  const held: ServerResponse[] = [];
  const state: Upstream = {
    url: '',
    paths: [],
    release: () => {
      for (const res of held.splice(0)) res.end('released');
    },
    written: 0,
    blocked: false,
    sentSha: '',
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.paths.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/files/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => {
        const body = JSON.stringify({
          bytes,
          sha: hash.digest('hex'),
          contentLength: req.headers['content-length'] ?? null,
          transferEncoding: req.headers['transfer-encoding'] ?? null,
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    req.resume();
    if (url.pathname === '/files/download') {
      const total = Number(url.searchParams.get('bytes'));
      const hash = createHash('sha256');
      // Keep-Alive, Connection and Transfer-Encoding come with a chunked response: none may reach an h2 client.
      res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'keep-alive', 'keep-alive': 'timeout=5' });
      const pump = (): void => {
        state.blocked = false;
        while (state.written < total) {
          const chunk = BLOCK.subarray(0, Math.min(BLOCK.length, total - state.written));
          hash.update(chunk);
          state.written += chunk.length;
          if (!res.write(chunk)) {
            state.blocked = true;
            res.once('drain', pump);
            return;
          }
        }
        state.sentSha = hash.digest('hex');
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/files/slow') return void held.push(res);
    if (url.pathname === '/files/hold') return; // never answered
    res.writeHead(200, { 'content-type': 'text/plain', 'x-path': url.pathname });
    res.end(`ok ${url.pathname}`);
  });
  server.keepAliveTimeout = 65_000;
  upstreams.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const FILES = { ':authority': 'files.test' };

/** A stream whose body is read only when asked. */
function openStream(s: ClientHttp2Session, path: string): { stream: ClientHttp2Stream; head: Promise<Record<string, unknown>> } {
  const stream = s.request({ ':path': path, ...FILES });
  stream.on('error', () => {});
  const head = new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve));
  return { stream, head };
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'];

describe('h2c with prior knowledge through the gateway', () => {
  it(
    'reaches an HTTP/1.1 predictor (node:http2 and curl), and the same port still serves HTTP/1.1',
    async () => {
      gw = await startGateway(config({ predictor: predictorRevision('iris-1') }));
      const s = await session();
      const r = await infer(s);
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body.toString()) as InferBody).outputs[0]!.data).toEqual([2]);
      expect(r.headers['sluice-revision']).toBe('iris-1');
      expect(r.headers['sluice-cold-start']).toBeDefined();
      for (const name of HOP_BY_HOP) expect(r.headers[name]).toBeUndefined();

      const curl = await run('/usr/bin/curl', [
        '-sS',
        '-i',
        '--http2-prior-knowledge',
        '-H',
        'content-type: application/json',
        '--data-binary',
        JSON.stringify(IRIS_ROW),
        `${gw.url}${INFER}`,
      ]);
      expect(curl).toMatch(/^HTTP\/2 200/);
      expect(curl).toMatch(/\r\nsluice-revision: iris-1\r\n/);
      expect(curl).toContain('"outputs"');

      const h1 = await request(`${gw.url}${INFER}`, { method: 'POST', body: JSON.stringify(IRIS_ROW) });
      expect(h1.statusCode).toBe(200);
      expect(((await h1.body.json()) as InferBody).outputs[0]!.data).toEqual([2]);
    },
    TEST_MS,
  );

  it(
    'holds 100 concurrent streams on one connection to a revision at zero, then answers every one 200',
    async () => {
      gw = await startGateway(config({ predictor: predictorRevision('iris-1', { args: ['--startup-delay', '1500'] }) }));
      const rev = gw.revision('iris', 'iris-1');
      const s = await session();
      const pending = Array.from({ length: 100 }, () => infer(s));
      await until(() => rev.stats.held === 100, 'all 100 streams held');
      expect(rev.endpoints).toHaveLength(0);
      const results = await Promise.all(pending);
      expect(results.filter((r) => r.status === 200)).toHaveLength(100);
      expect(results.filter((r) => r.headers['sluice-cold-start'] !== undefined)).toHaveLength(100);
      expect(rev.stats.coldStarts).toBe(100);
      expect(rev.stats.held).toBe(0);
    },
    TEST_MS,
  );

  it(
    'a stream reset while held leaves the hold queue at once (at zero, and behind a busy endpoint); the endpoint never sees it',
    async () => {
      const up = await startUpstream();
      gw = await startGateway(
        config({
          predictor: predictorRevision('iris-1', { args: ['--startup-delay', '60000'] }),
          files: { url: up.url, body: '        containerConcurrency: 1' },
        }),
      );
      const s = await session();

      // At zero: the revision never gets ready while the stream is held.
      const iris = gw.revision('iris', 'iris-1');
      const atZero = s.request({ ':method': 'POST', ':path': INFER }, { endStream: false });
      atZero.on('error', () => {});
      atZero.end(JSON.stringify(IRIS_ROW));
      await until(() => iris.stats.held === 1, 'held at zero');
      atZero.close(constants.NGHTTP2_CANCEL);
      await until(() => iris.stats.held === 0, 'held count back to 0');
      expect(iris.endpoints).toHaveLength(0);
      expect(iris.stats.codes.get(0)).toBe(1);

      // Behind a busy endpoint (containerConcurrency 1).
      const files = gw.revision('files', 'files-1');
      const slow = h2Request(s, { ':path': '/files/slow', ...FILES });
      await until(() => files.stats.inflight === 1, 'the endpoint busy');
      const { stream: held } = openStream(s, '/files/cancelled');
      await until(() => files.stats.held === 1, 'a stream held');
      held.close(constants.NGHTTP2_CANCEL);
      await until(() => files.stats.held === 0, 'held count back to 0');
      up.release();
      expect((await slow).status).toBe(200);
      expect((await h2Request(s, { ':path': '/files/after', ...FILES })).status).toBe(200);
      expect(up.paths).toEqual(['/files/slow', '/files/after']);
      expect(files.stats.codes.get(0)).toBe(1);
    },
    TEST_MS,
  );

  it(
    'answers queue full, route not found and bad request with the same JSON errors and status codes as HTTP/1.1',
    async () => {
      const up = await startUpstream();
      gw = await startGateway(config({ files: { url: up.url, body: '        containerConcurrency: 1\n        queueDepth: 1' } }));
      const files = gw.revision('files', 'files-1');
      const s = await session();
      const slow = h2Request(s, { ':path': '/files/slow', ...FILES });
      await until(() => files.stats.inflight === 1, 'the endpoint busy');
      const held = h2Request(s, { ':path': '/files/held', ...FILES });
      await until(() => files.stats.held === 1, 'one held');

      const full = await h2Request(s, { ':path': '/files/full', ...FILES });
      expect(full.status).toBe(503);
      expect(full.headers['retry-after']).toBe('1');
      expect(full.headers['sluice-revision']).toBe('files-1');
      expect(JSON.parse(full.body.toString())).toMatchObject({ error: { code: 'queue_full', service: 'files', revision: 'files-1' } });
      const fullH1 = await request(`${gw.url}/files/full`, { headers: { host: 'files.test' } });
      expect(fullH1.statusCode).toBe(503);
      expect(((await fullH1.body.json()) as ErrorBody).error.code).toBe('queue_full');
      up.release();
      expect((await slow).status).toBe(200);
      expect((await held).status).toBe(200);

      for (const { headers, status, code } of [
        { headers: { ':path': '/files/x', ':authority': 'nowhere.test' }, status: 404, code: 'route_not_found' },
        { headers: { ':path': '/../etc/passwd', ...FILES }, status: 400, code: 'bad_request' },
      ]) {
        const r = await h2Request(s, headers);
        expect(r.status).toBe(status);
        expect(r.headers['content-type']).toBe('application/json');
        expect((JSON.parse(r.body.toString()) as ErrorBody).error.code).toBe(code);
      }
      // userinfo in :authority (RFC 9113 §8.3.1): refused either by the gateway (400, Node 20 and 22)
      // or already by Node's HTTP/2 layer, whose newer nghttp2 resets such a stream (PROTOCOL_ERROR, Node 24).
      const userinfo = await h2Request(s, { ':path': '/files/x', ':authority': 'user@files.test' }).catch((err: Error) => err);
      if (userinfo instanceof Error) expect(userinfo.message).toMatch(/NGHTTP2_PROTOCOL_ERROR/);
      else expect([userinfo.status, (JSON.parse(userinfo.body.toString()) as ErrorBody).error.code]).toEqual([400, 'bad_request']);
      expect(up.paths).not.toContain('/files/x');
      const h1 = await request(`${gw.url}/files/x`, { headers: { host: 'nowhere.test' } });
      expect(h1.statusCode).toBe(404);
      expect(((await h1.body.json()) as ErrorBody).error.code).toBe('route_not_found');
    },
    TEST_MS,
  );
});

describe('stopping the gateway', () => {
  it(
    'a held stream gets 503 queue_full, and its session GOAWAY',
    async () => {
      gw = await startGateway(config({ predictor: predictorRevision('iris-1', { args: ['--startup-delay', '60000'] }) }));
      const rev = gw.revision('iris', 'iris-1');
      const s = await session();
      let goaway = false;
      s.on('goaway', () => (goaway = true));
      const pending = infer(s);
      await until(() => rev.stats.held === 1, 'the stream held');
      const stopping = gw.close();
      gw = undefined;
      const r = await pending;
      expect(r.status).toBe(503);
      expect((JSON.parse(r.body.toString()) as ErrorBody).error.code).toBe('queue_full');
      await stopping;
      expect(goaway).toBe(true);
    },
    TEST_MS,
  );
});

describe('bodies through the gateway', () => {
  it(
    'a large upload streams to the endpoint, with Content-Length when the client sent one and chunked when not',
    async () => {
      const up = await startUpstream();
      gw = await startGateway(config({ files: { url: up.url } }));
      const s = await session();
      const body = Buffer.concat(Array.from({ length: 256 }, () => BLOCK)); // 16 MiB
      const sha = createHash('sha256').update(body).digest('hex');
      const sized = await h2Request(
        s,
        { ':method': 'PUT', ':path': '/files/upload', ...FILES, 'content-length': String(body.length) },
        body,
      );
      expect(sized.status).toBe(200);
      expect(JSON.parse(sized.body.toString())).toEqual({
        bytes: body.length,
        sha,
        contentLength: String(body.length),
        transferEncoding: null,
      });
      const chunked = await h2Request(s, { ':method': 'POST', ':path': '/files/upload', ...FILES }, body);
      expect(JSON.parse(chunked.body.toString())).toEqual({ bytes: body.length, sha, contentLength: null, transferEncoding: 'chunked' });
    },
    TEST_MS,
  );

  it(
    'a large download streams to the client, without hop-by-hop headers',
    async () => {
      const up = await startUpstream();
      gw = await startGateway(config({ files: { url: up.url } }));
      const s = await session();
      const total = 32 * 1024 * 1024;
      const r = await h2Request(s, { ':path': `/files/download?bytes=${total}`, ...FILES });
      expect(r.status).toBe(200);
      for (const name of HOP_BY_HOP) expect(r.headers[name]).toBeUndefined();
      expect(r.body.length).toBe(total);
      expect(createHash('sha256').update(r.body).digest('hex')).toBe(up.sentSha);
    },
    TEST_MS,
  );

  it('a client that stops reading pauses the endpoint instead of filling the gateway', async () => {
    const up = await startUpstream();
    gw = await startGateway(config({ files: { url: up.url } }));
    const s = await session();
    const total = 64 * 1024 * 1024;
    const { stream, head } = openStream(s, `/files/download?bytes=${total}`);
    stream.pause();
    await head;
    // The endpoint writes until every buffer on the way is full, then waits: the amount stays put.
    let last = -1;
    await until(async () => {
      const now = up.written;
      const still = up.blocked && now === last;
      last = now;
      await new Promise((r) => setTimeout(r, 250));
      return still;
    }, 'the endpoint blocked on a full socket');
    // 64 MiB asked: what sits in the socket buffers, the gateway and the stream window is a few MiB.
    expect(up.written).toBeLessThan(total / 4);
    const hash = createHash('sha256');
    let got = 0;
    const ended = new Promise<void>((resolve) => stream.on('end', resolve));
    stream.on('data', (c: Buffer) => {
      got += c.length;
      hash.update(c);
    });
    stream.resume();
    await ended;
    expect(got).toBe(total);
    expect(hash.digest('hex')).toBe(up.sentSha);
  }, 60_000);
});

describe('limits and refusals through the gateway', () => {
  it(
    'rapid reset: GOAWAY ENHANCE_YOUR_CALM, the requests it had in flight leave, and other clients are served',
    async () => {
      const up = await startUpstream();
      gw = await startGateway(config({ files: { url: up.url }, http2: 'http2:\n  maxResetsPerSecond: 20' }));
      const files = gw.revision('files', 'files-1');
      const other = await session();
      const flood = await RawH2.open(gw.port);
      sockets.push(flood.socket);
      // Five requests in flight at the endpoint, then HEADERS + RST_STREAM pairs, more than the limit.
      flood.start(...Array.from({ length: 5 }, (_, i) => headersFrame(1 + 2 * i, getFields('/files/hold', 'files.test'))));
      await until(() => files.stats.inflight === 5, 'five requests at the endpoint');
      const frames: Buffer[] = [];
      for (let id = 11; id < 11 + 2 * 30; id += 2)
        frames.push(headersFrame(id, getFields('/files/hold', 'files.test')), rstFrame(id, constants.NGHTTP2_CANCEL));
      flood.write(...frames);
      await until(() => flood.goawayCode() !== undefined, 'GOAWAY');
      expect(flood.goawayCode()).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await until(() => flood.closed, 'the flooding connection closed');
      await until(() => files.stats.active === 0, 'nothing held or in flight');
      const r = await h2Request(other, { ':path': '/files/quick', ...FILES });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('ok /files/quick');
    },
    TEST_MS,
  );

  it(
    'a malformed request gets a stream error and a Host that differs from :authority a 400; the connection serves on',
    async () => {
      const up = await startUpstream();
      gw = await startGateway(config({ files: { url: up.url } }));
      const r = await RawH2.open(gw.port);
      sockets.push(r.socket);
      r.start(headersFrame(1, getFields('/files/a', 'files.test', [['connection', 'close']])));
      await until(() => r.resetCode(1) !== undefined, 'stream 1 reset');
      expect(r.resetCode(1)).toBe(constants.NGHTTP2_PROTOCOL_ERROR);
      r.write(headersFrame(3, getFields('/files/b', 'files.test')));
      await until(() => r.data(3).length > 0, 'stream 3 answered');
      expect(r.data(3).toString()).toBe('ok /files/b');
      expect(r.on(1, FRAME.HEADERS)).toHaveLength(0);

      const s = await session();
      const mismatch = await h2Request(s, { ':path': '/files/c', ...FILES, host: 'other.test' });
      expect(mismatch.status).toBe(400);
      expect((JSON.parse(mismatch.body.toString()) as ErrorBody).error.code).toBe('bad_request');
      expect(up.paths).toEqual(['/files/b']);
    },
    TEST_MS,
  );

  it(
    'h2load: 2000 requests on 4 connections, 10 streams each, all 2xx',
    async () => {
      gw = await startGateway(config({ predictor: predictorRevision('iris-1') }));
      const bodyFile = join(dir, 'infer.json');
      writeFileSync(bodyFile, JSON.stringify(IRIS_ROW));
      const out = await run('/usr/bin/h2load', [
        '-n',
        '2000',
        '-c',
        '4',
        '-m',
        '10',
        '-d',
        bodyFile,
        '-H',
        'content-type: application/json',
        `${gw.url}${INFER}`,
      ]);
      expect(out).toMatch(/requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
      expect(out).toMatch(/status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx/);
    },
    TEST_MS,
  );
});

describe('the TLS hand-off through the gateway', () => {
  it(
    'a TLS socket with ALPN h2, handed to the sessions the composition root makes, reaches the predictor',
    async () => {
      gw = await startGateway(config({ predictor: predictorRevision('iris-1') }));
      const { key, cert } = selfSignedLocalhost(dir);
      const sessions = http2Sessions(
        { request: gw.gateway.handle, upgrade: gw.gateway.handleUpgrade },
        parseConfig({}).http2,
        pino({ level: 'silent' }),
      );
      const tls: TlsServer = createTlsServer({ key, cert, ALPNProtocols: ['h2'] }, sessions.serveSecure);
      await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
      try {
        const s = await h2Session(`https://127.0.0.1:${(tls.address() as AddressInfo).port}`, { ca: cert });
        clients.push(s);
        const r = await infer(s);
        expect(r.status).toBe(200);
        expect(r.headers['sluice-revision']).toBe('iris-1');
        expect((JSON.parse(r.body.toString()) as InferBody).outputs[0]!.data).toEqual([2]);
        s.destroy();
      } finally {
        sessions.closeAllSessions();
        await sessions.close();
        await new Promise((resolve) => tls.close(resolve));
      }
    },
    TEST_MS,
  );
});

/** Runs a client program; resolves with its stdout, rejects with its stderr when it fails. */
function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 20_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * WebSockets over HTTP/2 through the gateway (RFC 8441 extended CONNECT), end to end: node:http2's
 * client over h2c and over TLS h2 opens a WebSocket to a `ws` server behind a static revision
 * (and a local revision at zero), frames encoded by test/support/h2-websocket.ts. The endpoint
 * gets an HTTP/1.1 upgrade with the gateway's own key; the client gets 200; messages both ways,
 * one larger than any flow-control window; closes and resets from either side; refusals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { constants, type ClientHttp2Session } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { ErrorBody } from './support/bodies.js';
import { selfSignedLocalhost } from './support/certs.js';
import { h2Session, serverSettings } from './support/h2.js';
import { withPage } from './support/browser.js';
import { acceptFor } from '../src/gateway/websocket-handshake.js';
import { connectWebSocket, encodeFrame, OPCODE, type H2WebSocket } from './support/h2-websocket.js';
import { AT_ZERO, FIXTURES, settled, startGateway, until, type StartOptions, type TestGateway } from './support/harness.js';

vi.setConfig({ testTimeout: 30_000 });

const dir = mkdtempSync(join(tmpdir(), 'sluice-ws-h2-'));
const gateways: TestGateway[] = [];
const clients: ClientHttp2Session[] = [];
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Endpoint {
  port: number;
  /** Each handshake's request headers, in arrival order. */
  handshakes: IncomingHttpHeaders[];
  /** Each connection's WebSocket, in arrival order. */
  sockets: WebSocket[];
  /** Close codes the endpoint saw, in order. */
  closes: number[];
}

/** A `ws` echo server on 127.0.0.1:0 that picks subprotocol chat.v2 when offered; text comes back as "echo:…". */
async function wsEndpoint(): Promise<Endpoint> {
  const server = createServer();
  const wss = new WebSocketServer({ server, handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false) });
  const endpoint: Endpoint = { port: 0, handshakes: [], sockets: [], closes: [] };
  wss.on('connection', (ws, req: IncomingMessage) => {
    endpoint.handshakes.push(req.headers);
    endpoint.sockets.push(ws);
    ws.on('message', (data, isBinary) =>
      ws.send(isBinary ? (data as Buffer) : `echo:${(data as Buffer).toString()}`, { binary: isBinary }),
    );
    ws.on('close', (code) => endpoint.closes.push(code));
  });
  endpoint.port = await listen(server);
  closers.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return endpoint;
}

function listen(server: Server | NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A correct 101 to a raw endpoint's request `head`. */
function upgraded(head: string): string {
  const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`;
}

/** A raw TCP endpoint: each connection gets `answer(head)` once its request head has arrived. */
async function rawEndpoint(answer: (head: string) => string): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    let head = '';
    let answered = false;
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!answered && head.includes('\r\n\r\n')) {
        answered = true;
        socket.write(answer(head));
      }
    });
  });
  const port = await listen(server);
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { port, sockets };
}

function chatConfig(port: number, http2 = ''): string {
  return `${http2}services:
  - name: chat
    match: { hosts: [chat.example.test], pathPrefix: /ws }
    revisions:
      - { name: chat-1, backend: static, urls: ["http://127.0.0.1:${port}"] }
    traffic:
      - { revision: chat-1, percent: 100 }
`;
}

async function start(yaml: string, options: StartOptions = {}): Promise<TestGateway> {
  const gw = await startGateway(yaml, options);
  gateways.push(gw);
  return gw;
}

async function session(url: string, options: Parameters<typeof h2Session>[1] = {}): Promise<ClientHttp2Session> {
  const s = await h2Session(url, options);
  clients.push(s);
  return s;
}

/** Opens a WebSocket that must be answered 200. */
async function open(s: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<H2WebSocket> {
  const answer = await connectWebSocket(s, path, { ':authority': 'chat.example.test', ...headers });
  expect(answer.status).toBe(200);
  return answer.ws!;
}

/** Text, binary, and 2 MiB binary (far past the 64 KiB windows either way) echoed whole. */
async function exchangeMessages(ws: H2WebSocket): Promise<void> {
  ws.send(OPCODE.TEXT, 'hello');
  expect(await ws.next()).toMatchObject({ opcode: OPCODE.TEXT, payload: Buffer.from('echo:hello') });
  const small = Buffer.from([0, 1, 2, 255]);
  ws.send(OPCODE.BINARY, small);
  expect(await ws.next()).toMatchObject({ opcode: OPCODE.BINARY, payload: small });
  const big = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  ws.send(OPCODE.BINARY, big);
  const back = await ws.next();
  expect(back.opcode).toBe(OPCODE.BINARY);
  expect(back.payload.equals(big)).toBe(true);
}

describe('WebSockets over h2c', () => {
  it('the endpoint gets an HTTP/1.1 upgrade with a fresh key; the client gets 200 and the subprotocol; messages both ways; the client closes', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port));
    const s = await session(gw.url);
    expect((await serverSettings(s)).enableConnectProtocol).toBe(true);
    const answer = await connectWebSocket(s, '/ws/room?x=1', {
      ':authority': 'chat.example.test',
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'chat.v1, chat.v2',
      origin: 'https://chat.example.test',
      cookie: 'a=1',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['sec-websocket-protocol']).toBe('chat.v2');
    expect(answer.headers['sluice-revision']).toBe('chat-1');
    expect(answer.headers['sec-websocket-accept']).toBeUndefined();
    expect(answer.headers['upgrade']).toBeUndefined();
    expect(answer.headers['connection']).toBeUndefined();
    const seen = endpoint.handshakes[0]!;
    expect(seen['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(seen['sec-websocket-version']).toBe('13');
    expect(seen['sec-websocket-protocol']).toBe('chat.v1, chat.v2');
    expect(seen['origin']).toBe('https://chat.example.test');
    expect(seen['cookie']).toBe('a=1');
    expect(seen['host']).toBe('chat.example.test');
    expect(seen['x-forwarded-proto']).toBe('http');
    const ws = answer.ws!;
    await exchangeMessages(ws);
    const rev = gw.revision('chat', 'chat-1');
    expect(rev.stats.inflight).toBe(1);
    ws.close(1000);
    // The endpoint answers the close and ends its socket: the stream ends both ways.
    expect(await ws.next()).toMatchObject({ opcode: OPCODE.CLOSE });
    await ws.closed;
    expect(ws.stream.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    await until(() => endpoint.closes.length === 1, 'the endpoint saw the close');
    expect(endpoint.closes).toEqual([1000]);
    await until(() => rev.stats.inflight === 0, 'the tunnel left the in-flight count');
  });

  it('a fresh key per WebSocket, whatever key the client sends', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port));
    const s = await session(gw.url);
    await open(s, '/ws', { 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    await open(s, '/ws', { 'sec-websocket-version': '13' });
    const keys = endpoint.handshakes.map((h) => h['sec-websocket-key']);
    expect(keys[0]).not.toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('the endpoint closing ends the stream', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port));
    const s = await session(gw.url);
    const ws = await open(s, '/ws', { 'sec-websocket-version': '13' });
    endpoint.sockets[0]!.close(4001, 'bye');
    const frame = await ws.next();
    expect(frame.opcode).toBe(OPCODE.CLOSE);
    expect(frame.payload.readUInt16BE(0)).toBe(4001);
    ws.close(4001); // the client's answer; the endpoint then ends its socket
    await ws.closed;
    expect(ws.stream.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    await until(() => gw.revision('chat', 'chat-1').stats.inflight === 0, 'the tunnel left the in-flight count');
  });

  it('an endpoint that ends its socket while the client sends on: END_STREAM, then RST_STREAM NO_ERROR', async () => {
    const fake = await rawEndpoint((head) => upgraded(head));
    const gw = await start(chatConfig(fake.port));
    const s = await session(gw.url);
    const ws = await open(s, '/ws', { 'sec-websocket-version': '13' });
    fake.sockets[0]!.end(encodeFrame(OPCODE.TEXT, 'last words', false));
    expect((await ws.next()).payload.toString()).toBe('last words');
    await ws.closed;
    expect(ws.stream.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    await until(() => gw.revision('chat', 'chat-1').stats.inflight === 0, 'the tunnel left the in-flight count');
  });

  it('an endpoint socket reset: RST_STREAM to the client', async () => {
    const fake = await rawEndpoint((head) => upgraded(head));
    const gw = await start(chatConfig(fake.port));
    const s = await session(gw.url);
    const ws = await open(s, '/ws', { 'sec-websocket-version': '13' });
    fake.sockets[0]!.resetAndDestroy();
    await ws.closed;
    expect(ws.stream.rstCode).not.toBe(constants.NGHTTP2_NO_ERROR);
    await until(() => gw.revision('chat', 'chat-1').stats.inflight === 0, 'the tunnel left the in-flight count');
  });

  it('RST_STREAM from the client closes the endpoint socket', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port));
    const s = await session(gw.url);
    const ws = await open(s, '/ws', { 'sec-websocket-version': '13' });
    ws.send(OPCODE.TEXT, 'x');
    await ws.next();
    ws.stream.close(constants.NGHTTP2_CANCEL);
    // No close frame reached it: ws reports the abnormal closure.
    await until(() => endpoint.closes.length === 1, 'the endpoint socket closed');
    expect(endpoint.closes).toEqual([1006]);
    await until(() => gw.revision('chat', 'chat-1').stats.inflight === 0, 'the tunnel left the in-flight count');
  });

  it('a client that stops reading stops the endpoint (backpressure towards the endpoint)', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port));
    const s = await session(gw.url);
    const ws = await open(s, '/ws', { 'sec-websocket-version': '13' });
    ws.stream.pause();
    const server = endpoint.sockets[0]!;
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 512; i++) server.send(chunk); // 32 MiB
    // The endpoint's buffer stops draining: past the stream's window and the sockets' buffers
    // (a few MiB on loopback), the gateway reads no more.
    const stuck = await settled(() => server.bufferedAmount);
    expect(stuck).toBeGreaterThan(16 * 1024 * 1024);
    ws.stream.resume();
    let got = 0;
    while (got < 512) if ((await ws.next()).payload.length === chunk.length) got++;
    expect(server.bufferedAmount).toBe(0);
  });
});

describe('WebSockets over TLS h2', () => {
  it('opens over ALPN h2 and passes messages both ways; the endpoint sees X-Forwarded-Proto https', async () => {
    const endpoint = await wsEndpoint();
    const { certFile, keyFile, cert } = selfSignedLocalhost(dir);
    const gw = await start(chatConfig(endpoint.port), { tls: { certificates: [{ certFile, keyFile }] } });
    const s = await session(gw.tlsUrl!, { ca: cert });
    expect((s.socket as unknown as { alpnProtocol: string }).alpnProtocol).toBe('h2');
    const answer = await connectWebSocket(s, '/ws', {
      ':authority': 'chat.example.test',
      ':scheme': 'https',
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'chat.v2',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['sec-websocket-protocol']).toBe('chat.v2');
    expect(endpoint.handshakes[0]!['x-forwarded-proto']).toBe('https');
    const ws = answer.ws!;
    await exchangeMessages(ws);
    ws.close(1000);
    await ws.closed;
    await until(() => endpoint.closes.length === 1, 'the endpoint saw the close');
  });
});

describe('refusals', () => {
  it('an endpoint whose 101 carries the wrong Sec-WebSocket-Accept: 502', async () => {
    const fake = await rawEndpoint(
      () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n',
    );
    const gw = await start(chatConfig(fake.port));
    const s = await session(gw.url);
    const answer = await connectWebSocket(s, '/ws', { ':authority': 'chat.example.test', 'sec-websocket-version': '13' });
    expect(answer.status).toBe(502);
    const body = JSON.parse(answer.body.toString()) as ErrorBody;
    expect(body.error).toMatchObject({ code: 'upstream_error', revision: 'chat-1' });
    expect(body.error.message).toContain('Sec-WebSocket-Accept');
    await until(() => fake.sockets.every((sk) => sk.destroyed), 'the endpoint connection closed');
    expect(gw.revision('chat', 'chat-1').stats.inflight).toBe(0);
  });

  it('an endpoint that answers 403 instead of upgrading: 403 and its body reach the client', async () => {
    const fake = await rawEndpoint(
      () => 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno entry\n',
    );
    const gw = await start(chatConfig(fake.port));
    const s = await session(gw.url);
    const answer = await connectWebSocket(s, '/ws', { ':authority': 'chat.example.test', 'sec-websocket-version': '13' });
    expect(answer.status).toBe(403);
    expect(answer.headers['content-type']).toBe('text/plain');
    expect(answer.body.toString()).toBe('no entry\n');
    await until(() => gw.revision('chat', 'chat-1').stats.inflight === 0, 'the refusal left the in-flight count');
  });

  it('a :protocol other than websocket: 400 naming it; a plain CONNECT: 400; no route: 404', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port));
    const s = await session(gw.url);
    const other = await connectWebSocket(s, '/ws', { ':authority': 'chat.example.test', ':protocol': 'connect-udp' });
    expect(other.status).toBe(400);
    expect((JSON.parse(other.body.toString()) as ErrorBody).error.message).toContain('"connect-udp"');
    const plain = await new Promise<number>((resolve) => {
      const stream = s.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:22' }, { endStream: false });
      stream.on('error', () => {});
      stream.once('response', (h) => resolve(Number(h[':status'])));
    });
    expect(plain).toBe(400);
    const unrouted = await connectWebSocket(s, '/elsewhere', { ':authority': 'chat.example.test' });
    expect(unrouted.status).toBe(404);
    expect(endpoint.handshakes).toHaveLength(0);
  });

  it('a revision reached over HTTP/2: 502 naming why', async () => {
    const gw = await start(`services:
  - name: chat
    match: { pathPrefix: /ws }
    revisions:
      - { name: chat-1, backend: static, protocol: h2c, urls: ["http://127.0.0.1:9"] }
    traffic:
      - { revision: chat-1, percent: 100 }
`);
    const s = await session(gw.url);
    const answer = await connectWebSocket(s, '/ws', { ':authority': 'chat.example.test' });
    expect(answer.status).toBe(502);
    expect((JSON.parse(answer.body.toString()) as ErrorBody).error.message).toContain('HTTP/1.1 endpoints only');
  });

  it('with http2.websockets false, the setting is not advertised and nghttp2 resets a :protocol stream', async () => {
    const endpoint = await wsEndpoint();
    const gw = await start(chatConfig(endpoint.port, 'http2:\n  websockets: false\n'));
    const s = await session(gw.url);
    expect((await serverSettings(s)).enableConnectProtocol).toBe(false);
    await expect(connectWebSocket(s, '/ws', { ':authority': 'chat.example.test' })).rejects.toThrow(
      `code ${constants.NGHTTP2_PROTOCOL_ERROR}`,
    );
    expect(endpoint.handshakes).toHaveLength(0);
  });
});

describe('a revision at zero', () => {
  it('holds the CONNECT through the cold start, then opens the WebSocket', async () => {
    const gw = await start(`${AT_ZERO}services:
  - name: chat
    match: { pathPrefix: /ws }
    revisions:
      - name: chat-1
        backend: local
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify([FIXTURES + 'websocket-server.mjs'])}
        readinessPath: /ready
    traffic:
      - { revision: chat-1, percent: 100 }
`);
    const rev = gw.revision('chat', 'chat-1');
    expect(rev.endpoints).toHaveLength(0);
    const s = await session(gw.url);
    const answer = await connectWebSocket(s, '/ws/cold', { ':authority': 'chat.example.test', 'sec-websocket-version': '13' });
    expect(answer.status).toBe(200);
    expect(Number(answer.headers['sluice-cold-start'])).toBeGreaterThanOrEqual(0);
    const ws = answer.ws!;
    const hello = JSON.parse((await ws.next()).payload.toString()) as { url: string; headers: IncomingHttpHeaders };
    expect(hello.url).toBe('/ws/cold');
    expect(hello.headers['sec-websocket-key']).toBeDefined();
    ws.send(OPCODE.TEXT, 'after the cold start');
    expect((await ws.next()).payload.toString()).toBe('echo:after the cold start');
    expect(rev.stats.coldStarts).toBe(1);
    ws.close();
    await ws.closed;
  });
});

describe('Chromium', () => {
  it('opens new WebSocket("wss://…") over the h2 connection its page came on', async () => {
    const endpoint = await wsEndpoint();
    const pages = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>chat</title>');
    });
    const pagesPort = await listen(pages);
    closers.push(() => new Promise((r) => pages.close(() => r())));
    const { certFile, keyFile } = selfSignedLocalhost(dir);
    const gw = await start(
      `services:
  - name: chat
    match: { pathPrefix: /ws }
    revisions:
      - { name: chat-1, backend: static, urls: ["http://127.0.0.1:${endpoint.port}"] }
    traffic:
      - { revision: chat-1, percent: 100 }
  - name: pages
    revisions:
      - { name: pages-1, backend: static, urls: ["http://127.0.0.1:${pagesPort}"] }
    traffic:
      - { revision: pages-1, percent: 100 }
`,
      { tls: { certificates: [{ certFile, keyFile }] } },
    );
    const result = await withPage(
      async (page) => {
        await page.goto(`${gw.tlsUrl!}/`);
        const pageProtocol = await page.evaluate(`performance.getEntriesByType('navigation')[0].nextHopProtocol`);
        const reply = await page.evaluate(`new Promise((resolve, reject) => {
          const ws = new WebSocket('wss://' + location.host + '/ws/browser', ['chat.v2']);
          ws.onopen = () => ws.send('from the page');
          ws.onmessage = (e) => { resolve({ data: e.data, protocol: ws.protocol }); ws.close(1000); };
          ws.onerror = () => reject(new Error('WebSocket failed'));
        })`);
        return { pageProtocol, reply };
      },
      undefined,
      { ignoreHTTPSErrors: true },
    );
    expect(result.reply).toEqual({ data: 'echo:from the page', protocol: 'chat.v2' });
    expect(result.pageProtocol).toBe('h2');
    // The HTTP/2 path: the gateway's header rules ran (Forwarded, X-Forwarded-Proto https), where
    // an HTTP/1.1 upgrade goes through http-proxy, which says wss and adds no Forwarded.
    const seen = endpoint.handshakes[0]!;
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['forwarded']).toContain('proto=https');
    expect(seen['sec-websocket-protocol']).toBe('chat.v2');
    await until(() => endpoint.closes.length === 1, 'the page closed its WebSocket');
  });
});

/**
 * TLS on the data port, end to end: the gateway program (test/support/harness.ts) with a TLS
 * listener on 127.0.0.1:0, certificates made here by openssl (test/support/certificates.ts), real
 * clients (node:tls, node:https). SNI, versions, ALPN, rotation by file and by reload, the same
 * request path as cleartext (a local predictor revision, the JSON errors, X-Forwarded-Proto).
 */
import { copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ErrorBody, InferBody } from './support/bodies.js';
import { fingerprint, makeCa, served as servedBy, type Leaf, type TestCa } from './support/certificates.js';
import { IRIS_ROW, predictorRevision, startGateway, until, type StartOptions, type TestGateway } from './support/harness.js';

vi.setConfig({ testTimeout: 30_000 });

let ca: TestCa;
let a: Leaf;
let wild: Leaf;
let fallback: Leaf;
let echo: Server;
let echoPort: number;
/** What the echo endpoint last saw. */
let echoed: IncomingHttpHeaders = {};

beforeAll(async () => {
  ca = makeCa();
  a = ca.leaf('a', { cn: 'a.example.test', dns: ['a.example.test'] });
  wild = ca.leaf('wild', { cn: 'wild', dns: ['*.wild.example.test'] });
  fallback = ca.leaf('default', { cn: 'default.example.test', dns: ['default.example.test'] });
  echo = createServer((req, res) => {
    echoed = req.headers;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url }));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => echo.close(r));
  ca.close();
});

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function start(yaml: string, options: StartOptions): Promise<TestGateway> {
  const gw = await startGateway(yaml, options);
  gateways.push(gw);
  return gw;
}

/** A service under /echo whose static revision is the echo server. */
const ECHO_SERVICE = () => `
  - name: echo
    match:
      pathPrefix: /echo
    revisions:
      - name: echo-1
        backend: static
        urls: ["http://127.0.0.1:${echoPort}"]
    traffic:
      - revision: echo-1
        percent: 100
`;
const echoOnly = () => `services:${ECHO_SERVICE()}`;

/** A finished handshake with 127.0.0.1:`port`, verified against the test CA. */
function handshake(port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.ca, ...options }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The certificate a new handshake gets for `servername` (none: no SNI). The chain is verified, the name not. */
const served = (port: number, servername?: string): Promise<PeerCertificate> => servedBy(port, ca.ca, servername);

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
  socket: TLSSocket;
}

/** One HTTPS request to the gateway as `host`, verified against the test CA. */
function https(
  port: number,
  path: string,
  options: { host?: string; method?: string; body?: string; agent?: Agent } = {},
): Promise<Answer> {
  const host = options.host ?? 'a.example.test';
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        servername: host,
        ca: ca.ca,
        headers: { host, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
        agent: options.agent ?? false,
      },
      (res) => {
        // Taken now: a kept-alive socket leaves the response once it has ended.
        const socket = res.socket as TLSSocket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode!, headers: res.headers, body: text === '' ? undefined : JSON.parse(text), socket });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A logger whose JSON lines the test reads. */
function capture(): { logger: Logger; lines: { level: number; msg: string; why?: string }[] } {
  const lines: { level: number; msg: string; why?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
  return { logger, lines };
}

/** `leaf`'s PEMs into `certFile`/`keyFile` by rename over, as editors and cert-manager do. */
function replaceFiles(leaf: Pick<Leaf, 'cert' | 'key'>, certFile: string, keyFile: string): void {
  writeFileSync(`${keyFile}.new`, leaf.key);
  writeFileSync(`${certFile}.new`, leaf.cert);
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
}

describe('a TLS listener with three certificates', () => {
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    const yaml = `
autoscaler:
  allow-zero-initial-scale: true
  initial-scale: 0
services:
  - name: iris
    match:
      model: iris
    revisions:${predictorRevision('iris-1')}
    traffic:
      - revision: iris-1
        percent: 100
${ECHO_SERVICE()}`;
    gw = await startGateway(yaml, {
      tls: {
        certificates: [
          { certFile: a.certFile, keyFile: a.keyFile },
          { certFile: wild.certFile, keyFile: wild.keyFile },
          { certFile: fallback.certFile, keyFile: fallback.keyFile, default: true },
        ],
      },
    });
    port = gw.tlsPort!;
  });
  afterAll(() => gw.close());

  it('listens beside the cleartext port and reports both', () => {
    expect(gw.tlsPort).toBeGreaterThan(0);
    expect(gw.tlsPort).not.toBe(gw.port);
    expect(gw.tlsUrl).toBe(`https://127.0.0.1:${gw.tlsPort}`);
  });

  it('SNI picks the certificate of that name, verified by the client as usual', async () => {
    const socket = await handshake(port, { servername: 'a.example.test' });
    expect(socket.authorized).toBe(true);
    const cert = socket.getPeerCertificate();
    socket.destroy();
    expect(cert.subject.CN).toBe('a.example.test');
    expect(cert.subjectaltname).toBe('DNS:a.example.test');
  });

  it('a wildcard serves names one label below it, not its base nor two labels below', async () => {
    expect((await served(port, 'x.wild.example.test')).subjectaltname).toBe('DNS:*.wild.example.test');
    expect((await served(port, 'X.Wild.Example.Test')).subjectaltname).toBe('DNS:*.wild.example.test');
    expect((await served(port, 'wild.example.test')).subject.CN).toBe('default.example.test');
    expect((await served(port, 'a.b.wild.example.test')).subject.CN).toBe('default.example.test');
  });

  it('no SNI, or a name no certificate has, gets the default (here the third, marked default)', async () => {
    expect((await served(port)).subject.CN).toBe('default.example.test');
    expect((await served(port, 'unknown.example.test')).subject.CN).toBe('default.example.test');
  });

  it('a TLS 1.1 client is refused with a protocol_version alert', async () => {
    // SECLEVEL=0: the client's OpenSSL would otherwise refuse to offer TLS 1.1 itself.
    const refused = handshake(port, {
      servername: 'a.example.test',
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    await expect(refused).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
  });

  it('TLS 1.2 and 1.3 clients are served (minVersion TLSv1.2 by default)', async () => {
    const v12 = await handshake(port, { servername: 'a.example.test', maxVersion: 'TLSv1.2' });
    expect(v12.getProtocol()).toBe('TLSv1.2');
    v12.destroy();
    const v13 = await handshake(port, { servername: 'a.example.test' });
    expect(v13.getProtocol()).toBe('TLSv1.3');
    v13.destroy();
  });

  it('ALPN: h2 is chosen when offered, http/1.1 otherwise; an h2 request over TLS reaches the endpoint as https', async () => {
    const both = await handshake(port, { servername: 'a.example.test', ALPNProtocols: ['h2', 'http/1.1'] });
    expect(both.alpnProtocol).toBe('h2');
    both.destroy();
    const h1 = await handshake(port, { servername: 'a.example.test', ALPNProtocols: ['http/1.1'] });
    expect(h1.alpnProtocol).toBe('http/1.1');
    h1.destroy();

    const session = http2Connect(`https://a.example.test:${port}`, { ca: ca.ca, host: '127.0.0.1', servername: 'a.example.test' });
    session.on('error', () => {});
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/echo/over-h2' });
      stream.end();
      const [headers, text] = await new Promise<[IncomingHttpHeaders & { ':status'?: number }, string]>((resolve, reject) => {
        let head: IncomingHttpHeaders = {};
        let body = '';
        stream.on('response', (h) => (head = h));
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve([head, body]));
        stream.on('error', reject);
      });
      expect(headers[':status']).toBe(200);
      expect(headers['sluice-revision']).toBe('echo-1');
      expect(JSON.parse(text)).toEqual({ url: '/echo/over-h2' });
      expect(echoed['x-forwarded-proto']).toBe('https');
      expect(echoed.host).toBe(`a.example.test:${port}`);
    } finally {
      session.destroy();
    }
  });

  it('requests over TLS reach a local predictor revision, with the headers cleartext requests get', async () => {
    const res = await https(port, '/v2/models/iris/infer', { method: 'POST', body: JSON.stringify(IRIS_ROW) });
    expect(res.status).toBe(200);
    expect(res.headers['sluice-revision']).toBe('iris-1');
    expect(res.headers['sluice-cold-start']).toBeDefined();
    expect((res.body as InferBody).outputs[0]!.data).toEqual([2]);
  });

  it('errors over TLS are the same JSON errors', async () => {
    const res = await https(port, '/nowhere');
    expect(res.status).toBe(404);
    expect((res.body as ErrorBody).error.code).toBe('route_not_found');
    const bad = await https(port, '/echo/%zz');
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.code).toBe('bad_request');
  });

  it('the endpoint sees X-Forwarded-Proto https over TLS and http over cleartext', async () => {
    expect((await https(port, '/echo/secure')).status).toBe(200);
    expect(echoed['x-forwarded-proto']).toBe('https');
    expect(echoed.forwarded).toMatch(/proto=https$/);
    const clear = await fetch(`${gw.url}/echo/plain`);
    expect(clear.status).toBe(200);
    expect(echoed['x-forwarded-proto']).toBe('http');
  });

  it('keep-alive over TLS: several requests on one connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await https(port, '/echo/1', { agent });
      const second = await https(port, '/echo/2', { agent });
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(first.socket).toBeInstanceOf(TLSSocket);
      expect(second.socket).toBe(first.socket);
    } finally {
      agent.destroy();
    }
  });

  it('bytes that are not TLS close that socket only; the listener goes on', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n'));
      socket.on('error', () => {});
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
    expect((await https(port, '/echo/after')).status).toBe(200);
  });
});

describe('WebSockets over TLS', () => {
  it('a wss:// upgrade is handed through to the endpoint, which sees X-Forwarded-Proto wss', async () => {
    const backend = createServer();
    const wss = new WebSocketServer({ server: backend });
    wss.on('connection', (ws, req) => {
      ws.on('message', (m) => ws.send(`echo:${(m as Buffer).toString()}:${String(req.headers['x-forwarded-proto'])}`));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    try {
      const port = (backend.address() as { port: number }).port;
      const yaml = `services:
  - name: chat
    match: { pathPrefix: /ws }
    revisions:
      - { name: chat-1, backend: static, urls: ["http://127.0.0.1:${port}"] }
    traffic:
      - { revision: chat-1, percent: 100 }
`;
      const gw = await start(yaml, { tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] } });
      // ws hands these to tls.connect (its types leave servername out).
      const tlsOptions = { ca: ca.ca, servername: 'a.example.test' };
      const ws = new WebSocket(`wss://127.0.0.1:${gw.tlsPort}/ws`, tlsOptions);
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve((m as Buffer).toString())));
      ws.send('hello');
      // http-proxy, which carries upgrades, says wss (ws over cleartext).
      expect(await reply).toBe('echo:hello:wss');
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.close();
      await closed;
    } finally {
      for (const client of wss.clients) client.terminate();
      wss.close();
      backend.closeAllConnections();
      await new Promise((r) => backend.close(r));
    }
  });
});

describe('TLS settings', () => {
  it('minVersion TLSv1.3 refuses a client that speaks at most TLS 1.2', async () => {
    const gw = await start(echoOnly(), { tls: { minVersion: 'TLSv1.3', certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] } });
    await expect(handshake(gw.tlsPort!, { servername: 'a.example.test', maxVersion: 'TLSv1.2' })).rejects.toMatchObject({
      code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    });
    const ok = await handshake(gw.tlsPort!, { servername: 'a.example.test' });
    expect(ok.getProtocol()).toBe('TLSv1.3');
    ok.destroy();
  });

  it('ciphers limits the TLS 1.2 suites, with SNI and without', async () => {
    const gw = await start(echoOnly(), {
      tls: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] },
    });
    for (const servername of ['a.example.test', undefined]) {
      const sni = servername === undefined ? { checkServerIdentity: () => undefined } : { servername };
      const ok = await handshake(gw.tlsPort!, { ...sni, maxVersion: 'TLSv1.2' });
      expect(ok.getCipher().standardName).toBe('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
      ok.destroy();
      const refused = await handshake(gw.tlsPort!, { ...sni, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }).then(
        () => undefined,
        (err: NodeJS.ErrnoException) => err.code,
      );
      // OpenSSL 3.0 (Node 20) names the alert SSLV3, later versions SSL/TLS.
      expect(refused).toMatch(/^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/);
    }
  });

  it('names in the config override the certificate’s own', async () => {
    const gw = await start(echoOnly(), {
      tls: {
        certificates: [
          { certFile: fallback.certFile, keyFile: fallback.keyFile },
          { certFile: a.certFile, keyFile: a.keyFile, names: ['Other.Example.Test'] },
        ],
      },
    });
    expect((await served(gw.tlsPort!, 'other.example.test')).subject.CN).toBe('a.example.test');
    // Its own name is no longer one it serves: the first certificate is the default.
    expect((await served(gw.tlsPort!, 'a.example.test')).subject.CN).toBe('default.example.test');
  });

  it('a handshake that does not finish in handshakeTimeoutSeconds is cut', async () => {
    const gw = await start(echoOnly(), {
      tls: { handshakeTimeoutSeconds: 0.2, certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] },
    });
    // Connects and sends nothing: the server closes it.
    const closed = await new Promise<boolean>((resolve) => {
      const socket = netConnect(gw.tlsPort!, '127.0.0.1');
      socket.on('error', () => {});
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
  });

  it('listen: off serves on the TLS listener alone, and the gateway is ready', async () => {
    const gw = await start(echoOnly(), { cleartext: false, tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }] } });
    expect(gw.port).toBe(gw.tlsPort);
    expect((await https(gw.tlsPort!, '/echo/only')).status).toBe(200);
    expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
  });

  it('a certificate that cannot be loaded fails the start with exit code 2, naming the field and the file', async () => {
    const missing = join(ca.dir, 'missing.crt');
    await expect(startGateway(echoOnly(), { tls: { certificates: [{ certFile: missing, keyFile: a.keyFile }] } })).rejects.toMatchObject({
      name: 'StartFailure',
      exitCode: 2,
      message: `tls.certificates[0]: ${missing}: cannot read: no such file`,
    });
    await expect(
      startGateway(echoOnly(), { tls: { certificates: [{ certFile: a.certFile, keyFile: wild.keyFile }] } }),
    ).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining(
        `tls.certificates[0]: ${a.certFile} with ${wild.keyFile}: the key does not belong to the certificate`,
      ) as string,
    });
  });
});

describe('certificate rotation', () => {
  let dir: string;
  beforeAll(() => {
    dir = join(ca.dir, 'rotation');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** a.example.test's certificate copied to `dir`, where the test replaces it. */
  function live(): { certFile: string; keyFile: string } {
    mkdirSync(dir, { recursive: true });
    const certFile = join(dir, 'a.crt');
    const keyFile = join(dir, 'a.key');
    copyFileSync(a.certFile, certFile);
    copyFileSync(a.keyFile, keyFile);
    return { certFile, keyFile };
  }

  it('a rewritten certificate is served on the next handshake while a kept-alive connection lives on', async () => {
    const files = live();
    const { logger, lines } = capture();
    const gw = await start(echoOnly(), { logger, tls: { certificates: [files] } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await https(gw.tlsPort!, '/echo/before', { agent });
      expect(before.status).toBe(200);
      expect(before.socket.getPeerCertificate().fingerprint256).toBe(fingerprint(a));

      const next = ca.leaf('a-next', { cn: 'a.example.test', dns: ['a.example.test'] });
      replaceFiles(next, files.certFile, files.keyFile);
      await until(async () => (await served(gw.tlsPort!, 'a.example.test')).fingerprint256 === fingerprint(next), 'the new certificate');

      // The connection opened before still serves, with the certificate it was opened with.
      const after = await https(gw.tlsPort!, '/echo/after', { agent });
      expect(after.status).toBe(200);
      expect(before.socket).toBeInstanceOf(TLSSocket);
      expect(after.socket).toBe(before.socket);
      expect(after.socket.getPeerCertificate().fingerprint256).toBe(fingerprint(a));
      expect(lines.some((l) => l.msg.startsWith('TLS certificate loaded for a.example.test') && l.why === 'file change')).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('a Kubernetes Secret volume’s ..data symlink swap is seen', async () => {
    // The layout kubelet writes: tls.crt → ..data/tls.crt, ..data → ..<timestamp>/.
    mkdirSync(join(dir, '..v1'), { recursive: true });
    copyFileSync(a.certFile, join(dir, '..v1', 'tls.crt'));
    copyFileSync(a.keyFile, join(dir, '..v1', 'tls.key'));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    const gw = await start(echoOnly(), { tls: { certificates: [{ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }] } });
    expect((await served(gw.tlsPort!, 'a.example.test')).fingerprint256).toBe(fingerprint(a));

    const next = ca.leaf('a-secret', { cn: 'a.example.test', dns: ['a.example.test'] });
    mkdirSync(join(dir, '..v2'));
    copyFileSync(next.certFile, join(dir, '..v2', 'tls.crt'));
    copyFileSync(next.keyFile, join(dir, '..v2', 'tls.key'));
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..v1'), { recursive: true });
    await until(
      async () => (await served(gw.tlsPort!, 'a.example.test')).fingerprint256 === fingerprint(next),
      'the certificate of the new Secret version',
    );
  });

  it('a bad new certificate is refused with one log line naming the file, and the old one is still served', async () => {
    const files = live();
    const { logger, lines } = capture();
    const gw = await start(echoOnly(), { logger, tls: { certificates: [files] } });
    const refusals = () => lines.filter((l) => l.level === 50 && l.msg.startsWith('TLS certificate refused'));

    replaceFiles({ cert: Buffer.from('not a certificate\n'), key: a.key }, files.certFile, files.keyFile);
    await until(() => refusals().length === 1, 'the refusal');
    expect(refusals()[0]!.msg).toMatch(
      new RegExp(`^TLS certificate refused, keeping the one in use: ${files.certFile}: not a PEM certificate`),
    );
    expect((await served(gw.tlsPort!, 'a.example.test')).fingerprint256).toBe(fingerprint(a));

    // A certificate with another's key.
    const other = ca.leaf('a-other', { cn: 'a.example.test', dns: ['a.example.test'] });
    replaceFiles({ cert: other.cert, key: a.key }, files.certFile, files.keyFile);
    await until(() => refusals().length === 2, 'the second refusal');
    expect(refusals()[1]!.msg).toBe(
      `TLS certificate refused, keeping the one in use: ${files.certFile} with ${files.keyFile}: the key does not belong to the certificate (CN=a.example.test)`,
    );
    expect((await served(gw.tlsPort!, 'a.example.test')).fingerprint256).toBe(fingerprint(a));
    expect((await https(gw.tlsPort!, '/echo/still')).status).toBe(200);

    // Fixed: served.
    replaceFiles(other, files.certFile, files.keyFile);
    await until(async () => (await served(gw.tlsPort!, 'a.example.test')).fingerprint256 === fingerprint(other), 'the fixed certificate');
  });

  it('reloadCertificates (what SIGHUP calls) picks up a change no watch can see', async () => {
    // The files are symlinks into a folder the gateway does not watch: a change there makes no event.
    mkdirSync(join(dir, 'elsewhere'), { recursive: true });
    copyFileSync(a.certFile, join(dir, 'elsewhere', 'a.crt'));
    copyFileSync(a.keyFile, join(dir, 'elsewhere', 'a.key'));
    symlinkSync(join(dir, 'elsewhere', 'a.crt'), join(dir, 'a.crt'));
    symlinkSync(join(dir, 'elsewhere', 'a.key'), join(dir, 'a.key'));
    const gw = await start(echoOnly(), { tls: { certificates: [{ certFile: join(dir, 'a.crt'), keyFile: join(dir, 'a.key') }] } });

    const next = ca.leaf('a-hup', { cn: 'a.example.test', dns: ['a.example.test'] });
    writeFileSync(join(dir, 'elsewhere', 'a.key'), next.key);
    writeFileSync(join(dir, 'elsewhere', 'a.crt'), next.cert);
    await gw.reloadCertificates();
    expect((await served(gw.tlsPort!, 'a.example.test')).fingerprint256).toBe(fingerprint(next));
  });

  it('a changed tls block in the config file applies to the next handshake; a new listen address says it needs a restart', async () => {
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'sluice.yaml');
    copyFileSync(a.certFile, join(dir, 'a.crt'));
    copyFileSync(a.keyFile, join(dir, 'a.key'));
    copyFileSync(wild.certFile, join(dir, 'wild.crt'));
    copyFileSync(wild.keyFile, join(dir, 'wild.key'));
    // Relative paths: against the config file's folder.
    const config = (certificates: string, listen: string) => `${echoOnly()}
tls:
  listen: ${listen}
  certificates:
${certificates}
`;
    const { logger, lines } = capture();
    const gw = await start(config('    - { certFile: a.crt, keyFile: a.key }', '127.0.0.1:0'), { configFile, logger });
    expect((await served(gw.tlsPort!)).subject.CN).toBe('a.example.test');

    writeFileSync(
      configFile,
      config('    - { certFile: wild.crt, keyFile: wild.key }\n    - { certFile: a.crt, keyFile: a.key }', '127.0.0.1:1'),
    );
    await until(async () => (await served(gw.tlsPort!)).subject.CN === 'wild', 'the new default certificate');
    expect((await served(gw.tlsPort!, 'a.example.test')).subject.CN).toBe('a.example.test');
    expect(lines.some((l) => l.level === 40 && l.msg.startsWith('tls: listen, alpn and handshakeTimeoutSeconds take a restart'))).toBe(
      true,
    );
  });
});

describe('a TLS listener that offers http/1.1 only', () => {
  it('a client offering only h2 gets a no_application_protocol alert, not a hang', async () => {
    const gw = await start(echoOnly(), { tls: { certificates: [{ certFile: a.certFile, keyFile: a.keyFile }], alpn: ['http/1.1'] } });
    const port = gw.tlsPort!;
    const both = await handshake(port, { servername: 'a.example.test', ALPNProtocols: ['h2', 'http/1.1'] });
    expect(both.alpnProtocol).toBe('http/1.1');
    both.destroy();
    await expect(handshake(port, { servername: 'a.example.test', ALPNProtocols: ['h2'] })).rejects.toMatchObject({
      code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
    });
  });
});

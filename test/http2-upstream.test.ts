/**
 * Revisions whose endpoints speak HTTP/2 or TLS, end to end: HTTP/1.1 clients through a real
 * gateway (test/support/harness.ts) to node:http2 and node:https endpoints made here, with
 * certificates made by the openssl CLI (test/support/certs.ts).
 *
 *  - h2c: the request translated (pseudo-headers, Host → :authority, hop-by-hop fields gone),
 *    bodies streamed both ways with flow control, status codes, many requests on one session;
 *  - a local revision running an h2c server, and local revisions that listen only with TLS (HTTPS with
 *    mTLS, h2 by server name, auto), probed over TLS as their requests go; a wrong CA never gets ready;
 *  - h2 over TLS verified against the configured CA and name (a wrong CA or name is a 502 and the
 *    endpoint never gets a request), mTLS, HTTP/1.1 over TLS, `auto` by ALPN;
 *  - a session that dies, a GOAWAY, REFUSED_STREAM: unsent requests go to another endpoint;
 *  - trailers, where the data port can carry them;
 *  - a reload that changes a revision's protocol.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect as http2Connect, constants, type IncomingHttpHeaders as H2Headers, type ServerHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { pino } from 'pino';
import { dataPort, upstreamTransport } from '../src/app/protocols.js';
import { parseConfig } from '../src/config/load.js';
import { Gateway } from '../src/gateway/gateway.js';
import { KubernetesDriver } from '../src/kube/deployment-driver.js';
import type { ErrorBody } from './support/bodies.js';
import { certFolder, type CertFolder, type Pem } from './support/certs.js';
import { FIXTURES, settled, startGateway, until, type StartOptions, type TestGateway } from './support/harness.js';
import { DEPLOYMENTS, ENDPOINT_SLICES, FakeKubeServer, deploymentManifest, loadKubeConfig } from './support/fake-kube/index.js';
import { echo, h2Server, type H2Server, type H2ServerOptions, type StreamHandler } from './support/h2-server.js';

let gw: TestGateway | undefined;
const cleanups: Array<() => Promise<void> | void> = [];
const agents: Agent[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await gw?.close();
  gw = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});

let certs: CertFolder;
let ca: Pem;
let otherCa: Pem;
let serverPem: Pem;
let clientPem: Pem;
let namedPem: Pem;

beforeAll(() => {
  certs = certFolder();
  ca = certs.ca('sluice-test-ca');
  otherCa = certs.ca('some-other-ca');
  serverPem = certs.issue(ca, 'iris', { sans: ['DNS:iris.test', 'IP:127.0.0.1'] });
  clientPem = certs.issue(ca, 'gateway', { client: true });
  namedPem = certs.issue(ca, 'replica', { sans: ['DNS:replica.test'] });
});
afterAll(() => certs.remove());

async function server(handler?: StreamHandler, options?: H2ServerOptions): Promise<H2Server> {
  const s = await h2Server(handler, options);
  cleanups.push(() => s.close());
  return s;
}

async function gateway(yaml: string, options?: StartOptions): Promise<TestGateway> {
  gw = await startGateway(yaml, options);
  return gw;
}

/** One service, one revision `a` with `revision` as its body (backend, protocol, urls, tls …). */
function oneRevision(revision: string): string {
  return `
services:
  - name: iris
    revisions:
      - name: a
${revision
  .trim()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
    traffic:
      - revision: a
        percent: 100
`;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: NodeJS.Dict<string>;
}

/** An HTTP/1.1 request to the gateway (a fresh connection unless `agent` is given). */
function send(
  port: number,
  options: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent: options.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), trailers: res.trailers }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function json<T = { headers: IncomingHttpHeaders; raw: string[]; body: string; session: number }>(r: Reply): T {
  return JSON.parse(r.body) as T;
}

/** Pseudo-header and field names as the endpoint received them, in order. */
function names(raw: string[]): string[] {
  return raw.filter((_, i) => i % 2 === 0);
}

describe('h2c endpoints', () => {
  it('translates the request: pseudo-headers from method, path and Host; hop-by-hop fields gone; TE: trailers kept', async () => {
    const up = await server();
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    const r = await send(g.port, {
      method: 'POST',
      path: '/v2/models/iris/infer?x=1&y=%20z',
      headers: {
        host: 'iris.example.com:8080',
        connection: 'keep-alive, x-connection-option',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        'x-connection-option': 'dropped',
        te: 'trailers',
        'x-custom': 'kept',
        cookie: 'a=1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'content-type': 'application/json',
      },
      body: '{"inputs":[]}',
    });
    expect(r.status).toBe(200);
    const seen = json(r);
    expect(seen.headers).toMatchObject({
      ':method': 'POST',
      ':scheme': 'http',
      ':path': '/v2/models/iris/infer?x=1&y=%20z',
      ':authority': 'iris.example.com:8080',
      te: 'trailers',
      'x-custom': 'kept',
      cookie: 'a=1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'content-type': 'application/json',
      'content-length': '13',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': 'iris.example.com:8080',
    });
    for (const gone of ['host', 'connection', 'keep-alive', 'proxy-connection', 'x-connection-option', 'transfer-encoding', 'upgrade']) {
      expect(names(seen.raw)).not.toContain(gone);
    }
    expect(names(seen.raw).slice(0, 4)).toEqual([':method', ':scheme', ':path', ':authority']);
    expect(seen.body).toBe('{"inputs":[]}');
    expect(r.headers['sluice-revision']).toBe('a');
  });

  it('passes status codes, response fields and HEAD through; response pseudo-headers never reach the client', async () => {
    const up = await server((stream, headers) => {
      stream.resume();
      const path = headers[':path'];
      if (path === '/missing') {
        stream.respond({ ':status': 404, 'content-type': 'text/plain', 'x-upstream': 'yes' });
        return void stream.end('no such model');
      }
      if (path === '/empty') return void stream.respond({ ':status': 204 }, { endStream: true });
      stream.respond({ ':status': 503, 'retry-after': '2', 'set-cookie': ['a=1', 'b=2'], 'content-length': '4' });
      stream.end(headers[':method'] === 'HEAD' ? undefined : 'busy');
    });
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    const missing = await send(g.port, { path: '/missing' });
    expect([missing.status, missing.body, missing.headers['x-upstream'], missing.headers['content-type']]).toEqual([
      404,
      'no such model',
      'yes',
      'text/plain',
    ]);
    expect(Object.keys(missing.headers).some((n) => n.startsWith(':'))).toBe(false);
    const empty = await send(g.port, { path: '/empty' });
    expect([empty.status, empty.body]).toEqual([204, '']);
    const busy = await send(g.port, { path: '/busy' });
    expect([busy.status, busy.body, busy.headers['retry-after'], busy.headers['set-cookie']]).toEqual([503, 'busy', '2', ['a=1', 'b=2']]);
    const head = await send(g.port, { method: 'HEAD', path: '/busy' });
    expect([head.status, head.body, head.headers['content-length']]).toEqual([503, '', '4']);
  });

  it('streams the request body to the endpoint and the response body to the client as they come', async () => {
    let requestPart: (text: string) => void = () => {};
    let responsePart: () => void = () => {};
    const up = await server((stream) => {
      let got = '';
      stream.on('data', (c: Buffer) => {
        got += c.toString();
        requestPart(got);
      });
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.write(`got ${got};`);
        responsePart = () => stream.end('second');
      });
    });
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    const req = httpRequest({ host: '127.0.0.1', port: g.port, method: 'PUT', path: '/up', headers: { 'transfer-encoding': 'chunked' } });
    const arrived = (want: string) => new Promise<void>((resolve) => (requestPart = (got) => got === want && resolve()));
    let wait = arrived('one,');
    req.write('one,');
    await wait; // the first piece reached the endpoint before the second was written
    wait = arrived('one,two');
    req.write('two');
    await wait;
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    expect(res.statusCode).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    const [first] = (await once(res, 'data')) as [Buffer];
    expect(first.toString()).toBe('got one,two;'); // the first piece reached the client before the endpoint wrote the second
    responsePart();
    let rest = '';
    res.on('data', (c: Buffer) => (rest += c.toString()));
    await once(res, 'end');
    expect(rest).toBe('second');
    expect(up.streams[0]!.headers['content-length']).toBeUndefined();
  });

  it('carries many concurrent requests on one HTTP/2 session', async () => {
    const up = await server();
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    const agent = new Agent({ keepAlive: true, maxSockets: 50 });
    agents.push(agent);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => send(g.port, { path: `/r/${i}`, agent })));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.map((r) => json(r).headers[':path'])).toEqual(replies.map((_, i) => `/r/${i}`));
    expect(up.sessions).toHaveLength(1);
    expect(new Set(replies.map((r) => json(r).session))).toEqual(new Set([0]));
  });

  it('a slow client holds the endpoint back, and a slow endpoint holds the client back (flow control both ways)', async () => {
    const size = 64 * 1024 * 1024;
    let written = 0;
    let sending = false;
    let received = 0;
    let upload: ServerHttp2Stream | undefined;
    const up = await server((stream, headers) => {
      if (headers[':path'] === '/upload') {
        upload = stream;
        stream.pause();
        stream.on('data', (c: Buffer) => (received += c.length));
        stream.on('end', () => {
          stream.respond({ ':status': 200 });
          stream.end(String(received));
        });
        return;
      }
      stream.resume();
      stream.respond({ ':status': 200, 'content-length': String(size) });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = (): void => {
        while (written < size) {
          written += chunk.length;
          if (!stream.write(chunk)) {
            sending = true;
            return void stream.once('drain', () => {
              sending = false;
              pump();
            });
          }
        }
        stream.end();
      };
      pump();
    });
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));

    // Download: the client reads nothing until the endpoint is held back.
    const down = httpRequest({ host: '127.0.0.1', port: g.port, path: '/download' });
    down.end();
    const [res] = (await once(down, 'response')) as [import('node:http').IncomingMessage];
    res.pause();
    expect(await settled(() => written)).toBeLessThan(size);
    expect(sending).toBe(true);
    let got = 0;
    res.on('data', (c: Buffer) => (got += c.length));
    res.resume();
    await once(res, 'end');
    expect(got).toBe(size);

    // Upload: the endpoint reads nothing until the client is held back.
    const body = httpRequest({
      host: '127.0.0.1',
      port: g.port,
      method: 'POST',
      path: '/upload',
      headers: { 'content-length': String(size) },
    });
    const chunk = Buffer.alloc(64 * 1024, 'y');
    let sent = 0;
    let blocked = false;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!body.write(chunk)) {
          blocked = true;
          return void body.once('drain', () => {
            blocked = false;
            pump();
          });
        }
      }
      body.end();
    };
    pump();
    await until(() => upload !== undefined, 'the upload at the endpoint');
    expect(await settled(() => sent)).toBeLessThan(size);
    expect(blocked).toBe(true);
    expect(received).toBe(0);
    upload!.resume();
    const [answer] = (await once(body, 'response')) as [import('node:http').IncomingMessage];
    let text = '';
    answer.on('data', (c: Buffer) => (text += c.toString()));
    await once(answer, 'end');
    expect(Number(text)).toBe(size);
  });
});

describe('a local revision running an h2c server', () => {
  it('is reached over HTTP/2 on one session (its readiness probe over HTTP/2 too, on a session of its own)', async () => {
    const g = await gateway(
      oneRevision(`
backend: local
protocol: h2c
command: ${JSON.stringify(process.execPath)}
args: ${JSON.stringify([join(FIXTURES, 'h2c-server.mjs')])}
readinessPath: /ready`),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    agents.push(agent);
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => send(g.port, { path: `/echo/${i}?q=${i}`, agent })));
    const bodies = replies.map((r) => json<{ protocol: string; url: string; session: number }>(r));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(bodies.map((b) => b.protocol)).toEqual(bodies.map(() => '2.0'));
    expect(bodies.map((b) => b.url)).toEqual(bodies.map((_, i) => `/echo/${i}?q=${i}`));
    // Session 1 is the readiness probe's (a refused connect makes none); every request shares the next.
    expect(new Set(bodies.map((b) => b.session))).toEqual(new Set([2]));
    expect(json<{ sessions: number }>(await send(g.port, { path: '/sessions' })).sessions).toBe(2);
  });
});

/** A local revision running test/fixtures/tls-server.mjs (`protocol`: h1 or h2) with `pem`, and `more` revision fields. */
function tlsReplica(protocol: 'h1' | 'h2', pem: Pem, more: string, env: Record<string, string> = {}): string {
  return oneRevision(`
backend: local
command: ${JSON.stringify(process.execPath)}
args: ${JSON.stringify([join(FIXTURES, 'tls-server.mjs')])}
env: ${JSON.stringify({ PROTOCOL: protocol, CERT_FILE: pem.certFile, KEY_FILE: pem.keyFile, ...env })}
readinessPath: /ready
${more.trim()}`);
}

interface TlsEcho {
  protocol: string;
  alpn: string;
  url: string;
  client: string | null;
}

describe('a local revision that listens only with TLS', () => {
  it('HTTPS with mTLS: probed over TLS with the client certificate, ready, and served over HTTP/1.1', async () => {
    const tls = `{ caFile: ${JSON.stringify(ca.certFile)}, certFile: ${JSON.stringify(clientPem.certFile)}, keyFile: ${JSON.stringify(clientPem.keyFile)} }`;
    const g = await gateway(tlsReplica('h1', serverPem, `tls: ${tls}`, { CLIENT_CA_FILE: ca.certFile }));
    const r = await send(g.port, { path: '/secure' });
    expect(r.status).toBe(200);
    expect(json<TlsEcho>(r)).toEqual({ protocol: '1.1', alpn: 'http/1.1', url: '/secure', client: 'gateway' });
    expect(g.revision('iris', 'a').condition).toMatchObject({ status: 'Ready' });
  });

  it('h2 verified by the configured server name: probed with HTTP/2 over TLS, ready, and served over HTTP/2', async () => {
    const g = await gateway(
      tlsReplica('h2', namedPem, `protocol: h2\ntls: { caFile: ${JSON.stringify(ca.certFile)}, serverName: replica.test }`),
    );
    const replies = await Promise.all([1, 2, 3].map((i) => send(g.port, { path: `/h2/${i}` })));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(replies.map((r) => json<TlsEcho>(r))).toEqual(
      [1, 2, 3].map((i) => ({ protocol: '2.0', alpn: 'h2', url: `/h2/${i}`, client: null })),
    );
  });

  it('auto: probed with HTTP/1.1 over TLS, and served by what ALPN agrees on', async () => {
    const g = await gateway(tlsReplica('h1', serverPem, `protocol: auto\ntls: { caFile: ${JSON.stringify(ca.certFile)} }`));
    const r = await send(g.port, { path: '/auto' });
    expect(r.status).toBe(200);
    expect(json<TlsEcho>(r)).toMatchObject({ protocol: '1.1', alpn: 'http/1.1' });
  });

  it.each([
    { label: 'HTTPS', protocol: 'h1' as const, more: '', probe: 'GET /ready over TLS' },
    { label: 'h2', protocol: 'h2' as const, more: 'protocol: h2', probe: 'GET /ready over h2 (TLS)' },
  ])(
    '$label with a CA that did not sign its certificate: never ready, and Failed naming the TLS error',
    async ({ protocol, more, probe }) => {
      const g = await gateway(
        tlsReplica(
          protocol,
          serverPem,
          `${more}\ntls: { caFile: ${JSON.stringify(otherCa.certFile)} }\nreadinessTimeoutSeconds: 0.5\nstartFailureThreshold: 1`,
        ),
      );
      const r = await send(g.port, { path: '/never' });
      expect(r.status).toBe(503);
      const { error } = JSON.parse(r.body) as ErrorBody;
      // Node's wording of the error grew a hint in Node 24 ("; if the root CA is installed locally, …").
      const why = `not ready within 500 ms \\(readiness probe ${escapeRegExp(probe)}: unable to verify the first certificate[^()]*\\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)\\)`;
      expect(error.code).toBe('revision_failed');
      expect(error.message).toMatch(new RegExp(`^revision iris/a failed \\(ReadinessTimeout\\): ${why}, on its first start$`));
      expect(g.revision('iris', 'a').condition).toMatchObject({ status: 'Failed', reason: 'ReadinessTimeout' });
      expect(g.revision('iris', 'a').condition.message).toMatch(new RegExp(why));
      expect(g.revision('iris', 'a').endpoints).toHaveLength(0);
    },
  );
});

describe('endpoints over TLS', () => {
  const tlsServer = { key: () => serverPem.key, cert: () => serverPem.cert };

  it('h2: verified against the configured CA, by IP or by the configured server name', async () => {
    const up = await server(echo, { tls: { key: tlsServer.key(), cert: tlsServer.cert() } });
    const url = `https://127.0.0.1:${up.port}`;
    const g = await gateway(`
services:
  - name: by-ip
    match: { hosts: [ip.test] }
    revisions:
      - { name: a, backend: static, protocol: h2, urls: [${url}], tls: { caFile: ${JSON.stringify(ca.certFile)} } }
    traffic: [{ revision: a, percent: 100 }]
  - name: by-name
    match: { hosts: [name.test] }
    revisions:
      - { name: a, backend: static, protocol: h2, urls: [${url}], tls: { caFile: ${JSON.stringify(ca.certFile)}, serverName: iris.test } }
    traffic: [{ revision: a, percent: 100 }]
`);
    for (const host of ['ip.test', 'name.test']) {
      const r = await send(g.port, { path: '/secure', headers: { host } });
      expect(r.status).toBe(200);
      expect(json(r).headers).toMatchObject({ ':scheme': 'https', ':path': '/secure', ':authority': host });
    }
    expect(up.sessions).toHaveLength(2);
    const servernames = up.sessions.map((s) => (s.socket as TLSSocket & { servername?: string | false }).servername);
    expect(servernames).toEqual(expect.arrayContaining([false, 'iris.test']));
  });

  it.each([
    { label: 'a CA that did not sign the certificate', tls: () => `{ caFile: ${JSON.stringify(otherCa.certFile)} }`, want: /certificate/ },
    { label: 'the system CAs (no caFile)', tls: () => `{}`, want: /certificate/ },
    {
      label: 'a server name the certificate does not carry',
      tls: () => `{ caFile: ${JSON.stringify(ca.certFile)}, serverName: other.test }`,
      want: /other\.test/,
    },
  ])('h2 with $label: 502 upstream_unreachable, and the endpoint never gets a request', async ({ tls, want }) => {
    const up = await server(echo, { tls: { key: serverPem.key, cert: serverPem.cert } });
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2\nurls: [https://127.0.0.1:${up.port}]\ntls: ${tls()}`));
    const r = await send(g.port, { path: '/secret' });
    expect(r.status).toBe(502);
    const { error } = JSON.parse(r.body) as ErrorBody;
    expect(error.code).toBe('upstream_unreachable');
    expect(error.message).toMatch(want);
    expect(up.streams).toHaveLength(0);
    expect(up.sessions).toHaveLength(0);
  });

  it('mTLS: an endpoint that requires a client certificate refuses the gateway without one and serves it with one', async () => {
    const up = await server(
      (stream, headers, seen) => {
        const peer = (stream.session!.socket as TLSSocket).getPeerCertificate();
        stream.resume();
        stream.respond({ ':status': 200 });
        stream.end(JSON.stringify({ client: peer.subject?.CN, path: headers[':path'], session: seen.session }));
      },
      { tls: { key: serverPem.key, cert: serverPem.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: true } },
    );
    const url = `https://127.0.0.1:${up.port}`;
    const caFile = JSON.stringify(ca.certFile);
    const g = await gateway(`
services:
  - name: without
    match: { hosts: [without.test] }
    revisions:
      - { name: a, backend: static, protocol: h2, urls: [${url}], tls: { caFile: ${caFile} } }
    traffic: [{ revision: a, percent: 100 }]
  - name: with
    match: { hosts: [with.test] }
    revisions:
      - name: a
        backend: static
        protocol: h2
        urls: [${url}]
        tls: { caFile: ${caFile}, certFile: ${JSON.stringify(clientPem.certFile)}, keyFile: ${JSON.stringify(clientPem.keyFile)} }
    traffic: [{ revision: a, percent: 100 }]
`);
    const refused = await send(g.port, { path: '/x', headers: { host: 'without.test' } });
    expect(refused.status).toBe(502);
    expect((JSON.parse(refused.body) as ErrorBody).error.code).toBe('upstream_unreachable');
    const served = await send(g.port, { path: '/y', headers: { host: 'with.test' } });
    expect(served.status).toBe(200);
    expect(JSON.parse(served.body)).toMatchObject({ client: 'gateway', path: '/y' });
    expect(up.streams).toHaveLength(1);
  });

  it('HTTP/1.1 over TLS to an https:// static endpoint, verified against the configured CA', async () => {
    const seen: string[] = [];
    const https: HttpsServer = createHttpsServer({ key: serverPem.key, cert: serverPem.cert }, (req, res) => {
      seen.push(`${req.httpVersion} ${req.method} ${req.url} ${req.headers.host}`);
      res.end('secure');
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      https.closeAllConnections();
      return new Promise<void>((resolve) => https.close(() => resolve()));
    });
    const port = (https.address() as { port: number }).port;
    const g = await gateway(
      oneRevision(
        `backend: static\nurls: [https://127.0.0.1:${port}]\ntls: { caFile: ${JSON.stringify(ca.certFile)}, serverName: iris.test }`,
      ),
    );
    const a = await send(g.port, { path: '/a', headers: { host: 'iris.example.com' } });
    const b = await send(g.port, { path: '/b', headers: { host: 'iris.example.com' } });
    expect([a.status, a.body, b.status, b.body]).toEqual([200, 'secure', 200, 'secure']);
    expect(seen).toEqual(['1.1 GET /a iris.example.com', '1.1 GET /b iris.example.com']);
  });

  it('auto: HTTP/2 when the endpoint offers h2 by ALPN, HTTP/1.1 when it offers only http/1.1', async () => {
    const h2 = await server(echo, { tls: { key: serverPem.key, cert: serverPem.cert, allowHTTP1: true } });
    const h1: HttpsServer = createHttpsServer({ key: serverPem.key, cert: serverPem.cert, ALPNProtocols: ['http/1.1'] }, (req, res) =>
      res.end(`h1 ${req.httpVersion}`),
    );
    await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      h1.closeAllConnections();
      return new Promise<void>((resolve) => h1.close(() => resolve()));
    });
    const caFile = JSON.stringify(ca.certFile);
    const g = await gateway(`
services:
  - name: two
    match: { hosts: [two.test] }
    revisions:
      - { name: a, backend: static, protocol: auto, urls: ["https://127.0.0.1:${h2.port}"], tls: { caFile: ${caFile} } }
    traffic: [{ revision: a, percent: 100 }]
  - name: one
    match: { hosts: [one.test] }
    revisions:
      - { name: a, backend: static, protocol: auto, urls: ["https://127.0.0.1:${(h1.address() as { port: number }).port}"], tls: { caFile: ${caFile} } }
    traffic: [{ revision: a, percent: 100 }]
`);
    const replies = await Promise.all([1, 2, 3].map(() => send(g.port, { path: '/which', headers: { host: 'two.test' } })));
    expect(replies.map((r) => json(r).headers[':path'])).toEqual(['/which', '/which', '/which']);
    expect(h2.sessions).toHaveLength(1); // the ALPN probe's connection carries the session
    const one = await send(g.port, { path: '/which', headers: { host: 'one.test' } });
    expect([one.status, one.body]).toEqual([200, 'h1 1.1']);
  });
});

describe('kubernetes endpoints', () => {
  it("EndpointSlice endpoints (http://pod-ip:port) are reached with the revision's protocol: h2c, and h2 over TLS", async () => {
    const cleartext = await server();
    const secure = await server(echo, { tls: { key: serverPem.key, cert: serverPem.cert } });
    const fake = await FakeKubeServer.start();
    cleanups.push(() => fake.close());
    const slice = (service: string, port: number) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${service}-x1`, namespace: 'models', labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true, serving: true, terminating: false } }],
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    });
    for (const [name, port] of [
      ['plain', cleartext.port],
      ['secure', secure.port],
    ] as const) {
      fake.store.create(DEPLOYMENTS, 'models', deploymentManifest(name, 1));
      fake.store.create(ENDPOINT_SLICES, 'models', slice(name, port));
    }
    const logger = pino({ level: 'silent' });
    const driver = new KubernetesDriver({ kubeConfig: await loadKubeConfig(fake.url), namespace: 'models', logger });
    const gateway = new Gateway({
      logger,
      drivers: { kubernetes: driver },
      listener: dataPort(logger, parseConfig({}).http2).listener,
      transport: upstreamTransport,
    });
    cleanups.push(async () => {
      await gateway.close(100);
      await driver.close();
    });
    gateway.apply(
      parseConfig({
        services: [
          {
            name: 'plain',
            match: { hosts: ['plain.test'] },
            revisions: [{ name: 'a', backend: 'kubernetes', deployment: 'plain', service: 'plain', protocol: 'h2c' }],
            traffic: [{ revision: 'a', percent: 100 }],
          },
          {
            name: 'secure',
            match: { hosts: ['secure.test'] },
            revisions: [
              {
                name: 'a',
                backend: 'kubernetes',
                deployment: 'secure',
                service: 'secure',
                protocol: 'h2',
                tls: { caFile: ca.certFile, serverName: 'iris.test' },
              },
            ],
            traffic: [{ revision: 'a', percent: 100 }],
          },
        ],
      }),
    );
    const { port } = await gateway.listen('127.0.0.1', 0);
    for (const [host, scheme, up] of [
      ['plain.test', 'http', cleartext],
      ['secure.test', 'https', secure],
    ] as const) {
      const r = await send(port, { path: `/v2/models/${host}`, headers: { host } });
      expect(r.status).toBe(200);
      expect(json(r).headers).toMatchObject({ ':scheme': scheme, ':authority': host, ':path': `/v2/models/${host}` });
      expect(up.sessions).toHaveLength(1);
    }
  });
});

describe('WebSocket upgrades to an endpoint over TLS', () => {
  it.each([
    {
      label: 'the configured CA and server name: the upgrade is verified and served',
      serverName: 'iris.test',
      caFile: () => ca.certFile,
      want: 'open',
    },
    {
      label: 'a CA that did not sign the certificate: refused, never sent in cleartext',
      serverName: undefined,
      caFile: () => otherCa.certFile,
      want: 'refused',
    },
  ])('$label', async ({ serverName, caFile, want }) => {
    const https: HttpsServer = createHttpsServer({ key: serverPem.key, cert: serverPem.cert });
    const wss = new WebSocketServer({ server: https });
    const upgrades: string[] = [];
    wss.on('connection', (ws, req) => {
      upgrades.push(String((req.socket as TLSSocket).servername));
      ws.on('message', (m) => ws.send(`echo:${(m as Buffer).toString()}`));
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      wss.close();
      https.closeAllConnections();
      return new Promise<void>((resolve) => https.close(() => resolve()));
    });
    const port = (https.address() as { port: number }).port;
    const tls =
      serverName === undefined
        ? `{ caFile: ${JSON.stringify(caFile())} }`
        : `{ caFile: ${JSON.stringify(caFile())}, serverName: ${serverName} }`;
    const g = await gateway(oneRevision(`backend: static\nurls: [https://127.0.0.1:${port}]\ntls: ${tls}`));
    const ws = new WebSocket(`ws://127.0.0.1:${g.port}/ws`);
    const opened = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode}`));
      ws.once('error', () => resolve('error'));
    });
    if (want === 'open') {
      expect(opened).toBe('open');
      const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve((m as Buffer).toString())));
      ws.send('hello');
      expect(await reply).toBe('echo:hello');
      expect(upgrades).toEqual(['iris.test']);
    } else {
      expect(opened).toBe('refused 502');
      expect(upgrades).toEqual([]);
    }
    ws.terminate();
  });
});

describe('sessions that die, GOAWAY and refused streams: unsent requests go to another endpoint', () => {
  /**
   * A healthy h2c endpoint answering "b <path>" — each answer held until `ready()` (re-checked on
   * every stream and on `release()`), so requests spread evenly over both endpoints while none is
   * answered — and a gateway whose revision has `bad` and it as endpoints.
   */
  async function pair(bad: H2Server, ready: (good: H2Server) => boolean, method = 'GET') {
    const held: Array<() => void> = [];
    const release = (): void => {
      if (ready(good)) for (const answer of held.splice(0)) answer();
    };
    const good: H2Server = await server((stream, headers) => {
      stream.resume();
      held.push(() => {
        stream.respond({ ':status': 200 });
        stream.end(`b ${headers[':path']}`);
      });
      release();
    });
    const g = await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${bad.origin}, ${good.origin}]`));
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    agents.push(agent);
    const call = (i: number) => send(g.port, { method, path: `/r/${i}`, agent, body: method === 'POST' ? `body ${i}` : undefined });
    return { good, call, release };
  }

  it('a session the endpoint destroys: its stream and the requests waiting for room are answered by the other endpoint', async () => {
    const bad = await server((stream) => stream.session!.destroy(), { settings: { maxConcurrentStreams: 1 } });
    const { good, call } = await pair(bad, (good) => good.streams.length === 10);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i)));
    expect(replies.map((r) => [r.status, r.body])).toEqual(replies.map((_, i) => [200, `b /r/${i}`]));
    expect(bad.streams.length).toBeGreaterThan(0);
    // One stream per session reached the bad endpoint: the requests waiting behind it were never sent there.
    expect(bad.streams.length).toBe(bad.sessions.length);
    expect(good.streams).toHaveLength(10);
  });

  it('GOAWAY: POSTs on streams above its last stream id were not processed, and are answered by the other endpoint', async () => {
    let answeredByBad = 0;
    let release = (): void => {};
    const bad = await server((stream, _headers, seen) => {
      stream.resume();
      const answer = (): void => {
        answeredByBad++;
        stream.respond({ ':status': 200 });
        stream.end('a first');
        release();
      };
      if (seen.session !== 0) return answer(); // later sessions answer at once
      if (bad.streams.find((s) => s.session === 0) !== seen) return; // above the GOAWAY's last stream id: never processed
      // The first session's first stream: once two more have reached the session, say only it was processed.
      void until(() => bad.streams.filter((s) => s.session === 0).length >= 3, 'three streams on the session').then(() => {
        stream.session!.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
        answer();
      });
    });
    const paired = await pair(bad, (good) => good.streams.length + answeredByBad === 8, 'POST');
    release = paired.release;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => paired.call(i)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.filter((r) => r.body === 'a first')).toHaveLength(answeredByBad);
    const onFirst = bad.streams.filter((s) => s.session === 0).length;
    expect(onFirst).toBeGreaterThanOrEqual(3);
    expect(paired.good.streams).toHaveLength(8 - answeredByBad);
    expect(paired.good.streams.map((s) => s.headers[':method'])).toEqual(Array(8 - answeredByBad).fill('POST'));
  });

  it('REFUSED_STREAM: the request is answered by the other endpoint', async () => {
    const bad = await server((stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    const { good, call } = await pair(bad, (good) => good.streams.length === 6, 'POST');
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => call(i)));
    expect(replies.map((r) => [r.status, r.body])).toEqual(replies.map((_, i) => [200, `b /r/${i}`]));
    expect(bad.streams.length).toBeGreaterThan(0);
    expect(good.streams.map((s) => s.headers[':method'])).toEqual(Array(6).fill('POST'));
  });
});

describe('trailers from an h2 endpoint', () => {
  const trailing: StreamHandler = (stream) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'done' }));
    stream.write('part one,');
    stream.end('part two');
  };

  async function through(server: 'node' | 'http1'): Promise<Reply> {
    const up = await h2Server(trailing);
    cleanups.push(() => up.close());
    const before = process.env.SLUICE_HTTP_SERVER;
    process.env.SLUICE_HTTP_SERVER = server;
    try {
      await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    } finally {
      if (before === undefined) delete process.env.SLUICE_HTTP_SERVER;
      else process.env.SLUICE_HTTP_SERVER = before;
    }
    const r = await send(gw!.port, { path: '/stream', headers: { te: 'trailers' } });
    expect(up.streams[0]!.headers.te).toBe('trailers');
    return r;
  }

  it.each(['http1', 'node'] as const)(
    'reach an HTTP/1.1 client that sent TE: trailers, in the last chunk (data port %s)',
    async (server) => {
      const r = await through(server);
      expect([r.status, r.body, r.headers['transfer-encoding']]).toEqual([200, 'part one,part two', 'chunked']);
      expect(r.trailers).toEqual({ 'grpc-status': '0', 'grpc-message': 'done' });
    },
  );
});

describe('trailers from an h2 endpoint to an h2 client', () => {
  /** One GET over h2c prior knowledge to the gateway: status, body, trailers. */
  async function h2Get(port: number, headers: Record<string, string>): Promise<{ status: number; body: string; trailers: H2Headers }> {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/stream', ...headers });
      stream.end();
      return await new Promise((resolve, reject) => {
        let status = 0;
        let body = '';
        let trailers: H2Headers = {};
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('trailers', (t: H2Headers) => (trailers = t));
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve({ status, body, trailers }));
        stream.on('error', reject);
      });
    } finally {
      session.close();
    }
  }

  it('pass through when the client sent TE: trailers, and the stream ends without them otherwise', async () => {
    const up = await h2Server((stream) => {
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'done' }));
      stream.end('payload');
    });
    cleanups.push(() => up.close());
    await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    const wanted = await h2Get(gw!.port, { te: 'trailers' });
    expect([wanted.status, wanted.body]).toEqual([200, 'payload']);
    expect(wanted.trailers['grpc-status']).toBe('0');
    expect(wanted.trailers['grpc-message']).toBe('done');
    const plain = await h2Get(gw!.port, {});
    expect([plain.status, plain.body]).toEqual([200, 'payload']);
    expect(plain.trailers['grpc-status']).toBeUndefined();
  });

  it('a gateway error to a client that takes trailers still ends its stream', async () => {
    const up = await h2Server(echo);
    cleanups.push(() => up.close());
    await gateway(oneRevision(`backend: static\nprotocol: h2c\nurls: [${up.origin}]`));
    const session = http2Connect(`http://127.0.0.1:${gw!.port}`);
    session.on('error', () => {});
    try {
      const stream = session.request({ ':method': 'GET', ':path': '/%zz', te: 'trailers' });
      stream.end();
      const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
        let code = 0;
        let text = '';
        stream.on('response', (h) => (code = Number(h[':status'])));
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (text += chunk));
        stream.on('end', () => resolve([code, text]));
        stream.on('error', reject);
      });
      expect(status).toBe(400);
      expect((JSON.parse(body) as ErrorBody).error.code).toBe('bad_request');
    } finally {
      session.close();
    }
  });
});

describe('a reload that changes the protocol', () => {
  it('sends new requests through a client of the new protocol', async () => {
    const up = await server();
    const file = join(certs.dir, 'reload.yaml');
    const config = (protocol: string) => oneRevision(`backend: static\nprotocol: ${protocol}\nurls: [${up.origin}]`);
    writeFileSync(file, config('http1'));
    // An h2c endpoint answers an HTTP/1.1 request with a connection error: the first config cannot reach it.
    const g = await gateway('', { configFile: file });
    const before = await send(g.port, { path: '/before' });
    expect(before.status).toBe(502);
    writeFileSync(file, config('h2c'));
    await until(() => g.reloads.length > 0, 'the reload');
    const after = await send(g.port, { path: '/after' });
    expect(after.status).toBe(200);
    expect(json(after).headers[':path']).toBe('/after');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

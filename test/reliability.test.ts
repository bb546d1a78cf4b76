/**
 * The gateway as a hostile client and a traffic burst would try it: real gateways, queue-proxies,
 * predictor processes and raw sockets on 127.0.0.1.
 *
 *  - smuggling: whatever a client puts in Connection, Content-Length or Transfer-Encoding, the
 *    endpoint sees exactly the requests the clients sent, each answered to its own client;
 *  - edge validation: Host, dot-segment paths, h2c upgrades, HTTP/0.9 and HTTP/2.0 request lines;
 *  - a burst of 2,000 requests at a revision at zero: every one answered 200, spread over the
 *    replicas the activation started;
 *  - SIGKILL of one of two endpoints under load: only requests delivered to it may fail.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseDataPort } from '../src/downstream/data-port-server.js';
import { parseQueueProxyArgs } from '../src/queue-proxy/options.js';
import { startQueueProxy, type QueueProxy } from '../src/queue-proxy/queue-proxy.js';
import type { ErrorBody } from './support/bodies.js';
import { countingRevision, IRIS_ROW, predictorRevision, startGateway, until, type TestGateway } from './support/harness.js';

/** The data port's server here: its own HTTP/1.1 server, or node:http with SLUICE_HTTP_SERVER=node (CI runs both). */
const KIND = chooseDataPort().kind;

let gw: TestGateway | undefined;
let qp: QueueProxy | undefined;
const servers: Server[] = [];
const sockets: Socket[] = [];
const files: string[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await qp?.shutdown();
  qp = undefined;
  await gw?.close();
  gw = undefined;
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const f of files.splice(0)) rmSync(f, { force: true });
});

// --- an endpoint that records every request it parses ---

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
  connection: number;
}

/** A node:http endpoint answering every request with its own method, path and body, as JSON. */
/** What the recording endpoint answers: the request as it arrived. */
interface Echo {
  method: string;
  url: string;
  body: string;
}

async function recordingEndpoint(): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(parts).toString('latin1'),
        connection: (req.socket as Socket & { n?: number }).n ?? -1,
      };
      seen.push(s);
      const text = JSON.stringify({ method: s.method, url: s.url, body: s.body } satisfies Echo);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.on('connection', (socket: Socket & { n?: number }) => (socket.n = connections++));
  server.keepAliveTimeout = 65_000;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

function staticService(url: string, match = ''): string {
  return `
services:
  - name: app
${match}
    revisions:
      - name: app-1
        backend: static
        urls: ["${url}"]
    traffic: [{ revision: app-1, percent: 100 }]
`;
}

// --- a raw client ---

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * Sends `text` on a new connection and collects what comes back until `want` complete responses
 * have arrived, the server closes, or `ms` pass.
 */
function rawExchange(port: number, text: string, want = Infinity, ms = 5000): Promise<{ bytes: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text, 'latin1'));
    sockets.push(socket);
    let bytes = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes, closedByServer });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      bytes += d;
      if (responses(bytes).length >= want) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

/** Every response in `bytes` (Content-Length framed, as the gateway sends them here). */
function responses(bytes: string): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const [statusLine, ...lines] = bytes.slice(at, end).split('\r\n');
    const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers.get('content-length') ?? 0);
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: bytes.slice(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

async function one(port: number, text: string): Promise<RawResponse> {
  const { bytes } = await rawExchange(port, text, 1);
  const all = responses(bytes);
  expect(all.length, bytes).toBeGreaterThanOrEqual(1);
  return all[0]!;
}

// --- 1. smuggling ---

describe('smuggling: the endpoint sees exactly the requests clients sent', () => {
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n';

  it.each([
    { label: 'Connection: content-length', connection: 'content-length' },
    { label: 'Connection: Content-Length, keep-alive', connection: 'Content-Length, keep-alive' },
    { label: 'Connection: close, content-length', connection: 'close, content-length' },
  ])('$label: the body stays the body, and later clients get their own responses', async ({ connection }) => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    const attack = `POST /attack HTTP/1.1\r\nHost: app\r\nConnection: ${connection}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
    const answer = await one(gw.port, attack);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ method: 'POST', url: '/attack', body: smuggled });
    // Ten victims, one after the other (reusing the pooled connection the attack used).
    const agent = new Agent({ connections: 1 });
    for (let i = 0; i < 10; i++) {
      const res = await request(`${gw.url}/victim/${i}`, { dispatcher: agent });
      expect((JSON.parse(await res.body.text()) as Echo).url).toBe(`/victim/${i}`);
    }
    await agent.close();
    expect(endpoint.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /attack',
      ...Array.from({ length: 10 }, (_, i) => `GET /victim/${i}`),
    ]);
    expect(endpoint.seen[0]!.headers['content-length']).toBe(String(smuggled.length));
  });

  it('Connection: transfer-encoding: the chunked body is still one body', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    const chunk = smuggled.length.toString(16);
    const answer = await one(
      gw.port,
      `POST /attack HTTP/1.1\r\nHost: app\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}\r\n${smuggled}\r\n0\r\n\r\n`,
    );
    expect(JSON.parse(answer.body)).toEqual({ method: 'POST', url: '/attack', body: smuggled });
    await request(`${gw.url}/after`).then((r) => r.body.text());
    expect(endpoint.seen.map((s) => s.url)).toEqual(['/attack', '/after']);
  });

  it('Connection: host: the endpoint still gets the one Host', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    expect((await one(gw.port, 'GET /h HTTP/1.1\r\nHost: app.example.com\r\nConnection: host\r\n\r\n')).status).toBe(200);
    expect(endpoint.seen[0]!.headers.host).toBe('app.example.com');
    expect(endpoint.seen[0]!.headers['x-forwarded-host']).toBe('app.example.com');
  });

  it('Connection naming the forwarding headers: the gateway writes them anyway', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    await one(
      gw.port,
      'GET /f HTTP/1.1\r\nHost: app\r\nConnection: x-forwarded-for, forwarded, sluice-proxied\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n',
    );
    expect(endpoint.seen[0]!.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(endpoint.seen[0]!.headers.forwarded).toBe('for=127.0.0.1;host="app";proto=http');
    expect(endpoint.seen[0]!.headers['sluice-proxied']).toBe('1');
  });

  it('an extension header named in Connection is still removed', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    await one(gw.port, 'GET /x HTTP/1.1\r\nHost: app\r\nConnection: x-hop\r\nX-Hop: 1\r\nX-Kept: 2\r\n\r\n');
    expect(endpoint.seen[0]!.headers['x-hop']).toBeUndefined();
    expect(endpoint.seen[0]!.headers['x-kept']).toBe('2');
  });

  it.each([
    {
      label: 'Content-Length and Transfer-Encoding',
      text: 'POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n',
      status: 400,
    },
    {
      label: 'two Content-Length headers',
      text: 'POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd',
      status: 400,
    },
    {
      label: 'a bad chunk size',
      text: 'POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      status: 400,
    },
    {
      label: 'a transfer coding before chunked',
      text: 'POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      status: 501,
    },
    // The data port's parser refuses it outright; node:http's lets it through to the gateway, which refuses the coding.
    {
      label: 'Transfer-Encoding without chunked',
      text: 'POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: gzip\r\n\r\nabc',
      status: KIND === 'node' ? 501 : 400,
    },
  ])('$label: refused with $status, nothing reaches the endpoint', async ({ text, status }) => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    const res = await one(gw.port, text);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(endpoint.seen).toEqual([]);
  });

  it('the queue-proxy frames the body itself too (Connection: content-length)', async () => {
    const endpoint = await recordingEndpoint();
    const options = parseQueueProxyArgs([
      '--upstream',
      endpoint.url,
      '--container-concurrency',
      '0',
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--drain-quiet-seconds',
      '0',
    ]);
    if (typeof options === 'string') throw new Error(options);
    qp = await startQueueProxy(options, { logger: pino({ level: 'silent' }), probeIntervalMs: 0 });
    const port = qp.data.port;
    const res = await one(
      port,
      `POST /attack HTTP/1.1\r\nHost: app\r\nConnection: content-length\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    expect(JSON.parse(res.body)).toEqual({ method: 'POST', url: '/attack', body: smuggled });
    await one(port, 'GET /victim HTTP/1.1\r\nHost: app\r\n\r\n');
    expect(endpoint.seen.map((s) => s.url)).toEqual(['/attack', '/victim']);
  });
});

// --- 2. validation at the edge ---

describe('validation at the edge', () => {
  it.each([
    { label: 'two Host headers', text: 'GET / HTTP/1.1\r\nHost: app\r\nHost: other\r\n\r\n', message: '2 Host headers' },
    { label: 'no Host on HTTP/1.1', text: 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', message: 'without a Host' },
    { label: 'a Host that is not a host', text: 'GET / HTTP/1.1\r\nHost: a b@c/d\r\n\r\n', message: 'not a valid host' },
    { label: 'a path climbing above the root', text: 'GET /../etc/passwd HTTP/1.1\r\nHost: app\r\n\r\n', message: 'above the root' },
    { label: 'a malformed escape in the path', text: 'GET /a%zz HTTP/1.1\r\nHost: app\r\n\r\n', message: 'two hex digits' },
    {
      label: 'an absolute-form target (never an open proxy)',
      text: 'GET http://169.254.169.254/latest HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n',
      message: 'not a forward proxy',
    },
  ])('$label: 400 bad_request, nothing reaches the endpoint', async ({ text, message }) => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    const res = await one(gw.port, text);
    expect(res.status).toBe(400);
    const body = JSON.parse(res.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toContain(message);
    expect(endpoint.seen).toEqual([]);
  });

  it('HTTP/1.0 without Host: served by a service without hosts, with the endpoint authority as Host', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    const res = await one(gw.port, 'GET /old HTTP/1.0\r\n\r\n');
    expect(res.status).toBe(200);
    expect(endpoint.seen[0]!.headers.host).toBe(new URL(endpoint.url).host);
    expect(endpoint.seen[0]!.rawHeaders.filter((h) => h.toLowerCase() === 'host')).toHaveLength(1);
  });

  it('a Host in any case, with a trailing dot and a port, routes like the configured host', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url, '    match:\n      hosts: [iris.example.com]'));
    expect((await one(gw.port, 'GET /a HTTP/1.1\r\nHost: IRIS.Example.com.:8080\r\n\r\n')).status).toBe(200);
    expect((await one(gw.port, 'GET /a HTTP/1.1\r\nHost: other.example.com\r\n\r\n')).status).toBe(404);
  });

  it('dot-segment paths are routed and forwarded normalised: a prefix or a model cannot be escaped', async () => {
    const pub = await recordingEndpoint();
    const iris = await recordingEndpoint();
    gw = await startGateway(`
services:
  - name: public
    match: { pathPrefix: /public }
    revisions: [{ name: public-1, backend: static, urls: ["${pub.url}"] }]
    traffic: [{ revision: public-1, percent: 100 }]
  - name: iris
    match: { model: iris }
    revisions: [{ name: iris-1, backend: static, urls: ["${iris.url}"] }]
    traffic: [{ revision: iris-1, percent: 100 }]
`);
    for (const path of [
      '/public/../private',
      '/public/%2e%2e/private',
      '/v2/models/iris/../../../admin',
      '/v2/models/iris/%2E%2E/%2e%2e/%2e%2e/admin',
    ]) {
      const res = await one(gw.port, `GET ${path} HTTP/1.1\r\nHost: app\r\n\r\n`);
      expect(res.status, path).toBe(404);
      expect((JSON.parse(res.body) as ErrorBody).error.code).toBe('route_not_found');
    }
    expect(pub.seen).toEqual([]);
    expect(iris.seen).toEqual([]);
    // Within a service, the endpoint gets the normalised path.
    expect((await one(gw.port, 'GET /public/a/./b/../c?x=/../y HTTP/1.1\r\nHost: app\r\n\r\n')).status).toBe(200);
    expect((await one(gw.port, 'GET /v2/models/iris/versions/%31/../ready HTTP/1.1\r\nHost: app\r\n\r\n')).status).toBe(200);
    expect(pub.seen.map((s) => s.url)).toEqual(['/public/a/c?x=/../y']);
    expect(iris.seen.map((s) => s.url)).toEqual(['/v2/models/iris/versions/ready']);
  });

  it('Upgrade: h2c (as curl --http2 sends it) is served as HTTP/1.1, without the upgrade headers', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    const { bytes } = await rawExchange(
      gw.port,
      'GET /h2c HTTP/1.1\r\nHost: app\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /next HTTP/1.1\r\nHost: app\r\n\r\n',
      2,
    );
    const [first, second] = responses(bytes);
    expect(first!.status).toBe(200);
    expect((JSON.parse(first!.body) as Echo).url).toBe('/h2c');
    // node:http stops parsing a connection at an Upgrade head: it closes after the answer.
    if (KIND === 'http1') expect((JSON.parse(second!.body) as Echo).url).toBe('/next');
    else expect([second, first!.headers.get('connection')]).toEqual([undefined, 'close']);
    expect(endpoint.seen[0]!.headers.upgrade).toBeUndefined();
    expect(endpoint.seen[0]!.headers['http2-settings']).toBeUndefined();
  });

  it('HTTP/0.9 is closed at once without an answer; an HTTP/2.0 request line gets 505', async () => {
    const endpoint = await recordingEndpoint();
    gw = await startGateway(staticService(endpoint.url));
    // A bare request line; node:http sees a request only once an empty line ends its head.
    const http09 = await rawExchange(gw.port, KIND === 'http1' ? 'GET /\r\n' : 'GET /\r\n\r\n', 1, 10_000);
    expect(http09).toEqual({ bytes: '', closedByServer: true });
    const h2 = await one(gw.port, 'GET / HTTP/2.0\r\nHost: app\r\n\r\n');
    expect(h2.status).toBe(505);
    expect((JSON.parse(h2.body) as ErrorBody).error.code).toBe('version_not_supported');
    expect(endpoint.seen).toEqual([]);
  });
});

// --- 3. a burst at a revision at zero ---

/** Opens `n` connections (in batches, each waiting for the last to connect), then writes `text` on all of them in one loop. */
async function burst(port: number, n: number, text: string): Promise<Array<{ status: number; pid: string | undefined }>> {
  const conns: Socket[] = [];
  for (let i = 0; i < n; i += 250) {
    await Promise.all(
      Array.from(
        { length: Math.min(250, n - i) },
        () =>
          new Promise<void>((resolve, reject) => {
            const s = connect(port, '127.0.0.1', resolve);
            s.once('error', reject);
            conns.push(s);
            sockets.push(s);
          }),
      ),
    );
  }
  const answers = conns.map(
    (s) =>
      new Promise<{ status: number; pid: string | undefined }>((resolve) => {
        let text = '';
        s.setEncoding('latin1');
        s.on('data', (d: string) => {
          text += d;
          const head = text.indexOf('\r\n\r\n');
          if (head === -1) return;
          const status = Number(text.slice(9, 12));
          const pid = /\r\npredictor-pid: (\d+)/i.exec(text.slice(0, head))?.[1];
          s.destroy();
          resolve({ status, pid });
        });
        s.on('error', () => resolve({ status: 0, pid: undefined }));
        s.on('close', () => resolve({ status: 0, pid: undefined }));
      }),
  );
  for (const s of conns) s.write(text, 'latin1');
  return Promise.all(answers);
}

describe('a burst at a revision at zero', () => {
  it('2,000 requests at once, one connection each: every one answered 200, none lost, spread over the 4 replicas', async () => {
    const N = 2000;
    const MAX_SCALE = 4;
    gw = await startGateway(`
autoscaler:
  scale-to-zero-grace-period: 30s
services:
  - name: iris
    match: { model: iris }
    revisions:${predictorRevision('iris-1', {
      // Not ready for a while, so the whole burst is held; each answer takes long enough that
      // every replica is up before the first one has answered its share.
      args: ['--startup-delay', '1500', '--latency', '4000'],
      body: `        containerConcurrency: 0\n        queueDepth: ${N}\n        annotations:\n          autoscaling.knative.dev/max-scale: "${MAX_SCALE}"`,
    })}
    traffic: [{ revision: iris-1, percent: 100 }]
`);
    const rev = gw.revision('iris', 'iris-1');
    const body = JSON.stringify(IRIS_ROW);
    const text = `POST /v2/models/iris/infer HTTP/1.1\r\nHost: iris\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    let heldAtOnce = 0;
    const watch = setInterval(() => (heldAtOnce = Math.max(heldAtOnce, rev.queue.length)), 5);
    const answers = await burst(gw.port, N, text);
    clearInterval(watch);

    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(heldAtOnce).toBe(N); // the burst really was held at zero
    const byReplica = new Map<string, number>();
    for (const a of answers) byReplica.set(a.pid!, (byReplica.get(a.pid!) ?? 0) + 1);
    expect(byReplica.size).toBe(MAX_SCALE);
    const share = N / MAX_SCALE;
    for (const [pid, count] of byReplica)
      expect(count, `replica ${pid}: ${JSON.stringify([...byReplica])}`).toBeLessThanOrEqual(share * 1.1);
    expect(rev.stats.codes.get(200)).toBe(N);
  }, 60_000);
});

// --- 4. SIGKILL of one of two endpoints under load ---

/** A pino logger whose debug lines land in `lines`. */
function capturingLogger(lines: Array<Record<string, unknown>>) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

describe('SIGKILL of one of two endpoints under load', () => {
  it('only requests already delivered to the dead endpoint fail, and each failure is shown to be one', async () => {
    const log = join(tmpdir(), `sluice-requests-${process.pid}-${Date.now()}.log`);
    files.push(log);
    const lines: Array<Record<string, unknown>> = [];
    gw = await startGateway(
      `
autoscaler:
  scale-to-zero-grace-period: 30s
services:
  - name: count
    match: { pathPrefix: / }
    revisions:${countingRevision('count-1', `        env: { REQUEST_LOG: ${JSON.stringify(log)} }\n        annotations:\n          autoscaling.knative.dev/min-scale: "2"\n          autoscaling.knative.dev/max-scale: "2"`)}
    traffic: [{ revision: count-1, percent: 100 }]
`,
      { logger: capturingLogger(lines) },
    );
    const rev = gw.revision('count', 'count-1');
    await until(() => rev.endpoints.length === 2, 'two ready endpoints');
    const victim = rev.endpoints[0]!;
    const victimPid = Number(((await (await request(`${victim.origin}/stats`)).body.json()) as { pid: number }).pid);

    // 16 loops, half POST (not idempotent) and half GET, each request with its own id.
    const results: Array<{ id: string; method: string; status: number; pid: number }> = [];
    let next = 0;
    let stop = false;
    const agent = new Agent({ connections: 16 });
    const loops = Array.from({ length: 16 }, async (_, i) => {
      const method = i % 2 === 0 ? 'POST' : 'GET';
      while (!stop) {
        const id = String(next++);
        const res = await request(`${gw!.url}/work?ms=30&id=${id}`, {
          dispatcher: agent,
          method,
          body: method === 'POST' ? `payload ${id}` : undefined,
        });
        const text = await res.body.text();
        results.push({ id, method, status: res.statusCode, pid: res.statusCode === 200 ? (JSON.parse(text) as { pid: number }).pid : 0 });
      }
    });
    await until(() => results.filter((r) => r.pid === victimPid).length >= 20, 'the victim serving');
    process.kill(victimPid, 'SIGKILL');
    await until(() => rev.endpoints.length === 2 && !rev.endpoints.includes(victim), 'a replacement');
    const after = results.length;
    await until(() => results.length >= after + 50, 'requests after the replacement');
    stop = true;
    await Promise.all(loops);
    await agent.close();

    const failed = results.filter((r) => r.status !== 200);
    // Each failure was sent to the dead endpoint, and bytes of it had gone out (never one that was
    // not sent, nor one sent to the survivor): the gateway's record of its last attempt says so.
    const attempts = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('attempt failed'));
    for (const f of failed) {
      const last = attempts.filter((a) => a.path === `/work?ms=30&id=${f.id}`).at(-1);
      expect(last, `failed request ${f.id} has a failed attempt`).toBeDefined();
      expect(last!.endpoint).toBe(victim.id);
      expect(['head', 'sent', 'answering']).toContain(last!.progress);
      expect(last!.next).toBe('none');
      // A GET whose response had not begun is sent again, elsewhere: only POSTs, or answers cut short, fail.
      if (f.method === 'GET') expect(last!.progress).toBe('answering');
    }
    // What the dead endpoint read and never answered is exactly what could fail; a GET among it went elsewhere.
    const events = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const arrived = new Set(events.filter((e) => e.startsWith('arrive ')).map((e) => e.slice(7)));
    const answered = new Set(events.filter((e) => e.startsWith('answer ')).map((e) => e.slice(7)));
    for (const r of results) {
      if (r.status === 200) continue;
      if (arrived.has(r.id)) expect(answered.has(r.id), `request ${r.id} was answered by an endpoint, yet failed`).toBe(false);
    }
    // Everything sent after the replacement came up was answered, and nothing was answered by the dead process afterwards.
    expect(results.slice(after).filter((r) => r.status !== 200)).toEqual([]);
    expect(failed.length).toBeLessThan(16);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(100);
  }, 60_000);
});

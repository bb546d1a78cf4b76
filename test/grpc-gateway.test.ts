/**
 * gRPC through the gateway, end to end: grpc-js clients on the data port (h2c), grpc-js servers of
 * the Open Inference Protocol behind static revisions in this process and behind local revisions
 * (test/fixtures/grpc-server.mjs, made ready by the gateway's gRPC health check, over h2c or TLS).
 * Calls are routed by the model their first message names, held at zero, split, counted; the
 * gateway's errors arrive as gRPC statuses; streams pass intact and keep their replica from
 * stopping until they end.
 */
import { connect as h2connect, constants, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  grpc,
  inferenceClient,
  startInferenceServer,
  type InferenceClient,
  type InferRequest,
  type InferResponse,
  type StreamResponse,
} from './support/grpc.js';
import { certFolder } from './support/certs.js';
import { FIXTURES, startGateway, until, type TestGateway } from './support/harness.js';

const TEST_MS = 30_000;
const INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

let gw: TestGateway | undefined;
const clients: InferenceClient[] = [];
const servers: grpc.Server[] = [];
const h2servers: Http2Server[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await gw?.close();
  gw = undefined;
  for (const s of servers.splice(0)) s.forceShutdown();
  await Promise.all(h2servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function client(authority?: string): InferenceClient {
  const c = inferenceClient(gw!.url, authority);
  clients.push(c);
  return c;
}

/** A ModelInferRequest as the servers here decode it (proto-loader's defaults fill every field). */
type StreamRequest = Required<Pick<InferRequest, 'model_name' | 'id' | 'raw_input_contents'>>;

/** A ModelStreamInfer: the answers so far, and its status once it ends (an error is a status too). */
function openStream(): {
  stream: grpc.ClientDuplexStream<InferRequest, StreamResponse>;
  got: StreamResponse[];
  ended: Promise<grpc.StatusObject>;
} {
  const stream = client().ModelStreamInfer();
  const got: StreamResponse[] = [];
  stream.on('data', (r: StreamResponse) => got.push(r));
  stream.on('error', () => {});
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  return { stream, got, ended };
}

/** A ModelInfer on a client of its own. */
function infer(request: InferRequest): ReturnType<typeof call<InferRequest, InferResponse>> {
  const c = client();
  return call(c.ModelInfer, c, request);
}

/** The call failed with `code`, its message containing each of `parts`. */
function expectStatus(r: { error?: grpc.ServiceError | null }, code: grpc.status, ...parts: string[]): void {
  expect(r.error?.code).toBe(code);
  for (const part of parts) expect(r.error?.details).toContain(part);
}

async function gateway(yaml: string): Promise<TestGateway> {
  gw = await startGateway(yaml);
  return gw;
}

/** A grpc-js server whose ModelInfer answers with `name` as model_version (which revision served it) and echoes model_name and id. */
async function namedServer(name: string): Promise<string> {
  const { server, url } = await startInferenceServer({
    ModelInfer: (c: grpc.ServerUnaryCall<{ model_name: string; id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { model_name: c.request.model_name, id: c.request.id, model_version: name }),
  });
  servers.push(server);
  return url;
}

/** A static revision on HTTP/2 in cleartext. */
function staticRevision(name: string, url: string, extra = ''): string {
  return `
      - name: ${name}
        backend: static
        protocol: h2c
        urls: [${url}]${extra}`;
}

/** A local revision running test/fixtures/grpc-server.mjs, at zero until called; h2c unless `protocol` says h2 (TLS). */
function localGrpcRevision(name: string, env: Record<string, string> = {}, extra = '', protocol: 'h2c' | 'h2' = 'h2c'): string {
  return `
      - name: ${name}
        backend: local
        protocol: ${protocol}
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify([FIXTURES + 'grpc-server.mjs'])}
        env: ${JSON.stringify({ REVISION: name, ...env })}
        readinessProbe: grpc${extra}`;
}

function service(name: string, match: string, revisions: string, traffic: string): string {
  return `
  - name: ${name}
    match:
      ${match}
    revisions:${revisions}
    traffic:${traffic}`;
}

function config(...services: string[]): string {
  return `
autoscaler:
  scale-to-zero-grace-period: 1s
  allow-zero-initial-scale: true
  initial-scale: 0
services:${services.join('')}
`;
}

const ALL_TO = (revision: string) => `
      - revision: ${revision}
        percent: 100`;

/** A config of one service, `iris` (matched by model), all of its traffic on its one revision `iris-1`. */
function irisOnly(revision: string): string {
  return config(service('iris', 'model: iris', revision, ALL_TO('iris-1')));
}

/** One gRPC request by hand (node:http2), for what grpc-js clients do not send or hide: the gateway's own trailers. */
function rawCall(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders; endedWithHead: boolean }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(url);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': INFER_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    let endedWithHead = false;
    stream.on('response', (h, flags) => {
      head = h;
      endedWithHead = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      resolve({ headers: head, trailers, endedWithHead });
    });
    stream.resume();
    stream.end(body);
  });
}

/** A ModelInferRequest for `model` in a gRPC frame (field 1, a string). */
function inferFrame(model: string): Buffer {
  const name = Buffer.from(model);
  const message = Buffer.concat([Buffer.from([0x0a, name.length]), name]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

describe('gRPC through the gateway', () => {
  it(
    'a local h2 revision (gRPC over TLS only) is made ready by the gRPC health check over TLS and answers ModelInfer',
    async () => {
      const certs = certFolder();
      try {
        const ca = certs.ca('sluice-test-ca');
        const pem = certs.issue(ca, 'iris', { sans: ['DNS:iris.models.test'] });
        const tls = `\n        tls: { caFile: ${JSON.stringify(ca.certFile)}, serverName: iris.models.test }`;
        const g = await gateway(irisOnly(localGrpcRevision('iris-1', { CERT_FILE: pem.certFile, KEY_FILE: pem.keyFile }, tls, 'h2')));
        const r = await infer({ model_name: 'iris', id: 'tls-1' });
        expect(r.error).toBeUndefined();
        expect(r.response).toMatchObject({ model_name: 'iris', id: 'tls-1', model_version: 'iris-1' });
        expect(g.revision('iris', 'iris-1').stats.coldStarts).toBe(1);
      } finally {
        await gw?.close();
        gw = undefined;
        certs.remove();
      }
    },
    TEST_MS,
  );

  it(
    'a ModelInfer at zero is held through the cold start of a local h2c revision and answered',
    async () => {
      const g = await gateway(irisOnly(localGrpcRevision('iris-1', { STARTUP_DELAY_MS: '300' })));
      expect(g.revision('iris', 'iris-1').endpoints).toHaveLength(0);
      const r = await infer({ model_name: 'iris', id: 'cold-1' });
      expect(r.error).toBeUndefined();
      expect(r.response).toMatchObject({ model_name: 'iris', id: 'cold-1', model_version: 'iris-1' });
      expect(r.headers?.get('sluice-revision')).toEqual(['iris-1']);
      expect(Number(r.headers?.get('sluice-cold-start')[0])).toBeGreaterThanOrEqual(0);
      expect(g.revision('iris', 'iris-1').stats.coldStarts).toBe(1);
      // Warm: no cold start header.
      const warm = await infer({ model_name: 'iris', id: 'warm-1' });
      expect(warm.response?.id).toBe('warm-1');
      expect(warm.headers?.get('sluice-cold-start')).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'routes by the model in the first message: two services on one host and path, told apart by model_name',
    async () => {
      const irisUrl = await namedServer('iris-1');
      const resnetUrl = await namedServer('resnet-1');
      const g = await gateway(
        config(
          service('iris', 'model: iris', staticRevision('iris-1', irisUrl), ALL_TO('iris-1')),
          service('resnet', 'model: resnet', staticRevision('resnet-1', resnetUrl), ALL_TO('resnet-1')),
        ),
      );
      const c = client();
      const [a, b] = await Promise.all([
        call(c.ModelInfer, c, { model_name: 'iris', id: 'a' }),
        call(c.ModelInfer, c, { model_name: 'resnet', id: 'b' }),
      ]);
      expect(a.response).toMatchObject({ model_name: 'iris', id: 'a', model_version: 'iris-1' });
      expect(b.response).toMatchObject({ model_name: 'resnet', id: 'b', model_version: 'resnet-1' });
      expect(g.revision('iris', 'iris-1').stats.requestsTotal).toBeGreaterThanOrEqual(1);
      // A method without a model name is routed by host and path: no service matches without a model.
      const live = await call(c.ServerLive, c, {});
      expect(live.error?.code).toBe(grpc.status.NOT_FOUND);
    },
    TEST_MS,
  );

  it(
    'routes by :authority and path prefix like any request',
    async () => {
      const { server, url } = await startInferenceServer({
        ServerLive: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { live: true }),
      });
      servers.push(server);
      await gateway(
        config(
          service(
            'iris-grpc',
            'hosts: [iris.test]\n      pathPrefix: /inference.GRPCInferenceService',
            staticRevision('iris-1', url),
            ALL_TO('iris-1'),
          ),
        ),
      );
      const right = client('iris.test');
      const live = await call(right.ServerLive, right, {});
      expect(live.response).toEqual({ live: true });
      expect(live.headers?.get('sluice-revision')).toEqual(['iris-1']);
      const wrong = client('other.test');
      const missed = await call(wrong.ServerLive, wrong, {});
      expectStatus(missed, grpc.status.NOT_FOUND, 'other.test');
    },
    TEST_MS,
  );

  it(
    'an unknown model is NOT_FOUND, in a Trailers-Only response naming the model',
    async () => {
      const g = await gateway(irisOnly(staticRevision('iris-1', await namedServer('iris-1'))));
      const r = await infer({ model_name: 'nope' });
      expectStatus(r, grpc.status.NOT_FOUND, 'model "nope"');
      const raw = await rawCall(g.url, {}, inferFrame('nope'));
      expect(raw.endedWithHead).toBe(true);
      expect(raw.headers[':status']).toBe(200);
      expect(raw.headers['content-type']).toBe('application/grpc');
      expect(raw.headers['grpc-status']).toBe('5');
    },
    TEST_MS,
  );

  it(
    'a 90/10 split applies to gRPC calls: 400 calls, about 360 and 40',
    async () => {
      const blueUrl = await namedServer('blue');
      const greenUrl = await namedServer('green');
      await gateway(
        config(
          service(
            'iris',
            'model: iris',
            staticRevision('blue', blueUrl) + staticRevision('green', greenUrl),
            `
      - revision: blue
        percent: 90
      - revision: green
        percent: 10`,
          ),
        ),
      );
      const c = client();
      const counts = new Map<string, number>();
      for (let batch = 0; batch < 8; batch++) {
        const results = await Promise.all(Array.from({ length: 50 }, () => call(c.ModelInfer, c, { model_name: 'iris' })));
        for (const r of results) counts.set(r.response!.model_version, (counts.get(r.response!.model_version) ?? 0) + 1);
      }
      expect((counts.get('blue') ?? 0) + (counts.get('green') ?? 0)).toBe(400);
      expect(counts.get('blue')).toBeGreaterThanOrEqual(340);
      expect(counts.get('blue')).toBeLessThanOrEqual(380);
    },
    TEST_MS,
  );

  it(
    'a full hold queue is UNAVAILABLE, naming the service and revision',
    async () => {
      // containerConcurrency 1 and one call in flight: the next is held, the one after finds the queue (depth 1) full.
      const waiting: Array<() => void> = [];
      const { server, url } = await startInferenceServer({
        ModelInfer: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => waiting.push(() => cb(null, { model_name: 'iris' })),
      });
      servers.push(server);
      const g = await gateway(
        config(
          service(
            'iris',
            'model: iris',
            staticRevision('iris-1', url, '\n        containerConcurrency: 1\n        queueDepth: 1'),
            ALL_TO('iris-1'),
          ),
        ),
      );
      const c = client();
      const first = call(c.ModelInfer, c, { model_name: 'iris' });
      await until(() => waiting.length === 1, 'first call at the endpoint');
      const second = call(c.ModelInfer, c, { model_name: 'iris' });
      await until(() => g.revision('iris', 'iris-1').queue.length === 1, 'second call held');
      const third = await call(c.ModelInfer, c, { model_name: 'iris' });
      expectStatus(third, grpc.status.UNAVAILABLE, 'hold queue is full', 'service iris, revision iris-1');
      waiting.shift()!();
      await until(() => waiting.length === 1, 'second call released to the endpoint');
      waiting.shift()!();
      expect((await first).error).toBeUndefined();
      expect((await second).error).toBeUndefined();
    },
    TEST_MS,
  );

  it(
    'grpc-timeout bounds the hold: DEADLINE_EXCEEDED from the gateway, and the call leaves the queue',
    async () => {
      const g = await gateway(irisOnly(localGrpcRevision('iris-1', { STARTUP_DELAY_MS: '60000' })));
      const raw = await rawCall(g.url, { 'grpc-timeout': '200m' }, inferFrame('iris'));
      expect(raw.endedWithHead).toBe(true);
      expect(raw.headers['grpc-status']).toBe('4');
      expect(decodeURIComponent(String(raw.headers['grpc-message']))).toContain('deadline of 200 ms (grpc-timeout) exceeded');
      expect(decodeURIComponent(String(raw.headers['grpc-message']))).toContain('revision iris-1');
      expect(g.revision('iris', 'iris-1').queue.length).toBe(0);
      expect(g.revision('iris', 'iris-1').stats.held).toBe(0);
    },
    TEST_MS,
  );

  it(
    'the activation timeout is DEADLINE_EXCEEDED to a grpc-js client without a deadline of its own',
    async () => {
      await gateway(
        config(
          service(
            'iris',
            'model: iris',
            localGrpcRevision('iris-1', { STARTUP_DELAY_MS: '60000' }, '\n        activationTimeoutSeconds: 0.3'),
            ALL_TO('iris-1'),
          ),
        ),
      );
      const r = await infer({ model_name: 'iris' });
      expectStatus(r, grpc.status.DEADLINE_EXCEEDED, 'no ready endpoint within 300 ms');
    },
    TEST_MS,
  );

  it(
    'grpc-timeout bounds the call at its endpoint too: DEADLINE_EXCEEDED, the endpoint hears the cancel, its slot is freed',
    async () => {
      let cancelled = false;
      let arrived = 0;
      const { server, url } = await startInferenceServer({
        ModelInfer: (c: grpc.ServerUnaryCall<unknown, unknown>) => {
          arrived++;
          c.on('cancelled', () => (cancelled = true)); // never answered
        },
      });
      servers.push(server);
      const g = await gateway(irisOnly(staticRevision('iris-1', url)));
      const raw = await rawCall(g.url, { 'grpc-timeout': '300m' }, inferFrame('iris'));
      expect(arrived).toBe(1);
      expect(raw.endedWithHead).toBe(true);
      expect(raw.headers['grpc-status']).toBe('4');
      const rev = g.revision('iris', 'iris-1');
      expect(rev.stats.inflight).toBe(0);
      expect(rev.endpoints[0]!.inflight).toBe(0);
      await until(() => cancelled, 'the endpoint saw the call cancelled');
    },
    TEST_MS,
  );

  it(
    'a revision that cannot start is UNAVAILABLE, saying why',
    async () => {
      const failing = `
      - name: iris-1
        backend: local
        protocol: h2c
        command: ${JSON.stringify(process.execPath)}
        args: ${JSON.stringify(['-e', 'console.error("model file not found"); process.exit(1)'])}`;
      await gateway(irisOnly(failing));
      const r = await infer({ model_name: 'iris' });
      expectStatus(r, grpc.status.UNAVAILABLE, 'model file not found', 'revision iris-1');
    },
    TEST_MS,
  );

  it(
    'a malformed grpc-timeout is INVALID_ARGUMENT',
    async () => {
      const g = await gateway(irisOnly(staticRevision('iris-1', await namedServer('iris-1'))));
      const raw = await rawCall(g.url, { 'grpc-timeout': '5 seconds' }, inferFrame('iris'));
      expect(raw.headers['grpc-status']).toBe('3');
      expect(decodeURIComponent(String(raw.headers['grpc-message']))).toContain('grpc-timeout');
    },
    TEST_MS,
  );

  it(
    'an endpoint that is not there is UNAVAILABLE',
    async () => {
      const { server, port } = await startInferenceServer({});
      server.forceShutdown(); // its port is free now: nothing listens there
      await gateway(irisOnly(staticRevision('iris-1', `http://127.0.0.1:${port}`)));
      const r = await infer({ model_name: 'iris' });
      expectStatus(r, grpc.status.UNAVAILABLE, 'unreachable', 'revision iris-1');
    },
    TEST_MS,
  );

  it(
    "the endpoint's status, message and binary metadata pass through unchanged",
    async () => {
      const { server, url } = await startInferenceServer({
        ModelInfer: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => {
          const metadata = new grpc.Metadata();
          metadata.set('detail-bin', Buffer.from([0, 1, 2, 255]));
          metadata.set('x-reason', 'model busy');
          cb({ code: grpc.status.FAILED_PRECONDITION, details: 'tensor "x" 100% wrong — é', metadata });
        },
      });
      servers.push(server);
      await gateway(irisOnly(staticRevision('iris-1', url)));
      const r = await infer({ model_name: 'iris' });
      expect(r.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(r.error?.details).toBe('tensor "x" 100% wrong — é');
      expect(r.status.metadata.get('detail-bin')).toEqual([Buffer.from([0, 1, 2, 255])]);
      expect(r.status.metadata.get('x-reason')).toEqual(['model busy']);
    },
    TEST_MS,
  );

  it(
    'REST and gRPC for the same model reach the same revision and both count in its concurrency',
    async () => {
      const held: Array<() => void> = [];
      const { server, url: grpcUrl } = await startInferenceServer({
        ModelInfer: (c: grpc.ServerUnaryCall<{ model_name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
          held.push(() => cb(null, { model_name: c.request.model_name, model_version: 'via-grpc' })),
      });
      servers.push(server);
      const front = await mixedEndpoint(grpcUrl, held);
      const g = await gateway(irisOnly(staticRevision('iris-1', front)));
      const rev = g.revision('iris', 'iris-1');
      const rest = request(`${g.url}/v2/models/iris/infer`, {
        method: 'POST',
        body: '{"inputs":[]}',
        headers: { 'content-type': 'application/json' },
      });
      const c = client();
      const rpc = call(c.ModelInfer, c, { model_name: 'iris' });
      await until(() => held.length === 2, 'both calls at the endpoint');
      expect(rev.stats.inflight).toBe(2);
      expect(rev.endpoints[0]!.inflight).toBe(2);
      for (const release of held.splice(0)) release();
      const restAnswer = await rest;
      expect(restAnswer.statusCode).toBe(200);
      expect(restAnswer.headers['sluice-revision']).toBe('iris-1');
      expect(await restAnswer.body.json()).toEqual({ model_name: 'iris', via: 'rest' });
      const rpcAnswer = await rpc;
      expect(rpcAnswer.response).toMatchObject({ model_name: 'iris', model_version: 'via-grpc' });
      expect(rpcAnswer.headers?.get('sluice-revision')).toEqual(['iris-1']);
      await until(() => rev.stats.inflight === 0, 'both done');
      expect(rev.stats.requestsTotal).toBe(2);
    },
    TEST_MS,
  );

  it(
    'a bidirectional stream of 1,000 messages passes intact and in order, and counts as one request in flight while open',
    async () => {
      const { server, url } = await startInferenceServer({
        ModelStreamInfer: (s: grpc.ServerDuplexStream<StreamRequest, unknown>) => {
          s.on('data', (req: StreamRequest) =>
            s.write({ infer_response: { model_name: req.model_name, id: req.id, raw_output_contents: req.raw_input_contents } }),
          );
          s.on('end', () => s.end());
        },
      });
      servers.push(server);
      const g = await gateway(irisOnly(staticRevision('iris-1', url)));
      const { stream, got, ended } = openStream();
      const payload = (i: number) => Buffer.alloc(1024, i % 251);
      for (let i = 0; i < 1000; i++) stream.write({ model_name: 'iris', id: String(i), raw_input_contents: [payload(i)] });
      await until(() => got.length === 1000, '1,000 answers');
      expect(g.revision('iris', 'iris-1').stats.inflight).toBe(1);
      stream.end();
      expect((await ended).code).toBe(grpc.status.OK);
      expect(got.map((r) => r.infer_response!.id)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
      expect(got.every((r, i) => r.infer_response!.raw_output_contents[0]!.equals(payload(i)))).toBe(true);
      await until(() => g.revision('iris', 'iris-1').stats.inflight === 0, 'the stream no longer in flight');
    },
    TEST_MS,
  );

  it(
    'a streaming call whose first message comes later is routed once it comes',
    async () => {
      const { server, url } = await startInferenceServer({
        ModelStreamInfer: (s: grpc.ServerDuplexStream<StreamRequest, unknown>) => {
          s.on('data', (req: StreamRequest) => s.write({ infer_response: { model_name: req.model_name, id: req.id } }));
          s.on('end', () => s.end());
        },
      });
      servers.push(server);
      const g = await gateway(irisOnly(staticRevision('iris-1', url)));
      const { stream, got, ended } = openStream();
      await new Promise((r) => setTimeout(r, 100)); // the stream is open, no message yet
      expect(g.revision('iris', 'iris-1').stats.requestsTotal).toBe(0);
      stream.write({ model_name: 'iris', id: 'late' });
      await until(() => got.length === 1, 'the answer');
      stream.end();
      expect((await ended).code).toBe(grpc.status.OK);
      expect(got[0]!.infer_response!.id).toBe('late');
    },
    TEST_MS,
  );

  it(
    'a call cancelled while held leaves the queue at once',
    async () => {
      const g = await gateway(irisOnly(localGrpcRevision('iris-1', { STARTUP_DELAY_MS: '60000' })));
      const rev = g.revision('iris', 'iris-1');
      const c = client();
      const pending = c.ModelInfer({ model_name: 'iris' }, new grpc.Metadata(), {}, () => {});
      await until(() => rev.queue.length === 1, 'held');
      expect(rev.stats.active).toBe(1);
      pending.cancel();
      await until(() => rev.queue.length === 0 && rev.stats.held === 0 && rev.stats.active === 0, 'the slot freed');
    },
    TEST_MS,
  );

  it(
    'a gRPC stream open during scale-down keeps its replica running until it ends',
    async () => {
      const g = await gateway(irisOnly(localGrpcRevision('iris-1')));
      const key = 'iris/iris-1';
      const { stream, got, ended } = openStream();
      stream.write({ model_name: 'iris', id: 'before' });
      await until(() => got.length === 1, 'first answer (after the cold start)');
      const [pid] = g.driver.pids(key);
      expect(pid).toBeDefined();
      // Scale to zero by hand, the control loop stopped (it would keep the replica for the stream).
      g.loop.stop();
      g.driver.setReplicas(key, 0);
      expect(g.revision('iris', 'iris-1').endpoints).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 300)); // several drain polls
      expect(isAlive(pid!)).toBe(true);
      stream.write({ model_name: 'iris', id: 'during' });
      await until(() => got.length === 2, 'an answer while draining');
      expect(got[1]!.infer_response!.id).toBe('during');
      stream.end();
      expect((await ended).code).toBe(grpc.status.OK);
      await until(() => !isAlive(pid!), 'the drained replica stopped');
    },
    TEST_MS,
  );

  it(
    'a gRPC call over HTTP/1.1 gets a clear 400',
    async () => {
      const g = await gateway(irisOnly(staticRevision('iris-1', await namedServer('iris-1'))));
      const r = await request(`${g.url}${INFER_PATH}`, {
        method: 'POST',
        body: inferFrame('iris'),
        headers: { 'content-type': 'application/grpc' },
      });
      expect(r.statusCode).toBe(400);
      const body = (await r.body.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('bad_request');
      expect(body.error.message).toContain('gRPC needs HTTP/2');
    },
    TEST_MS,
  );

  it.each([
    { label: 'protocol http1 (the default)', protocol: '', why: 'protocol: http1' },
    { label: 'protocol auto in cleartext', protocol: '\n        protocol: auto', why: 'protocol: auto without TLS is HTTP/1.1' },
  ])(
    'a revision reached over HTTP/1.1 cannot take gRPC ($label): UNIMPLEMENTED, saying why and which protocol to set',
    async ({ protocol, why }) => {
      await gateway(
        config(
          service(
            'iris',
            'model: iris',
            `\n      - name: iris-1\n        backend: static${protocol}\n        urls: [${await namedServer('iris-1')}]`,
            ALL_TO('iris-1'),
          ),
        ),
      );
      const r = await infer({ model_name: 'iris' });
      expectStatus(r, grpc.status.UNIMPLEMENTED, why);
    },
    TEST_MS,
  );
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One h2c endpoint that serves REST and gRPC, as a model server on one port does: REST
 * `/v2/models/{name}/infer` answered here (held until released through `held`), gRPC streams
 * carried to the grpc-js server at `grpcUrl`.
 */
async function mixedEndpoint(grpcUrl: string, held: Array<() => void>): Promise<string> {
  const inner = h2connect(grpcUrl);
  inner.on('error', () => {});
  const server = createH2Server();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(headers))
        if (value !== undefined && name !== ':authority' && name !== ':scheme') out[name] = value;
      const up = inner.request(out);
      up.on('error', () => stream.destroy());
      let trailers: IncomingHttpHeaders = {};
      up.on('trailers', (t: IncomingHttpHeaders) => {
        trailers = t;
      });
      up.on('response', (h, flags) => {
        const endsHere = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
        stream.respond(h, endsHere ? { endStream: true } : { waitForTrailers: true });
        if (!endsHere) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      });
      up.on('data', (chunk: Buffer) => stream.write(chunk));
      up.on('end', () => stream.end());
      stream.pipe(up);
      return;
    }
    const name = /^\/v2\/models\/([^/]+)\/infer$/.exec(String(headers[':path']))?.[1];
    stream.resume();
    held.push(() => {
      const body = JSON.stringify({ model_name: name, via: 'rest' });
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      stream.end(body);
    });
  });
  server.on('close', () => inner.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h2servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

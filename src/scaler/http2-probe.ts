/**
 * Readiness and liveness probes of a replica that speaks HTTP/2 — in cleartext (`protocol: h2c`,
 * prior knowledge) or over TLS (`protocol: h2`, ALPN h2, with the revision's CA, server name and
 * client certificate): a GET of the readiness path, or for `readinessProbe: grpc` the gRPC health
 * check (`grpc.health.v1.Health/Check`, service ""), over one HTTP/2 session kept for all probes of
 * the replica. Results as readiness-probe.ts: `refused`, `not-ready`, `ready`.
 *
 * Plain node:http2 rather than a gRPC client: a gRPC channel backs off between reconnects (1 s at
 * first), so a replica whose port opened 2 ms after a refused probe would be seen a second late;
 * here each refused probe is one connect(), retried on the driver's 2 ms. The health check's bytes
 * are fixed: the request HealthCheckRequest{service: ""} is an empty message (a 5-byte gRPC frame
 * of zeros), and the answer HealthCheckResponse{status} holds one varint field, SERVING = 1.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { formatHostPort } from '../net-address.js';
import { describeProbeError, type ProbeResult, type Prober } from './readiness-probe.js';

const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
/** gRPC frame: not compressed, length 0 — an empty HealthCheckRequest. */
const EMPTY_REQUEST = Buffer.alloc(5);
/** A health answer is a few bytes; anything longer is not one. */
const MAX_ANSWER_BYTES = 64;
const SERVING = 1;

export type Http2ProbeKind = { kind: 'http'; path: string } | { kind: 'grpc' };

export class Http2Prober implements Prober {
  readonly describe: string;
  lastError: string | undefined;
  private session: ClientHttp2Session | undefined;
  private readonly authority: string;

  /** Over TLS when `connectTls` is given (each session on a new connection offering ALPN h2), else h2c. */
  constructor(
    host: string,
    port: number,
    private readonly how: Http2ProbeKind,
    private readonly connectTls?: (alpn: string[]) => TLSSocket,
  ) {
    const tls = connectTls !== undefined;
    this.authority = `${tls ? 'https' : 'http'}://${formatHostPort(host, port)}`;
    const over = tls ? 'h2 (TLS)' : 'h2c';
    this.describe = how.kind === 'grpc' ? `gRPC health Check over ${over}` : `GET ${how.path} over ${over}`;
  }

  /** Never rejects. */
  probe(timeoutMs: number): Promise<ProbeResult> {
    return new Promise((resolve) => {
      let settled = false;
      const session = this.connected();
      const settle = (result: ProbeResult, why?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.off('error', onSessionError);
        // Set once the probe is over: a failure message read while the next probe runs still says why the last one failed.
        this.lastError = why;
        resolve(result);
      };
      const onSessionError = (err: NodeJS.ErrnoException): void => {
        if (err.code === 'ECONNREFUSED') settle('refused');
        else settle('not-ready', describeProbeError(err));
      };
      session.on('error', onSessionError);
      const timer = setTimeout(() => {
        settle('not-ready', `no answer within ${timeoutMs} ms`);
        // A session that does not answer in time is not trusted with the next probe.
        this.close();
      }, timeoutMs);

      const grpc = this.how.kind === 'grpc';
      const stream = session.request(
        grpc
          ? {
              ':method': 'POST',
              ':path': HEALTH_CHECK_PATH,
              'content-type': 'application/grpc',
              te: 'trailers',
              'user-agent': 'sluice-probe',
            }
          : { ':method': 'GET', ':path': this.how.path, 'user-agent': 'sluice-probe' },
        { endStream: !grpc },
      );
      // A stream error follows a session error (refused) or stands alone (reset): settle waits a
      // tick so the session's reason, when there is one, is the one reported.
      stream.on('error', (err: NodeJS.ErrnoException) => setImmediate(() => settle('not-ready', describeProbeError(err))));
      if (!grpc) {
        stream.on('response', (headers) => {
          const status = Number(headers[':status']);
          settle(status >= 200 && status < 400 ? 'ready' : 'not-ready');
          stream.close(constants.NGHTTP2_CANCEL);
        });
        return;
      }
      stream.end(EMPTY_REQUEST);
      let answer = Buffer.alloc(0);
      let grpcStatus: string | undefined;
      stream.on('response', (headers) => (grpcStatus = headerValue(headers['grpc-status'])));
      stream.on('trailers', (trailers: IncomingHttpHeaders) => (grpcStatus = headerValue(trailers['grpc-status'])));
      stream.on('data', (chunk: Buffer) => {
        answer = Buffer.concat([answer, chunk]);
        if (answer.length > MAX_ANSWER_BYTES) {
          settle('not-ready');
          stream.close(constants.NGHTTP2_CANCEL);
        }
      });
      stream.on('end', () => settle(grpcStatus === '0' && healthStatus(answer) === SERVING ? 'ready' : 'not-ready'));
    });
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  private connected(): ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const connectTls = this.connectTls;
    const session =
      connectTls === undefined ? connect(this.authority) : connect(this.authority, { createConnection: () => connectTls(['h2']) });
    // Errors are read by the probe that is waiting; one with nobody waiting must not crash the gateway.
    session.on('error', () => {});
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    // The probe session must not keep the gateway process alive on its own.
    session.unref();
    this.session = session;
    return session;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The `status` of a framed HealthCheckResponse: one gRPC frame (flag 0, 4-byte length) holding
 * field 1 as a varint — `00 00000002 08 01` is SERVING. Undefined for anything else.
 *
 * @example healthStatus(Buffer.from([0, 0, 0, 0, 2, 8, 1])) === 1
 */
export function healthStatus(frame: Buffer): number | undefined {
  if (frame.length < 5 || frame[0] !== 0 || frame.readUInt32BE(1) !== frame.length - 5) return undefined;
  // proto3 leaves a default (UNKNOWN = 0) out: an empty message is status 0.
  if (frame.length === 5) return 0;
  // Field 1, wire type 0 (tag byte 0x08), then a one-byte varint: the only encoding of a status 0..127.
  if (frame.length === 7 && frame[5] === 0x08 && frame[6]! < 0x80) return frame[6];
  return undefined;
}

/**
 * One HTTP readiness probe: `GET /path` over HTTP/1.1 with plain node:http, in cleartext or over a
 * TLS connection the caller opens (the replica's link, replica-link.ts).
 *
 * The answer has three values because they call for different retry intervals while a replica starts:
 * `refused` (nothing listens yet: fails in microseconds, cheap to retry every 2 ms), `not-ready` (the
 * port answers but not with 2xx/3xx, or the probe failed otherwise), and `ready` (200–399).
 * A keep-alive agent with one socket lets a replica that answers 503 for a minute be probed every
 * 5 ms over one connection instead of leaving 12 000 sockets in TIME_WAIT.
 */
import { Agent, request } from 'node:http';
import type { TLSSocket } from 'node:tls';

export type ProbeResult = 'ready' | 'not-ready' | 'refused';

/** The probes of one replica over a connection kept between them (HTTP/1.1 here, HTTP/2 in http2-probe.ts). */
export interface Prober {
  /** Never rejects; `not-ready` when no answer came within `timeoutMs`. */
  probe(timeoutMs: number): Promise<ProbeResult>;
  /** What is probed, for log lines: `GET /ready`, `GET /ready over TLS`. */
  readonly describe: string;
  /**
   * Why the last probe failed without an answer, when it did: the TLS error (`unable to verify the
   * first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`), a reset, `no answer within 1000 ms`.
   * Undefined after an answer or a refused connection.
   */
  readonly lastError: string | undefined;
  /** Drops the kept connection. */
  close(): void;
}

/**
 * GET `path` over one kept-alive HTTP/1.1 connection: cleartext, or over TLS when `connectTls` is
 * given (offering ALPN http/1.1, as the gateway's HTTP/1.1 pool does).
 */
export function http1Prober(host: string, port: number, path: string, connectTls?: (alpn: string[]) => TLSSocket): Prober {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  if (connectTls !== undefined) agent.createConnection = () => connectTls(['http/1.1']);
  const prober = {
    lastError: undefined as string | undefined,
    describe: connectTls === undefined ? `GET ${path}` : `GET ${path} over TLS`,
    probe: async (timeoutMs: number) => {
      let why: string | undefined;
      const result = await probe({ host, port, path, agent, timeoutMs, failed: (w) => (why = w) });
      // Set once the probe is over: a failure message read while the next probe runs still says why the last one failed.
      prober.lastError = why;
      return result;
    },
    close: () => agent.destroy(),
  };
  return prober;
}

export interface ProbeTarget {
  host: string;
  port: number;
  /** Request path, starting with `/`. */
  path: string;
  /** Connection reuse between probes; `false` for a fresh connection each time. */
  agent: Agent | false;
  /** The probe counts as `not-ready` when no response head arrived in this time. */
  timeoutMs: number;
  /** Told why a probe that got no answer failed (not for a refused connection). */
  failed?: (why: string) => void;
}

/** Never rejects. Cost when refused: one connect() syscall and one error event. */
export function probe(target: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: ProbeResult, why?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (why !== undefined) target.failed?.(why);
      resolve(result);
    };
    const req = request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method: 'GET',
        agent: target.agent,
        headers: { 'user-agent': 'sluice-probe' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', () => {});
        res.resume(); // drain the body so the keep-alive socket can carry the next probe
        settle(status >= 200 && status < 400 ? 'ready' : 'not-ready');
      },
    );
    const timer = setTimeout(() => {
      settle('not-ready', `no answer within ${target.timeoutMs} ms`);
      req.destroy();
    }, target.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') settle('refused');
      else settle('not-ready', describeProbeError(err));
    });
    req.end();
  });
}

/**
 * A failed connection as a user reads it: Node's message and its code, which names the TLS failure
 * (`self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)`); the code alone when the
 * message already carries it (`read ECONNRESET`).
 */
export function describeProbeError(err: NodeJS.ErrnoException): string {
  const { code, message } = err;
  if (code === undefined || message.includes(code)) return message;
  return `${message} (${code})`;
}

/** Loopback helpers: a free port, waiting for a listener, and one HTTP(S) request with its timings. */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { TLS_SERVER_NAME } from './tls-certificate.js';

/** A port free on 127.0.0.1 right now (the OS picks it; it can in principle be taken before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a connection; rejects after `timeoutMs` or when `gone()`. */
export async function waitForListener(port: number, timeoutMs: number, gone: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (gone()) throw new Error(`the process meant to listen on port ${port} has exited`);
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface Exchange {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Date.now() just before the request was written. */
  sentAtMs: number;
  /** Date.now() equivalent of the moment the whole response had arrived (sub-ms from performance.now). */
  doneAtMs: number;
  /** From writing the request to the end of the response, ms (performance.now). */
  totalMs: number;
}

/**
 * One request on a fresh connection (no agent), timed from write to the last response byte. An
 * https URL is the benchmark's own TLS listener: SNI TLS_SERVER_NAME, its self-signed certificate not verified.
 */
export function exchange(url: string, method: string, body: string | undefined, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const secure = url.startsWith('https:');
    const send = secure ? httpsRequest : request;
    const tls = secure ? { servername: TLS_SERVER_NAME, rejectUnauthorized: false } : {};
    const req = send(url, { method, headers, agent: false, timeout: timeoutMs, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const totalMs = performance.now() - sentAtPerf;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          sentAtMs,
          doneAtMs: sentAtMs + totalMs,
          totalMs,
        });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    const sentAtMs = Date.now();
    const sentAtPerf = performance.now();
    req.end(body);
  });
}

/** What one handshake with an https `url` negotiates: "TLSv1.3 TLS_AES_256_GCM_SHA384". */
export function negotiated(url: string, timeoutMs: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), servername: TLS_SERVER_NAME, rejectUnauthorized: false }, () => {
      resolve(`${socket.getProtocol() ?? '?'} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${url}: no handshake within ${timeoutMs} ms`)));
    socket.once('error', reject);
  });
}

/** Loopback helpers: a free port, waiting for a listener, and one HTTP request with its timings. */
import { request } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

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

/** One request on a fresh connection (no agent), timed from write to the last response byte. */
export function exchange(url: string, method: string, body: string | undefined, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = request(url, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
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

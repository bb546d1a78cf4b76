/**
 * Serve a Hono app (an admin port: the gateway's or the queue-proxy's) with its own lifecycle, so
 * its program can drain the data port first and close this one last: probes and scrapes keep
 * answering while requests finish.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';

export interface ServedApp {
  /** The bound address (the chosen port, with port 0). */
  address: { host: string; port: number };
  /** Stop listening; idle connections close at once, busy ones (SSE, keep-alive) after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** Resolves once listening; rejects on listen errors (EADDRINUSE). */
export async function serveApp(
  app: { fetch: (request: Request, env?: unknown) => Response | Promise<Response> },
  host: string,
  port: number,
): Promise<ServedApp> {
  const server = await new Promise<Server>((resolve, reject) => {
    // overrideGlobalObjects: false keeps the process's global Request/Response untouched; an admin
    // port is not on the hot path, so the adapter's lighter objects buy nothing here.
    const s = serve({ fetch: (request, env) => app.fetch(request, env), hostname: host, port, overrideGlobalObjects: false }, () => {
      s.off('error', reject);
      resolve(s as Server);
    });
    s.once('error', reject);
  });
  const bound = server.address();
  const address = bound !== null && typeof bound === 'object' ? { host: bound.address, port: bound.port } : { host, port };

  let closing: Promise<void> | undefined;
  return {
    address,
    close(graceMs) {
      closing ??= new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close((err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

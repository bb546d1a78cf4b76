/**
 * The gateway's admin port: the admin app served on its own lifecycle (src/serve-app.ts), secure by
 * default: without an admin token the API binds only to loopback.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { serveApp } from '../serve-app.js';

export interface AdminServerOptions {
  /** Anything with a fetch handler; in practice the app from createAdminApp. */
  app: { fetch: (request: Request, env?: unknown) => Response | Promise<Response> };
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8081; 0 picks a free port. */
  port?: number;
  /** The admin token; required when `host` is not a loopback address. */
  token?: string;
  /** After close() starts, open connections (SSE streams, keep-alive) get this long. Default 2000 ms. */
  closeGraceMs?: number;
}

export interface AdminServer {
  address: { host: string; port: number };
  /** Stop listening; idle connections close at once, busy ones after the grace period. */
  close(): Promise<void>;
}

/**
 * True for addresses only this machine can reach: 127.0.0.0/8, ::1 (bracketed or not), the
 * IPv4-mapped ::ffff:127.x.x.x, and `localhost`.
 *
 * @example isLoopback('127.0.0.2') // true
 * @example isLoopback('0.0.0.0')   // false
 */
export function isLoopback(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && isIPv4(mapped[1]!) && mapped[1]!.startsWith('127.');
  }
  return false;
}

/**
 * Start serving; resolves once listening, with the bound address (useful with port 0).
 * Rejects without binding when a non-loopback host has no token, and on listen errors (EADDRINUSE).
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8081;
  const hasToken = options.token !== undefined && options.token !== '';
  if (!hasToken && !isLoopback(host)) {
    throw new Error(`admin API on ${host} needs an admin token (SLUICE_ADMIN_TOKEN)`);
  }
  const graceMs = options.closeGraceMs ?? 2000;
  const served = await serveApp(options.app, host, port);
  return { address: served.address, close: () => served.close(graceMs) };
}

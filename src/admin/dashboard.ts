/**
 * The live dashboard's files at the admin port: `GET /` and `/ui/*`. They are copied into
 * dist/dashboard/ by the build (package.json `build:dashboard`: the page from src/admin/dashboard/
 * and uPlot's JS and CSS from its package), read once on first request and kept in memory (about
 * 70 KB in all). The page holds no data, so these paths need no token; it sends the token it is
 * given with every API call it makes (README, "Dashboard").
 */
import { readFile } from 'node:fs/promises';
import type { Hono } from 'hono';
import { SluiceError } from '../errors.js';

/**
 * Where the build puts the files: `<package>/dist/dashboard/`. The same URL from src/admin/ (tests
 * run the sources) and from dist/admin/ (the built program): two levels up, then dist/dashboard/.
 */
export const DASHBOARD_DIR = new URL('../../dist/dashboard/', import.meta.url);

/** Served path → file name and content type. */
const ASSETS: ReadonlyMap<string, { file: string; type: string }> = new Map([
  ['/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/ui/dashboard.js', { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' }],
  ['/ui/dashboard.css', { file: 'dashboard.css', type: 'text/css; charset=utf-8' }],
  ['/ui/uPlot.iife.min.js', { file: 'uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' }],
  ['/ui/uPlot.min.css', { file: 'uPlot.min.css', type: 'text/css; charset=utf-8' }],
]);

/** The dashboard's paths, which the token check lets through. */
export const DASHBOARD_PATHS: ReadonlySet<string> = new Set(ASSETS.keys());

/** Add the routes to `app`, serving from `dir` (default DASHBOARD_DIR). */
export function dashboardRoutes(app: Hono, dir: URL = DASHBOARD_DIR): void {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string): Promise<Buffer> => {
    let body = cache.get(file);
    if (body === undefined) {
      body = readFile(new URL(file, dir));
      // A file missing now (not built yet) is looked for again next time.
      body.catch(() => cache.delete(file));
      cache.set(file, body);
    }
    return body;
  };
  for (const [path, asset] of ASSETS) {
    app.get(path, async (c) => {
      let body: Buffer;
      try {
        body = await load(asset.file);
      } catch {
        throw new SluiceError('unavailable', 503, `the dashboard is not built (${asset.file} missing): run npm run build`);
      }
      return c.body(new Uint8Array(body), 200, {
        'Content-Type': asset.type,
        'Cache-Control': 'no-cache',
        // The page runs only its own scripts and talks only to this port.
        'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      });
    });
  }
}

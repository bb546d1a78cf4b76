/**
 * The dashboard's files at the admin port (src/admin/dashboard.ts), from dist/dashboard/ as the
 * build leaves them: open without the token (they hold no data), while the API they call is not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createAdminApp } from '../src/admin/app.js';
import type { StatusSource } from '../src/core/status.js';

const STATUS: StatusSource = { services: () => [], ready: () => true };

describe('dashboard files', () => {
  const app = createAdminApp({ status: STATUS, registry: new Registry(), token: 'secret-token' });

  const rows: Array<{ path: string; wantType: RegExp; wantText: string }> = [
    { path: '/', wantType: /^text\/html/, wantText: '<script type="module" src="/ui/dashboard.js">' },
    { path: '/ui/dashboard.js', wantType: /^text\/javascript/, wantText: "fetch('/api/v1/events'" },
    { path: '/ui/dashboard.css', wantType: /^text\/css/, wantText: '#events' },
    { path: '/ui/uPlot.iife.min.js', wantType: /^text\/javascript/, wantText: 'uPlot' },
    { path: '/ui/uPlot.min.css', wantType: /^text\/css/, wantText: '.uplot' },
  ];
  for (const row of rows) {
    it(`serves ${row.path} without a token`, async () => {
      const res = await app.request(row.path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(row.wantType);
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(await res.text()).toContain(row.wantText);
    });
  }

  it('keeps the API behind the token', async () => {
    expect((await app.request('/api/v1/services')).status).toBe(401);
    expect((await app.request('/api/v1/services', { headers: { authorization: 'Bearer secret-token' } })).status).toBe(200);
  });

  it('answers 503 naming the missing file when the dashboard was not built', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'sluice-dashboard-'));
    try {
      const bare = createAdminApp({ status: STATUS, registry: new Registry(), dashboardDir: pathToFileURL(`${empty}/`) });
      const res = await bare.request('/');
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /not built \(index\.html missing\): run npm run build/,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

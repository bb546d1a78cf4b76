/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, which .ci/run installs)
 * driven by playwright-core, against a gateway whose admin API needs a token. Traffic cold-starts a
 * local predictor revision; the page must show the revision, its replicas going 0 → 1 and the
 * cold-start event, with no script error. A screenshot is left in test-output/ for people to look at.
 */
import { mkdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { withPage } from './support/browser.js';
import { AT_ZERO, IRIS_ROW, predictorRevision, startGateway, type TestGateway } from './support/harness.js';

const TOKEN = 'dashboard-test-token';
const SCREENSHOT_DIR = new URL('../test-output/', import.meta.url);

let gw: TestGateway | undefined;
afterEach(async () => {
  // Even when the test failed half-way (withPage has closed the browser by then).
  await gw?.close();
  gw = undefined;
});

const CONFIG = `
${AT_ZERO}services:
  - name: demo
    match:
      model: iris
    revisions:${predictorRevision('demo-00001', { args: ['--startup-delay', '300'] })}
    traffic:
      - revision: demo-00001
        percent: 100
`;

describe('dashboard', () => {
  it('shows a revision cold-starting: replicas 0 → 1 and the cold_start event, through the admin token', async () => {
    const g = (gw = await startGateway(CONFIG, { adminToken: TOKEN }));
    await withPage(
      async (page) => {
        const scriptErrors: string[] = [];
        page.on('pageerror', (err) => scriptErrors.push(err.message));

        // The token once in the address; the page keeps it and takes it out of the URL.
        await page.goto(`${g.adminUrl}/?token=${TOKEN}`);
        expect(new URL(page.url()).search).toBe('');
        const row = 'tr[data-revision="demo-00001"]';
        const ready = `${row} td[data-field="ready"]`;
        await page.waitForSelector(ready, { state: 'attached' });
        expect(await page.textContent(ready)).toBe('0');
        expect(await page.textContent(`${row} td[data-field="name"]`)).toBe('demo-00001');
        await page.waitForSelector('#feed-status[data-state="live"]');

        const statuses = await Promise.all(
          Array.from({ length: 3 }, async () => {
            const res = await fetch(`${g.url}/v2/models/iris/infer`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(IRIS_ROW),
            });
            await res.arrayBuffer();
            return res.status;
          }),
        );
        expect(statuses).toEqual([200, 200, 200]);

        // Waited for by selector (`:text-is` is Playwright's exact-text match): the page's CSP allows no eval.
        await page.waitForSelector(`${ready}:text-is("1")`, { state: 'attached' });
        const cold = await page.waitForSelector('#events li[data-type="cold_start"]');
        expect(await cold.textContent()).toMatch(/demo\/demo-00001 +cold start: 3 held requests released after/);
        expect(await page.textContent('#events')).toMatch(/scale +demo\/demo-00001 +0 → 1 \(activation\)/);
        // Polled numbers: three answered, the replica desired, actual and ready.
        await page.waitForSelector(`${row} td[data-field="replicas"]:text-is("1 / 1 / 1")`);
        // The next poll brings the counters (the replica cells may have moved first, on the feed's events).
        await page.waitForSelector(`${row} td[data-field="coldStarts"]:text-is("3")`);
        // The charts are drawn (uPlot makes one canvas per chart).
        for (const chart of ['concurrency', 'replicas', 'held', 'latency']) await page.waitForSelector(`#chart-${chart} canvas`);

        await mkdir(SCREENSHOT_DIR, { recursive: true });
        await page.screenshot({ path: new URL('dashboard.png', SCREENSHOT_DIR).pathname, fullPage: true });
        expect(scriptErrors).toEqual([]);
      },
      { width: 1400, height: 1100 },
    );
  });
});

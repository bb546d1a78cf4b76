/**
 * Headless Chromium (Debian's /usr/bin/chromium) through playwright-core, for tests that open a
 * page the project writes. The browser is closed when `use` returns or throws. Code that runs in
 * the page is given as text: the tests are compiled without the DOM's types.
 */
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh browser and one page of `viewport` (default 1100 × 900) for `use`; `ignoreHTTPSErrors` takes a test's self-signed certificate. */
export async function withPage<T>(
  use: (page: Page) => Promise<T>,
  viewport = { width: 1100, height: 900 },
  options: { ignoreHTTPSErrors?: boolean } = {},
): Promise<T> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport, ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false });
    return await use(page);
  } finally {
    await browser.close();
  }
}

/** A report's charts, as the page sees them: each canvas's size and how many of its pixels are painted. */
export interface DrawnChart {
  id: string;
  series: string[];
  points: number;
  width: number;
  height: number;
  painted: number;
}

/** True in the page once `n` charts are drawn (report-charts.ts counts them in body's data-charts). */
export const chartsDrawn = (n: number): string => `document.body.dataset.charts === '${n}'`;

/** Evaluated in the page: a DrawnChart per chart in window.sluiceCharts. */
export const DRAWN_CHARTS = `window.sluiceCharts.map((c) => {
  const canvas = document.querySelector('#' + c.id + ' canvas');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return { id: c.id, series: c.series, points: c.points, width: canvas.width, height: canvas.height, painted };
})`;

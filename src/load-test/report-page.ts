/**
 * The frame every report is drawn in: one HTML file holding uPlot's script and style (read from
 * node_modules when the report is written), the data as JSON and the page's own script, so it
 * opens from disk with no network. Text from a results file is escaped on the way in: a phase
 * named `</script>` stays text.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** uPlot's minified script and its stylesheet. */
async function uplotAssets(): Promise<{ js: string; css: string }> {
  const [js, css] = await Promise.all([
    readFile(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  ]);
  return { js, css };
}

/** Text for HTML content or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside a <script> element: `<` escaped so no `</script>` or `<!--` can end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A table from rows of already-escaped cells; the first column is a header per row. */
export function htmlTable(header: string[], rows: string[][]): string {
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1060px; color: #1d2430; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: #5b6576; margin: 0 0 16px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table { font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e6ea; text-align: right; white-space: nowrap; }
thead th { white-space: normal; vertical-align: bottom; }
th:first-child, thead th { text-align: left; }
.chart { margin: 8px 0 20px; } .note { color: #8a6d1f; }
pre { background: #f5f6f8; padding: 12px; overflow: auto; font-size: 12px; }
`;

/** The whole page: `body` is trusted HTML, `data` goes in as JSON for `script` to read as DATA. */
export async function reportPage(title: string, body: string, data: unknown, script: string): Promise<string> {
  const uplot = await uplotAssets();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>${uplot.css}</style><style>${STYLE}</style>
</head><body>
${body}
<script>${uplot.js.replace(/<\/script/gi, '<\\/script')}</script>
<script id="data" type="application/json">${scriptJson(data)}</script>
<script>
const DATA = JSON.parse(document.getElementById('data').textContent);
${script}
</script>
</body></html>
`;
}

/**
 * What `sluice status` prints under a service's table about revisions that are not fine: a Failed
 * revision, or one Activating for a reason other than a first start (Restarting …) — its message,
 * then the last lines its replica wrote to stderr, cut so that a chatty crash stays a few lines.
 * Pure; the text comes from the gateway's processes, so control characters never reach the terminal.
 */
import type { ConditionJson, RevisionJson } from '../admin/app.js';

/** Lines of stderr shown per revision (the JSON, `--json`, has all of the last 2 KB). */
const OUTPUT_LINES = 3;
/** Characters kept of one stderr line; of the message, twice that. */
const LINE_CHARS = 160;

/** Failed, or Activating other than Starting: worth a line under the table. */
function needsNote(c: ConditionJson): boolean {
  return c.status === 'Failed' || (c.status === 'Activating' && c.reason !== 'Starting');
}

/**
 * `iris/v2: exited with code 1 before it was ready, 3 starts in a row`, then each of the last stderr
 * lines indented by two spaces.
 *
 * @example conditionNotes('iris', revisions) // ['iris/v2: exited with code 1 …', '  model file not found']
 */
export function conditionNotes(service: string, revisions: readonly RevisionJson[]): string[] {
  const out: string[] = [];
  for (const r of revisions) {
    if (!needsNote(r.condition)) continue;
    out.push(`${service}/${r.name}: ${cut(printable(r.condition.message), 2 * LINE_CHARS)}`);
    for (const line of lastLines(r.condition.output ?? '', OUTPUT_LINES)) out.push(`  ${line}`);
  }
  return out;
}

/**
 * The last `n` non-blank lines of `text`, each printable and cut to LINE_CHARS. A line redrawn with
 * carriage returns (a progress bar) shows what a terminal would: the text after the last `\r`.
 *
 * @example lastLines('a\n\nb\r\nloading 10%\rloading 99%\n', 2) // ['b', 'loading 99%']
 */
export function lastLines(text: string, n: number): string[] {
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = cut(printable(raw.replace(/\r+$/, '').split('\r').at(-1)!).trimEnd(), LINE_CHARS);
    if (line.trim() !== '') lines.push(line);
  }
  return lines.slice(-n);
}

/** ANSI escape sequences dropped; other control characters (and tabs) as one space each. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\x00-\x1f\x7f-\x9f]/g, ' ');
}

/** At most `max` characters, the last one `…` when cut. */
function cut(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

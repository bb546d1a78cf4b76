/**
 * Validation problems as people read them: the field path, then what was wanted —
 * `services[0].traffic[1].percent: Too big: expected number to be <=100`.
 *
 * The same messages answer the admin API's clients (PUT traffic, POST rollout), so nothing in them
 * grows with the input: a value or key that came in is shown only through quote() (cut to 40
 * characters), and a request with many bad items is answered with the first MAX_PROBLEMS problems
 * and a count of the rest (a 1 MiB body of 500,000 bad items would otherwise be ~30 MB of problems).
 */
import type { z } from 'zod';
import { QUOTE_MAX_CHARS, quote, truncate } from '../quote.js';

type Issue = z.ZodError['issues'][number];

/** Problems listed for one request before the rest are only counted. */
export const MAX_PROBLEMS = 20;

/** Unknown keys named in one problem before the rest are only counted. */
const MAX_KEYS_NAMED = 5;

/** A zod message is written by the schema, not the client; this only bounds a surprise. */
const MAX_MESSAGE_CHARS = 300;

/** A key shown as it is: short, and nothing that would need escaping. */
const PLAIN_KEY = /^[\w$./-]+$/;

/**
 * `services[0].traffic[1].percent` from a path array; a long or unusual key is quoted and cut
 * (`annotations["a\nb"]`).
 *
 * @example formatPath(['services', 0, 'traffic']) // 'services[0].traffic'
 */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && (p.length > QUOTE_MAX_CHARS || !PLAIN_KEY.test(p))) out += `[${quote(p)}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One zod issue's message; unknown keys are the client's own words, so they are quoted and cut. */
export function issueMessage(issue: Issue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    const named = keys
      .slice(0, MAX_KEYS_NAMED)
      .map((k) => quote(k))
      .join(', ');
    const more = keys.length > MAX_KEYS_NAMED ? ` and ${keys.length - MAX_KEYS_NAMED} more` : '';
    return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${named}${more}`;
  }
  return truncate(issue.message, MAX_MESSAGE_CHARS);
}

/**
 * Every issue as `path: message`, each path under `prefix`.
 *
 * @example issueProblems(error.issues, ['traffic']) // ['traffic[0].percent: Too big: expected number to be <=100']
 */
export function issueProblems(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.map((issue) => `${formatPath([...prefix, ...issue.path])}: ${issueMessage(issue)}`);
}

/**
 * The first `max` problems, and one line counting the rest.
 *
 * @example boundProblems(['a', 'b', 'c'], 2) // ['a', 'b', '… and 1 more problem']
 */
export function boundProblems(problems: string[], max = MAX_PROBLEMS): string[] {
  if (problems.length <= max) return problems;
  const rest = problems.length - max;
  return [...problems.slice(0, max), `… and ${rest} more problem${rest === 1 ? '' : 's'}`];
}

/**
 * Values from a client, as an error message may show them: short, escaped, never expanded. An
 * error names the field and what was wanted; when it also shows what came, that is a value anyone
 * could have sent (a 1 MiB string, an object nested 10,000 deep), so it is cut to a few dozen
 * characters and structures are named by their kind, not serialised. Constant work per value: no
 * recursion, no JSON.stringify of anything but a short string.
 */

/** Characters of a string value shown before it is cut. */
export const QUOTE_MAX_CHARS = 40;

/**
 * At most `max` UTF-16 units of `text`, then `…` when cut; a surrogate pair is never split.
 *
 * @example truncate('abcdef', 3) // 'abc…'
 */
export function truncate(text: string, max = QUOTE_MAX_CHARS): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate: its pair would be cut in two
  return `${text.slice(0, end)}…`;
}

/**
 * A value for a message: a string JSON-quoted (escapes included) and cut, with its length when cut;
 * a number, boolean or null as written; anything else by its kind.
 *
 * @example quote('long')                 // '"long"'
 * @example quote('x'.repeat(100_000))    // '"xx…xx…" (100000 chars)', the first 40 x's
 * @example quote({ a: [[[]]] })          // 'an object'
 */
export function quote(value: unknown, max = QUOTE_MAX_CHARS): string {
  switch (typeof value) {
    case 'string':
      return value.length <= max ? JSON.stringify(value) : `${JSON.stringify(truncate(value, max))} (${value.length} chars)`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return 'nothing';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? 'an array' : 'an object';
    default:
      return `a ${typeof value}`;
  }
}

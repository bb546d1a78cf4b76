/**
 * Admin API request bodies: JSON text, nested at most MAX_JSON_DEPTH levels, parsed once. The size
 * is bounded before this (the bodyLimit middleware in app.ts); the depth is checked here, on the
 * raw text and before parsing, because what handles a parsed value may walk it recursively: a
 * traffic body of 10,000 nested arrays once overflowed the stack in JSON.stringify while its error
 * message was built, and answered 500.
 */
import { SluiceError } from '../errors.js';

/** Deepest nesting of objects and arrays a body may have. The deepest real body (a rollout's `analysis`) is 2. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACE = 0x7d; // }
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACKET = 0x5d; // ]

/**
 * How deep the objects and arrays of JSON `text` nest: brackets counted in one pass, skipping
 * strings (and the character after a backslash in them). No recursion and one comparison per
 * character: a 1 MiB body costs about a millisecond. Stops as soon as the depth passes `stopAbove`.
 * Text that is not JSON gets a number too; JSON.parse refuses it afterwards.
 *
 * @example jsonDepth('{"a":[1,"]]"]}') // 2
 */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Parse a request body; a 400 `bad_request` when it is not JSON or nests deeper than `maxDepth`.
 *
 * @example parseJsonBody('[{"revision":"a","percent":100}]') // [{ revision: 'a', percent: 100 }]
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw new SluiceError(
      'bad_request',
      400,
      `request body nests objects and arrays more than ${maxDepth} levels deep; the limit is ${maxDepth}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SluiceError('bad_request', 400, 'request body must be JSON');
  }
}

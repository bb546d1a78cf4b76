/**
 * Node's own HTTP/1 request parser (llhttp, the one inside `http.Server`), reached through the
 * `_http_common` module that Node keeps for compatibility, behind a fence (checkNativeParser).
 * The data port uses it directly so that a request costs one parse and a few callbacks, without
 * IncomingMessage and ServerResponse streams around it.
 *
 * Callbacks are set by index (`parser[HTTPParser.kOnHeadersComplete] = fn`) and run inside
 * `execute()`. `initialize(REQUEST, resource, maxHeaderSize, lenient)`: a maxHeaderSize of 0 means
 * Node's default (`--max-http-header-size`, 16 KiB), lenient 0 means strict RFC 9112 parsing.
 */
import { createRequire } from 'node:module';

export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Parses `data`; returns the bytes used, or an Error with `code` ('HPE_…') and `bytesParsed`. */
  execute(data: Buffer): number | ParseError;
  /** End of input: an Error when a message was cut short. */
  finish(): number | ParseError | undefined;
  /** Release the native parser. */
  free(): void;
  close(): void;
  [callback: number]: ((...args: never[]) => unknown) | undefined;
}

export interface ParseError extends Error {
  code: string;
  bytesParsed: number;
  reason?: string;
}

interface NativeParserClass {
  new (): NativeParser;
  readonly REQUEST: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
}

/** Node's parser as the data port uses it. */
export interface NativeParserModule {
  readonly HTTPParser: NativeParserClass;
  /** Method names by the index the parser reports. */
  readonly METHODS: readonly string[];
}

/** The fence's verdict: Node's parser, checked, or why it cannot be used. */
export type ParserFence = { ok: true; native: NativeParserModule } | { ok: false; problem: string };

/**
 * Whether `_http_common` still has the HTTPParser the data port was written against: the class,
 * the callback slots and the methods it calls, and whether it parses one fixed request into the
 * callbacks expected (head, body, end) with the return values expected. Node keeps the module for
 * compatibility only (DEP0199), so a future Node may change or drop it; the data port then runs on
 * the node:http adapter (src/downstream/data-port.ts).
 */
export function checkNativeParser(load: () => unknown = () => createRequire(import.meta.url)('_http_common')): ParserFence {
  let common: { HTTPParser?: unknown; methods?: unknown };
  try {
    common = load() as typeof common;
  } catch (err) {
    return { ok: false, problem: `_http_common cannot be loaded: ${(err as Error).message}` };
  }
  const P = common?.HTTPParser as NativeParserClass | undefined;
  const methods = common?.methods;
  if (typeof P !== 'function') return { ok: false, problem: '_http_common has no HTTPParser class' };
  if (!Array.isArray(methods) || !methods.includes('GET') || !methods.includes('POST'))
    return { ok: false, problem: '_http_common has no method list' };
  for (const slot of ['REQUEST', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete'] as const) {
    if (typeof P[slot] !== 'number') return { ok: false, problem: `HTTPParser.${slot} is not a number` };
  }
  for (const method of ['initialize', 'execute', 'finish', 'close']) {
    if (typeof (P.prototype as unknown as Record<string, unknown>)[method] !== 'function')
      return { ok: false, problem: `HTTPParser.prototype.${method} is not a function` };
  }
  try {
    const problem = parseFixedRequest(P, methods as string[]);
    return problem === undefined ? { ok: true, native: { HTTPParser: P, METHODS: methods as string[] } } : { ok: false, problem };
  } catch (err) {
    return { ok: false, problem: `HTTPParser threw on a fixed request: ${(err as Error).message}` };
  }
}

const FIXED = 'POST /fence?x=1 HTTP/1.1\r\nHost: fence.test\r\nContent-Length: 2\r\n\r\nok';

/** Parse FIXED and check every callback and result the data port relies on; undefined when all hold. */
function parseFixedRequest(P: NativeParserClass, methods: readonly string[]): string | undefined {
  const parser = new P();
  const seen: string[] = [];
  parser.initialize(P.REQUEST, {}, 0, 0);
  parser[P.kOnHeaders] = () => seen.push('headers');
  parser[P.kOnHeadersComplete] = (
    major: number,
    minor: number,
    raw: string[],
    method: number,
    url: string,
    _s: unknown,
    _m: unknown,
    upgrade: boolean,
    keepAlive: boolean,
  ) => {
    seen.push(`head ${major}.${minor} ${methods[method]} ${url} ${JSON.stringify(raw)} ${upgrade} ${keepAlive}`);
    return 0;
  };
  parser[P.kOnBody] = (chunk: Buffer) => seen.push(`body ${chunk.toString('latin1')}`);
  parser[P.kOnMessageComplete] = () => seen.push('end');
  const used = parser.execute(Buffer.from(FIXED, 'latin1'));
  parser.finish();
  parser.close();
  if (used !== FIXED.length) return `HTTPParser.execute returned ${String(used)} for a ${FIXED.length}-byte request`;
  const want = ['head 1.1 POST /fence?x=1 ["Host","fence.test","Content-Length","2"] false true', 'body ok', 'end'];
  if (JSON.stringify(seen) !== JSON.stringify(want)) return `HTTPParser called back ${JSON.stringify(seen)}, want ${JSON.stringify(want)}`;
  return undefined;
}

/** The verdict for this process, made once at load. */
export const nativeParser: ParserFence = checkNativeParser();

export function isParseError(result: unknown): result is ParseError {
  return result instanceof Error;
}

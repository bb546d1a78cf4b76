/**
 * Node's own HTTP/1 request parser (llhttp, the one inside `http.Server`), reached through the
 * `_http_common` module that Node keeps for compatibility. The data port uses it directly so that
 * a request costs one parse and a few callbacks, without IncomingMessage and ServerResponse
 * streams around it.
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

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: NativeParserClass; methods: string[] };

export const HTTPParser = common.HTTPParser;
/** Method names by the index the parser reports. */
export const METHODS: readonly string[] = common.methods;

/** `onHeadersComplete(versionMajor, versionMinor, rawHeaders, method, url, _, _, upgrade, keepAlive)`. */
export type HeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  rawHeaders: string[] | undefined,
  method: number,
  url: string | undefined,
  statusCode: unknown,
  statusMessage: unknown,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

export function isParseError(result: unknown): result is ParseError {
  return result instanceof Error;
}

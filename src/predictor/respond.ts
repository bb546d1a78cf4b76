/**
 * Writing the predictor's responses: every one carries Content-Type, Content-Length (or chunked
 * SSE) and `Predictor-Pid`, so a test behind the gateway can tell which process answered.
 *
 * Cost per response: one header object literal + one writeHead + one end; static bodies are
 * Buffers built once at start.
 */
import type { ServerResponse } from 'node:http';
import { V2Error, errorJson } from './v2.js';

const PID = String(process.pid);
const JSON_TYPE = 'application/json';

/** Precomputes a JSON body once; `json(obj)` at start, never per request. */
export function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Sends a complete JSON response. `close` adds `Connection: close` (the server is draining, so the
 * connection should not be kept for another request).
 */
export function send(res: ServerResponse, status: number, body: Buffer | string, close: boolean, allow?: string): void {
  const headers: Record<string, string | number> = {
    'content-type': JSON_TYPE,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    'predictor-pid': PID,
  };
  if (close) headers.connection = 'close';
  if (allow !== undefined) headers.allow = allow;
  res.writeHead(status, headers);
  res.end(body);
}

/** Starts a Server-Sent Events response; the body follows as chunked writes. */
export function startEventStream(res: ServerResponse, close: boolean): void {
  const headers: Record<string, string> = {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'predictor-pid': PID,
  };
  if (close) headers.connection = 'close';
  res.writeHead(200, headers);
  res.flushHeaders();
}

/**
 * Answers a thrown error: a V2Error with its status and message, anything else as a 500. When the
 * headers are already out there is no way to report it, so the connection is cut.
 */
export function sendError(res: ServerResponse, err: unknown, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof V2Error) send(res, err.status, errorJson(err.message), close);
  else send(res, 500, errorJson(`internal error: ${err instanceof Error ? err.message : String(err)}`), close);
}

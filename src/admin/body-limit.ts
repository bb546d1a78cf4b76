/**
 * The admin API's request body limit: Hono's bodyLimit, answering a body over `maxBytes` with a 413
 * `payload_too_large` (mapped to JSON with the other errors in app.ts). A body with a Content-Length
 * is judged by it before a byte is read (Node's parser never delivers more than it says); a chunked
 * one, or one with no length, is counted as it arrives and not read past the limit.
 *
 * bodyLimit copies the request to hand on the body it buffered (`new Request(c.req.raw, …)`). The
 * Node adapter, with the process's globals left alone (server.ts), passes a lazy stand-in that
 * Node's own Request cannot copy ("Cannot read properties of undefined (reading 'window')", a 500
 * for every chunked body within the limit, and for a DELETE, which has no Content-Length). So a
 * request that takes that path is first rebuilt as a native Request over the same body stream: one
 * small object per such request, nothing copied.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SluiceError } from '../errors.js';

/**
 * @example app.use('*', adminBodyLimit(1024 * 1024))
 */
export function adminBodyLimit(maxBytes: number): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new SluiceError('payload_too_large', 413, `request body over ${maxBytes} bytes, the admin API's limit`);
    },
  });
  return async (c, next) => {
    const raw = c.req.raw;
    // bodyLimit's own test for "counted as it arrives", which is where it copies the request.
    if (raw.body !== null && (!raw.headers.has('content-length') || raw.headers.has('transfer-encoding'))) {
      c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body: raw.body, duplex: 'half', signal: raw.signal });
    }
    return limit(c, next);
  };
}

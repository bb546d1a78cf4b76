/**
 * Failures of an upstream exchange, with a stable `code` the forwarder branches on. System errors
 * from the socket (ECONNREFUSED, ECONNRESET, …) keep their own codes and are passed on as they are.
 */
export type UpstreamErrorCode =
  /** The response broke HTTP/1.1 framing or syntax. */
  | 'UPSTREAM_BAD_RESPONSE'
  /** The endpoint closed the connection before the response ended. */
  | 'UPSTREAM_CLOSED'
  /** No connection within the connect timeout. */
  | 'UPSTREAM_CONNECT_TIMEOUT'
  /** The connection was idle (no response byte) for longer than the request timeout. */
  | 'UPSTREAM_TIMEOUT'
  /** The request was cancelled (the client went away, or the pool was destroyed). */
  | 'UPSTREAM_ABORTED'
  /** HTTP/2: the endpoint did not process the stream (REFUSED_STREAM, or above a GOAWAY's last stream id). */
  | 'UPSTREAM_REFUSED'
  /** HTTP/2: the endpoint reset the stream (RST_STREAM) before the response ended. */
  | 'UPSTREAM_RESET'
  /** The endpoint does not speak the configured protocol (no HTTP/2 by ALPN, or no HTTP/2 preface). */
  | 'UPSTREAM_PROTOCOL';

export class UpstreamError extends Error {
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

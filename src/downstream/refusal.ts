/**
 * The answer to a request refused before the gateway saw it (a head the parser rejects, too large,
 * too slow, a version not served), written straight to the socket, which then closes: the same
 * JSON error as the gateway's, `{"error":{"code","message"}}`, from either data-port server.
 */
import type { Socket } from 'node:net';

/** A refusal's cause: a parser error (`HPE_…`, with llhttp's reason) or one of the servers' own codes. */
interface Cause {
  readonly code?: string;
  readonly reason?: string;
  readonly message: string;
}

export function refusal(err: Cause): { status: number; reason: string; code: string; message: string } {
  const code = err.code;
  if (code === 'HPE_HEADER_OVERFLOW')
    return { status: 431, reason: 'Request Header Fields Too Large', code: 'bad_request', message: 'request head is larger than 16 KiB' };
  if (code === 'HEADERS_TIMEOUT') return { status: 408, reason: 'Request Timeout', code: 'request_timeout', message: err.message };
  // A well-formed version other than 1.0 and 1.1: from the parser (HTTP/1.2, HTTP/3.0, …) or from
  // the connection (HTTP/2.0 and HTTP/0.9, which the parser accepts).
  if (code === 'HTTP_VERSION' || (code === 'HPE_INVALID_VERSION' && err.reason === 'Invalid HTTP version')) {
    return {
      status: 505,
      reason: 'HTTP Version Not Supported',
      code: 'version_not_supported',
      message: code === 'HTTP_VERSION' ? err.message : 'only HTTP/1.0 and HTTP/1.1 are served here',
    };
  }
  const message = code === undefined ? err.message : `malformed request: ${err.reason ?? err.message}`;
  return { status: 400, reason: 'Bad Request', code: 'bad_request', message };
}

/** Write the refusal and close; a client that keeps sending is not read any more and is cut after a moment. */
export function refuseOnSocket(err: Cause, socket: Socket): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const { status, reason, code, message } = refusal(err);
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  socket.setTimeout(1_000, () => socket.destroy());
  socket.resume();
}

/**
 * The h2c rows' floor: node:http2 alone, answering every stream itself with the predictor's answer
 * and proxying nothing. Its CPU per request beside nginx's shows what Node's HTTP/2 layer costs
 * before the gateway does anything (a stream object with its Readable and Writable, their events
 * and ticks, HPACK and framing in nghttp2), the part of the gateway's h2c figure no change to
 * Sluice's own code can remove.
 *
 * Run as a child: `node dist/loadtest/h2-responder.js BODY_FILE`; prints `listening on PORT`.
 */
import { readFileSync } from 'node:fs';
import { createServer, type ServerHttp2Stream } from 'node:http2';

const answer = readFileSync(process.argv[2]!);
const head = { ':status': 200, 'content-type': 'application/json', 'content-length': answer.length };

function onStream(stream: ServerHttp2Stream): void {
  stream.on('error', () => {});
  // Read the body to its end, as a proxy must, then answer.
  stream.on('data', () => {});
  stream.on('end', () => {
    stream.respond(head);
    stream.end(answer);
  });
}

const server = createServer();
server.on('stream', onStream);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening on ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
process.once('SIGTERM', () => process.exit(0));

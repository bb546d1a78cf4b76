/**
 * Reads a request body into one string, bounded. A body over the limit is refused as soon as it is
 * known to be too big (at once from Content-Length, else when the running total passes the
 * limit); the rest is still read and dropped, so the connection stays usable for keep-alive.
 */
import type { IncomingMessage } from 'node:http';
import { V2Error } from './v2.js';

export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooBig = () => new V2Error(400, `request body: larger than ${maxBytes} bytes`);
    const declared = Number(req.headers['content-length']);
    if (declared > maxBytes) {
      req.resume();
      reject(tooBig());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        reject(tooBig());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
    // A client that goes away mid-body ends the wait; nobody is left to answer.
    req.on('close', () => {
      if (!req.complete) reject(new V2Error(400, 'request body: connection closed before the body ended'));
    });
  });
}

/**
 * The data port's response class. It carries the proxied-request mark for the stats, and it drops
 * the `Sluice-Revision` / `Sluice-Cold-Start` headers the inner gateway appends: behind the
 * queue-proxy they would name its one internal revision ("app"), and the Sluice gateway in front
 * appends the real revision name itself.
 *
 * Cost: two string comparisons at the tail of the header list (the gateway appends its own headers last).
 */
import { Http1Response } from '../downstream/http1-response.js';

const OWN_HEADERS = new Set(['sluice-revision', 'sluice-cold-start']);

export class QueueProxyResponse extends Http1Response {
  /** Arrival (ms) of a request that carried `sluice-proxied`; 0 for one that did not. */
  proxiedAt = 0;

  /** The gateway's own trailing pairs are cut from `headers` (a list it made for this response). */
  override writeHead(statusCode: number, headers: string[]): this {
    let n = headers.length;
    while (n >= 2 && OWN_HEADERS.has(headers[n - 2]!)) n -= 2;
    headers.length = n;
    return super.writeHead(statusCode, headers);
  }
}

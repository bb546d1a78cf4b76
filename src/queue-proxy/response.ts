/**
 * The data port's response class. It carries the proxied-request mark for the stats, and it drops
 * the `Sluice-Revision` / `Sluice-Cold-Start` headers the inner gateway appends: behind the
 * queue-proxy they would name its one internal revision ("app"), and the Sluice gateway in front
 * appends the real revision name itself.
 *
 * Cost: two string comparisons at the tail of the header list (the gateway appends its own headers last).
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';

const OWN_HEADERS = new Set(['sluice-revision', 'sluice-cold-start']);

type Headers = OutgoingHttpHeaders | OutgoingHttpHeader[];

export class QueueProxyResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** Arrival (ms) of a request that carried `sluice-proxied`; 0 for one that did not. */
  proxiedAt = 0;

  override writeHead(statusCode: number, reasonOrHeaders?: string | Headers, headers?: Headers): this {
    if (typeof reasonOrHeaders === 'string') {
      dropOwnHeaders(headers);
      return super.writeHead(statusCode, reasonOrHeaders, headers);
    }
    dropOwnHeaders(reasonOrHeaders);
    return super.writeHead(statusCode, reasonOrHeaders);
  }
}

/** Remove the gateway's own trailing pairs from a flat list, or its keys from an object (its error path). */
function dropOwnHeaders(headers: Headers | undefined): void {
  if (headers === undefined) return;
  if (Array.isArray(headers)) {
    let n = headers.length;
    while (n >= 2 && typeof headers[n - 2] === 'string' && OWN_HEADERS.has(headers[n - 2] as string)) n -= 2;
    headers.length = n;
    return;
  }
  const object = headers as OutgoingHttpHeaders;
  for (const name of OWN_HEADERS) delete object[name];
}

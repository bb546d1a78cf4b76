/**
 * A free TCP port: bind a throwaway server to port 0, read the port the kernel chose, close it.
 * The port is free at that moment, not reserved; a child that loses the race fails to bind, exits,
 * and is replaced like any crashed replica.
 */
import { createServer } from 'node:net';

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port from ${host}:0`))));
    });
  });
}

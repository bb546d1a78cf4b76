/**
 * Free TCP ports: bind throwaway servers to port 0, read the ports the kernel chose, close them.
 * A port is free at that moment, not reserved; a child that loses the race fails to bind, exits,
 * and is replaced like any crashed replica.
 */
import { createServer, type Server } from 'node:net';

/**
 * `n` distinct free ports. All `n` servers are bound before any closes, so the kernel cannot hand
 * out the same port twice (a replica behind a queue-proxy needs three).
 */
export async function freePorts(host: string, n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = createServer();
      server.unref();
      servers.push(server);
      ports.push(await listen(server, host));
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      if (port > 0) resolve(port);
      else reject(new Error(`no port from ${host}:0`));
    });
  });
}

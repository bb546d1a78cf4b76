/**
 * nginx as the reference proxy: one worker, keep-alive to the predictor, no access log, every path
 * (pid, logs, temp files) inside its own temp dir. Used only when `nginx` is on the PATH. Beside
 * its HTTP/1.1 port it listens for cleartext HTTP/2 with prior knowledge (h2c) on a second one,
 * proxying to the same predictor over the same kept-alive HTTP/1.1 connections.
 */
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { freePort, waitForListener } from './net.js';
import { Child } from './processes.js';

/** Absolute path of `nginx` on the PATH, or undefined. */
export function findNginx(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The config. keepalive_requests is raised on both sides so that neither the client connections
 * nor the upstream ones are closed every 1000 requests (nginx's default): the gateway and Node's
 * http server keep a connection for as long as the client does, and reconnects would be charged to
 * nginx alone.
 */
export function nginxConfig(dir: string, listenPort: number, upstream: URL, h2cPort: number): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 1024;
}

http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  upstream predictor {
    server ${upstream.host};
    keepalive 64;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://predictor;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }

  # h2c: "listen ... http2" without ssl is HTTP/2 with prior knowledge only. From nginx 1.25.1 the
  # parameter is deprecated for "http2 on;", which older versions lack. keepalive_requests above
  # also bounds the requests on one HTTP/2 connection.
  server {
    listen 127.0.0.1:${h2cPort} http2;
    location / {
      proxy_pass http://predictor;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export interface RunningNginx {
  child: Child;
  url: string;
  /** `http://127.0.0.1:PORT` of the h2c port. */
  h2cUrl: string;
}

/** Writes the config into `dir` and starts `nginx -p dir -c dir/nginx.conf`; resolves once it accepts. */
export async function startNginx(binary: string, dir: string, predictorUrl: string): Promise<RunningNginx> {
  await mkdir(dir, { recursive: true });
  // Run as root, nginx's worker drops to an unprivileged user, which must be able to enter the dir.
  await chmod(dir, 0o755);
  const port = await freePort();
  const h2cPort = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(dir, port, new URL(predictorUrl), h2cPort));
  // -e: the error log before the config is read, otherwise nginx opens its compiled-in default path.
  const child = new Child({ name: 'nginx', command: binary, args: ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf] });
  try {
    await waitForListener(port, 10_000, () => child.hasExited);
  } catch (err) {
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    await child.stop();
    throw new Error(`nginx did not start: ${(err as Error).message}\n${log}${child.outputTail()}`, { cause: err });
  }
  return { child, url: `http://127.0.0.1:${port}`, h2cUrl: `http://127.0.0.1:${h2cPort}` };
}

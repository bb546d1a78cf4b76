/**
 * nginx as the reference proxy: one worker, keep-alive to the predictor, no access log, every path
 * (pid, logs, temp files) inside its own temp dir. Used only when `nginx` is on the PATH. Beside
 * its HTTP/1.1 port it may listen for cleartext HTTP/2 with prior knowledge (h2c) and for TLS
 * (`ssl`, as the gateway's TLS listener), proxying to the same predictor over the same kept-alive
 * HTTP/1.1 connections. With `grpc`, a cleartext HTTP/2 port passes gRPC calls to a gRPC
 * predictor with `grpc_pass` (the ngx_http_grpc_module Debian's nginx is built with) over kept-alive
 * HTTP/2 connections, the baseline of the gRPC rows (grpc.ts).
 */
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { freePort, waitForListener } from './net.js';
import { Child } from './processes.js';
import type { BenchCertificate } from './tls-certificate.js';

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

/** A server block on 127.0.0.1: `listen` is the port and its parameters (`8443 ssl`), `body` its lines. */
function serverBlock(listen: string, body: string): string {
  return `
  server {
    listen 127.0.0.1:${listen};
${body}
  }
`;
}

/** An upstream block: the predictor's address with kept-alive connections (64 idle, a million requests each). */
function upstreamBlock(name: string, server: string): string {
  return `
  upstream ${name} {
    server ${server};
    keepalive 64;
    keepalive_requests 1000000;
  }
`;
}

/**
 * The config. keepalive_requests is raised on both sides so that neither the client connections
 * nor the upstream ones are closed every 1000 requests (nginx's default): the gateway and Node's
 * http server keep a connection for as long as the client does, and reconnects would be charged to
 * nginx alone.
 *
 * The `ssl` server, with `tls`, is set up as the gateway's TLS listener is by default: TLS 1.2 and
 * 1.3, the same certificate, session caching left as it is (clients keep their connections).
 */
export function nginxConfig(
  dir: string,
  listenPort: number,
  upstream: URL,
  extra: { h2cPort?: number; tls?: { port: number; certificate: BenchCertificate }; grpc?: GrpcPass } = {},
): string {
  const location = `    location / {
      proxy_pass http://predictor;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }`;
  const tls = extra.tls;
  const ssl =
    tls === undefined
      ? ''
      : serverBlock(
          `${tls.port} ssl`,
          `    ssl_certificate ${tls.certificate.certFile};
    ssl_certificate_key ${tls.certificate.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
${location}`,
        );
  // h2c: "listen ... http2" without ssl is HTTP/2 with prior knowledge only. From nginx 1.25.1 the
  // parameter is deprecated for "http2 on;", which older versions lack. keepalive_requests above
  // also bounds the requests on one HTTP/2 connection.
  const h2c = extra.h2cPort === undefined ? '' : serverBlock(`${extra.h2cPort} http2`, location);
  const grpc = extra.grpc;
  const grpcUpstream = grpc === undefined ? '' : upstreamBlock('grpc_predictor', grpc.upstream);
  const grpcServer =
    grpc === undefined
      ? ''
      : serverBlock(
          `${grpc.port} http2`,
          `    location / {
      grpc_pass grpc://grpc_predictor;
    }`,
        );
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
${upstreamBlock('predictor', upstream.host)}${serverBlock(String(listenPort), location)}${ssl}${h2c}${grpcUpstream}${grpcServer}}
`;
}

/** The gRPC pass-through: nginx's port, and the gRPC predictor's `HOST:PORT`. */
export interface GrpcPass {
  port: number;
  upstream: string;
}

export interface RunningNginx {
  child: Child;
  url: string;
  /** `https://127.0.0.1:PORT` of the ssl server, when started with a certificate. */
  tlsUrl?: string;
  /** `http://127.0.0.1:PORT` of the h2c port. */
  h2cUrl: string;
  /** `127.0.0.1:PORT` of the grpc_pass port, when started with a gRPC upstream. */
  grpcAddress?: string;
}

/** Writes the config into `dir` and starts `nginx -p dir -c dir/nginx.conf`; resolves once it accepts (on both ports, with a certificate). */
export async function startNginx(
  binary: string,
  dir: string,
  predictorUrl: string,
  certificate?: BenchCertificate,
  grpcUpstream?: string,
): Promise<RunningNginx> {
  await mkdir(dir, { recursive: true });
  // Run as root, nginx's worker drops to an unprivileged user, which must be able to enter the dir.
  await chmod(dir, 0o755);
  const port = await freePort();
  const tlsPort = certificate === undefined ? undefined : await freePort();
  const h2cPort = await freePort();
  const grpc = grpcUpstream === undefined ? undefined : { port: await freePort(), upstream: grpcUpstream };
  const conf = join(dir, 'nginx.conf');
  const tls = tlsPort === undefined || certificate === undefined ? undefined : { port: tlsPort, certificate };
  await writeFile(conf, nginxConfig(dir, port, new URL(predictorUrl), { h2cPort, tls, grpc }));
  // -e: the error log before the config is read, otherwise nginx opens its compiled-in default path.
  const child = new Child({ name: 'nginx', command: binary, args: ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf] });
  try {
    await waitForListener(port, 10_000, () => child.hasExited);
    if (tlsPort !== undefined) await waitForListener(tlsPort, 10_000, () => child.hasExited);
    if (grpc !== undefined) await waitForListener(grpc.port, 10_000, () => child.hasExited);
  } catch (err) {
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    await child.stop();
    throw new Error(`nginx did not start: ${(err as Error).message}\n${log}${child.outputTail()}`, { cause: err });
  }
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    h2cUrl: `http://127.0.0.1:${h2cPort}`,
    ...(tlsPort === undefined ? {} : { tlsUrl: `https://127.0.0.1:${tlsPort}` }),
    ...(grpc === undefined ? {} : { grpcAddress: `127.0.0.1:${grpc.port}` }),
  };
}

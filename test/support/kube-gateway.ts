/**
 * `sluice gateway --configmap` as a real child process against the fake API server, as it runs in a
 * pod: its own loopback address standing for the pod IP, POD_NAME / POD_NAMESPACE / POD_IP from the
 * environment, an admin token, and a kubeconfig whose bearer token is the pod name (so the fake's
 * request log tells the replicas apart). Needs a current build: `npx tsc -p .`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { CLI } from './harness.js';

export const ADMIN_TOKEN = 'kube-mode-test-token';

export interface GatewayProcess {
  /** Pod name: leader-election identity and the kubeconfig's bearer token. */
  name: string;
  /** Pod IP: data and admin ports listen here. */
  host: string;
  /** Data port base URL. */
  url: string;
  /** Admin base URL. */
  admin: string;
  child: ChildProcess;
  /** Every JSON log line so far, parsed. */
  logs: Array<Record<string, unknown> & { msg: string }>;
  /** GET an admin route with the token; the JSON body (undefined when empty). */
  get(path: string): Promise<{ status: number; body: unknown }>;
  /** PUT JSON to an admin route with the token. */
  put(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  /** Send a signal and wait for the exit; resolves with the exit code (null after a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface GatewayProcessOptions {
  name: string;
  host: string;
  adminPort: number;
  kubeconfig: string;
  /** NAMESPACE/NAME */
  configMap: string;
  podNamespace: string;
}

/** A port free on every one of `hosts` (each replica's admin port is the same, as in a Deployment). */
export async function portFreeOn(hosts: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers = [];
    let port = 0;
    try {
      for (const host of hosts) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => resolve());
        });
        servers.push(server);
        port = (server.address() as { port: number }).port;
      }
      return port;
    } catch {
      // taken on one of the hosts: another try
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const args = [
    CLI,
    'gateway',
    '--configmap',
    options.configMap,
    '--kubeconfig',
    options.kubeconfig,
    '--listen',
    `${options.host}:0`,
    '--admin',
    `${options.host}:${options.adminPort}`,
    '--log-format',
    'json',
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
    SLUICE_LOG_LEVEL: process.env.TEST_GATEWAY_LOG_LEVEL ?? 'info',
    POD_NAME: options.name,
    POD_NAMESPACE: options.podNamespace,
    POD_IP: options.host,
  };
  delete env.SLUICE_CONFIG;
  delete env.KUBECONFIG;
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: GatewayProcess['logs'] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  const echo = process.env.TEST_GATEWAY_LOG === '1';
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} did not start within 20 s\n${stderr}`)), 20_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code}) before listening\n${stderr}\n${logs.map((l) => l.msg).join('\n')}`));
    });
    lines.on('line', (line) => {
      if (echo) process.stderr.write(`[${options.name}] ${line}\n`);
      let log;
      try {
        log = JSON.parse(line) as GatewayProcess['logs'][number];
      } catch {
        return;
      }
      logs.push(log);
      if (log.msg.startsWith('sluice gateway listening on')) {
        clearTimeout(timer);
        resolve(log.listen as string);
      }
    });
  });
  const listen = await listening;
  const admin = `http://${options.host}:${options.adminPort}`;
  const call = async (method: 'GET' | 'PUT', path: string, body?: unknown) => {
    const res = await request(`${admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  return {
    name: options.name,
    host: options.host,
    url: `http://${listen}`,
    admin,
    child,
    logs,
    get: (path) => call('GET', path),
    put: (path, body) => call('PUT', path, body),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

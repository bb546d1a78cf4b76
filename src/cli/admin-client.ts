/**
 * The CLI's admin API client: one JSON request to the gateway's admin port, with the bearer token
 * from SLUICE_ADMIN_TOKEN. Every failure becomes an AdminError whose message is fit to print:
 * the API's own error (status, code, each problem) or why the admin port could not be reached.
 */
import { request } from 'undici';
import { formatHostPort, parseHostPort } from '../net-address.js';

const DEFAULT_ADMIN = '127.0.0.1:8081';

export interface AdminTarget {
  /** `http://127.0.0.1:8081`. */
  url: string;
  token: string | undefined;
}

export class AdminError extends Error {
  override name = 'AdminError';
  constructor(
    message: string,
    /** HTTP status; 0 when the admin port could not be reached. */
    readonly status: number,
    readonly code?: string,
    readonly problems?: string[],
  ) {
    super(message);
  }
}

/** `--admin HOST:PORT` (an empty host means loopback) and the token from the environment. */
export function adminTarget(flag: string | undefined, env: NodeJS.ProcessEnv): AdminTarget {
  const { host, port } = parseHostPort(flag ?? DEFAULT_ADMIN, '--admin');
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return { url: `http://${formatHostPort(reachable, port)}`, token: env.SLUICE_ADMIN_TOKEN || undefined };
}

/**
 * One request; resolves with the parsed JSON body of a 2xx answer.
 *
 * @example await adminCall(target, 'GET', '/api/v1/services')
 */
export async function adminCall(
  target: AdminTarget,
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await request(target.url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 180_000,
      bodyTimeout: 60_000,
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.message || e.code || String(err);
    throw new AdminError(`cannot reach the admin API at ${target.url}: ${why} (is the gateway running? see --admin)`, 0, e.code);
  }
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.statusCode >= 200 && res.statusCode < 300) {
    if (json === undefined)
      throw new AdminError(`${method} ${path}: the admin API answered ${res.statusCode} with a body that is not JSON`, res.statusCode);
    return json;
  }
  const error = (json as { error?: { code?: string; message?: string; problems?: string[] } } | null | undefined)?.error;
  const code = error?.code ?? 'error';
  const problems = Array.isArray(error?.problems) ? error.problems : undefined;
  let message =
    problems !== undefined
      ? `${res.statusCode} ${code}:\n${problems.map((p) => `  - ${p}`).join('\n')}`
      : `${res.statusCode} ${code}: ${error?.message ?? (text.trim() || 'no details')}`;
  if (res.statusCode === 401) message += ' (set SLUICE_ADMIN_TOKEN)';
  throw new AdminError(message, res.statusCode, code, problems);
}

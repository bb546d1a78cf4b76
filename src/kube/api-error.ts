/**
 * What a failed API call says, whatever shape it failed in: client-node's ApiException (HTTP code,
 * body = the Status JSON text), a watch error (`statusCode`), or a network error from node-fetch
 * (`code: 'ECONNREFUSED'`, no HTTP status).
 */
import { ApiException } from '@kubernetes/client-node';

/** HTTP status of the failure; undefined when no answer came (connection refused, reset, timeout). */
export function apiStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  // A Status object handed over as an error (watch ERROR events).
  if (typeof e?.code === 'number' && (err as { kind?: unknown }).kind === 'Status') return e.code;
  return undefined;
}

interface StatusBody {
  reason?: string;
  message?: string;
}

function statusBody(err: unknown): StatusBody | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const body: unknown = err.body;
  if (typeof body === 'object' && body !== null) return body;
  if (typeof body !== 'string' || body === '') return undefined;
  try {
    return JSON.parse(body) as StatusBody;
  } catch {
    return { message: body.slice(0, 200) };
  }
}

export function isNotFound(err: unknown): boolean {
  return apiStatusCode(err) === 404;
}

/** 409, either a stale resourceVersion (Conflict) or a create of an existing name (AlreadyExists). */
export function isConflict(err: unknown): boolean {
  return apiStatusCode(err) === 409;
}

/** One line for logs and health: `409 Conflict: Operation cannot be fulfilled …` or `connect ECONNREFUSED 127.0.0.1:6443`. */
export function describeApiError(err: unknown): string {
  const code = apiStatusCode(err);
  if (code !== undefined) {
    const status = statusBody(err);
    const reason = status?.reason ?? (err as { message?: string }).message ?? '';
    return `${code} ${reason}${status?.message ? `: ${status.message}` : ''}`.trim();
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

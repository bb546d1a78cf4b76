/**
 * The bearer-token check of both admin ports, the gateway's and the queue-proxy's: Hono's
 * bearerAuth (a timing-safe comparison) answering the project's way. A missing, malformed or wrong
 * token alike gets 401 `{"error":{"code":"unauthorized",…}}` with `WWW-Authenticate: Bearer
 * realm="…"`; the paths a probe must reach pass without one.
 *
 * bearerAuth takes RFC 6750 token characters only, so a configured token with others could never
 * be presented: it is refused here, at start, instead of every request being refused later.
 */
import type { Context, Env, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';

/** RFC 6750 `b64token`, bearerAuth's own syntax; `openssl rand -hex 32` and base64 tokens fit. */
const TOKEN_SYNTAX = /^[A-Za-z0-9._~+/-]+=*$/;

export interface RequireBearerOptions {
  token: string;
  /** Named in the challenge: `Bearer realm="sluice-admin"`. */
  realm: string;
  /** Exact paths that need no token (probes). */
  open: ReadonlySet<string>;
}

/**
 * @example app.use('*', requireBearer({ token, realm: 'sluice-admin', open: new Set(['/healthz', '/readyz']) }))
 */
export function requireBearer({ token, realm, open }: RequireBearerOptions): MiddlewareHandler<Env> {
  if (!TOKEN_SYNTAX.test(token)) {
    throw new Error(
      'admin token (SLUICE_ADMIN_TOKEN): want letters, digits and - . _ ~ + / only, = at the end (e.g. `openssl rand -hex 32`)',
    );
  }
  const refusal = {
    wwwAuthenticateHeader: `Bearer realm="${realm}"`,
    message: (c: Context) => c.json({ error: { code: 'unauthorized', message: 'missing or invalid bearer token' } }, 401),
  };
  // Malformed (`Basic …`) is a 401 like the others, not bearerAuth's default 400.
  const check = bearerAuth({ token, noAuthenticationHeader: refusal, invalidAuthenticationHeader: refusal, invalidToken: refusal });
  return async (c, next) => {
    if (open.has(c.req.path)) return next();
    try {
      await check(c, next);
    } catch (err) {
      // bearerAuth refuses by throwing its answer.
      if (err instanceof HTTPException) return err.getResponse();
      throw err;
    }
  };
}

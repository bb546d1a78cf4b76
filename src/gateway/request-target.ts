/**
 * The request target as the gateway routes and forwards it. Only origin-form is served (RFC 9112
 * §3.2.1: an absolute path and an optional query); the path is normalised as RFC 3986 §6.2.2 says:
 * percent-encoded unreserved characters decoded (`%2e` is a dot, `%7E` a tilde), other escapes in
 * upper case, then dot-segments removed (§5.2.4). `%2F` stays encoded: it is data inside a segment,
 * not a separator. The query is left as sent.
 *
 * A path whose `..` segments climb above the root (`/../etc`) is refused rather than clamped: no
 * client sends one by accident. So is a fragment (never part of a request target) and a `%` not
 * followed by two hex digits. The normalised target is what routing matches and what the endpoint
 * receives, so a `/public/../private` can neither pass a `/public` route nor reach the endpoint
 * as sent.
 *
 * Cost: three native scans of the target when there is nothing to normalise (the usual case).
 */

/** Why `normalizeTarget` refused a target (for the 400's message). */
export type TargetProblem = 'not-origin-form' | 'fragment' | 'bad-escape' | 'above-root';

const UNRESERVED = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;

/**
 * The normalised target, or the problem that makes it unservable.
 *
 * @example normalizeTarget('/v2/models/iris/../../admin?x=1') // '/v2/admin?x=1'
 * @example normalizeTarget('/a/%2e%2e/b')                     // '/b'
 * @example normalizeTarget('/../etc/passwd')                  // { problem: 'above-root' }
 */
export function normalizeTarget(target: string): string | { problem: TargetProblem } {
  if (target.charCodeAt(0) !== 47 /* / */) return { problem: 'not-origin-form' };
  if (target.indexOf('/.') === -1 && target.indexOf('%') === -1 && target.indexOf('#') === -1) return target;
  if (target.indexOf('#') !== -1) return { problem: 'fragment' };
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const decoded = path.indexOf('%') === -1 ? path : decodeUnreserved(path);
  if (decoded === undefined) return { problem: 'bad-escape' };
  const normal = decoded.indexOf('/.') === -1 ? decoded : removeDotSegments(decoded);
  if (normal === undefined) return { problem: 'above-root' };
  return q === -1 ? normal : normal + target.slice(q);
}

/** The 400 message for a refused target. */
export function targetProblemMessage(problem: TargetProblem): string {
  switch (problem) {
    case 'not-origin-form':
      return 'request target must be a path; this gateway is not a forward proxy';
    case 'fragment':
      return 'request target must not contain a fragment (#)';
    case 'bad-escape':
      return 'request path has a "%" not followed by two hex digits';
    case 'above-root':
      return 'request path climbs above the root with ".." segments';
  }
}

/** `%XX` of an unreserved character decoded, every other escape upper-cased; undefined for a malformed one. */
function decodeUnreserved(path: string): string | undefined {
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    const hi = hex(path.charCodeAt(i + 1));
    const lo = hex(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const code = hi * 16 + lo;
    out += path.slice(from, i);
    out += code < 128 && UNRESERVED[code] === 1 ? String.fromCharCode(code) : '%' + path.slice(i + 1, i + 3).toUpperCase();
    from = i + 3;
    i += 2;
  }
  return out + path.slice(from);
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * RFC 3986 §5.2.4 on an absolute path: `.` segments dropped, `..` drops the segment before it; a
 * path ending in either keeps its trailing slash (`/a/b/..` → `/a/`). Undefined when a `..` has
 * nothing left to drop.
 */
function removeDotSegments(path: string): string | undefined {
  const parts = path.split('/');
  const out: string[] = [];
  let trailingSlash = false;
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i]!;
    trailingSlash = false;
    if (seg === '.') {
      trailingSlash = true;
    } else if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      trailingSlash = true;
    } else {
      out.push(seg);
    }
  }
  return '/' + out.join('/') + (trailingSlash && out.length > 0 ? '/' : '');
}

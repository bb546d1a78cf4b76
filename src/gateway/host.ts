/**
 * The Host header as routing reads it: RFC 3986 §3.2.2 host syntax (reg-name, IPv4 or a bracketed
 * IP literal) with an optional port of at most 65535, lowercased, port and one trailing dot
 * removed (`Iris.Example.COM.:8080` → `iris.example.com`). Anything else is refused, so a value
 * with spaces, slashes or `@` never reaches the router or the Forwarded header.
 *
 * Cost: one pass over the value's characters and one toLowerCase when it has capitals.
 */

/** RFC 3986 reg-name characters: unreserved, sub-delims and `%` (of pct-encoded). */
const REG_NAME = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%") REG_NAME[c.charCodeAt(0)] = 1;
/** Inside `[` … `]`: hex digits, `:` and `.` (an IPv6 address, maybe with an IPv4 tail). */
const IP_LITERAL = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF:.') IP_LITERAL[c.charCodeAt(0)] = 1;

const COLON = 58;
const DOT = 46;
const OPEN = 91;

/**
 * The host routing matches on, or undefined when `value` is not a valid Host. An absent or empty
 * Host is the empty host (it matches only services without `hosts`).
 *
 * @example normalizeHost('Iris.Example.com.:8080') // 'iris.example.com'
 * @example normalizeHost('[::1]:8080')              // '[::1]'
 * @example normalizeHost('iris.example.com:99999')  // undefined (port out of range)
 */
export function normalizeHost(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return '';
  let end: number;
  let upper = false;
  if (value.charCodeAt(0) === OPEN) {
    end = value.indexOf(']');
    if (end < 2) return undefined;
    for (let i = 1; i < end; i++) {
      const c = value.charCodeAt(i);
      if (c >= 128 || IP_LITERAL[c] === 0) return undefined;
      if (c >= 65 && c <= 70) upper = true;
    }
    end++; // keep the brackets
  } else {
    end = value.length;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c === COLON) {
        end = i;
        break;
      }
      if (c >= 128 || REG_NAME[c] === 0) return undefined;
      if (c >= 65 && c <= 90) upper = true;
    }
    if (end === 0) return undefined; // ":8080"
  }
  if (end < value.length) {
    if (value.charCodeAt(end) !== COLON || !validPort(value, end + 1)) return undefined;
  }
  let host = end === value.length ? value : value.slice(0, end);
  if (host.charCodeAt(host.length - 1) === DOT) {
    host = host.slice(0, -1);
    if (host === '') return undefined;
  }
  return upper ? host.toLowerCase() : host;
}

/** RFC 3986 §3.2.3 port: digits only (none at all is allowed), at most 65535. */
function validPort(value: string, from: number): boolean {
  if (value.length - from > 5) return false;
  let port = 0;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    port = port * 10 + (c - 48);
  }
  return port <= 65_535;
}

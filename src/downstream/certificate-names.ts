/**
 * The host names a certificate serves, as SNI matching reads them: its subjectAltName DNS entries,
 * else (RFC 6125 §6.4.4) the CN of its subject. Pure: the strings come from crypto.X509Certificate.
 */

/** SNI names and certificate names compare in lower case, without a trailing dot. */
export function normalizeServerName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Names from X509Certificate's `subjectAltName` ("DNS:a.example, IP Address:10.0.0.1", an entry
 * with a comma or quote in it JSON-quoted) and `subject` ("CN=a.example\nO=…").
 *
 * @example certificateNames('DNS:a.example, DNS:*.b.example', 'CN=x')  // ['a.example', '*.b.example']
 * @example certificateNames(undefined, 'O=Org\nCN=A.Example.')          // ['a.example']
 */
export function certificateNames(subjectAltName: string | undefined, subject: string | undefined): string[] {
  const names: string[] = [];
  for (const m of (subjectAltName ?? '').matchAll(SAN_DNS)) names.push(normalizeServerName(unquote(m[1]!)));
  if (names.length > 0) return names;
  const cn = /^CN=(.*)$/m.exec(subject ?? '');
  return cn === null || cn[1] === '' ? [] : [normalizeServerName(unquote(cn[1]!))];
}

/** `DNS:` entries of a subjectAltName list: plain up to the next ", ", or a JSON string. */
const SAN_DNS = /(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g;

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return JSON.parse(value) as string;
  } catch {
    return value;
  }
}

/** `HOST:PORT` ↔ parts. IPv6 hosts are written in brackets: `[::1]:8080`. */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]*):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65_535) throw new Error(`${what}: expected HOST:PORT, got "${text}"`);
  const host = m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

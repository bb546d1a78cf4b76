/**
 * How the gateway reaches a revision's endpoints, past what zod's shape can say: the
 * contradictions between `protocol`, the `tls:` block and static URLs, refused by field; and the
 * block's PEM files, read (relative to the config file) and checked when the config is loaded, so
 * an unreadable file or a bad certificate is a config error, never a failed request.
 *
 * TLS is used for an endpoint when the revision says `protocol: h2`, or has a `tls:` block, or
 * (static) its URL is `https:`. Without `caFile` the system's CAs verify the endpoint.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { quote } from '../quote.js';
import type { RawRevision } from './schema.js';

/** The tls block as the upstream client uses it: PEM text read from its files. */
export interface UpstreamTls {
  /** CA certificates to verify the endpoint against (instead of the system's). */
  ca?: string;
  /** The name the endpoint's certificate must carry (and SNI); default the endpoint's host. */
  serverName?: string;
  /** Client certificate chain and its key, for endpoints that ask for one (mTLS). */
  cert?: string;
  key?: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Protocol, tls block and URLs that cannot all hold, each named at its field (`at` is the revision's path). */
export function checkUpstream(rev: RawRevision, at: string, problems: string[]): void {
  const tls = rev.tls;
  if (tls !== undefined && rev.protocol === 'h2c') {
    problems.push(`${at}.tls: protocol h2c is HTTP/2 in cleartext, so it takes no tls block; use protocol h2 for HTTP/2 over TLS`);
  }
  if (tls?.certFile !== undefined && tls.keyFile === undefined)
    problems.push(`${at}.tls.keyFile: certFile needs the key of its certificate`);
  if (tls?.keyFile !== undefined && tls.certFile === undefined) problems.push(`${at}.tls.certFile: keyFile needs its certificate`);
  if (rev.backend !== 'static') return;
  rev.urls.forEach((url, k) => {
    const https = url.startsWith('https:');
    if (https && rev.protocol === 'h2c') problems.push(`${at}.urls[${k}]: an https URL contradicts protocol h2c (cleartext)`);
    if (!https && (rev.protocol === 'h2' || tls !== undefined)) {
      const why = rev.protocol === 'h2' ? 'protocol h2 is HTTP/2 over TLS' : 'the tls block asks for TLS';
      problems.push(`${at}.urls[${k}]: an http URL is cleartext, but ${why}; write https://`);
    }
  });
}

/**
 * The revision's tls block with its files read and checked, or undefined without one. Paths are
 * relative to `base` (the config file's folder). Problems name the field: `….tls.caFile: …`.
 */
export function readUpstreamTls(rev: RawRevision, base: string, at: string, problems: string[]): UpstreamTls | undefined {
  const block = rev.tls;
  if (block === undefined) return undefined;
  const out: UpstreamTls = {};
  if (block.serverName !== undefined) out.serverName = block.serverName;
  const field = `${at}.tls`;
  if (block.caFile !== undefined) {
    const pem = readPem(base, block.caFile, `${field}.caFile`, problems);
    if (pem !== undefined && certificates(pem, `${field}.caFile`, problems)) out.ca = pem;
  }
  if (block.certFile !== undefined && block.keyFile !== undefined) {
    const cert = readPem(base, block.certFile, `${field}.certFile`, problems);
    const key = readPem(base, block.keyFile, `${field}.keyFile`, problems);
    const leaf = cert === undefined || !certificates(cert, `${field}.certFile`, problems) ? undefined : new X509Certificate(cert);
    const keyObject = key === undefined ? undefined : privateKey(key, `${field}.keyFile`, problems);
    if (leaf !== undefined && keyObject !== undefined) {
      if (leaf.checkPrivateKey(keyObject)) {
        out.cert = cert;
        out.key = key;
      } else {
        problems.push(`${field}.keyFile: the key does not belong to the certificate in certFile`);
      }
    }
  }
  return out;
}

function readPem(base: string, file: string, field: string, problems: string[]): string | undefined {
  try {
    return readFileSync(resolve(base, file), 'utf8');
  } catch (err) {
    problems.push(`${field}: cannot read ${quote(file)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return undefined;
  }
}

/** Whether `pem` holds at least one certificate and every one of them parses. */
function certificates(pem: string, field: string, problems: string[]): boolean {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    problems.push(`${field}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file`);
    return false;
  }
  for (let i = 0; i < blocks.length; i++) {
    try {
      new X509Certificate(blocks[i]!);
    } catch (err) {
      problems.push(`${field}: certificate ${i + 1} of the file is not valid (${(err as Error).message})`);
      return false;
    }
  }
  return true;
}

function privateKey(pem: string, field: string, problems: string[]): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    problems.push(`${field}: not a PEM private key without a passphrase (${(err as Error).message})`);
    return undefined;
  }
}

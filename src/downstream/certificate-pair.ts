/**
 * One certificate of the TLS listener, checked before it is served: the certificate parses
 * (X509Certificate, the leaf of a chain), the key parses, the key belongs to the certificate
 * (checkPrivateKey), and OpenSSL builds a context of them with the listener's versions and
 * ciphers. A pair that fails says which part and why, in a CertificateProblem.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { certificateNames } from './certificate-names.js';

/** A certificate (chain) and its private key, PEM. */
export interface CertificatePem {
  cert: Buffer;
  key: Buffer;
}

/** What every certificate's context shares: the listener's protocol settings. */
export interface TlsContextSettings {
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; Node's default when absent. */
  ciphers?: string | undefined;
}

export interface LoadedCertificate {
  pem: CertificatePem;
  context: SecureContext;
  /** What the certificate serves by SNI, normalised: the configured names, else its own. */
  names: string[];
  /** For logs. */
  subject: string;
  validTo: string;
  fingerprint256: string;
}

/** Which part was refused: the certificate, the key, or the two together. */
export type CertificatePart = 'cert' | 'key' | 'pair';

/** Stable code: CERTIFICATE_REFUSED; `part` tells which file is to blame. */
export class CertificateProblem extends Error {
  readonly code = 'CERTIFICATE_REFUSED';
  constructor(
    readonly part: CertificatePart,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CertificateProblem';
  }
}

/** The options OpenSSL builds a context from; also the TLS server's default context. */
export function contextOptions(pem: CertificatePem, settings: TlsContextSettings): SecureContextOptions {
  return {
    cert: pem.cert,
    key: pem.key,
    minVersion: settings.minVersion,
    ...(settings.ciphers === undefined ? {} : { ciphers: settings.ciphers }),
  };
}

/**
 * Check a pair and build its context. `names`: the configured ones (normalised), or undefined for
 * the certificate's own. Throws CertificateProblem.
 */
export function loadCertificate(
  pem: CertificatePem,
  names: readonly string[] | undefined,
  settings: TlsContextSettings,
): LoadedCertificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pem.cert);
  } catch (err) {
    throw new CertificateProblem('cert', `not a PEM certificate (${reason(err)})`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem.key);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ERR_MISSING_PASSPHRASE' ? 'the key is encrypted; give it unencrypted' : `not a PEM private key (${reason(err)})`;
    throw new CertificateProblem('key', why, { cause: err });
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(key);
  } catch (err) {
    throw new CertificateProblem('pair', `the key cannot be checked against the certificate (${reason(err)})`, { cause: err });
  }
  if (!matches) throw new CertificateProblem('pair', `the key does not belong to the certificate (${x509.subject.replace(/\n/g, ', ')})`);
  const served = names === undefined ? certificateNames(x509.subjectAltName, x509.subject) : [...names];
  if (served.length === 0) throw new CertificateProblem('cert', 'the certificate names no host (no DNS subjectAltName, no CN): give names');
  let context: SecureContext;
  try {
    context = createSecureContext(contextOptions(pem, settings));
  } catch (err) {
    throw new CertificateProblem('pair', `OpenSSL refused it: ${reason(err)}`, { cause: err });
  }
  return {
    pem,
    context,
    names: served,
    subject: x509.subject.replace(/\n/g, ', '),
    validTo: x509.validTo,
    fingerprint256: x509.fingerprint256,
  };
}

/** OpenSSL's own words without its error-stack prefix ("error:0480006C:PEM routines::no start line" → "no start line"). */
function reason(err: unknown): string {
  const message = (err as Error).message;
  return /^error:[0-9A-F]+:[^:]*:[^:]*:(.+)$/.exec(message)?.[1] ?? message;
}

/**
 * Certificates made for a test with the system's `openssl` CLI (no network, P-256 keys, valid one
 * day): a CA, certificates it signs for servers (names and IPs given) and for clients, and the PEM
 * files on disk for configs to name. Everything lives in one temporary folder; remove() deletes it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../../loadtest/tls-certificate.js';

export interface Pem {
  /** PEM texts. */
  cert: string;
  key: string;
  /** Their files. */
  certFile: string;
  keyFile: string;
}

export interface CertFolder {
  dir: string;
  /** A self-signed CA named `name`. */
  ca(name: string): Pem;
  /** A certificate signed by `ca`, for `sans` (`DNS:iris.test`, `IP:127.0.0.1`) or a client (`clientAuth`); its CN is `cn`, else `name`. */
  issue(ca: Pem, name: string, options: { sans?: string[]; client?: boolean; cn?: string }): Pem;
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function certFolder(): CertFolder {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-certs-'));
  const read = (name: string): Pem => {
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  let serial = 1;
  return {
    dir,
    ca(name) {
      openssl([
        'req',
        '-x509',
        ...newKey,
        '-keyout',
        join(dir, `${name}.key`),
        '-out',
        join(dir, `${name}.pem`),
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      return read(name);
    },
    issue(ca, name, { sans = [], client = false, cn = name }) {
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      openssl(['req', ...newKey, '-keyout', join(dir, `${name}.key`), '-out', csr, '-subj', `/CN=${cn}`]);
      const lines = ['basicConstraints=CA:FALSE', `extendedKeyUsage=${client ? 'clientAuth' : 'serverAuth'}`];
      if (sans.length > 0) lines.push(`subjectAltName=${sans.join(',')}`);
      writeFileSync(ext, lines.join('\n') + '\n');
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.certFile,
        '-CAkey',
        ca.keyFile,
        '-set_serial',
        String(serial++),
        '-days',
        '1',
        '-extfile',
        ext,
        '-out',
        join(dir, `${name}.pem`),
      ]);
      return read(name);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A self-signed certificate for 127.0.0.1 (EC P-256, a day long), written to `dir` as cert.pem and key.pem. */
export function selfSignedLocalhost(dir: string): { key: Buffer; cert: Buffer; keyFile: string; certFile: string } {
  const { certFile, keyFile } = selfSignedCertificate(join(dir, 'cert.pem'), join(dir, 'key.pem'), '127.0.0.1', 'IP:127.0.0.1');
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), keyFile, certFile };
}

/**
 * Certificates made for a test with the system's `openssl` CLI, in a temp dir: one CA, and leaf
 * certificates it signs (EC P-256, a day long). Nothing leaves the machine; close() removes the dir.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';

export interface Leaf {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestCa {
  dir: string;
  /** The CA certificate, to trust in clients (`ca`, `curl --cacert`). */
  caFile: string;
  ca: Buffer;
  /**
   * A leaf signed by the CA, written as `<file>.crt` / `<file>.key` in the dir.
   * @example ca.leaf('a', { cn: 'a.example.test', dns: ['a.example.test'] })
   */
  leaf(file: string, names: { cn: string; dns?: string[] }): Leaf;
  close(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=Sluice Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let serial = 1;
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    leaf(file, names) {
      const certFile = join(dir, `${file}.crt`);
      const keyFile = join(dir, `${file}.key`);
      const csr = join(dir, `${file}.csr`);
      const ext = join(dir, `${file}.ext`);
      const san = (names.dns ?? []).map((n) => `DNS:${n}`).join(',');
      writeFileSync(ext, `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n${san === '' ? '' : `subjectAltName=${san}\n`}`);
      openssl(['req', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names.cn}`]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caFile,
        '-CAkey',
        caKey,
        '-set_serial',
        String(serial++),
        '-days',
        '1',
        '-out',
        certFile,
        '-extfile',
        ext,
      ]);
      return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A certificate's SHA-256 fingerprint as PeerCertificate.fingerprint256 gives it. */
export function fingerprint(leaf: Pick<Leaf, 'cert'>): string {
  return new X509Certificate(leaf.cert).fingerprint256;
}

/** The certificate a new handshake with 127.0.0.1:`port` gets for `servername` (none: no SNI); the chain is verified against `ca`, the name not. */
export function served(port: number, ca: Buffer, servername?: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const options = {
      host: '127.0.0.1',
      port,
      ca,
      checkServerIdentity: () => undefined,
      ...(servername === undefined ? {} : { servername }),
    };
    const socket = connect(options, () => {
      resolve(socket.getPeerCertificate());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

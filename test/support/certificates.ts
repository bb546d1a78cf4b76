/**
 * Certificates for the TLS listener's tests: one CA and leaf certificates it signs, as Buffers
 * (certs.ts makes them with the `openssl` CLI), and what a handshake is served. close() removes the dir.
 */
import { X509Certificate } from 'node:crypto';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { certFolder } from './certs.js';

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

/** A CA and its leaves, made by certs.ts's folder. */
export function makeCa(): TestCa {
  const folder = certFolder();
  const ca = folder.ca('sluice-test-ca');
  return {
    dir: folder.dir,
    caFile: ca.certFile,
    ca: Buffer.from(ca.cert),
    leaf(file, names) {
      const pem = folder.issue(ca, file, { cn: names.cn, sans: (names.dns ?? []).map((n) => `DNS:${n}`) });
      // `<file>.crt`, as configs in these tests name it.
      const certFile = join(folder.dir, `${file}.crt`);
      renameSync(pem.certFile, certFile);
      return { certFile, keyFile: pem.keyFile, cert: Buffer.from(pem.cert), key: Buffer.from(pem.key) };
    },
    close: () => folder.remove(),
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

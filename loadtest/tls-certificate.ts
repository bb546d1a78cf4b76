/**
 * The benchmark's TLS certificate: self-signed, EC P-256, for TLS_SERVER_NAME, made with the
 * system's openssl into the run's temp dir. The gateway's and nginx's TLS listeners serve this same
 * certificate, and the load generator names it by SNI (it does not verify it: loopback only).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The name clients send (SNI) and the certificate carries. */
export const TLS_SERVER_NAME = 'bench.sluice.test';

export interface BenchCertificate {
  certFile: string;
  keyFile: string;
}

/** Writes `bench.crt` and `bench.key` into `dir`; throws with openssl's stderr when it fails. */
export function makeCertificate(dir: string): BenchCertificate {
  return selfSignedCertificate(join(dir, 'bench.crt'), join(dir, 'bench.key'), TLS_SERVER_NAME, `DNS:${TLS_SERVER_NAME}`);
}

/** A self-signed EC P-256 certificate for `cn`, a day long, with subjectAltName `san` (`DNS:x`, `IP:127.0.0.1`), into the two files. */
export function selfSignedCertificate(certFile: string, keyFile: string, cn: string, san: string): BenchCertificate {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { certFile, keyFile };
}

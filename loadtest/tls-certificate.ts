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
  const certFile = join(dir, 'bench.crt');
  const keyFile = join(dir, 'bench.key');
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
      `/CN=${TLS_SERVER_NAME}`,
      '-addext',
      `subjectAltName=DNS:${TLS_SERVER_NAME}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { certFile, keyFile };
}

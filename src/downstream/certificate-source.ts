/**
 * Where one certificate's PEMs come from: a pair of files (here), or a Kubernetes Secret
 * (kube/tls-secret-source.ts, built by the composition root). Read again on every reload; a part
 * that cannot be read is a CertificateProblem naming it.
 */
import { readFile } from 'node:fs/promises';
import { CertificateProblem, type CertificatePart, type CertificatePem } from './certificate-pair.js';

export interface CertificateSource {
  /** The same for the same certificate across reloads: what a refused new version falls back to. */
  readonly id: string;
  /** The part to blame, for log lines: a file name, a Secret and its key. */
  describe(part: CertificatePart): string;
  read(): Promise<CertificatePem>;
  /** Sources that watch themselves (a Secret): call `onChange` after a change; returns the stop function. Files are watched by folder instead. */
  watch?(onChange: () => void): () => void;
}

/** A certificate and a key in PEM files. */
export class FileCertificateSource implements CertificateSource {
  readonly id: string;

  constructor(
    readonly certFile: string,
    readonly keyFile: string,
  ) {
    this.id = `file:${certFile}\n${keyFile}`;
  }

  describe(part: CertificatePart): string {
    return part === 'cert' ? this.certFile : part === 'key' ? this.keyFile : `${this.certFile} with ${this.keyFile}`;
  }

  async read(): Promise<CertificatePem> {
    const [cert, key] = await Promise.all([readPart(this.certFile, 'cert'), readPart(this.keyFile, 'key')]);
    return { cert, key };
  }
}

async function readPart(file: string, part: CertificatePart): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    throw new CertificateProblem(part, code === 'ENOENT' ? 'cannot read: no such file' : `cannot read: ${message}`, { cause: err });
  }
}

/**
 * The certificates the TLS listener serves now, and how they are replaced: a reload reads every
 * source again and swaps the whole set at once; the listener hears of each swap and gives it to
 * handshakes from then on, while established connections keep what they negotiated. A certificate
 * that fails its checks (certificate-pair.ts) on a reload is refused with one log line naming the
 * part and why, and the version in use is kept; at the first load it fails the start instead.
 * Reloads run one at a time, in order.
 */
import type { SecureContext } from 'node:tls';
import type { Logger } from '../log.js';
import { CertificateProblem, loadCertificate, type LoadedCertificate, type TlsContextSettings } from './certificate-pair.js';
import type { CertificateSource } from './certificate-source.js';
import { SniTable } from './sni-table.js';

export interface CertificateSpec {
  source: CertificateSource;
  /** Configured names (normalised); undefined: the certificate's own. */
  names?: readonly string[] | undefined;
  /** Served without SNI and for names no certificate has. Default: the first certificate. */
  default?: boolean;
}

/** The certificates of one load, matched by SNI. */
export interface CertificateSet {
  readonly table: SniTable<SecureContext>;
  /** For clients without SNI (the TLS server's own context). */
  readonly fallback: LoadedCertificate;
  readonly settings: TlsContextSettings;
  /** By source id, what each source last loaded. */
  readonly loaded: ReadonlyMap<string, LoadedCertificate>;
}

/** A certificate refused at the first load: which one and why. Stable code CERTIFICATE_REFUSED. */
export class CertificateLoadError extends Error {
  readonly code = 'CERTIFICATE_REFUSED';
}

export class CertificateStore {
  private set: CertificateSet;
  private readonly listeners = new Set<(set: CertificateSet) => void>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    set: CertificateSet,
    private readonly logger: Logger,
  ) {
    this.set = set;
  }

  /** The first load: every certificate must pass, else a CertificateLoadError names the first that did not. */
  static async load(specs: readonly CertificateSpec[], settings: TlsContextSettings, logger: Logger): Promise<CertificateStore> {
    const loaded: LoadedCertificate[] = [];
    for (const [i, spec] of specs.entries()) {
      try {
        loaded.push(loadCertificate(await spec.source.read(), spec.names, settings));
      } catch (err) {
        if (!(err instanceof CertificateProblem)) throw err;
        throw new CertificateLoadError(`tls.certificates[${i}]: ${spec.source.describe(err.part)}: ${err.message}`, { cause: err });
      }
    }
    const store = new CertificateStore(buildSet(specs, loaded, settings), logger);
    for (const [i, c] of loaded.entries()) store.logLoaded(specs[i]!, c, 'start');
    return store;
  }

  get current(): CertificateSet {
    return this.set;
  }

  /** `listener` gets each new set; returns the unsubscribe function. */
  onReplace(listener: (set: CertificateSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Read every source again (after a file change, SIGHUP, a new `tls` block) and serve what passes;
   * a certificate whose PEMs changed is logged. Resolves once the new set is in place (or refused).
   */
  reload(specs: readonly CertificateSpec[], settings: TlsContextSettings, why: string): Promise<void> {
    const run = this.queue.then(() => this.reloadNow(specs, settings, why));
    this.queue = run.catch(() => {});
    return run;
  }

  private async reloadNow(specs: readonly CertificateSpec[], settings: TlsContextSettings, why: string): Promise<void> {
    const before = this.set.loaded;
    const served: CertificateSpec[] = [];
    const loaded: LoadedCertificate[] = [];
    for (const spec of specs) {
      const previous = before.get(spec.source.id);
      try {
        const cert = loadCertificate(await spec.source.read(), spec.names, settings);
        if (previous === undefined || !samePem(previous, cert)) this.logLoaded(spec, cert, why);
        served.push(spec);
        loaded.push(cert);
      } catch (thrown) {
        // Whatever went wrong is this certificate's refusal: a reload never fails as a whole.
        const err =
          thrown instanceof CertificateProblem ? thrown : new CertificateProblem('pair', (thrown as Error).message, { cause: thrown });
        const part = spec.source.describe(err.part);
        const fields = { source: spec.source.id, part: err.part, reason: err.message, why };
        if (previous === undefined) {
          this.logger.error(fields, `TLS certificate refused, not served: ${part}: ${err.message}`);
        } else {
          this.logger.error(fields, `TLS certificate refused, keeping the one in use: ${part}: ${err.message}`);
          served.push(spec);
          loaded.push(previous);
        }
      }
    }
    if (loaded.length === 0) return void this.logger.error({ why }, 'TLS: no certificate passed; keeping the ones in use');
    this.set = buildSet(served, loaded, settings);
    for (const listener of this.listeners) listener(this.set);
  }

  private logLoaded(spec: CertificateSpec, cert: LoadedCertificate, why: string): void {
    this.logger.info(
      { source: spec.source.id, names: cert.names, subject: cert.subject, validTo: cert.validTo, fingerprint256: cert.fingerprint256, why },
      `TLS certificate loaded for ${cert.names.join(', ')} from ${spec.source.describe('pair')} (valid to ${cert.validTo})`,
    );
  }
}

function buildSet(specs: readonly CertificateSpec[], loaded: readonly LoadedCertificate[], settings: TlsContextSettings): CertificateSet {
  const fallbackAt = Math.max(
    0,
    specs.findIndex((s) => s.default === true),
  );
  const fallback = loaded[fallbackAt]!;
  const table = new SniTable(
    loaded.map((c) => ({ names: c.names, value: c.context })),
    fallback.context,
  );
  return { table, fallback, settings, loaded: new Map(specs.map((s, i) => [s.source.id, loaded[i]!])) };
}

function samePem(a: LoadedCertificate, b: LoadedCertificate): boolean {
  return a.pem.cert.equals(b.pem.cert) && a.pem.key.equals(b.pem.key);
}

/**
 * TLS termination on the data port, wired: the `tls` block's certificates loaded (a refused one
 * fails the start, exit 2), the TLS listener built over the data port's HTTP/1.1 server, the
 * watches (certificate files by folder, Secrets through the API), and what SIGHUP, a change or a
 * new `tls` block does. Certificates, minVersion and ciphers apply to the next handshake; the listen
 * address, ALPN and the handshake timeout take a restart, and a config that changes them says so.
 */
import type { TLSSocket } from 'node:tls';
import type { TlsSettings } from '../config/schema.js';
import type { DataPortServer } from '../downstream/data-port-server.js';
import { DataPortListeners, type DataPortAddresses } from '../downstream/data-port-listeners.js';
import type { TlsContextSettings } from '../downstream/certificate-pair.js';
import { FileCertificateSource, type CertificateSource } from '../downstream/certificate-source.js';
import { CertificateLoadError, CertificateStore, type CertificateSpec } from '../downstream/certificate-store.js';
import { watchCertificateFiles } from '../downstream/certificate-watch.js';
import { TlsListener } from '../downstream/tls-listener.js';
import type { ListenerFactory, ListenerHandlers } from '../gateway/http-types.js';
import type { Logger } from '../log.js';
import { formatHostPort, parseHostPort } from '../net-address.js';

/** A Secret's source, by `NAME` or `NAMESPACE/NAME` (Kubernetes mode only). */
export type SecretSourceFactory = (ref: string) => CertificateSource;

function contextSettings(settings: TlsSettings): TlsContextSettings {
  return { minVersion: settings.minVersion, ciphers: settings.ciphers };
}

/** The fields a running listener cannot change. */
function restartOnly(settings: TlsSettings): string {
  return JSON.stringify([settings.listen, settings.alpn, settings.handshakeTimeoutSeconds]);
}

export class TlsTermination {
  private ports: DataPortListeners | undefined;
  /** Stops every watch of the current specs. */
  private unwatch: (() => void) | undefined;

  private constructor(
    private settings: TlsSettings,
    private specs: CertificateSpec[],
    readonly store: CertificateStore,
    private readonly cleartext: boolean,
    private readonly secrets: SecretSourceFactory | undefined,
    private readonly logger: Logger,
  ) {}

  /**
   * Loads the certificates; rejects with a CertificateLoadError naming the one refused. `secrets`
   * builds the source of a `secret:` certificate; without it (not in Kubernetes mode) one is an error.
   */
  static async start(settings: TlsSettings, cleartext: boolean, logger: Logger, secrets?: SecretSourceFactory): Promise<TlsTermination> {
    const log = logger.child({ component: 'tls' });
    const specs = certificateSpecs(settings, secrets);
    const store = await CertificateStore.load(specs, contextSettings(settings), log);
    return new TlsTermination(settings, specs, store, cleartext, secrets, log);
  }

  /**
   * The gateway's listener: `http1`'s server, with the TLS listener handing it its connections
   * (and h2 ones to `http2`, when given: only then is h2 offered).
   */
  listener(http1: (handlers: ListenerHandlers) => DataPortServer, http2?: (socket: TLSSocket) => void): ListenerFactory {
    return (handlers) => {
      const server = http1(handlers);
      const tls = new TlsListener({
        certificates: this.store,
        http1: server,
        http2,
        alpn: this.settings.alpn,
        handshakeTimeoutMs: this.settings.handshakeTimeoutSeconds * 1000,
        onClientError: (err, socket) => {
          if (this.logger.isLevelEnabled('debug'))
            this.logger.debug({ code: err.code, client: socket.remoteAddress }, `TLS handshake failed: ${err.message}`);
        },
      });
      this.ports = new DataPortListeners(server, tls, parseHostPort(this.settings.listen, 'tls.listen'), this.cleartext);
      return this.ports;
    };
  }

  /** Where the listeners are bound (once listening). */
  addresses(): DataPortAddresses {
    return this.ports?.addresses() ?? {};
  }

  /** Watch the certificates from now on (files by folder, Secrets through the API): a change reloads them. */
  watch(): void {
    this.unwatch?.();
    const reload = (why: string) => () => void this.reloadCertificates(why);
    const files = this.specs.flatMap(({ source }) => (source instanceof FileCertificateSource ? [source.certFile, source.keyFile] : []));
    const folders = watchCertificateFiles(files, reload('file change'), (dir, err) =>
      this.logger.warn({ dir, err }, `TLS: cannot watch ${dir} (${err.message}); certificates there are re-read on SIGHUP only`),
    );
    const stops = this.specs.flatMap(({ source }) => (source.watch === undefined ? [] : [source.watch(reload('secret change'))]));
    this.unwatch = () => {
      folders.close();
      for (const stop of stops) stop();
    };
  }

  /** Read every certificate again (SIGHUP, a change); a refused one keeps the version in use. */
  reloadCertificates(why: string): Promise<void> {
    return this.store
      .reload(this.specs, contextSettings(this.settings), why)
      .catch((err: unknown) => this.logger.error({ err, why }, `TLS: reloading the certificates failed: ${(err as Error).message}`));
  }

  /** A new config: new certificates and settings for the next handshake; restart-only changes logged. */
  apply(next: TlsSettings | undefined): Promise<void> {
    if (next === undefined) {
      this.logger.warn('tls: the block was removed; the TLS listener keeps running until a restart');
      return Promise.resolve();
    }
    const before = this.settings;
    if (restartOnly(next) !== restartOnly(before)) {
      const at = this.addresses().tls;
      this.logger.warn(
        { listen: next.listen, alpn: next.alpn, handshakeTimeoutSeconds: next.handshakeTimeoutSeconds },
        `tls: listen, alpn and handshakeTimeoutSeconds take a restart; the TLS listener keeps ${at === undefined ? before.listen : formatHostPort(at.address, at.port)} and its settings until then`,
      );
    }
    const same =
      JSON.stringify([before.certificates, before.minVersion, before.ciphers]) ===
      JSON.stringify([next.certificates, next.minVersion, next.ciphers]);
    // Restart-only fields stay as they run; the rest is taken.
    this.settings = { ...next, listen: before.listen, alpn: before.alpn, handshakeTimeoutSeconds: before.handshakeTimeoutSeconds };
    if (same) return Promise.resolve();
    try {
      this.specs = certificateSpecs(next, this.secrets);
    } catch (err) {
      this.logger.error({ err }, `tls: ${(err as Error).message}; keeping the certificates in use`);
      return Promise.resolve();
    }
    if (this.unwatch !== undefined) this.watch();
    return this.reloadCertificates('config');
  }

  /** Stop watching (the listeners close with the gateway). */
  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }
}

/** Each certificate's source: its files, or its Secret (through `secrets`; a CertificateLoadError without it). */
function certificateSpecs(settings: TlsSettings, secrets: SecretSourceFactory | undefined): CertificateSpec[] {
  return settings.certificates.map((c, i) => {
    let source: CertificateSource;
    if (c.secret === undefined) source = new FileCertificateSource(c.certFile!, c.keyFile!);
    else if (secrets === undefined)
      throw new CertificateLoadError(
        `tls.certificates[${i}].secret: a Secret is read through the Kubernetes API: run in Kubernetes mode, or give certFile and keyFile`,
      );
    else source = secrets(c.secret);
    return { source, names: c.names, default: c.default };
  });
}

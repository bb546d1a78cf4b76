/**
 * The data port as the gateway drives it when TLS is on: the cleartext server (listening unless
 * turned off) and the TLS listener, which hands its connections to that same server, started,
 * drained and stopped together. Without TLS the gateway drives the cleartext server alone.
 */
import type { AddressInfo } from 'node:net';
import type { DataPortServer } from './data-port-server.js';
import type { TlsListener } from './tls-listener.js';

export interface DataPortAddresses {
  /** The cleartext listener, unless it is off. */
  cleartext?: AddressInfo;
  tls?: AddressInfo;
}

export class DataPortListeners {
  constructor(
    readonly server: DataPortServer,
    readonly tls: TlsListener,
    /** Where the TLS listener listens. */
    private readonly tlsAddress: { host: string; port: number },
    /** false: no cleartext listener (`listen: off`); `listen()`'s address is then not used. */
    private readonly cleartext: boolean,
  ) {}

  /**
   * Listens on `host:port` (cleartext, unless off) and on the TLS address; resolves with the
   * cleartext address, or the TLS one when cleartext is off. A listener that fails closes the other.
   */
  async listen(port: number, host: string): Promise<AddressInfo> {
    const clear = this.cleartext ? await this.server.listen(port, host) : undefined;
    try {
      const secure = await this.tls.listen(this.tlsAddress.port, this.tlsAddress.host);
      return clear ?? secure;
    } catch (err) {
      await this.server.close();
      throw new Error(`tls.listen ${this.tlsAddress.host}:${this.tlsAddress.port}: ${(err as Error).message}`, { cause: err });
    }
  }

  addresses(): DataPortAddresses {
    const cleartext = this.cleartext ? this.server.address() : null;
    const tls = this.tls.address();
    return { ...(cleartext === null ? {} : { cleartext }), ...(tls === null ? {} : { tls }) };
  }

  /** Stop accepting on both; resolves once every connection has closed. */
  async close(): Promise<void> {
    await Promise.all([this.tls.close(), this.server.close()]);
  }

  closeIdleConnections(): void {
    this.server.closeIdleConnections();
  }

  closeAllConnections(): void {
    this.server.closeAllConnections();
    this.tls.closeAllConnections();
  }
}

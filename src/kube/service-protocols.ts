/**
 * Fills in the protocol of `backend: kubernetes` revisions that do not set one, from their Service
 * port (port-protocol.ts), each time a config is loaded: at start, on every reload, and on every
 * config a traffic change writes back. One Service read per such revision and config; a revision
 * whose config says `protocol:` or has a `tls:` block is left as it is, and so is one whose Service
 * cannot be read (it stays HTTP/1.1, with a warning naming the revision and why).
 *
 * It wraps the config source, so every config the gateway applies has been through it.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config/load.js';
import type { ConfigChange, ConfigSource } from '../config/source.js';
import type { TrafficTarget } from '../config/schema.js';
import type { Logger } from '../log.js';
import { portProtocol, servicePort } from './port-protocol.js';

export interface ServiceProtocolsOptions {
  kubeConfig: KubeConfig;
  /** Namespace of revisions that name none. */
  namespace: string;
  logger: Logger;
}

export class ServiceProtocols {
  private readonly core: CoreV1Api;

  constructor(private readonly opts: ServiceProtocolsOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Sets `protocol` on the config's Kubernetes revisions that have none and whose Service port declares one. */
  async resolve(config: Config): Promise<Config> {
    const pending = config.services.flatMap((svc) =>
      svc.revisions.flatMap((rev) =>
        rev.backend === 'kubernetes' && rev.protocolDeclared !== true && rev.tls === undefined ? [{ svc: svc.name, rev }] : [],
      ),
    );
    await Promise.all(
      pending.map(async ({ svc, rev }) => {
        const namespace = rev.namespace ?? this.opts.namespace;
        try {
          const service = await this.core.readNamespacedService({ name: rev.service, namespace });
          const port = servicePort(service, { port: rev.port, portName: rev.portName });
          const protocol = port === undefined ? undefined : portProtocol(port);
          if (protocol !== undefined) rev.protocol = protocol;
        } catch (err) {
          this.opts.logger.warn(
            { revision: `${svc}/${rev.name}`, service: `${namespace}/${rev.service}`, err },
            `${svc}/${rev.name}: cannot read Service ${namespace}/${rev.service} for its port's protocol; speaking HTTP/1.1 (set protocol: to say)`,
          );
        }
      }),
    );
    return config;
  }

  /** `source`, with every config it hands out resolved first. */
  wrap(source: ConfigSource): ConfigSource {
    return {
      description: source.description,
      load: () => source.load().then((config) => this.resolve(config)),
      watch: (onChange: (change: ConfigChange) => void) => {
        // One change at a time, in the order they came: a slow Service read must not let an older
        // config be applied after a newer one.
        let previous = Promise.resolve();
        source.watch((change) => {
          previous = previous
            .then(async () => onChange(change.config === undefined ? change : { config: await this.resolve(change.config) }))
            .catch((err: unknown) => this.opts.logger.error({ err }, 'applying a config change failed'));
        });
      },
      updateTraffic: (service: string, traffic: TrafficTarget[]) =>
        source.updateTraffic(service, traffic).then((config) => this.resolve(config)),
      close: () => source.close(),
    };
  }
}

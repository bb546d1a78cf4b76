/**
 * Where the configuration lives: a YAML file (local mode) or a ConfigMap (Kubernetes mode). The
 * gateway loads it, watches it for changes (hot reload) and writes accepted traffic changes back, so
 * a restart keeps them.
 */
import type { ConfigError } from '../errors.js';
import type { Config } from './load.js';
import type { TrafficTarget } from './schema.js';

export type ConfigChange = { config: Config; error?: undefined } | { config?: undefined; error: ConfigError };

export interface ConfigSource {
  /** For logs: `file deploy/local/sluice.yaml`, `configmap sluice-system/sluice-config`. */
  readonly description: string;
  load(): Promise<Config>;
  /** Call `onChange` with each new valid config, or the error of an invalid one (the caller keeps the running config). */
  watch(onChange: (change: ConfigChange) => void): void;
  /**
   * Replace one service's traffic block, validated against the whole config, then persisted
   * atomically. Resolves with the new config; rejects with a ConfigError (nothing written) when invalid.
   */
  updateTraffic(service: string, traffic: TrafficTarget[]): Promise<Config>;
  close(): void;
}

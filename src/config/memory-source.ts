/**
 * A config held in memory, from YAML text: for a gateway embedded in another program (and the
 * tests), where there is no file to watch. Traffic changes are validated as the file source
 * validates them and kept here.
 */
import { replaceTraffic } from './file-source.js';
import { parseConfigText, type Config } from './load.js';
import type { TrafficTarget } from './schema.js';
import type { ConfigSource } from './source.js';

export class MemoryConfigSource implements ConfigSource {
  readonly description = 'config in memory';

  constructor(private text: string) {}

  load(): Promise<Config> {
    return Promise.resolve().then(() => parseConfigText(this.text));
  }

  /** Nothing else changes it. */
  watch(): void {}

  updateTraffic(service: string, traffic: TrafficTarget[]): Promise<Config> {
    return Promise.resolve().then(() => {
      const edit = replaceTraffic(this.text, service);
      edit.set(traffic);
      const config = parseConfigText(edit.text()); // validates the whole config; throws ConfigError
      this.text = edit.text();
      return config;
    });
  }

  close(): void {}
}

/**
 * A config file as the config source: hot reload on change (fs.watch on the directory, so editors
 * that replace the file by rename are seen; debounced) and atomic write-back of traffic changes
 * (write a temp file beside it, fsync, rename) that keeps the file's comments and layout.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseConfigText, readConfigFile, resolveTlsFiles, type Config } from './load.js';
import type { TrafficTarget } from './schema.js';
import type { ConfigChange, ConfigSource } from './source.js';

const DEBOUNCE_MS = 100;

export class FileConfigSource implements ConfigSource {
  readonly description: string;
  private readonly file: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Text this process wrote last: its own write-back is not a change to reload. */
  private lastWritten: string | undefined;
  /** Writes are serialised: each traffic update reads the file the previous one wrote. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(file: string) {
    this.file = resolve(file);
    this.description = `file ${file}`;
  }

  load(): Promise<Config> {
    return readConfigFile(this.file);
  }

  watch(onChange: (change: ConfigChange) => void): void {
    if (this.watcher) return;
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(onChange), DEBOUNCE_MS);
    });
    this.watcher.on('error', () => {}); // the directory went away: keep the running config
  }

  private async reload(onChange: (change: ConfigChange) => void): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return; // mid-rename or removed: the next event brings the new file
    }
    if (text === this.lastWritten) return;
    try {
      onChange({ config: this.finish(parseConfigText(text, this.file, dirname(this.file))) });
    } catch (err) {
      if (err instanceof ConfigError) onChange({ error: err });
      else throw err;
    }
  }

  /** Relative local `cwd`s and certificate files resolve against the file, as readConfigFile does (a revision's tls files are read at parse). */
  private finish(config: Config): Config {
    const base = dirname(this.file);
    for (const svc of config.services) {
      for (const rev of svc.revisions) if (rev.backend === 'local' && rev.cwd !== undefined) rev.cwd = resolve(base, rev.cwd);
    }
    resolveTlsFiles(config, base);
    return config;
  }

  updateTraffic(service: string, traffic: TrafficTarget[]): Promise<Config> {
    const run = this.writing.then(() => this.writeTraffic(service, traffic));
    this.writing = run.catch(() => {});
    return run;
  }

  private async writeTraffic(service: string, traffic: TrafficTarget[]): Promise<Config> {
    const text = await readFile(this.file, 'utf8');
    const next = replaceTraffic(text, service);
    next.set(traffic);
    const config = this.finish(parseConfigText(next.text(), this.file, dirname(this.file))); // validates the whole file; throws ConfigError
    this.lastWritten = next.text(); // before the rename, so the watcher never sees it as foreign
    await writeAtomically(this.file, next.text());
    return config;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}

/**
 * Edit one service's `traffic` in YAML text, keeping everything else (comments included).
 * @example const edit = replaceTraffic(text, 'iris'); edit.set([{ revision: 'b', percent: 100 }]); edit.text()
 */
export function replaceTraffic(text: string, service: string): { set(traffic: TrafficTarget[]): void; text(): string } {
  const doc = parseDocument(text);
  const services = doc.get('services');
  if (!isSeq(services)) throw new ConfigError([`services: not found in the config file`]);
  const index = services.items.findIndex((item) => isMap(item) && item.get('name') === service);
  if (index === -1) throw new ConfigError([`services: no service named "${service}"`]);
  let out = '';
  return {
    set(traffic) {
      doc.setIn(['services', index, 'traffic'], doc.createNode(traffic.map((t) => ({ ...t }))));
      out = doc.toString();
    },
    text: () => out,
  };
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

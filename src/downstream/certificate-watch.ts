/**
 * Calls back when certificate files may have changed: fs.watch on the folders that hold them (not
 * the files: editors and cert-manager replace a file by rename, and a Kubernetes Secret volume
 * swaps its `..data` symlink to a new folder, so a watch on the file itself goes stale), debounced
 * so that a certificate and its key written one after the other make one reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Events this close together are one change. */
const DEBOUNCE_MS = 100;

export interface CertificateWatch {
  close(): void;
}

/**
 * Watches the folders of `files`; `onChange` runs DEBOUNCE_MS after the last event that names one
 * of the files, a `..`-prefixed entry (a Secret volume's `..data` and its timestamped folders), or
 * nothing. A folder that cannot be watched is passed to `onError` and left out.
 */
export function watchCertificateFiles(
  files: readonly string[],
  onChange: () => void,
  onError: (dir: string, err: Error) => void,
): CertificateWatch {
  const names = new Map<string, Set<string>>();
  for (const file of files) {
    const dir = dirname(file);
    let set = names.get(dir);
    if (set === undefined) names.set(dir, (set = new Set()));
    set.add(basename(file));
  }
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  for (const [dir, watched] of names) {
    try {
      const watcher = watch(dir, (_event, changed) => {
        if (changed !== null && !watched.has(changed) && !changed.startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(onChange, DEBOUNCE_MS);
      });
      watcher.on('error', (err) => onError(dir, err)); // the folder went away: keep what is served
      watchers.push(watcher);
    } catch (err) {
      onError(dir, err as Error);
    }
  }
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

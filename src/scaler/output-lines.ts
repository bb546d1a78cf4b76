/**
 * Child stdout/stderr → one logger call per line. The stream is always read (paused pipes would
 * block a child that writes a lot); when the level is off the bytes are dropped unsplit.
 */
import type { Readable } from 'node:stream';

/** A line longer than this is logged in pieces rather than buffered without bound. */
const MAX_LINE = 64 * 1024;

export function forEachLine(stream: Readable, enabled: boolean, onLine: (line: string) => void): void {
  stream.on('error', () => {});
  if (!enabled) {
    stream.resume();
    return;
  }
  stream.setEncoding('utf8');
  let pending = '';
  const emit = (line: string): void => {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    try {
      onLine(text);
    } catch {
      // a logger failure must not stop the stream being read
    }
  };
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      emit(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    while (pending.length > MAX_LINE) {
      emit(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  });
  stream.on('end', () => {
    if (pending !== '') emit(pending);
    pending = '';
  });
}

/**
 * Server-sent events from a byte stream, as the HTML standard's EventSource reads them: lines
 * ending in LF, CRLF or CR; `field: value` (one space after the colon dropped); a comment line
 * starts with `:`; a blank line dispatches the event. `id` persists across events (it is the
 * last event ID a reconnect sends). Bounded: a line longer than MAX_LINE_CHARS, or an event's data
 * growing past it, is dropped rather than buffered, so a hostile stream cannot grow memory.
 */

export interface SseMessage {
  /** The last event ID seen so far ('' before any). */
  id: string;
  /** `message` when the event named none. */
  event: string;
  data: string;
}

/** 1 MiB: the feed's events are a few hundred bytes. */
export const MAX_LINE_CHARS = 1 << 20;

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private dataChars = 0;
  private event = '';
  private lastId = '';
  /** A CR ended the last chunk: an LF starting the next belongs to it. */
  private pendingCr = false;
  private overflow = false;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  get lastEventId(): string {
    return this.lastId;
  }

  feed(chunk: string): void {
    let text = chunk;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer + text.slice(start, i));
      this.buffer = '';
      if (c === 13) {
        if (i + 1 === text.length) this.pendingCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    const rest = text.slice(start);
    if (this.buffer.length + rest.length > MAX_LINE_CHARS) {
      this.buffer = '';
      this.overflow = true;
    } else if (!this.overflow) {
      this.buffer += rest;
    }
  }

  private line(line: string): void {
    if (this.overflow) {
      // The rest of an overlong line: skipped, and the event it belonged to with it.
      this.overflow = false;
      this.reset();
      return;
    }
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.dataChars += value.length + 1;
      if (this.dataChars > MAX_LINE_CHARS) return this.reset();
      this.data.push(value);
    } else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }

  private dispatch(): void {
    if (this.data.length > 0) this.onMessage({ id: this.lastId, event: this.event || 'message', data: this.data.join('\n') });
    this.reset();
  }

  private reset(): void {
    this.data = [];
    this.dataChars = 0;
    this.event = '';
  }
}

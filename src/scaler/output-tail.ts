/**
 * The last lines a process wrote, bounded in bytes: what a failed replica said before it died, for
 * its revision's condition and the warn log. Blank lines are skipped; a line longer than the bound
 * keeps its end.
 */
export class OutputTail {
  private readonly lines: string[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(line: string): void {
    if (line.trim() === '') return;
    let size = Buffer.byteLength(line);
    if (size > this.limit) {
      line = line.slice(-this.limit);
      while ((size = Buffer.byteLength(line)) > this.limit) line = line.slice(1);
    }
    this.lines.push(line);
    this.bytes += size + 1;
    while (this.bytes - 1 > this.limit && this.lines.length > 1) this.bytes -= Buffer.byteLength(this.lines.shift()!) + 1;
  }

  /** The lines kept, oldest first, joined by newlines; '' when none. */
  text(): string {
    return this.lines.join('\n');
  }
}

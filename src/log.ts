/**
 * Logs are JSON lines (pino); `pretty` renders them for a terminal. Default: pretty on a TTY.
 * pino-pretty is loaded only for a pretty log: a gateway logging JSON never holds it.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };
export type LogFormat = 'json' | 'pretty';

export function createLogger(options: { level?: string; format?: LogFormat; name?: string } = {}): Logger {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const base = { level: options.level ?? process.env.SLUICE_LOG_LEVEL ?? 'info', name: options.name ?? 'sluice' };
  if (format === 'pretty') {
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name', sync: true }));
  }
  return pino(base);
}

/**
 * One error class for the whole gateway: a stable `code` callers branch on, the HTTP status it maps
 * to, and an optional cause. Data-path errors become `{"error":{code,message,service,revision}}` in
 * one place (gateway/respond.ts).
 */
export type ErrorCode =
  | 'route_not_found'
  | 'queue_full'
  | 'activation_timeout'
  | 'request_timeout'
  | 'upstream_unreachable'
  | 'upstream_error'
  | 'revision_failed'
  | 'bad_request'
  | 'not_implemented'
  | 'payload_too_large'
  | 'invalid_config'
  | 'not_found'
  | 'conflict'
  | 'unavailable'
  | 'unauthorized';

export class SluiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SluiceError';
  }
}

/** Invalid configuration: every problem, each naming its field path. */
export class ConfigError extends SluiceError {
  constructor(readonly problems: string[]) {
    super('invalid_config', 400, problems.join('; '));
    this.name = 'ConfigError';
  }
}

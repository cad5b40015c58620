/**
 * Named errors with stable codes. Callers switch on `code`; users read `message`, which is always one
 * sentence saying what was wrong, the value, and how to fix it. Pure module: runs in k6 and in Node.
 */
export type WsgateErrorCode =
  | 'WSGATE_CONFIG'
  | 'WSGATE_USAGE'
  | 'WSGATE_TOKEN'
  | 'WSGATE_UNREACHABLE'
  | 'WSGATE_K6_UNAVAILABLE'
  | 'WSGATE_K6_FAILED';

export class WsgateError extends Error {
  readonly code: WsgateErrorCode;
  constructor(code: WsgateErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value (preset, env var, threshold file) is missing or malformed. */
export class ConfigError extends WsgateError {
  constructor(message: string) {
    super('WSGATE_CONFIG', message);
  }
}

/** A token could not be minted, fetched or read. */
export class TokenError extends WsgateError {
  constructor(message: string) {
    super('WSGATE_TOKEN', message);
  }
}

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

/**
 * What every named error shares: a stable `code` callers switch on, a one-sentence `message`, and
 * the class's own name in `name` (so a stack trace or `String(error)` says which error it is).
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class WsgateError extends CodedError<WsgateErrorCode> {}

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

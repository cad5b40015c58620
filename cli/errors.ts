/**
 * The CLI's own error classes, on the shared base from lib/core/errors.ts so that one `code` switch in
 * cli/main.ts turns every failure into an exit code. Messages are one sentence and never hold a secret.
 */
import { WsgateError } from '../lib/core/errors.ts';

/** The command line itself is wrong: unknown command or flag, a flag without its companion. */
export class UsageError extends WsgateError {
  constructor(message: string) {
    super('WSGATE_USAGE', message);
  }
}

/** The target did not answer the pre-flight check, so k6 is not started at all. */
export class UnreachableError extends WsgateError {
  constructor(message: string) {
    super('WSGATE_UNREACHABLE', message);
  }
}

/** `--engine k6` was asked for and no usable k6 v2.2.x is at WSGATE_K6 or on PATH. */
export class K6UnavailableError extends WsgateError {
  constructor(message: string) {
    super('WSGATE_K6_UNAVAILABLE', message);
  }
}

/** k6 started but ended without a verdict (script exception, abort, unknown exit code). */
export class K6FailedError extends WsgateError {
  constructor(message: string) {
    super('WSGATE_K6_FAILED', message);
  }
}

/**
 * Errors of the reference service. Callers switch on `code`; people read `message`, which is one
 * sentence naming what was wrong, the value, and how to fix it. Secrets never appear in a message.
 */
import { CodedError } from '../lib/core/errors.ts';

/** Base class so callers can tell the service's own failures from anything else. */
export class TargetError extends CodedError {}

/** A setting (option, flag, environment variable, file) has a value the service cannot use. */
export class TargetConfigError extends TargetError {
  constructor(message: string, options?: ErrorOptions) {
    super('WSGATE_TARGET_CONFIG', message, options);
  }
}

/** The configuration was fine but a listener could not be started (port taken, permission denied). */
export class TargetStartError extends TargetError {
  constructor(message: string, options?: ErrorOptions) {
    super('WSGATE_TARGET_START', message, options);
  }
}

/** Stable codes of {@link NginxError}. */
export type NginxErrorCode = 'WSGATE_NGINX_NOT_INSTALLED' | 'WSGATE_NGINX_START';

/**
 * The nginx load balancer in front of the service could not be used: the binary is missing
 * (`WSGATE_NGINX_NOT_INSTALLED`) or nginx did not come up (`WSGATE_NGINX_START`, with the last lines
 * of its error log in the message).
 */
export class NginxError extends TargetError {
  declare readonly code: NginxErrorCode;

  constructor(code: NginxErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

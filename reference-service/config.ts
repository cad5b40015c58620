/**
 * Options of the reference service, normalised once: every default applied, every bad value refused
 * with one sentence naming the option, the value and what is allowed.
 */
import { TargetConfigError } from './errors.ts';
import { isFaultName, ALL_FAULT_NAMES } from './faults.ts';
import type { FaultName } from './faults.ts';

/** Version reported by `/health`; the CLI passes the package version instead. */
const TARGET_VERSION = '0.1.0';

/** HS256 keys shorter than the hash output are weak; RFC 7518 §3.2 asks for at least 256 bits. */
export const MIN_SECRET_BYTES = 32;

export interface TargetTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface TargetOptions {
  /** Interface both listeners bind to. Default `127.0.0.1`. */
  readonly host?: string;
  /** Auth listener port; `0` (default) picks a free one. */
  readonly authPort?: number;
  /** Chat backend port; `0` (default) picks a free one. */
  readonly backendPort?: number;
  /** Secret the auth service signs with. Required, at least 32 bytes. */
  readonly authSecret?: string;
  /** Secret the backend verifies with. Required, at least 32 bytes. */
  readonly backendSecret?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** Access token lifetime in seconds. Default 900. */
  readonly tokenTtlS?: number;
  /** Delay before each agent event. Default 10 ms. */
  readonly stepDelayMs?: number;
  /** Idle limit of the `idle_timeout` fault. Default 3 s. */
  readonly idleTimeoutS?: number;
  /**
   * The server's heartbeat: a connection silent (no frame, ping or pong from its client) this long is
   * sent a WebSocket ping. Default 3.5 s: longer than the broken nginx's 3 s idle cut, so the heartbeat
   * does not keep that balancer busy and hide it (a heartbeat shorter than a balancer's timeout is the
   * usual fix for one).
   */
  readonly heartbeatIntervalS?: number;
  /** A connection silent this long is reaped: closed without a close frame. Default 5 s; must exceed the interval. */
  readonly heartbeatTimeoutS?: number;
  /** How late `rare_late_run` delivers a hit run's agent_completed. Default 6000 ms (local's deadline is 5000). */
  readonly lateRunMs?: number;
  /** Seed of the rare faults' dice (where in each block of 33 the hit lands); default random. */
  readonly faultSeed?: number;
  /** Largest frame the backend accepts; bigger ones close with 1009. Default 65536. */
  readonly maxFrameBytes?: number;
  /** Origins allowed to open a WebSocket (requests without `Origin` always are). */
  readonly allowedOrigins?: readonly string[];
  readonly faults?: readonly FaultName[];
  /** When set, `POST /auth/token` requires this password. */
  readonly authPassword?: string;
  /** When set, both listeners speak TLS (https / wss). */
  readonly tls?: TargetTls;
  readonly version?: string;
}

export interface TargetConfig {
  readonly host: string;
  readonly authPort: number;
  readonly backendPort: number;
  readonly authSecret: string;
  readonly backendSecret: string;
  readonly issuer: string;
  readonly audience: string;
  readonly tokenTtlS: number;
  readonly stepDelayMs: number;
  readonly idleTimeoutS: number;
  readonly heartbeatIntervalS: number;
  readonly heartbeatTimeoutS: number;
  readonly lateRunMs: number;
  readonly faultSeed: number;
  readonly maxFrameBytes: number;
  readonly allowedOrigins: ReadonlySet<string>;
  readonly faults: readonly FaultName[];
  readonly authPassword: string | undefined;
  readonly tls: TargetTls | undefined;
  readonly version: string;
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TargetConfigError(`${name} is ${String(value)}; it must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new TargetConfigError(`${name} is ${String(value)}; it must be a number of seconds greater than 0.`);
  }
  return value;
}

function secret(name: string, value: string | undefined): string {
  if (value === undefined || value === '') {
    throw new TargetConfigError(
      `${name} is missing; pass a secret of at least ${MIN_SECRET_BYTES} bytes (e.g. from \`openssl rand -hex 32\`).`,
    );
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < MIN_SECRET_BYTES) {
    // The length only: a secret never goes into a message.
    throw new TargetConfigError(
      `${name} is ${bytes} bytes long; it must be at least ${MIN_SECRET_BYTES} bytes (e.g. from \`openssl rand -hex 32\`).`,
    );
  }
  return value;
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Applies defaults and validates; throws {@link TargetConfigError} on the first bad value. */
export function normalizeOptions(options: TargetOptions): TargetConfig {
  const faults = options.faults ?? [];
  for (const fault of faults) {
    if (!isFaultName(fault)) {
      throw new TargetConfigError(`unknown fault "${String(fault)}"; valid faults are ${ALL_FAULT_NAMES.join(', ')}.`);
    }
  }
  const allowedOrigins = options.allowedOrigins ?? ['http://localhost', 'http://127.0.0.1'];
  if (options.tls !== undefined && (!options.tls.cert || !options.tls.key)) {
    throw new TargetConfigError('tls needs both a cert and a key; pass both or neither.');
  }
  const host = options.host ?? '127.0.0.1';
  const authPassword = options.authPassword === '' ? undefined : options.authPassword;
  // The auth service issues a token for any user it is asked about; with no password that is only safe
  // where nobody else can ask.
  if (!isLoopback(host) && authPassword === undefined) {
    throw new TargetConfigError(
      `host ${host} would let anyone who reaches it ask the auth service for any user's token; set WSGATE_AUTH_PASSWORD, or bind a loopback address such as 127.0.0.1.`,
    );
  }
  const heartbeatIntervalS = positive('heartbeatIntervalS', options.heartbeatIntervalS, 3.5);
  const heartbeatTimeoutS = positive('heartbeatTimeoutS', options.heartbeatTimeoutS, 5);
  if (heartbeatTimeoutS <= heartbeatIntervalS) {
    throw new TargetConfigError(
      `heartbeatTimeoutS is ${heartbeatTimeoutS} and heartbeatIntervalS ${heartbeatIntervalS}; the timeout must be longer than the interval, or a client is reaped before it could answer the ping.`,
    );
  }
  return {
    host,
    authPort: integer('authPort', options.authPort, 0, 0, 65535),
    backendPort: integer('backendPort', options.backendPort, 0, 0, 65535),
    authSecret: secret('authSecret', options.authSecret),
    backendSecret: secret('backendSecret', options.backendSecret),
    issuer: options.issuer ?? 'wsgate-reference-auth',
    audience: options.audience ?? 'wsgate-reference-chat',
    tokenTtlS: integer('tokenTtlS', options.tokenTtlS, 900, 1, 30 * 24 * 3600),
    stepDelayMs: integer('stepDelayMs', options.stepDelayMs, 10, 0, 60_000),
    idleTimeoutS: positive('idleTimeoutS', options.idleTimeoutS, 3),
    heartbeatIntervalS,
    heartbeatTimeoutS,
    lateRunMs: integer('lateRunMs', options.lateRunMs, 6000, 0, 600_000),
    faultSeed: integer('faultSeed', options.faultSeed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31 - 1),
    maxFrameBytes: integer('maxFrameBytes', options.maxFrameBytes, 65536, 64, 64 * 1024 * 1024),
    allowedOrigins: new Set(allowedOrigins),
    faults: [...new Set(faults)],
    authPassword,
    tls: options.tls,
    version: options.version ?? TARGET_VERSION,
  };
}

/**
 * One handshake, judged: was the connection accepted (greeted as the right user), refused at the HTTP
 * upgrade (and with which status), or refused in-band after the upgrade (an error reply or a close,
 * as Centrifugo does)? Which of the two refusals counts is the dialect's business: checks ask
 * `refusedAsExpected` with the status the reference protocol would use.
 */
import type { Config } from './core/config.ts';
import { dialectFor } from './dialect-for.ts';
import type { TokenCarrier } from './dialects/dialect.ts';
import { authFailures, connectionSuccess } from './metrics.ts';
import { Session } from './session.ts';

export interface HandshakeResult {
  /** HTTP status of the upgrade: 101 when it completed; 0 when no HTTP answer came at all. */
  status: number;
  /** The server greeted the connection as the expected user. */
  accepted: boolean;
  /** The user the greeting named, if it named one. */
  greetedAs: string | undefined;
  /** Why the server refused after the upgrade (error reply or close before the greeting). */
  refusedInBand: string | undefined;
  /** The subprotocol the server selected; compared, never printed (it may be a token). */
  protocol: string;
}

export interface ProbeOptions {
  /** The user the token is for; the greeting must name this user when it names one. */
  userId: string;
  token: string | undefined;
  carrier?: TokenCarrier;
  /** Overrides the configured Origin; null sends none. */
  origin?: string | null;
  /** For handshakes that should succeed: record them in wsgate_connection_success and wsgate_auth_failures. */
  expectSuccess?: boolean;
  greetingTimeoutMs?: number;
}

export async function probeHandshake(config: Config, opts: ProbeOptions): Promise<HandshakeResult> {
  const s = new Session(config, {
    userId: opts.userId,
    token: opts.token,
    ...(opts.carrier ? { carrier: opts.carrier } : {}),
    ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
    countsTowardSuccess: false,
    connectTimeoutMs: opts.greetingTimeoutMs ?? 10_000,
  });
  const accepted = await s.opened();
  await s.closeAndWait();
  const status = s.upgraded ? 101 : (s.refusedStatus ?? 0);
  const refusedInBand = s.upgraded && !accepted && !s.established ? (s.refusal ?? 'no greeting') : undefined;
  if (opts.expectSuccess) {
    connectionSuccess.add(accepted);
    authFailures.add(status === 401 || status === 403 || refusedInBand !== undefined);
  }
  return { status, accepted, greetedAs: s.established?.userId, refusedInBand, protocol: s.protocol };
}

/**
 * Was the handshake refused the way the dialect refuses? With HTTP statuses (the reference protocol)
 * the status must be exactly `httpStatus`; otherwise an in-band refusal after the upgrade counts.
 */
export function refusedAsExpected(config: Config, r: HandshakeResult, httpStatus: 401 | 403): boolean {
  if (dialectFor(config).capabilities.has('handshake-status')) return r.status === httpStatus;
  return !r.accepted && (r.refusedInBand !== undefined || (r.status >= 400 && r.status < 500));
}

/** "HTTP 101, greeted as u1", "HTTP 403", "HTTP 101, then refused: closed with 3500 invalid token". */
export function describeHandshake(r: HandshakeResult): string {
  if (r.status === 0) return 'no HTTP answer';
  if (r.status !== 101) return `HTTP ${r.status}`;
  if (r.accepted || r.greetedAs !== undefined) return `HTTP 101, greeted${r.greetedAs ? ' as ' + r.greetedAs : ''}`;
  return `HTTP 101, then refused: ${r.refusedInBand ?? 'no greeting'}`;
}

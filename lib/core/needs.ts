/**
 * What a check may need: a capability of the dialect, or something the run itself must be given. Pure
 * data, so plans, regression definitions and the README's capability table read it without a runtime;
 * lib/capabilities.ts judges a run against it.
 */
import type { Capability } from '../dialects/dialect.ts';

/** A dialect capability, or something the run itself must be given. */
export type Need = Capability | 'jwt-secret' | 'drop-relay';

/** What each need is, in words that read after "the <dialect> dialect has no" (the two run needs after "needs"). */
export const NEEDS_TEXT: Record<Need, string> = {
  'handshake-status': 'refusals as HTTP statuses at the upgrade',
  'origin-check': 'Origin check at the handshake',
  'agent-runs': 'agent runs the client can start',
  'direct-messages': 'direct messages between users',
  rooms: 'rooms (group messages)',
  'app-ping': 'application-level ping',
  'in-band-refresh': 'in-band token refresh',
  'expiry-close': 'closing connections whose token expired',
  health: 'health endpoint',
  'connection-count': "readable count of the server's connections",
  'personal-channel-guard': "personal streams another user can try to subscribe to",
  'auth-service': 'auth service that issues tokens',
  'jwt-secret': 'WSGATE_JWT_SECRET (the check mints tokens of its own)',
  'drop-relay': 'a drop relay (WSGATE_DROP_RELAY_WS_URL and WSGATE_DROP_RELAY_CONTROL_URL; wsgate regression and wsgate validate --embedded-target start one)',
};

/**
 * What a check needs, and whether this run has it. A check whose need is missing is "not applicable"
 * with the reason (console, JSON, JUnit skipped, report): never a pass, never a configuration error
 * that stops the rest of the suite. The README's capability table is written from NEEDS_TEXT.
 */
import { runtime } from '#runtime';
import type { Config } from './config.ts';
import type { Capability } from './dialects/dialect.ts';
import { dialectFor } from './dialects/index.ts';
import { checksRun } from './metrics.ts';
import { NOT_APPLICABLE } from './summary.ts';

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

/** The needs this run lacks, as phrases. */
export function missing(config: Config, needs: readonly Need[]): string[] {
  const dialect = dialectFor(config);
  const out: string[] = [];
  for (const n of needs) {
    if (n === 'jwt-secret') {
      if (!config.jwtSecret) out.push(`needs ${NEEDS_TEXT[n]}`);
    } else if (n === 'drop-relay') {
      if (!config.dropRelayWsUrl || !config.dropRelayControlUrl) out.push(`needs ${NEEDS_TEXT[n]}`);
    } else if (!dialect.capabilities.has(n)) out.push(`the ${dialect.name} dialect has no ${NEEDS_TEXT[n]}`);
  }
  return out;
}

/**
 * Whether this run has every one of `needs`: for a part of a scenario that only some dialects can
 * play (the personal-stream guard inside the isolation scenarios). The whole scenario's needs go to
 * suite.step, which reports a scenario without them as not applicable.
 */
export function applicable(config: Config, needs: readonly Need[]): boolean {
  return missing(config, needs).length === 0;
}

/** Records that the current scenario could not run, and why; counts as "checked" for count>0. */
export function notApplicable(reasons: readonly string[]): void {
  const vu = runtime.vu();
  runtime.check(`${vu.scenario}: ${NOT_APPLICABLE}${reasons.join('; ')}`, true);
  checksRun.add(1);
}

/**
 * Does each user see only their own events? Several users (one VU each) connect, wait until the
 * others are likely connected, then run agents at the same time. Every session counts foreign
 * messages (lib/session.ts); this check also asserts, per user, that none arrived.
 */
import type { Config } from '../config.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { runAgentsOn } from './agents.ts';

/** Lets the other users' connections open before runs start, so a leak has somewhere to go. */
const GATHER_MS = 500;

export async function checkIsolation(config: Config, tokens: TokenProvider, runsPerUser: number): Promise<void> {
  const cred = await tokens.credentialFor(uniqueUser('iso'));
  const session = new Session(config, { userId: cred.userId, token: cred.token });
  if (!expect(await session.opened(), 'connection opens for the isolation check', () => `close ${session.closeInfo?.code ?? 'none'}`)) return;
  await sleepMs(GATHER_MS);
  await runAgentsOn(session, config, { runs: runsPerUser, staggerMs: 20, lingerMs: GATHER_MS });
  const first = session.foreign[0];
  expect(session.foreign.length === 0, 'user receives only their own events', () =>
    `user ${cred.userId} received ${session.foreign.length} message(s) of other users, first ${first?.type} of run ${String(first?.['run_id'])} belonging to ${String(first?.['user_id'] ?? first?.['to_user_id'])}`,
  );
  await session.closeAndWait();
}

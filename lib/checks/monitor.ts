/**
 * What the monitor keeps doing for minutes or hours: a pool of long-lived connections that must
 * stay up (each answers a ping every PING_EVERY_MS; an unasked close counts as a drop and the
 * connection is reopened), and synthetic probes that each connect, run one agent, check its five
 * events and disconnect. The CLI judges the resulting metric stream in rolling windows.
 */
import type { Config } from '../core/config.ts';
import { connectionDrops } from '../metrics.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { runAgentsOn } from './agents.ts';

const PING_EVERY_MS = 15_000;
const PONG_TIMEOUT_MS = 5000;
/** Pause before reopening a dropped pool connection, so a down service is not hammered. */
const REOPEN_AFTER_MS = 5000;

/** Holds one pool connection for `holdMs`, pinging it; returns early (after a pause) when it drops. */
export async function holdPoolConnection(config: Config, tokens: TokenProvider, holdMs: number): Promise<void> {
  const cred = await tokens.credentialFor(uniqueUser('pool'));
  // Connection success is sampled by the probes, which arrive at a fixed rate; the pool's reopen
  // attempts would weigh an outage by how often it retries, so they count as drops, not samples.
  const session = new Session(config, { userId: cred.userId, token: cred.token, countsTowardSuccess: false });
  if (!expect(await session.opened(), 'pool connection opens', () => `close ${session.closeInfo?.code ?? 'none'}`)) {
    await sleepMs(REOPEN_AFTER_MS);
    return;
  }
  const until = Date.now() + holdMs;
  let n = 0;
  while (Date.now() < until && session.state === 'open') {
    // Wakes at the next ping or at a drop, whichever comes first, so a drop is noticed at once.
    await session.next(() => false, Math.min(PING_EVERY_MS, until - Date.now()));
    if (session.state !== 'open' || Date.now() >= until) break;
    const pong = await session.alive(`pool-${++n}`, PONG_TIMEOUT_MS);
    expect(pong, 'pool connection is alive (answers a ping where the protocol has one)', () => (session.state === 'open' ? 'no pong' : `closed with ${session.closeInfo?.code}`));
  }
  const dropped = session.state === 'closed';
  if (dropped) connectionDrops.add(1);
  expect(!dropped, 'pool connection stays open until the monitor closes it', () =>
    `closed with ${[session.closeInfo?.code, session.closeInfo?.reason].filter(Boolean).join(' ')} after ${Math.round((session.closeInfo?.afterMs ?? 0) / 1000)} s`,
  );
  await session.closeAndWait();
  if (dropped) await sleepMs(REOPEN_AFTER_MS);
}

/** One synthetic probe: connect, run one agent, check every event, disconnect. */
export async function syntheticProbe(config: Config, tokens: TokenProvider): Promise<void> {
  const cred = await tokens.credentialFor(uniqueUser('probe'));
  const session = new Session(config, { userId: cred.userId, token: cred.token });
  if (!expect(await session.opened(), 'probe connection opens', () => `close ${session.closeInfo?.code ?? 'none'}`)) return;
  await runAgentsOn(session, config, { runs: 1 });
  await session.closeAndWait();
}

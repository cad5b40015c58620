/**
 * Does each user see only their own events? Several users (one VU each) connect, wait until the
 * others are likely connected, then run agents at the same time. Every session counts foreign
 * messages (lib/session.ts); this check also asserts, per user, that none arrived.
 */
import type { Config } from '../config.ts';
import { isolationViolations } from '../metrics.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import type { Inbound } from '../dialects/dialect.ts';
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
    `user ${cred.userId} received ${session.foreign.length} message(s) of other users, first ${first?.label ?? '?'} belonging to ${first?.owner ?? '?'}`,
  );
  await session.closeAndWait();
}

export interface Cohort {
  /** This user's place among the cohort, 0..size-1. */
  index: number;
  size: number;
  /** Shared by every member of the cohort for this run (from setup data). */
  nonce: string;
}

const cohortUser = (c: Cohort, i: number): string => `wsgate-cohort-${c.nonce}-${(i + c.size) % c.size}`;
const cohortRoom = (c: Cohort, i: number): string => `wsgate-room-${c.nonce}-${i % 2}`;

/**
 * Isolation under interleaved traffic: every member of a cohort runs agents, sends one direct
 * message to the next member and one message to its room (members alternate between two rooms).
 * Each must receive exactly the direct message meant for it, exactly its room's messages, and
 * nothing of anyone else's: a single foreign event fails the check and counts as a violation.
 */
export async function checkCohortIsolation(config: Config, tokens: TokenProvider, cohort: Cohort, runs: number): Promise<void> {
  const me = cohortUser(cohort, cohort.index);
  const room = cohortRoom(cohort, cohort.index);
  const cred = await tokens.credentialFor(me);
  const session = new Session(config, { userId: cred.userId, token: cred.token });
  if (!expect(await session.opened(), 'connection opens for the isolation check', () => `close ${session.closeInfo?.code ?? 'none'}`)) return;

  const directs: Extract<Inbound, { kind: 'direct' }>[] = [];
  const roomMessages: Inbound[] = [];
  const foreignRooms: Inbound[] = [];
  session.onMessage((m) => {
    if (m.kind === 'direct' && m.to === me) directs.push(m);
    if (m.kind === 'room') {
      if (m.room === room) roomMessages.push(m);
      else {
        foreignRooms.push(m);
        isolationViolations.add(1);
      }
    }
  });
  session.send(session.codec.joinRoom(room));
  await session.next((m) => m.kind === 'room-joined', 5000);
  await sleepMs(GATHER_MS * 2);

  session.send(session.codec.direct(cohortUser(cohort, cohort.index + 1), `${me}-dm`, { from: me, seq: 1 }));
  session.send(session.codec.roomMessage(room, `${me}-rm`, { from: me, seq: 1 }));
  await runAgentsOn(session, config, { runs, staggerMs: 10, lingerMs: GATHER_MS * 2 });

  const sender = cohortUser(cohort, cohort.index - 1);
  expect(
    directs.length === 1 && directs[0]?.from === sender,
    'user receives exactly the one direct message sent to them',
    () => `user ${me} received ${directs.length} direct message(s)${directs[0] ? ', first from ' + String(directs[0].from) : ''}; expected 1 from ${sender}`,
  );
  const members = Array.from({ length: cohort.size }, (_, i) => i).filter((i) => i % 2 === cohort.index % 2).length;
  expect(roomMessages.length === members, "user receives each of their room's messages once", () =>
    `user ${me} received ${roomMessages.length} message(s) in ${room}; the room has ${members} member(s) who each sent one`,
  );
  const firstForeign = session.foreign[0] ?? foreignRooms[0];
  const foreignCount = session.foreign.length + foreignRooms.length;
  expect(foreignCount === 0, "user receives nothing meant for other users or rooms", () =>
    `user ${me} received ${foreignCount} foreign message(s), first ${firstForeign?.label ?? '?'} belonging to ${firstForeign?.owner ?? (firstForeign?.kind === 'room' ? 'room ' + firstForeign.room : '?')}`,
  );
  await session.closeAndWait();
}

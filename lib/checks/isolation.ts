/**
 * Does each user see only their own events? Several users (one VU each) connect, wait until the
 * others are likely connected, then run agents at the same time. Every session counts foreign
 * messages (lib/session.ts); this check also asserts, per user, that none arrived. Where users have
 * personal streams another user can ask for, the security half: asking for someone else's must be
 * refused, and nothing of theirs may arrive (checkPersonalStreamGuard).
 */
import type { Config } from '../core/config.ts';
import { dialectFor } from '../dialect-for.ts';
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

/** How long a subscription request may take to be answered. */
const ANSWER_MS = 5000;

/**
 * The security half of isolation, for dialects with personal streams (personal-channel-guard): user
 * A asks for user B's personal stream and must be refused in the dialect's own terms (Centrifugo:
 * error 103 on the subscribe); then B runs agents, and A must receive nothing of them. A stream
 * that is open to anyone fails the first expectation, and every event of B's that reaches A is an
 * isolation violation besides.
 */
export async function checkPersonalStreamGuard(config: Config, tokens: TokenProvider): Promise<void> {
  const a = await tokens.credentialFor(uniqueUser('intruder'));
  const b = await tokens.credentialFor(uniqueUser('owner'));
  if (!expect(a.userId !== b.userId, 'two distinct users for the personal-stream check', () => `both tokens are for ${a.userId}; give the token file two users at least`)) return;
  const intruder = new Session(config, { userId: a.userId, token: a.token });
  const owner = new Session(config, { userId: b.userId, token: b.token });
  const [aOpen, bOpen] = await Promise.all([intruder.opened(), owner.opened()]);
  if (!expect(aOpen && bOpen, 'both users connect for the personal-stream check', () => `${a.userId}: ${aOpen ? 'open' : 'refused'}, ${b.userId}: ${bOpen ? 'open' : 'refused'}`)) {
    await Promise.all([intruder.closeAndWait(), owner.closeAndWait()]);
    return;
  }
  const ask = intruder.codec.subscribeUser(b.userId);
  if (ask === undefined) throw new Error(`the ${config.dialect} dialect claims personal streams but cannot ask for another user's`);
  const answered = intruder.next((m) => m.kind === 'subscribe-refused' || m.kind === 'subscribed', ANSWER_MS);
  intruder.send(ask);
  const answer = await answered;
  expect(answer?.kind === 'subscribe-refused', "asking for another user's personal stream is refused", () =>
    answer?.kind === 'subscribed' ? `user ${a.userId} was subscribed to ${answer.stream}` : intruder.state === 'closed' ? `closed with ${intruder.closeInfo?.code}` : `no answer within ${ANSWER_MS} ms`,
  );
  if (dialectFor(config).capabilities.has('agent-runs')) {
    await runAgentsOn(owner, config, { runs: 2, staggerMs: 10, lingerMs: GATHER_MS, label: 'guarded' });
    const first = intruder.foreign[0];
    expect(intruder.foreign.length === 0, "nothing of another user's personal stream reaches the user who asked for it", () =>
      `user ${a.userId} received ${intruder.foreign.length} message(s) of ${b.userId}'s, first ${first?.label ?? '?'}`,
    );
  }
  await Promise.all([intruder.closeAndWait(), owner.closeAndWait()]);
}

/**
 * Isolation under interleaved traffic: every member of a cohort runs agents, sends one direct
 * message to the next member and one message to its room (members alternate between two rooms).
 * Each must receive exactly the direct message meant for it, exactly its room's messages, and
 * nothing of anyone else's: a single foreign event fails the check and counts as a violation.
 * A dialect without direct messages or rooms (Centrifugo's personal channels) skips that traffic:
 * its cohort runs agents side by side, and every foreign event still fails the check.
 */
export async function checkCohortIsolation(config: Config, tokens: TokenProvider, cohort: Cohort, runs: number): Promise<void> {
  const me = cohortUser(cohort, cohort.index);
  const room = cohortRoom(cohort, cohort.index);
  const cred = await tokens.credentialFor(me);
  const session = new Session(config, { userId: cred.userId, token: cred.token });
  if (!expect(await session.opened(), 'connection opens for the isolation check', () => `close ${session.closeInfo?.code ?? 'none'}`)) return;

  const caps = dialectFor(config).capabilities;
  const directMessages = caps.has('direct-messages');
  const rooms = caps.has('rooms');
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
  if (rooms) {
    session.send(session.codec.joinRoom(room));
    await session.next((m) => m.kind === 'room-joined', 5000);
  }
  await sleepMs(GATHER_MS * 2);

  if (directMessages) session.send(session.codec.direct(cohortUser(cohort, cohort.index + 1), `${me}-dm`, { from: me, seq: 1 }));
  if (rooms) session.send(session.codec.roomMessage(room, `${me}-rm`, { from: me, seq: 1 }));
  await runAgentsOn(session, config, { runs, staggerMs: 10, lingerMs: GATHER_MS * 2 });

  const sender = cohortUser(cohort, cohort.index - 1);
  if (directMessages) {
    expect(
      directs.length === 1 && directs[0]?.from === sender,
      'user receives exactly the one direct message sent to them',
      () => `user ${me} received ${directs.length} direct message(s)${directs[0] ? ', first from ' + String(directs[0].from) : ''}; expected 1 from ${sender}`,
    );
  }
  const members = Array.from({ length: cohort.size }, (_, i) => i).filter((i) => i % 2 === cohort.index % 2).length;
  if (rooms) {
    expect(roomMessages.length === members, "user receives each of their room's messages once", () =>
      `user ${me} received ${roomMessages.length} message(s) in ${room}; the room has ${members} member(s) who each sent one`,
    );
  }
  const firstForeign = session.foreign[0] ?? foreignRooms[0];
  const foreignCount = session.foreign.length + foreignRooms.length;
  expect(foreignCount === 0, "user receives nothing meant for other users or rooms", () =>
    `user ${me} received ${foreignCount} foreign message(s), first ${firstForeign?.label ?? '?'} belonging to ${firstForeign?.owner ?? (firstForeign?.kind === 'room' ? 'room ' + firstForeign.room : '?')}`,
  );
  await session.closeAndWait();
}

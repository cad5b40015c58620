/**
 * The multi-user runner (lib/multi/runner.ts) playing a small mixed plan against the reference service
 * in this process: four users, striped over two VUs as scenarios/multi-user.ts stripes them, one group
 * chatting (direct messages, a broadcast room, a turn-taking room) and one running agents. Healthy:
 * every expected delivery is seen, exactly once and in order, and nobody receives anything of anyone
 * else. Under isolation_leak (agent events copied to another user) the violations are recorded and the
 * user who got them fails; under handshake_403 nothing is delivered and the delivery checks say so.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Plan } from '../../lib/core/multi-plan.ts';
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';
import type { Timing } from '../../lib/multi/runner.ts';
import type { FaultName } from '../../reference-service/service.ts';
import { assertChecks, assertFailed, installEngineHost, rateOf, SECRET, startReference } from '../helpers/engine-host.ts';
import type { Recorded } from '../helpers/engine-host.ts';

const engine = installEngineHost({ WSGATE_JWT_SECRET: SECRET });
const { runUsers } = await import('../../lib/multi/runner.ts');

const USERS = 4;
const MESSAGES = 3;
/** Group 0 (users 0, 1) chats, group 1 (users 2, 3) runs agents: half the groups, spread by Plan.role. */
const PLAN = { scenario: 'mixed', users: USERS, groupSize: 2, messages: MESSAGES, agentPercent: 50 } as const;
const VUS = 2;

/**
 * The plan's phases as scenarios/multi-user.ts sets them, on a shorter clock: users open 100 ms apart
 * (user 0 first), sends start a second after the last opened (rooms joined), each sender's messages
 * 400 ms apart as in the scenario (the turn-taking room's turns, from two connections, 200 ms apart:
 * a shared machine must not swap them), judged a second after the last send.
 */
function timing(): Timing {
  const rampStart = Date.now() + 100;
  const rampPerS = 10;
  const startAt = rampStart + (USERS / rampPerS) * 1000 + 1000;
  const windowMs = MESSAGES * 400;
  const settleMs = 1000;
  return { rampStart, rampPerS, startAt, windowMs, settleMs, holdUntil: startAt + windowMs + settleMs + 300 };
}

/** Runs the plan with `faults` on a service of its own: each VU plays the users striped to it (u mod VUS). */
async function play(t: { after(fn: () => Promise<void>): void }, faults: readonly FaultName[]): Promise<{ run: Recorded<void>; plan: Plan }> {
  const r = await startReference(t, faults);
  const plan = new Plan(PLAN, Date.now().toString(36));
  const clock = timing();
  const striped = (vu: number): number[] => Array.from({ length: USERS }, (_, u) => u).filter((u) => u % VUS === vu);
  const run = await engine.record('multi-user', (vu) => runUsers(r.config, r.tokens, plan, striped(vu), clock), { vus: VUS });
  return { run, plan };
}

const AGENT_RUN = 'agent run delivers all five events in order, one run id, rising seq, within the deadline';
const delivered = (p: string): string => `${p}: every message reaches its recipient exactly once, in order`;
const NOTHING_FOREIGN = 'user receives nothing addressed to others';
const HELD = 'connection stays open for the whole hold';

describe('the multi-user runner against the reference service', { concurrency: true, timeout: 30_000 }, () => {
  test('healthy: every expected delivery is seen once and in order, no isolation violation', async (t) => {
    const { run, plan } = await play(t, []);
    assert.deepEqual([0, 1].map((g) => plan.role(g)), ['chat', 'agent'], 'the plan has a chatting group and an agent group');
    assertChecks(run, {
      // one stream per pattern for each of the two chatting users
      [delivered('targeted')]: [2, 0],
      [delivered('broadcast')]: [2, 0],
      [delivered('sequential')]: [2, 0],
      [NOTHING_FOREIGN]: [USERS, 0],
      [AGENT_RUN]: [2 * MESSAGES, 0],
      [HELD]: [USERS, 0],
    });
    // Per chatting user: MESSAGES direct, MESSAGES broadcast, and every turn of both members.
    const expected = 2 * (MESSAGES + MESSAGES + 2 * MESSAGES);
    assert.deepEqual(rateOf(run, CLIENT_METRICS.delivery), [expected, expected]);
    assert.equal(run.metric(CLIENT_METRICS.isolationViolations), undefined);
    assert.equal(run.metric(CLIENT_METRICS.duplicates), undefined);
  });

  test('isolation_leak: the leaked agent events are violations, and the user who got them fails', async (t) => {
    const { run, plan } = await play(t, ['isolation_leak']);
    // The service copies every third agent event to the first user it holds: user 0, who opened first.
    assert.equal(run.metric(CLIENT_METRICS.isolationViolations)?.sum, (2 * MESSAGES * 5) / 3, 'every third of the 30 agent events');
    assert.deepEqual(run.checks[NOTHING_FOREIGN], { passes: USERS - 1, fails: 1 });
    const owners = new RegExp(`^user 0 received \\d+ message\\(s\\) of others, first agent_\\w+ .*belonging to (${plan.userId(2)}|${plan.userId(3)})$`);
    assertFailed(run, NOTHING_FOREIGN, owners);
    // The leak copies; every user still gets what was meant for them.
    assert.deepEqual(run.checks[delivered('targeted')], { passes: 2, fails: 0 });
    assert.deepEqual(run.checks[AGENT_RUN], { passes: 2 * MESSAGES, fails: 0 });
  });

  test('handshake_403: nobody connects, and every expected delivery is reported missing', async (t) => {
    const { run } = await play(t, ['handshake_403']);
    assertFailed(run, delivered('targeted'), new RegExp(`^user [01] stream t:[01]: 0 of ${MESSAGES} delivered, 0 duplicate\\(s\\), 0 out of order$`));
    assertFailed(run, delivered('sequential'), new RegExp(`^user [01] stream s:0: 0 of ${2 * MESSAGES} delivered`));
    assert.deepEqual(run.checks[HELD], { passes: 0, fails: USERS });
    assert.deepEqual(rateOf(run, CLIENT_METRICS.delivery), [0, 24]);
  });
});

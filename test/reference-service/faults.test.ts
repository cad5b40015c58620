/**
 * Every fault the reference service plays does what docs/protocol.md ("Faults") says, watched on a
 * running service. The tests are keyed by fault name, one table per list in reference-service/faults.ts
 * (the seven regressions, validation's breakages, the rare family among them), and each list's names
 * make its tests: a name without a test that watches it act fails here (and fails the type check),
 * and the lists are never copied into this file. `hostile`, the adversary, has test/reference-service/hostile.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { RareDice, seededRandom } from '../../reference-service/rare.ts';
import { RARE_PERIOD } from '../../reference-service/faults.ts';
import { FAULT_NAMES, RARE_FAULT_NAMES, VALIDATION_FAULT_NAMES } from '../../reference-service/service.ts';
import type { FaultName } from '../../reference-service/service.ts';
import { connect, connectAs, delay, eventually, getJson, metric, postJson, refusal, signToken, start, tokenFor, within } from './helpers.ts';
import type { Client, Frame } from './helpers.ts';
import { WebSocket } from 'ws';

const run = (messageId: string): Record<string, string> => ({
  type: 'user_message',
  thread_id: 'thread',
  message_id: messageId,
  content: 'go',
});

/** One sentence of a fault's description, watched: the test starts its own service with the fault. */
type Watch = (t: TestContext) => Promise<void>;
/** A fault's tests, each titled by what it shows. */
type Watched = Readonly<Record<string, Watch>>;

/**
 * The tests of every fault in `names`, titled `<fault>: <what it shows>`, side by side (each starts
 * its own service, so the slow, timer-driven ones overlap). A fault with no test fails.
 */
function watchEach(names: readonly FaultName[], table: Partial<Record<FaultName, Watched>>): void {
  for (const fault of names) {
    const watched = Object.entries(table[fault] ?? {});
    if (watched.length === 0) test(`${fault}: a test watches it act`, () => assert.fail(`${fault} is a fault the service accepts, and no test here watches what it does`));
    for (const [what, watch] of watched) test(`${fault}: ${what}`, watch);
  }
}

type RegressionFault = (typeof FAULT_NAMES)[number];
type ValidationFault = (typeof VALIDATION_FAULT_NAMES)[number];
type RareFault = (typeof RARE_FAULT_NAMES)[number];

const REGRESSION_FAULTS: { readonly [F in RegressionFault]: Watched } = {
  handshake_403: {
    'a valid token is refused with 403; turning it off restores handshakes': async (t) => {
      const target = await start(t, { faults: ['handshake_403'] });
      assert.deepEqual(target.faults, ['handshake_403']);
      const token = await tokenFor(target, 'alice');
      for (const via of ['header', 'subprotocol'] as const) {
        const answer = await refusal(target.wsUrl, { token, via });
        assert.equal(answer.status, 403);
        assert.deepEqual(answer.body, { error: 'forbidden' });
      }
      // Missing tokens are still a 401: the fault only bites where a healthy service would say 101.
      assert.equal((await refusal(target.wsUrl)).status, 401);
      assert.equal(await metric(target, 'wsgate_handshake_rejections_total{status="403"}'), 2);
      target.setFault('handshake_403', false);
      assert.deepEqual(target.faults, []);
      const client = await connect(target.wsUrl, { token });
      assert.equal((await client.next()).type, 'connection_established');
    },
  },
  jwt_secret_desync: {
    'tokens from the auth service fail verification at the backend': async (t) => {
      const target = await start(t, { faults: ['jwt_secret_desync'] });
      const token = await tokenFor(target, 'alice');
      const answer = await refusal(target.wsUrl, { token });
      assert.equal(answer.status, 403);
      assert.deepEqual(answer.body, { error: 'invalid_token' });
      target.setFault('jwt_secret_desync', false);
      const client = await connect(target.wsUrl, { token });
      assert.equal((await client.next()).type, 'connection_established');
      // Toggled on again at runtime, in-band refreshes fail the same way.
      target.setFault('jwt_secret_desync', true);
      client.send({ type: 'refresh_token', token: await tokenFor(target, 'alice') });
      assert.equal((await client.next())['code'], 'refresh_rejected');
    },
  },
  idle_timeout: {
    'a silent connection is dropped without a close frame; a chatty one stays': async (t) => {
      const target = await start(t, { faults: ['idle_timeout'], idleTimeoutS: 0.4 });
      const opened = Date.now(); // before the server's idle clock starts, so a lower bound holds
      const silent = await connectAs(target, 'quiet');
      const chatty = await connectAs(target, 'talker');
      let silentClosedAt = 0;
      void silent.closed.then(() => (silentClosedAt = Date.now()));
      for (let i = 0; i < 8; i++) {
        await delay(100);
        assert.equal((await chatty.roundTrip(i))['id'], i);
      }
      const closed = await silent.whenClosed();
      assert.equal(closed.code, 1006, 'no close frame: abnormal closure');
      const lifetime = silentClosedAt - opened;
      assert.ok(lifetime >= 395 && lifetime < 1000, `dropped after ${lifetime} ms`);
      assert.equal(chatty.ws.readyState, chatty.ws.OPEN);
      // WebSocket ping control frames count as traffic too.
      const pinger = await connectAs(target, 'pinger');
      for (let i = 0; i < 6; i++) {
        await delay(100);
        pinger.ws.ping();
      }
      assert.equal(pinger.ws.readyState, pinger.ws.OPEN);
      // Meanwhile the talker went quiet for 600 ms and was dropped in turn.
      assert.equal((await chatty.whenClosed()).code, 1006);
      await eventually(() => target.stats().users === 1);
      assert.deepEqual(target.stats(), { active_connections: 1, users: 1 });
    },
  },
  isolation_leak: {
    'every third agent event also goes to another user': async (t) => {
      const target = await start(t, { faults: ['isolation_leak'], stepDelayMs: 5 });
      const alice = await connectAs(target, 'alice');
      const bob = await connectAs(target, 'bob');
      alice.send(run('secret-1'));
      const own = await alice.take(5);
      assert.deepEqual(own.map((e) => e.type), ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']);
      const leaked = await bob.drain(50);
      // Events 3 of the five: one leaked frame, alice's, verbatim.
      assert.equal(leaked.length, 1);
      assert.deepEqual(leaked[0], own[2]);
      assert.equal(leaked[0]?.['user_id'], 'alice');
      // The next run continues the global count: its events 1 and 4 (global 6 and 9) leak.
      alice.send(run('secret-2'));
      const second = await alice.take(5);
      const leakedAgain = await bob.drain(50);
      assert.deepEqual(leakedAgain, [second[0], second[3]]);
    },
    'with nobody else connected leaks nothing and breaks nothing': async (t) => {
      const target = await start(t, { faults: ['isolation_leak'], stepDelayMs: 1 });
      const alice = await connectAs(target, 'alice');
      const alice2 = await connectAs(target, 'alice');
      alice.send(run('m'));
      assert.equal((await alice.take(5)).length, 5);
      assert.deepEqual(await alice2.drain(30), []);
    },
  },
  missing_agent_events: {
    'every second run skips one event, rotating which': async (t) => {
      const target = await start(t, { faults: ['missing_agent_events'], stepDelayMs: 2 });
      const client = await connectAs(target, 'alice');
      const seqs: number[][] = [];
      for (let i = 1; i <= 6; i++) {
        client.send(run(`m-${i}`));
        const events = await client.drain(60);
        assert.ok(events.every((e) => e['message_id'] === `m-${i}`));
        seqs.push(events.map((e) => e['seq'] as number));
      }
      assert.deepEqual(seqs, [
        [1, 2, 3, 4, 5],
        [2, 3, 4, 5],
        [1, 2, 3, 4, 5],
        [1, 3, 4, 5],
        [1, 2, 3, 4, 5],
        [1, 2, 4, 5],
      ]);
      assert.equal(await metric(target, 'wsgate_agent_events_total{event="agent_started"}'), 5);
      assert.equal(await metric(target, 'wsgate_agent_events_total{event="agent_thinking"}'), 5);
      assert.equal(await metric(target, 'wsgate_agent_events_total{event="tool_completed"}'), 6);
    },
  },
  connection_leak: {
    'closed connections stay counted in /health, /metrics and stats()': async (t) => {
      const target = await start(t, { faults: ['connection_leak'] });
      const alice = await connectAs(target, 'alice');
      const bob = await connectAs(target, 'bob');
      await alice.close();
      await bob.close();
      await delay(100);
      const carol = await connectAs(target, 'carol');
      await carol.close();
      await delay(100);
      assert.deepEqual(target.stats(), { active_connections: 3, users: 3 });
      const health = await getJson(`${target.httpUrl}/health`);
      assert.equal(health.body['active_connections'], 3);
      assert.equal(health.body['users'], 3);
      assert.equal(await metric(target, 'wsgate_active_connections'), 3);
      assert.equal(await metric(target, 'wsgate_users'), 3);
      // A leaked user who comes back is not counted twice.
      await connectAs(target, 'alice');
      assert.deepEqual(target.stats(), { active_connections: 4, users: 3 });
    },
    'holds what it leaks: reaped and dropped connections stay registered too': async (t) => {
      const target = await start(t, { faults: ['connection_leak'], heartbeatIntervalS: 0.2, heartbeatTimeoutS: 0.5 });
      const mute = await connectAs(target, 'vanished', { ws: { autoPong: false } });
      assert.equal((await mute.whenClosed(2000)).code, 1006);
      const alice = await connectAs(target, 'alice');
      // A direct message to the leaked user finds only a dead connection: nothing breaks, nothing is sent.
      alice.send({ type: 'direct_message', to_user_id: 'vanished', message_id: 'dm', content: 'hi' });
      assert.equal((await alice.roundTrip('ok'))['id'], 'ok');
      await delay(50);
      assert.deepEqual(target.stats(), { active_connections: 2, users: 2 });
    },
  },
  token_refresh_broken: {
    '/auth/refresh is 500, in-band refresh is rejected, the connection dies at its original expiry': async (t) => {
      // exp has whole-second resolution, so a 1 s token can have ~0 ms left: 2 s leaves at least 1 s for the refresh.
      const target = await start(t, { faults: ['token_refresh_broken'], tokenTtlS: 2 });
      const issued = await postJson(`${target.authUrl}/auth/token`, { user_id: 'alice' });
      const refreshed = await postJson(`${target.authUrl}/auth/refresh`, { refresh_token: issued.body['refresh_token'] });
      assert.equal(refreshed.status, 500);
      assert.deepEqual(await postJson(`${target.authUrl}/auth/refresh`, 'not json'), { status: 500, body: { error: 'internal_error' } });
      const client = await connect(target.wsUrl, { token: String(issued.body['access_token']) });
      const established = await client.next();
      client.send({ type: 'refresh_token', token: await signToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }) });
      const answer = await client.next();
      assert.equal(answer.type, 'error');
      assert.equal(answer['code'], 'refresh_rejected');
      assert.deepEqual(await client.whenClosed(), { code: 4001, reason: 'token_expired' });
      assert.ok(Date.now() >= (established['expires_at'] as number) - 5);
      assert.equal(await metric(target, 'wsgate_token_refreshes_total{result="rejected"}'), 1);
    },
  },
};

describe('the regressions\' faults (FAULT_NAMES)', { concurrency: true }, () => {
  watchEach(FAULT_NAMES, REGRESSION_FAULTS);

  test('idle_timeout off (the default): a silent connection stays open', async (t) => {
    const target = await start(t, { idleTimeoutS: 0.2 });
    const silent = await connectAs(target, 'quiet');
    await delay(500);
    assert.equal((await silent.roundTrip('ok'))['id'], 'ok');
  });
});

// ---- Validation's faults: the rare family, slow_handshake, duplicate_final_event, no_reaping ----

const EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
const RUNS = 300;

/** Starts RUNS runs on one connection and returns each run's frames (by message id), once all went quiet. */
async function runMany(client: Client, quietMs = 150): Promise<Map<string, Frame[]>> {
  for (let i = 0; i < RUNS; i++) client.send(run(`m-${i}`));
  const byRun = new Map<string, Frame[]>();
  for (let i = 0; i < RUNS; i++) byRun.set(`m-${i}`, []);
  for (;;) {
    const frames = await client.drain(quietMs);
    if (frames.length === 0) break;
    for (const f of frames) byRun.get(String(f['message_id']))?.push(f);
  }
  return byRun;
}

const isHealthyRun = (frames: Frame[], userId: string): boolean =>
  frames.map((f) => f.type).join() === EVENTS.join() &&
  frames.every((f, i) => f['seq'] === i + 1 && f['run_id'] === frames[0]?.['run_id'] && f['user_id'] === userId);

/** 2% to 5% of `n`: what "rare" promises, measured. */
function assertRare(hits: number, n: number, what: string): void {
  assert.ok(hits >= 0.02 * n && hits <= 0.05 * n, `${what}: ${hits} of ${n} (${((100 * hits) / n).toFixed(1)}%), not 2-5%`);
}

/**
 * A rare fault that bends whole agent runs: over RUNS runs, 2-5% of them show exactly `deformed`
 * (its deformity), the rest are whole, and nothing reaches a bystander.
 */
function bendsRareRuns(fault: RareFault, deformed: (frames: Frame[], userId: string) => boolean): Watched {
  return {
    [`2-5% of ${RUNS} runs show it, every other run is whole`]: async (t) => {
      const target = await start(t, { faults: [fault], stepDelayMs: 1, faultSeed: 42 });
      const other = await connectAs(target, 'bystander'); // someone rare_mislabel can name
      const client = await connectAs(target, 'alice');
      const runs = await runMany(client);
      const bent = [...runs.values()].filter((f) => !isHealthyRun(f, 'alice'));
      assertRare(bent.length, RUNS, fault);
      for (const f of bent) assert.ok(deformed(f, 'alice'), `${fault} played ${JSON.stringify(f.map((e) => [e.type, e['seq'], e['run_id'], e['user_id']]))}`);
      assert.deepEqual(await other.drain(0), [], 'nothing reached the bystander');
    },
  };
}

/** The rare family: each one hits 2-5% of what it acts on (one in RARE_PERIOD), and does only that. */
const RARE_FAULTS: { readonly [F in RareFault]: Watched } = {
  rare_event_loss: bendsRareRuns('rare_event_loss', (f) => f.length === 4 && new Set(f.map((e) => e.type)).size === 4),
  rare_duplicate_event: bendsRareRuns('rare_duplicate_event', (f) => f.length === 6 && new Set(f.map((e) => e.type)).size === 5 && f.some((e, i) => i > 0 && e.type === f[i - 1]?.type)),
  rare_reorder: bendsRareRuns('rare_reorder', (f) => {
    const types = f.map((e) => e.type);
    const k = types.findIndex((t, i) => t !== EVENTS[i]);
    return f.length === 5 && k >= 0 && types[k] === EVENTS[k + 1] && types[k + 1] === EVENTS[k] && types.slice(k + 2).join() === EVENTS.slice(k + 2).join() && f[k]?.['seq'] === k + 2;
  }),
  rare_mislabel: bendsRareRuns('rare_mislabel', (f, user) => {
    const ids = f.map((e) => e['run_id']);
    const own = ids.find((id) => ids.filter((x) => x === id).length >= 4);
    return f.length === 5 && f.filter((e) => e['run_id'] !== own || e['user_id'] !== user).length === 1;
  }),
  rare_late_run: {
    '2-5% of runs deliver agent_completed lateRunMs after the rest; without the fault none is late': async (t) => {
      const target = await start(t, { faults: ['rare_late_run'], stepDelayMs: 1, lateRunMs: 400, faultSeed: 3 });
      const client = await connectAs(target, 'alice');
      const runs = await runMany(client, 600);
      let late = 0;
      for (const f of runs.values()) {
        assert.ok(isHealthyRun(f, 'alice'), 'a late run is still whole');
        const gap = (f[4]?.['timestamp'] as number) - (f[3]?.['timestamp'] as number);
        if (gap >= 350) late++;
        else assert.ok(gap < 200, `an on-time run's last step took ${gap} ms`);
      }
      assertRare(late, RUNS, 'late runs');
    },
  },
  rare_stop_midway: bendsRareRuns('rare_stop_midway', (f) => f.map((e) => e.type).join() === 'agent_started,agent_thinking'),
  rare_connection_reset: {
    '2-5% of connections are refused with 503 or reset right after their greeting': async (t) => {
      const target = await start(t, { faults: ['rare_connection_reset'], faultSeed: 11 });
      const token = await tokenFor(target, 'alice');
      const outcomes: string[] = [];
      for (let batch = 0; batch < RUNS; batch += 50) {
        const attempts = Array.from({ length: 50 }, async (): Promise<string> => {
          let client: Client;
          try {
            client = await connect(target.wsUrl, { token });
          } catch (error) {
            return String((error as Error).message);
          }
          const first = await client.next();
          if (first.type !== 'connection_established') return `first frame ${first.type}`;
          const closed = await Promise.race([client.closed, delay(100).then(() => undefined)]);
          if (closed !== undefined) return `greeted, then closed ${closed.code}`;
          await client.close();
          return 'ok';
        });
        outcomes.push(...(await Promise.all(attempts)));
      }
      const failed = outcomes.filter((o) => o !== 'ok');
      assertRare(failed.length, RUNS, 'reset connections');
      for (const o of failed) assert.match(o, /^(handshake refused with 503|greeted, then closed 1006)$/);
      assert.ok(failed.some((o) => o.includes('503')) && failed.some((o) => o.includes('1006')), `both kinds: ${failed.join(', ')}`);
    },
  },
  rare_message_loss: {
    '2-5% of agent events never leave the server': async (t) => {
      const target = await start(t, { faults: ['rare_message_loss'], stepDelayMs: 1, faultSeed: 5 });
      const client = await connectAs(target, 'alice');
      const runs = await runMany(client);
      const received = [...runs.values()].reduce((n, f) => n + f.length, 0);
      assertRare(RUNS * 5 - received, RUNS * 5, 'lost events');
      for (const f of runs.values()) assert.ok(f.every((e, i) => i === 0 || (e['seq'] as number) > (f[i - 1]?.['seq'] as number)), 'the rest keep their order');
    },
  },
};

const VALIDATION_FAULTS: { readonly [F in ValidationFault]: Watched } = {
  ...RARE_FAULTS,
  slow_handshake: {
    'every handshake, accepted or refused, is answered 3 s late; switched off, at once': async (t) => {
      const target = await start(t, { faults: ['slow_handshake'] });
      const token = await tokenFor(target, 'alice');
      const startedAt = Date.now();
      // Raw clients: the helpers give a handshake 3 s, which is exactly what this fault takes.
      const accepted = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${token}` } });
      const refused = new WebSocket(target.wsUrl);
      t.after(() => {
        accepted.terminate();
        refused.terminate();
      });
      const [openedAt, [status, refusedAt]] = await within(
        Promise.all([
          new Promise<number>((resolve, reject) => {
            accepted.once('open', () => resolve(Date.now()));
            accepted.once('error', reject);
          }),
          new Promise<[number, number]>((resolve) => {
            refused.on('error', () => {});
            refused.once('unexpected-response', (_req, res) => {
              res.resume();
              resolve([res.statusCode ?? 0, Date.now()]);
            });
          }),
        ]),
        6000,
        'the slow answers',
      );
      for (const at of [openedAt, refusedAt]) assert.ok(at - startedAt >= 2990 && at - startedAt < 4500, `answered after ${at - startedAt} ms`);
      assert.equal(status, 401);
      target.setFault('slow_handshake', false);
      const again = Date.now();
      await connectAs(target, 'bob');
      assert.ok(Date.now() - again < 1000);
    },
  },
  duplicate_final_event: {
    'every run sends agent_completed twice, the second a little after the first': async (t) => {
      const target = await start(t, { faults: ['duplicate_final_event'], stepDelayMs: 2 });
      const client = await connectAs(target, 'alice');
      for (let i = 0; i < 3; i++) {
        client.send(run(`d-${i}`));
        const frames = await client.take(6);
        assert.deepEqual(frames.map((f) => f.type), [...EVENTS, 'agent_completed']);
        assert.deepEqual(frames[5], { ...frames[4], timestamp: frames[5]?.['timestamp'] }, 'the same event again');
        const gap = (frames[5]?.['timestamp'] as number) - (frames[4]?.['timestamp'] as number);
        assert.ok(gap >= 45 && gap < 500, `second one ${gap} ms after the first`);
      }
      assert.deepEqual(await client.drain(100), []);
    },
  },
  no_reaping: {
    'the server never pings and never reaps a silent client; switched off, it does again': async (t) => {
      const target = await start(t, { faults: ['no_reaping'], heartbeatIntervalS: 0.2, heartbeatTimeoutS: 0.5 });
      const mute = await connectAs(target, 'vanished', { ws: { autoPong: false } });
      let pings = 0;
      mute.ws.on('ping', () => pings++);
      await delay(1200);
      assert.equal(mute.ws.readyState, mute.ws.OPEN);
      assert.equal(pings, 0);
      assert.deepEqual(target.stats(), { active_connections: 1, users: 1 });
      target.setFault('no_reaping', false);
      assert.equal((await mute.whenClosed(2000)).code, 1006);
      assert.ok(pings >= 1);
      await eventually(() => target.stats().active_connections === 0);
    },
  },
};

describe('validation\'s faults (VALIDATION_FAULT_NAMES)', { concurrency: true }, () => {
  watchEach(VALIDATION_FAULT_NAMES, VALIDATION_FAULTS);

  test(`the rare dice: exactly one hit in every ${RARE_PERIOD} trials, at a seeded random place in each block`, () => {
    const roll = (seed: number): number[] => {
      const dice = new RareDice(seededRandom(seed));
      const hits: number[] = [];
      for (let i = 0; i < RARE_PERIOD * 100; i++) if (dice.hit()) hits.push(i);
      return hits;
    };
    const hits = roll(7);
    assert.equal(hits.length, 100);
    hits.forEach((at, block) => assert.equal(Math.floor(at / RARE_PERIOD), block, `hit ${at} in block ${block}`));
    assert.deepEqual(roll(7), hits, 'the same seed plays the same places');
    assert.notDeepEqual(roll(8), hits);
    assert.ok(new Set(hits.map((at) => at % RARE_PERIOD)).size > 15, 'the places vary from block to block');
  });

  test('the heartbeat: a client that answers pings stays; one that does not is reaped (1006) within the timeout', async (t) => {
    const target = await start(t, { heartbeatIntervalS: 0.2, heartbeatTimeoutS: 0.5 });
    const answering = await connectAs(target, 'phone');
    let pings = 0;
    answering.ws.on('ping', () => pings++);
    const opened = Date.now();
    const mute = await connectAs(target, 'vanished', { ws: { autoPong: false } });
    const closed = await mute.whenClosed(2000);
    const after = Date.now() - opened;
    assert.equal(closed.code, 1006, 'no close frame: it was reaped, not closed');
    assert.ok(after >= 480 && after < 1200, `reaped after ${after} ms`);
    await delay(600);
    assert.ok(pings >= 2, `${pings} pings answered`);
    assert.equal((await answering.roundTrip('alive'))['id'], 'alive');
    await eventually(() => target.stats().active_connections === 1);
  });
});

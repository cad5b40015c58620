import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FAULT_NAMES } from '../../reference-service/service.ts';
import { connect, connectAs, delay, eventually, getJson, metric, postJson, refusal, signToken, start, tokenFor } from './helpers.ts';

const run = (messageId: string): Record<string, string> => ({
  type: 'user_message',
  thread_id: 'thread',
  message_id: messageId,
  content: 'go',
});

// Each test starts its own target, so the slow (timer-driven) ones can run side by side.
describe('faults', { concurrency: true }, () => {
  test('FAULT_NAMES lists the seven regressions', () => {
    assert.deepEqual(FAULT_NAMES, [
      'handshake_403',
      'jwt_secret_desync',
      'idle_timeout',
      'isolation_leak',
      'missing_agent_events',
      'connection_leak',
      'token_refresh_broken',
    ]);
  });

  test('handshake_403: a valid token is refused with 403; turning it off restores handshakes', async (t) => {
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
  });

  test('jwt_secret_desync: tokens from the auth service fail verification at the backend', async (t) => {
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
  });

  test('idle_timeout: a silent connection is dropped without a close frame; a chatty one stays', async (t) => {
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
  });

  test('idle_timeout off (the default): a silent connection stays open', async (t) => {
    const target = await start(t, { idleTimeoutS: 0.2 });
    const silent = await connectAs(target, 'quiet');
    await delay(500);
    assert.equal((await silent.roundTrip('ok'))['id'], 'ok');
  });

  test('isolation_leak: every third agent event also goes to another user', async (t) => {
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
  });

  test('isolation_leak with nobody else connected leaks nothing and breaks nothing', async (t) => {
    const target = await start(t, { faults: ['isolation_leak'], stepDelayMs: 1 });
    const alice = await connectAs(target, 'alice');
    const alice2 = await connectAs(target, 'alice');
    alice.send(run('m'));
    assert.equal((await alice.take(5)).length, 5);
    assert.deepEqual(await alice2.drain(30), []);
  });

  test('missing_agent_events: every second run skips one event, rotating which', async (t) => {
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
  });

  test('connection_leak: closed connections stay counted in /health, /metrics and stats()', async (t) => {
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
  });

  test('token_refresh_broken: /auth/refresh is 500, in-band refresh is rejected, the connection dies at its original expiry', async (t) => {
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
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectAs, eventually, metric, signToken, start } from './helpers.ts';

const EVENT_ORDER = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];

function userMessage(threadId: string, messageId: string, content = 'hello'): Record<string, string> {
  return { type: 'user_message', thread_id: threadId, message_id: messageId, content };
}

test('a user_message streams the five agent events in order, spaced by the step delay', async (t) => {
  const stepDelayMs = 30;
  const target = await start(t, { stepDelayMs });
  const client = await connectAs(target, 'alice');
  const sentAt = Date.now();
  client.send(userMessage('th-1', 'm-1'));
  const events = await client.take(5);
  assert.deepEqual(events.map((e) => e.type), EVENT_ORDER);
  assert.deepEqual(events.map((e) => e['seq']), [1, 2, 3, 4, 5]);
  const runId = events[0]?.['run_id'];
  assert.equal(typeof runId, 'string');
  for (const event of events) {
    assert.equal(event['user_id'], 'alice');
    assert.equal(event['thread_id'], 'th-1');
    assert.equal(event['message_id'], 'm-1');
    assert.equal(event['run_id'], runId);
    assert.equal(typeof event['timestamp'], 'number');
  }
  assert.equal(events[2]?.['tool'], 'search');
  assert.equal(events[3]?.['tool'], 'search');
  assert.equal(typeof events[4]?.['result'], 'string');
  assert.equal(events[0]?.['tool'], undefined);
  // The first event waits one delay too, so five events take at least five delays.
  const times = events.map((e) => e['timestamp'] as number);
  assert.ok((times[0] ?? 0) - sentAt >= stepDelayMs - 2, 'first event after one delay');
  assert.ok((times[4] ?? 0) - sentAt >= 5 * stepDelayMs - 5, `run took ${(times[4] ?? 0) - sentAt} ms`);
  assert.deepEqual(await client.drain(2 * stepDelayMs), []);

  client.send(userMessage('th-1', 'm-2'));
  const second = await client.take(5);
  assert.notEqual(second[0]?.['run_id'], runId);
  assert.equal(await metric(target, 'wsgate_agent_runs_total'), 2);
  assert.equal(await metric(target, 'wsgate_agent_events_total{event="tool_completed"}'), 2);
});

test('runs on one connection may overlap; each keeps its own order', async (t) => {
  const target = await start(t, { stepDelayMs: 5 });
  const client = await connectAs(target, 'alice');
  client.send(userMessage('a', 'm-a'));
  client.send(userMessage('b', 'm-b'));
  const events = await client.take(10);
  for (const messageId of ['m-a', 'm-b']) {
    const run = events.filter((e) => e['message_id'] === messageId);
    assert.deepEqual(run.map((e) => e.type), EVENT_ORDER);
  }
});

test('two users running at once each see only their own events', async (t) => {
  const target = await start(t, { stepDelayMs: 5 });
  const alice = await connectAs(target, 'alice');
  const bob = await connectAs(target, 'bob');
  alice.send(userMessage('t-a', 'from-alice'));
  bob.send(userMessage('t-b', 'from-bob'));
  const [aliceEvents, bobEvents] = await Promise.all([alice.take(5), bob.take(5)]);
  assert.deepEqual(aliceEvents.map((e) => [e.type, e['user_id'], e['message_id']]), EVENT_ORDER.map((type) => [type, 'alice', 'from-alice']));
  assert.deepEqual(bobEvents.map((e) => [e.type, e['user_id'], e['message_id']]), EVENT_ORDER.map((type) => [type, 'bob', 'from-bob']));
  assert.deepEqual(await alice.drain(50), []);
  assert.deepEqual(await bob.drain(0), []);
});

test('direct_message reaches every connection of the recipient and no one else', async (t) => {
  const target = await start(t);
  const alice = await connectAs(target, 'alice');
  const bob1 = await connectAs(target, 'bob');
  const bob2 = await connectAs(target, 'bob');
  const carol = await connectAs(target, 'carol');
  const content = { text: 'hi bob', nested: [1, null, true] };
  alice.send({ type: 'direct_message', to_user_id: 'bob', message_id: 'dm-1', content });
  for (const bob of [bob1, bob2]) {
    const { timestamp, ...frame } = await bob.next();
    assert.deepEqual(frame, { type: 'direct_message', from_user_id: 'alice', to_user_id: 'bob', message_id: 'dm-1', content });
    assert.equal(typeof timestamp, 'number');
  }
  // The sender gets no echo and a bystander nothing: their next frame is the pong.
  assert.equal((await alice.roundTrip()).type, 'pong');
  assert.equal((await carol.roundTrip()).type, 'pong');
  // To a user with no connection: silently dropped.
  alice.send({ type: 'direct_message', to_user_id: 'nobody', message_id: 'dm-2', content: 'x' });
  assert.equal((await alice.roundTrip()).type, 'pong');
});

test('rooms: join answers the member count, messages reach members only (sender included), leave stops them', async (t) => {
  const target = await start(t);
  const alice = await connectAs(target, 'alice');
  const bob = await connectAs(target, 'bob');
  const carol = await connectAs(target, 'carol');
  alice.send({ type: 'join_room', room: 'lobby' });
  assert.deepEqual(await alice.next(), { type: 'room_joined', room: 'lobby', members: 1 });
  bob.send({ type: 'join_room', room: 'lobby' });
  assert.deepEqual(await bob.next(), { type: 'room_joined', room: 'lobby', members: 2 });

  alice.send({ type: 'room_message', room: 'lobby', message_id: 'rm-1', content: 'hello room' });
  for (const member of [alice, bob]) {
    const { timestamp, ...frame } = await member.next();
    assert.deepEqual(frame, { type: 'room_message', room: 'lobby', from_user_id: 'alice', message_id: 'rm-1', content: 'hello room' });
    assert.equal(typeof timestamp, 'number');
  }
  assert.equal((await carol.roundTrip()).type, 'pong');

  carol.send({ type: 'room_message', room: 'lobby', message_id: 'rm-2', content: 'let me in' });
  const refused = await carol.next();
  assert.equal(refused.type, 'error');
  assert.equal(refused['code'], 'not_in_room');
  assert.equal(refused['ref_type'], 'room_message');

  bob.send({ type: 'leave_room', room: 'lobby' });
  assert.deepEqual(await bob.next(), { type: 'room_left', room: 'lobby' });
  alice.send({ type: 'room_message', room: 'lobby', message_id: 'rm-3', content: 'anyone?' });
  assert.equal((await alice.next())['message_id'], 'rm-3');
  assert.equal((await bob.roundTrip()).type, 'pong');
  bob.send({ type: 'room_message', room: 'lobby', message_id: 'rm-4', content: 'gone' });
  assert.equal((await bob.next())['code'], 'not_in_room');
});

test('ping is answered with pong echoing the id', async (t) => {
  const target = await start(t);
  const client = await connectAs(target, 'alice');
  for (const id of ['abc', 42, { n: 1 }, null]) {
    client.send({ type: 'ping', id });
    const pong = await client.next();
    assert.equal(pong.type, 'pong');
    assert.deepEqual(pong['id'], id);
    assert.equal(typeof pong['timestamp'], 'number');
  }
  client.send({ type: 'ping' });
  const bare = await client.next();
  assert.equal(bare.type, 'pong');
  assert.equal('id' in bare, false);
});

test('bad frames get an error and the connection lives on', async (t) => {
  const target = await start(t);
  const client = await connectAs(target, 'alice');
  const expectations: [unknown, Record<string, unknown>][] = [
    ['{not json', { code: 'invalid_json' }],
    ['[1,2]', { code: 'invalid_json' }],
    ['"text"', { code: 'invalid_json' }],
    [{ type: 'teleport' }, { code: 'unknown_type', ref_type: 'teleport' }],
    [{ no_type: true }, { code: 'invalid_message' }],
    [{ type: 'user_message', thread_id: 't', message_id: 7, content: 'x' }, { code: 'invalid_message', ref_type: 'user_message' }],
    [{ type: 'user_message', thread_id: 't', message_id: 'm' }, { code: 'invalid_message', ref_type: 'user_message' }],
    [{ type: 'direct_message', to_user_id: 'bob', message_id: 'm' }, { code: 'invalid_message', ref_type: 'direct_message' }],
    [{ type: 'join_room', room: '' }, { code: 'invalid_message', ref_type: 'join_room' }],
    [{ type: 'leave_room' }, { code: 'invalid_message', ref_type: 'leave_room' }],
    [{ type: 'room_message', room: 'r', content: 1 }, { code: 'invalid_message', ref_type: 'room_message' }],
    [{ type: 'refresh_token', token: 5 }, { code: 'invalid_message', ref_type: 'refresh_token' }],
  ];
  for (const [frame, expected] of expectations) {
    client.send(frame);
    const answer = await client.next();
    assert.equal(answer.type, 'error', JSON.stringify(frame));
    assert.equal(answer['code'], expected['code'], JSON.stringify(frame));
    assert.equal(answer['ref_type'], expected['ref_type'], JSON.stringify(frame));
    assert.equal(typeof answer['message'], 'string');
  }
  assert.equal((await client.roundTrip('still-here'))['id'], 'still-here');
  assert.equal(await metric(target, 'wsgate_messages_received_total'), expectations.length + 1);
});

test('a frame over max-frame-bytes closes with 1009; one at the limit is accepted', async (t) => {
  const maxFrameBytes = 1024;
  const target = await start(t, { maxFrameBytes });
  const client = await connectAs(target, 'alice');
  const base = JSON.stringify({ type: 'ping', id: '' });
  const atLimit = JSON.stringify({ type: 'ping', id: 'x'.repeat(maxFrameBytes - base.length) });
  assert.equal(Buffer.byteLength(atLimit), maxFrameBytes);
  client.send(atLimit);
  assert.equal((await client.next()).type, 'pong');
  client.send(JSON.stringify({ type: 'ping', id: 'x'.repeat(maxFrameBytes) }));
  const closed = await client.whenClosed();
  assert.equal(closed.code, 1009);
  await eventually(() => target.stats().active_connections === 0);
});

test('refresh_token with a fresh token moves the expiry; the connection outlives the old one', async (t) => {
  // exp has whole-second resolution: a 2 s token has 1 to 2 s left, enough to refresh before it lapses.
  const target = await start(t, { tokenTtlS: 2 });
  const client = await connectAs(target, 'alice');
  const exp = Math.floor(Date.now() / 1000) + 120;
  client.send({ type: 'refresh_token', token: await signToken({ sub: 'alice', exp }) });
  const answer = await client.next();
  assert.equal(answer.type, 'token_refreshed');
  assert.equal(answer['expires_at'], exp * 1000);
  assert.equal(typeof answer['timestamp'], 'number');
  await new Promise((resolve) => setTimeout(resolve, 2300));
  assert.equal((await client.roundTrip('alive'))['id'], 'alive');
  assert.equal(await metric(target, 'wsgate_token_refreshes_total{result="accepted"}'), 1);
});

test('refresh_token rejects forged, expired and other-user tokens; the old expiry stands', async (t) => {
  const target = await start(t, { tokenTtlS: 2 });
  const client = await connectAs(target, 'alice');
  const now = Math.floor(Date.now() / 1000);
  const bad = [
    await signToken({ sub: 'alice', secret: 'forged-secret-0123456789abcdef-01234567' }),
    await signToken({ sub: 'mallory' }),
    await signToken({ sub: 'alice', exp: now - 60 }),
    await signToken({ sub: 'alice', aud: 'elsewhere' }),
    'garbage',
  ];
  for (const token of bad) {
    client.send({ type: 'refresh_token', token });
    const answer = await client.next();
    assert.equal(answer.type, 'error');
    assert.equal(answer['code'], 'refresh_rejected');
    assert.equal(answer['ref_type'], 'refresh_token');
  }
  assert.equal(await metric(target, 'wsgate_token_refreshes_total{result="rejected"}'), bad.length);
  assert.equal(await metric(target, 'wsgate_token_refreshes_total{result="accepted"}'), 0);
  assert.deepEqual(await client.whenClosed(), { code: 4001, reason: 'token_expired' });
});

test('a token that expires without a refresh closes the connection with 4001 token_expired', async (t) => {
  const target = await start(t, { tokenTtlS: 1 });
  const client = await connectAs(target, 'alice');
  const started = Date.now();
  const closed = await client.whenClosed();
  assert.deepEqual(closed, { code: 4001, reason: 'token_expired' });
  assert.ok(Date.now() - started <= 1500, `closed after ${Date.now() - started} ms`);
  await eventually(() => target.stats().active_connections === 0 && target.stats().users === 0);
});

test('close() says 1001 to every client and empties the registry', async (t) => {
  const target = await start(t);
  const clients = [await connectAs(target, 'alice'), await connectAs(target, 'alice'), await connectAs(target, 'bob')];
  assert.deepEqual(target.stats(), { active_connections: 3, users: 2 });
  await target.close();
  for (const client of clients) assert.equal((await client.whenClosed()).code, 1001);
  assert.deepEqual(target.stats(), { active_connections: 0, users: 0 });
});

test('closed connections leave the registry: stats drop to zero', async (t) => {
  const target = await start(t);
  const alice = await connectAs(target, 'alice');
  const bob = await connectAs(target, 'bob');
  alice.send({ type: 'join_room', room: 'r' });
  await alice.next();
  assert.deepEqual(target.stats(), { active_connections: 2, users: 2 });
  await alice.close();
  await eventually(() => target.stats().active_connections === 1);
  assert.deepEqual(target.stats(), { active_connections: 1, users: 1 });
  await bob.close();
  await eventually(() => target.stats().active_connections === 0);
  assert.equal(target.stats().users, 0);
});

/**
 * The centrifugo dialect's codec on frames shaped as Centrifugo v6.9.1 sends them (docs/centrifugo.md):
 * no server needed. test/dialects/conformance.test.ts runs the same dialect against the real server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CentrifugoCodec, centrifugo, centrifugoHandshake, personalSub, promSum, promVersion, userOfChannel } from '../../lib/dialects/centrifugo.ts';
import type { DialectCodec, Inbound } from '../../lib/dialects/dialect.ts';

const CONNECT_REPLY = (user: string, ns = 'personal') =>
  JSON.stringify({ id: 1, connect: { client: 'c', version: '0.0.0 OSS', expires: true, ttl: 300, subs: { [`${ns}:#${user}`]: { recoverable: true } }, ping: 25, pong: true } });
const event = (user: string, channel: string, type: string, seq: number, about = user) =>
  JSON.stringify({ push: { channel, pub: { data: { type, run_id: 'r1', seq, user_id: about, message_id: 'm1', thread_id: 't' }, offset: seq } } });

function connected(user = 'alice'): { codec: CentrifugoCodec; greeting: Inbound } {
  const codec = centrifugo.codec(user) as CentrifugoCodec;
  codec.opening('T');
  const replies: string[] = [];
  const [greeting] = codec.decode(CONNECT_REPLY(user), replies);
  assert.deepEqual(replies, [], 'a server-side personal subscription needs no subscribe of our own');
  assert.ok(greeting);
  return { codec, greeting };
}

test('the token rides in the first frame, never in the handshake; the Origin is sent as a browser would', () => {
  assert.deepEqual(centrifugoHandshake('ws://h/connection/websocket', 'T', 'first-frame', 'http://localhost'), {
    url: 'ws://h/connection/websocket',
    headers: { Origin: 'http://localhost' },
    protocols: [],
  });
  const codec = centrifugo.codec('alice');
  assert.deepEqual(codec.opening('T').map((f) => JSON.parse(f) as unknown), [{ id: 1, connect: { token: 'T', name: 'wsgate' } }]);
  assert.deepEqual(centrifugo.codec('alice').opening(undefined).map((f) => JSON.parse(f) as unknown), [{ id: 1, connect: { name: 'wsgate' } }]);
  assert.deepEqual([...centrifugo.carriers], ['first-frame']);
  assert.equal(centrifugo.capabilities.has('handshake-status'), false);
  assert.equal(centrifugo.auth, undefined);
});

test('the connect reply greets the user its personal channel names, with the expiry from ttl', () => {
  const { greeting } = connected('alice');
  assert.equal(greeting.kind, 'connected');
  if (greeting.kind !== 'connected') return;
  assert.equal(greeting.userId, 'alice');
  assert.ok(greeting.expiresAt !== undefined && Math.abs(greeting.expiresAt - (Date.now() + 300_000)) < 1000);
  // A server that authenticated someone else names them, and the session's user check catches it.
  const other = centrifugo.codec('alice');
  other.opening('T');
  const [g] = other.decode(CONNECT_REPLY('mallory'), []);
  assert.equal(g?.kind === 'connected' && g.userId, 'mallory');
});

test('without a server-side personal channel the client subscribes to its own, and the greeting names no one', () => {
  const codec = centrifugo.codec('alice');
  codec.opening('T');
  const replies: string[] = [];
  const [g] = codec.decode(JSON.stringify({ id: 1, connect: { client: 'c', version: 'v', ping: 25, pong: true } }), replies);
  assert.deepEqual(g, { kind: 'connected', userId: undefined, expiresAt: undefined, label: 'connect reply' });
  assert.deepEqual(replies.map((r) => JSON.parse(r) as unknown), [{ id: 2, subscribe: { channel: 'personal:#alice' } }]);
  assert.deepEqual(codec.decode('{"id":2,"subscribe":{}}', []).map((m) => m.kind), ['subscribed']);
});

test('in-band refusals: error 109 on connect is "refused"; the closes (3500, 3501) are the session\'s to see', () => {
  const codec = centrifugo.codec('alice');
  codec.opening('T');
  assert.deepEqual(codec.decode('{"id":1,"error":{"code":109,"message":"token expired"}}', []), [
    { kind: 'refused', reason: 'error 109 token expired in reply to connect', label: 'error 109 token expired' },
  ]);
});

test('a frame with several messages decodes to all of them, in order; each ping is answered exactly once', () => {
  const { codec } = connected('alice');
  const ch = 'personal:#alice';
  const frame = ['{}', event('alice', ch, 'agent_started', 1), event('alice', ch, 'agent_thinking', 2), '{}', event('alice', ch, 'tool_executing', 3)].join('\n');
  const replies: string[] = [];
  const out = codec.decode(frame, replies);
  assert.deepEqual(replies, ['{}', '{}'], 'two pings, two pongs');
  assert.deepEqual(out.map((m) => (m.kind === 'agent-event' ? `${m.event.type}/${m.event.seq}/${m.owner}` : m.kind)), [
    'agent_started/1/alice',
    'agent_thinking/2/alice',
    'tool_executing/3/alice',
  ]);
  const first = out[0];
  assert.deepEqual(first?.kind === 'agent-event' && first.event, { type: 'agent_started', runRef: 'm1', runId: 'r1', seq: 1, userId: 'alice' });
  // A ping alone yields nothing but its answer.
  const only: string[] = [];
  assert.deepEqual(codec.decode('{}', only), []);
  assert.deepEqual(only, ['{}']);
});

test("owners: another user's channel is theirs; another user's event in one's own channel is theirs", () => {
  const { codec } = connected('alice');
  const [leak] = codec.decode(event('bob', 'personal:#bob', 'agent_started', 1), []);
  assert.equal(leak?.owner, 'bob');
  const [misrouted] = codec.decode(event('alice', 'personal:#alice', 'agent_started', 1, 'bob'), []);
  assert.equal(misrouted?.owner, 'bob');
  const [other] = codec.decode(JSON.stringify({ push: { channel: 'personal:#bob', pub: { data: { hello: 1 } } } }), []);
  assert.deepEqual(other, { kind: 'other', owner: 'bob', label: 'a publication in personal:#bob' });
  const [pub] = codec.decode(JSON.stringify({ push: { channel: 'news', pub: { data: { hello: 1 } } } }), []);
  assert.equal(pub?.owner, undefined);
});

test("asking for another user's personal stream: 103 is subscribe-refused, success (or 105) subscribed", () => {
  const { codec } = connected('alice');
  const ask = JSON.parse(codec.subscribeUser('bob')) as { id: number; subscribe: { channel: string } };
  assert.equal(ask.subscribe.channel, 'personal:#bob');
  assert.deepEqual(codec.decode(`{"id":${ask.id},"error":{"code":103,"message":"permission denied"}}`, []), [
    { kind: 'subscribe-refused', stream: 'personal:#bob', reason: 'error 103 permission denied', label: 'error 103 permission denied to personal:#bob' },
  ]);
  const again = JSON.parse(codec.subscribeUser('bob')) as { id: number };
  assert.deepEqual(codec.decode(`{"id":${again.id},"subscribe":{"recoverable":true}}`, []).map((m) => m.kind === 'subscribed' && m.stream), ['personal:#bob']);
  // The namespace is the one the connect reply showed.
  const { codec: other } = (() => {
    const c = centrifugo.codec('carl') as CentrifugoCodec;
    c.opening('T');
    c.decode(CONNECT_REPLY('carl', 'users'), []);
    return { codec: c };
  })();
  assert.equal((JSON.parse(other.subscribeUser('dan')) as { subscribe: { channel: string } }).subscribe.channel, 'users:#dan');
});

test('agent runs are rpc agent_run; refresh replies and refusals; no client ping, direct messages or rooms', () => {
  const { codec } = connected('alice');
  const run = JSON.parse(codec.startRun('m1', 't1', 'hi')) as { id: number; rpc: unknown };
  assert.deepEqual(run.rpc, { method: 'agent_run', data: { message_id: 'm1', thread_id: 't1', content: 'hi' } });
  assert.deepEqual(codec.decode(`{"id":${run.id},"error":{"code":1404,"message":"unknown rpc method"}}`, []).map((m) => m.kind === 'error' && m.code), ['1404']);
  const r = JSON.parse(codec.refresh('T2')) as { id: number };
  const [ok] = codec.decode(`{"id":${r.id},"refresh":{"expires":true,"ttl":600}}`, []);
  assert.equal(ok?.kind, 'refreshed');
  const r2 = JSON.parse(codec.refresh('T3')) as { id: number };
  assert.equal(codec.decode(`{"id":${r2.id},"error":{"code":109,"message":"token expired"}}`, [])[0]?.kind, 'refresh-refused');
  const seam: DialectCodec = codec;
  assert.equal(seam.ping('p'), undefined);
  assert.equal(seam.direct('bob', 'x', 1), undefined);
  assert.equal(seam.joinRoom('r'), undefined);
  assert.equal(seam.roomMessage('r', 'x', 1), undefined);
});

test('channels and metrics parse defensively', () => {
  assert.equal(userOfChannel('personal:#alice'), 'alice');
  assert.equal(userOfChannel('#alice'), 'alice');
  assert.equal(userOfChannel('personal:#a,b'), undefined);
  assert.equal(userOfChannel('news'), undefined);
  assert.deepEqual(personalSub({ 'news': {}, 'personal:#a': {} }), { channel: 'personal:#a', user: 'a', namespace: 'personal' });
  assert.equal(personalSub({ 'x:#a': {}, 'y:#b': {} }), undefined, 'two candidates in other namespaces: no guess');
  const text = [
    '# TYPE centrifugo_client_connections_inflight gauge',
    'centrifugo_client_connections_inflight{transport="websocket",client_name="a"} 2',
    'centrifugo_client_connections_inflight{transport="websocket",client_name="b"} 3',
    'centrifugo_client_connections_inflight_other 7',
    'centrifugo_node_build{version="0.0.0 OSS"} 1',
  ].join('\n');
  assert.equal(promSum(text, 'centrifugo_client_connections_inflight'), 5);
  assert.equal(promSum(text, 'centrifugo_missing'), undefined);
  assert.equal(promVersion(text), '0.0.0 OSS');
});

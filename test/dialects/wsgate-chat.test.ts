import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatHandshake, decodeChat, parseChatHealth, wsgateChat } from '../../lib/dialects/wsgate-chat.ts';

test('tokens ride in the header or as a subprotocol next to wsgate.v1', () => {
  assert.deepEqual(chatHandshake('ws://h/ws', 'T', 'header', 'http://localhost'), { url: 'ws://h/ws', headers: { Origin: 'http://localhost', Authorization: 'Bearer T' }, protocols: [] });
  assert.deepEqual(chatHandshake('ws://h/ws', 'T', 'subprotocol', undefined), { url: 'ws://h/ws', headers: {}, protocols: ['wsgate.v1', 'jwt.T'] });
  assert.deepEqual(chatHandshake('ws://h/ws', undefined, 'header', undefined), { url: 'ws://h/ws', headers: {}, protocols: [] });
});

test('frames decode to the dialect vocabulary, with owners for isolation', () => {
  assert.deepEqual(decodeChat('not json'), [{ kind: 'other', label: 'a frame that is not a chat message' }]);
  assert.deepEqual(decodeChat('{"type":"direct_message","to_user_id":"u9","from_user_id":"u1","content":1}'), [
    { kind: 'direct', to: 'u9', from: 'u1', content: 1, owner: 'u9', label: 'direct_message to u9' },
  ]);
  const [e] = decodeChat('{"type":"agent_started","user_id":"u1","message_id":"m1","run_id":"r1","seq":1}');
  assert.deepEqual(e, { kind: 'agent-event', event: { type: 'agent_started', runRef: 'm1', runId: 'r1', seq: 1, userId: 'u1' }, owner: 'u1', label: 'agent_started of run r1' });
  assert.equal(decodeChat('{"type":"connection_established","user_id":"u1","expires_at":5}')[0]?.kind, 'connected');
  assert.equal(decodeChat('{"type":"error","code":"refresh_rejected"}')[0]?.kind, 'refresh-refused');
  assert.equal(decodeChat('{"type":"pong","id":"x"}')[0]?.owner, undefined);
});

test('codec messages are the protocol\'s, and health parses defensively', () => {
  const c = wsgateChat.codec('u1');
  assert.deepEqual(JSON.parse(c.startRun('m1', 't1', 'hi')), { type: 'user_message', thread_id: 't1', message_id: 'm1', content: 'hi' });
  assert.deepEqual(JSON.parse(c.ping('p') ?? ''), { type: 'ping', id: 'p' });
  assert.equal(c.subscribeUser('u2'), undefined);
  assert.deepEqual(parseChatHealth('{"status":"healthy","active_connections":2,"users":1,"uptime_s":3,"version":"1"}'), { healthy: true, status: 'healthy', connections: 2, users: 1, version: '1' });
  assert.equal(parseChatHealth('{"status":"healthy"}'), undefined);
});

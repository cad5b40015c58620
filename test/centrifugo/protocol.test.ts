/**
 * The centrifugo dialect's protocol module against frames recorded from Centrifugo v6.9.1
 * (docs/centrifugo.md); no server needed. server.test.ts checks the same shapes live.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CentrifugoClientProtocol,
  PONG,
  batch,
  classify,
  isTerminalClose,
  personalChannel,
  splitFrame,
  userOfPersonalChannel,
} from '../../lib/dialects/centrifugo/protocol.ts';

describe('centrifugo protocol: commands', () => {
  test('ids count from 1 per connection; undefined fields are left out', () => {
    const p = new CentrifugoClientProtocol();
    assert.equal(p.connect({ token: 'T', name: 'wsgate' }).text, '{"id":1,"connect":{"token":"T","name":"wsgate"}}');
    assert.equal(p.subscribe('personal:#42').text, '{"id":2,"subscribe":{"channel":"personal:#42"}}');
    assert.equal(
      p.subscribe('personal:#42', { recover: true, offset: 3, epoch: 'e' }).text,
      '{"id":3,"subscribe":{"channel":"personal:#42","recover":true,"offset":3,"epoch":"e"}}',
    );
    assert.equal(p.rpc('agent_run', { message_id: 'm' }).text, '{"id":4,"rpc":{"method":"agent_run","data":{"message_id":"m"}}}');
    assert.equal(p.refresh('T2').text, '{"id":5,"refresh":{"token":"T2"}}');
    assert.equal(p.unsubscribe('c').text, '{"id":6,"unsubscribe":{"channel":"c"}}');
    assert.equal(p.history({ channel: 'c', limit: 10 }).text, '{"id":7,"history":{"channel":"c","limit":10}}');
    assert.equal(new CentrifugoClientProtocol().connect().id, 1);
    assert.equal(p.pong(), '{}');
    assert.equal(PONG, '{}');
    assert.equal(batch('a', 'b'), 'a\nb');
    assert.deepEqual([...p.awaiting.values()], ['connect', 'subscribe', 'subscribe', 'rpc', 'refresh', 'unsubscribe', 'history']);
  });
});

describe('centrifugo protocol: decoding recorded frames', () => {
  test('connect reply with server-side personal subscription and history', () => {
    const p = new CentrifugoClientProtocol();
    p.connect({ token: 'T' });
    const [m] = p.decode(
      '{"id":1,"connect":{"client":"09a9ac9f-2c3f-4f25-9693-b59edfbf5ffd","version":"0.0.0 OSS","expires":true,"ttl":300,"subs":{"personal:#alice":{"recoverable":true,"epoch":"yGdoZGzr","positioned":true}},"ping":25,"pong":true}}',
    );
    assert.deepEqual(m, {
      kind: 'connected',
      id: 1,
      result: {
        client: '09a9ac9f-2c3f-4f25-9693-b59edfbf5ffd',
        version: '0.0.0 OSS',
        expires: true,
        ttl: 300,
        ping: 25,
        pong: true,
        subs: { 'personal:#alice': { recoverable: true, epoch: 'yGdoZGzr', positioned: true } },
        data: undefined,
      },
    });
    assert.equal(p.awaiting.size, 0);
  });

  test('a multi-reply frame decodes in order; error replies get their method from the pending command', () => {
    const p = new CentrifugoClientProtocol();
    p.connect();
    for (let i = 0; i < 3; i++) p.rpc('x');
    p.history({ channel: 'c' });
    p.unsubscribe('c');
    const frame =
      '{"id":2,"error":{"code":1404,"message":"unknown rpc method"}}\n{"id":3,"refresh":{"expires":true,"ttl":600}}\n{"id":5,"history":{"publications":[{"data":{"n":1},"offset":1,"epoch":"E"}],"epoch":"E","offset":1}}\n{"id":6,"unsubscribe":{}}';
    assert.equal(splitFrame(frame).length, 4);
    const ms = p.decode(frame);
    assert.deepEqual(
      ms.map((m) => [m.kind, 'id' in m ? m.id : undefined, 'method' in m ? m.method : undefined]),
      [
        ['error', 2, 'rpc'],
        ['reply', 3, 'refresh'],
        ['reply', 5, 'history'],
        ['reply', 6, 'unsubscribe'],
      ],
    );
    assert.deepEqual(ms[0], { kind: 'error', id: 2, method: 'rpc', code: 1404, message: 'unknown rpc method', temporary: false });
    assert.deepEqual([...p.awaiting.keys()], [1, 4]);
  });

  test('pushes: publication with offset, ping, unsubscribe, disconnect, join, refresh, message; junk is invalid', () => {
    assert.deepEqual(classify('{"push":{"channel":"personal:#alice","pub":{"data":{"seq":1},"offset":1,"epoch":"E"}}}'), {
      kind: 'publication',
      channel: 'personal:#alice',
      pub: { data: { seq: 1 }, offset: 1, epoch: 'E' },
    });
    assert.deepEqual(classify('{}'), { kind: 'ping' });
    assert.deepEqual(classify('{"push":{"channel":"c","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}'), {
      kind: 'unsubscribed',
      channel: 'c',
      code: 2000,
      reason: 'server unsubscribe',
    });
    assert.deepEqual(classify('{"push":{"disconnect":{"code":3001,"reason":"shutdown","reconnect":true}}}'), {
      kind: 'disconnect',
      code: 3001,
      reason: 'shutdown',
      reconnect: true,
    });
    assert.deepEqual(classify('{"push":{"channel":"c","join":{"info":{"user":"42","client":"x"}}}}'), { kind: 'join', channel: 'c', info: { user: '42', client: 'x' } });
    assert.deepEqual(classify('{"push":{"refresh":{"expires":true,"ttl":5}}}'), { kind: 'refresh', expires: true, ttl: 5 });
    assert.deepEqual(classify('{"push":{"message":{"data":{"a":1}}}}'), { kind: 'message', data: { a: 1 } });
    assert.deepEqual(classify('nope'), { kind: 'invalid', text: 'nope' });
    assert.deepEqual(classify('[1]'), { kind: 'invalid', text: '[1]' });
  });

  test('personal channels and close codes', () => {
    assert.equal(personalChannel('42', 'personal'), 'personal:#42');
    assert.equal(personalChannel('42'), '#42');
    assert.equal(userOfPersonalChannel('personal:#42', 'personal'), '42');
    assert.equal(userOfPersonalChannel('personal:#1,2', 'personal'), undefined);
    assert.equal(userOfPersonalChannel('news', 'personal'), undefined);
    assert.equal(isTerminalClose(3500), true);
    assert.equal(isTerminalClose(3012), false);
    assert.equal(isTerminalClose(1006), false);
  });
});

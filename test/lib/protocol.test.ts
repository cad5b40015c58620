import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_EVENTS, RunTracker, handshakeParts, ownerOf, parseFrame, parseHealth } from '../../lib/protocol/chat.ts';
import type { AgentEvent } from '../../lib/protocol/chat.ts';

const event = (type: string, seq: number, over: Partial<AgentEvent> = {}): AgentEvent =>
  ({ type, user_id: 'u1', thread_id: 't', message_id: 'm1', run_id: 'r1', seq, timestamp: seq, ...over }) as AgentEvent;

function tracked(events: AgentEvent[]): RunTracker {
  const t = new RunTracker('u1', 'm1');
  for (const e of events) if (t.accepts(e)) t.add(e);
  return t;
}

test('a complete run in order passes', () => {
  const v = tracked(AGENT_EVENTS.map((t, i) => event(t, i + 1))).verdict();
  assert.deepEqual(v, { complete: true, problems: [], runId: 'r1' });
});

test('a missing event is named', () => {
  const v = tracked(AGENT_EVENTS.filter((t) => t !== 'tool_completed').map((t, i) => event(t, i + 1))).verdict();
  assert.equal(v.complete, false);
  assert.deepEqual(v.problems, ['missing tool_completed']);
});

test('order, duplicates, run ids, seq and ownership are all judged', () => {
  const swapped = ['agent_started', 'tool_executing', 'agent_thinking', 'tool_completed', 'agent_completed'];
  assert.match(tracked(swapped.map((t, i) => event(t, i + 1))).verdict().problems.join(), /out of order/);
  const dup = [...AGENT_EVENTS, 'agent_thinking'].map((t, i) => event(t, i + 1));
  assert.match(tracked(dup).verdict().problems.join(), /agent_thinking received 2 times/);
  const twoRuns = AGENT_EVENTS.map((t, i) => event(t, i + 1, { run_id: i < 2 ? 'r1' : 'r2' }));
  assert.match(tracked(twoRuns).verdict().problems.join(), /2 run ids/);
  const flatSeq = AGENT_EVENTS.map((t) => event(t, 1));
  assert.match(tracked(flatSeq).verdict().problems.join(), /seq does not rise/);
  const foreign = AGENT_EVENTS.map((t, i) => event(t, i + 1, { user_id: i === 2 ? 'u2' : 'u1' }));
  assert.match(tracked(foreign).verdict().problems.join(), /1 event\(s\) carry user u2/);
});

test('a tracker ignores other runs', () => {
  const t = tracked([event('agent_started', 1, { message_id: 'other' })]);
  assert.equal(t.events.length, 0);
});

test('tokens ride in the header or as a subprotocol next to wsgate.v1', () => {
  assert.deepEqual(handshakeParts('T', 'header', 'http://localhost'), { headers: { Origin: 'http://localhost', Authorization: 'Bearer T' }, protocols: [] });
  assert.deepEqual(handshakeParts('T', 'subprotocol', undefined), { headers: {}, protocols: ['wsgate.v1', 'jwt.T'] });
  assert.deepEqual(handshakeParts(undefined, 'header', undefined), { headers: {}, protocols: [] });
});

test('frames, owners and health parse defensively', () => {
  assert.equal(parseFrame('not json'), undefined);
  assert.equal(parseFrame('[1]'), undefined);
  assert.equal(parseFrame(new Uint8Array(2)), undefined);
  assert.equal(ownerOf({ type: 'direct_message', to_user_id: 'u9' }), 'u9');
  assert.equal(ownerOf({ type: 'pong' }), undefined);
  assert.equal(ownerOf(event('agent_started', 1)), 'u1');
  assert.deepEqual(parseHealth('{"status":"healthy","active_connections":2,"users":1,"uptime_s":3,"version":"1"}'), {
    status: 'healthy', active_connections: 2, users: 1, uptime_s: 3, version: '1',
  });
  assert.equal(parseHealth('{"status":"healthy"}'), undefined);
});

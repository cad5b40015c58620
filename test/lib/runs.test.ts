import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_EVENTS } from '../../lib/dialects/dialect.ts';
import type { AgentEvent, AgentEventType } from '../../lib/dialects/dialect.ts';
import { RunTracker } from '../../lib/core/runs.ts';

const event = (type: string, seq: number, over: Partial<AgentEvent> = {}): AgentEvent => ({ type: type as AgentEventType, userId: 'u1', runRef: 'm1', runId: 'r1', seq, ...over });

function tracked(events: AgentEvent[]): RunTracker {
  const t = new RunTracker('u1', 'm1');
  for (const e of events) t.add(e);
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

test('order, duplicates (a second agent_completed included), run ids, seq and ownership are all judged', () => {
  const swapped = ['agent_started', 'tool_executing', 'agent_thinking', 'tool_completed', 'agent_completed'];
  assert.match(tracked(swapped.map((t, i) => event(t, i + 1))).verdict().problems.join(), /out of order/);
  const dup = [...AGENT_EVENTS, 'agent_thinking'].map((t, i) => event(t, i + 1));
  assert.match(tracked(dup).verdict().problems.join(), /agent_thinking received 2 times/);
  const dupFinal = [...AGENT_EVENTS, 'agent_completed'].map((t, i) => event(t, i + 1));
  assert.match(tracked(dupFinal).verdict().problems.join(), /agent_completed received 2 times/);
  const twoRuns = AGENT_EVENTS.map((t, i) => event(t, i + 1, { runId: i < 2 ? 'r1' : 'r2' }));
  assert.match(tracked(twoRuns).verdict().problems.join(), /2 run ids/);
  const flatSeq = AGENT_EVENTS.map((t) => event(t, 1));
  assert.match(tracked(flatSeq).verdict().problems.join(), /seq does not rise/);
  const foreign = AGENT_EVENTS.map((t, i) => event(t, i + 1, { userId: i === 2 ? 'u2' : 'u1' }));
  assert.match(tracked(foreign).verdict().problems.join(), /1 event\(s\) carry user u2/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ledger, Plan, asEnvelope } from '../../lib/core/multi-plan.ts';
import type { Envelope, PlanOptions } from '../../lib/core/multi-plan.ts';

const opts = (over: Partial<PlanOptions> = {}): PlanOptions => ({ users: 10, groupSize: 4, messages: 3, scenario: 'chat', agentPercent: 40, ...over });

/** Delivers every send of the plan the way a correct server would; returns each user's ledger. */
function deliverAll(plan: Plan, mutate?: (e: Envelope, to: number) => number[]): Map<number, Ledger> {
  const ledgers = new Map<number, Ledger>();
  for (let u = 0; u < plan.o.users; u++) ledgers.set(u, new Ledger(plan, u));
  const sends = [];
  for (let u = 0; u < plan.o.users; u++) sends.push(...plan.sendsOf(u, 1000));
  sends.sort((a, b) => a.at - b.at);
  for (const s of sends) {
    if (!s.envelope) continue;
    const e = { ...s.envelope, t: 1 };
    const targets =
      s.kind === 'direct' ? [Number(s.to)] : Array.from({ length: plan.o.users }, (_, i) => i).filter((i) => plan.roomsOf(i).includes(String(s.to)));
    for (const base of targets) for (const to of mutate ? mutate(e, base) : [base]) ledgers.get(to)?.receive(e, plan.userId(to));
  }
  return ledgers;
}

test('groups, roles and rooms', () => {
  const plan = new Plan(opts(), 'n');
  assert.equal(plan.groups, 3);
  assert.deepEqual(plan.members(2), { first: 8, size: 2 });
  assert.deepEqual(plan.roomsOf(5), ['wsgate-mu-n-b1', 'wsgate-mu-n-s1']);
  assert.equal(plan.userIndex(plan.userId(7)), 7);
  assert.equal(plan.userIndex('wsgate-mu-other-7'), undefined);
  const mixed = new Plan(opts({ users: 100, groupSize: 10, scenario: 'mixed', agentPercent: 40 }), 'n');
  assert.equal(Array.from({ length: 10 }, (_, g) => mixed.role(g)).filter((r) => r === 'agent').length, 4);
  assert.deepEqual(new Plan(opts({ scenario: 'stress_concurrent_connections' }), 'n').sendsOf(0, 1000), []);
});

test('a correct delivery satisfies every expectation exactly', () => {
  const plan = new Plan(opts(), 'n');
  for (const [u, ledger] of deliverAll(plan)) {
    assert.equal(ledger.violations, 0);
    for (const v of ledger.verdicts()) {
      assert.equal(v.delivered, v.expected, `user ${u} ${v.stream}`);
      assert.equal(v.duplicates + v.outOfOrder, 0);
    }
    // targeted 3, broadcast 3, sequential 3 x group size
    assert.equal(ledger.verdicts().reduce((n, v) => n + v.expected, 0), 3 + 3 + 3 * plan.members(plan.group(u)).size);
  }
});

test('sends are time-ordered and each sequential turn belongs to one member', () => {
  const plan = new Plan(opts(), 'n');
  const turns = [0, 1, 2, 3].flatMap((u) => plan.sendsOf(u, 1000).filter((s) => s.envelope?.p === 'sequential').map((s) => s.envelope?.q));
  assert.deepEqual(turns.sort((a, b) => Number(a) - Number(b)), Array.from({ length: 12 }, (_, i) => i));
  const at = plan.sendsOf(1, 1000).map((s) => s.at);
  assert.deepEqual(at, [...at].sort((a, b) => a - b));
});

test('duplicates, losses, reordering and leaks are each counted', () => {
  const plan = new Plan(opts(), 'n');
  const dup = deliverAll(plan, (e, to) => (e.p === 'targeted' && e.q === 1 ? [to, to] : [to]));
  assert.equal([...dup.values()].flatMap((l) => l.verdicts()).reduce((n, v) => n + v.duplicates, 0), 10);
  const lost = deliverAll(plan, (e, to) => (e.p === 'broadcast' && e.q === 0 ? [] : [to]));
  assert.equal(lost.get(1)?.verdicts().find((v) => v.pattern === 'broadcast')?.delivered, 2);
  const leaked = deliverAll(plan, (e, to) => (e.p === 'targeted' ? [to, (to + 5) % 10] : [to]));
  assert.ok((leaked.get(0)?.violations ?? 0) > 0);
  assert.match(leaked.get(0)?.firstViolation ?? '', /user 0 received targeted message \d from user \d+ addressed to user \d+/);
  const l = new Ledger(plan, 1);
  l.receive({ p: 'targeted', s: 0, r: [1], q: 2, t: 0 }, plan.userId(1));
  assert.equal(l.receive({ p: 'targeted', s: 0, r: [1], q: 0, t: 0 }, plan.userId(1)), 'out_of_order');
});

test('envelopes parse defensively', () => {
  assert.equal(asEnvelope('text'), undefined);
  assert.equal(asEnvelope({ p: 'gossip', s: 1, q: 1, t: 1 }), undefined);
  assert.deepEqual(asEnvelope({ p: 'targeted', s: 1, r: [2], q: 0, t: 5 }), { p: 'targeted', s: 1, r: [2], q: 0, t: 5 });
});

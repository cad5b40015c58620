import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assess, detectableRate, percent, requiredTrials } from '../../lib/core/evidence.ts';
import { buildResult, renderJUnit, renderText } from '../../lib/core/summary.ts';

test('the rule of three: 299 clean trials rule out a 1% fault at 95% confidence, 298 do not', () => {
  assert.equal(requiredTrials(0.01), 299);
  assert.equal(requiredTrials(0.05), 59);
  assert.equal(requiredTrials(0.1), 29);
  assert.ok(detectableRate(299) <= 0.01);
  assert.ok(detectableRate(298) > 0.01);
  // (1 - p)^n = 0.05 at the detectable rate, exactly
  assert.ok(Math.abs((1 - detectableRate(312)) ** 312 - 0.05) < 1e-12);
  assert.equal(detectableRate(0), 1);
});

test('one sentence per family says what the run could have caught', () => {
  assert.equal(assess('agent_runs', 312, 0, 0.01).sentence, '312 agent runs, 0 failed: a fault in 0.96% of runs or more would have been caught with 95% confidence');
  assert.equal(assess('connections', 40, 0, 0.01).sentence, '40 connections, 0 failed: a fault in 7.2% of connections or more would have been caught with 95% confidence; the floor of 1% needs 299');
  assert.equal(assess('messages', 200, 3, 0.01).sentence, '200 messages, 3 failed (1.5%): the fault was seen');
  assert.equal(assess('agent_runs', 40, 0, 0.01).sufficiency, 'too small');
  assert.equal(percent(0.0019), '0.19%');
});

test('a sample too small for the floor fails the verdict under policy fail, warns under warn, and is in the text and JUnit', () => {
  const data = {
    metrics: {
      'checks{scenario:a}': { type: 'rate', values: { rate: 1, passes: 1, fails: 0 }, thresholds: { 'rate==1': { ok: true } } },
      wsgate_agent_event_completion: { type: 'rate', values: { rate: 1, passes: 40, fails: 0 } },
      wsgate_connection_success: { type: 'rate', values: { rate: 1, passes: 400, fails: 0 } },
    },
    root_group: { name: '', checks: [{ name: 'a: ok', passes: 1, fails: 0 }] },
  };
  const meta = { suite: 's', env: 'local', target: {}, scenarios: ['a'], finishedAt: new Date(0) };
  const failing = buildResult(data, { ...meta, evidence: { floor: 0.01, policy: 'fail', enforced: ['agent_runs', 'connections'] } });
  assert.equal(failing.verdict, 'fail');
  assert.deepEqual(failing.evidence?.map((e) => [e.family, e.outcome]), [['agent_runs', 'fail'], ['connections', 'ok']]);
  assert.match(renderText(failing), /FAIL 40 agent runs, 0 failed: .*; the floor of 1% needs 299/);
  assert.match(renderJUnit(failing), /name="evidence: agent_runs \(floor 1%\)">\n\s+<failure message="40 agent runs/);
  const warning = buildResult(data, { ...meta, evidence: { floor: 0.01, policy: 'warn', enforced: ['agent_runs'] } });
  assert.equal(warning.verdict, 'pass');
  assert.match(renderText(warning), /warn 40 agent runs/);
});

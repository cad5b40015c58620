import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildResult, renderJUnit, renderText } from '../../lib/core/summary.ts';
import type { K6SummaryData } from '../../lib/core/summary.ts';
import { thresholdsFor } from '../../lib/core/thresholds.ts';
import { ConfigError } from '../../lib/core/errors.ts';

const data = (connOk: boolean): K6SummaryData => ({
  state: { testRunDurationMs: 10_030 },
  root_group: {
    name: '',
    checks: [
      { name: 'websocket_connection: missing token is refused with 401', passes: 1, fails: 0 },
      { name: 'websocket_connection: valid token in Authorization header is accepted', passes: connOk ? 1 : 0, fails: connOk ? 0 : 1 },
      { name: 'agent_events: agent run delivers all five events', passes: 6, fails: 0 },
    ],
  },
  metrics: {
    'checks{scenario:websocket_connection}': { values: { rate: connOk ? 1 : 0.5 }, thresholds: { 'rate==1': { ok: connOk } } },
    'checks{scenario:agent_events}': { values: { rate: 1 }, thresholds: { 'rate==1': { ok: true } } },
    wsgate_connection_success: { values: { rate: connOk ? 1 : 0, passes: connOk ? 1 : 0, fails: connOk ? 0 : 1 }, thresholds: { 'rate>0.95': { ok: connOk } } },
    http_req_duration: { values: { avg: 1 } },
  },
});
const meta = { suite: 'deployment-validation', env: 'local', target: { ws_url: 'ws://h/ws' }, scenarios: ['websocket_connection', 'agent_events'], finishedAt: new Date(0) };

test('a run whose thresholds all hold passes, with checks grouped by scenario', () => {
  const r = buildResult(data(true), meta);
  assert.equal(r.verdict, 'pass');
  assert.equal(r.duration_s, 10.03);
  assert.deepEqual(r.scenarios.map((s) => [s.name, s.verdict, s.checks.length]), [['websocket_connection', 'pass', 2], ['agent_events', 'pass', 1]]);
  assert.equal(r.scenarios[0]?.checks[0]?.name, 'missing token is refused with 401');
  assert.deepEqual(r.thresholds.map((t) => t.metric), ['wsgate_connection_success']);
  assert.ok(!('http_req_duration' in r.metrics));
});

test('a crossed threshold fails the run and its scenario, and JUnit shows both as failures', () => {
  const r = buildResult(data(false), meta);
  assert.equal(r.verdict, 'fail');
  assert.equal(r.scenarios[0]?.verdict, 'fail');
  assert.equal(r.scenarios[1]?.verdict, 'pass');
  const xml = renderJUnit(r);
  assert.match(xml, /<testsuites name="wsgate deployment-validation \(local\)" tests="6" failures="3"/);
  assert.match(xml, /name="valid token in Authorization header is accepted">\s*<failure message="1 of 1 failed"/);
  assert.match(xml, /name="threshold wsgate_connection_success rate&gt;0.95">\s*<failure message="observed rate 0"/);
  const text = renderText(r, ['a.json']);
  assert.match(text, /^wsgate deployment-validation \(env local\): FAIL in 10.03 s/);
  assert.match(text, /FAIL websocket_connection\s+1\/2 checks/);
  assert.match(text, /results: a.json/);
});

test('thresholds per environment get a checks threshold per scenario', () => {
  const file = { $comment: 'x', local: { wsgate_isolation_violations: ['count==0'] } };
  assert.deepEqual(thresholdsFor(file, 's', 'local', ['a']), {
    wsgate_isolation_violations: ['count==0'],
    'checks{scenario:a}': ['rate==1'],
    'wsgate_checks_run{scenario:a}': ['count>0'],
  });
  assert.throws(() => thresholdsFor(file, 's', 'staging', []), (e: unknown) => e instanceof ConfigError && /no thresholds for environment "staging"; add them, or use one of local/.test(e.message));
  assert.throws(() => thresholdsFor({ local: { m: 'rate>1' } }, 's', 'local', []), /must be a list of k6 threshold expressions/);
});

test('an aborted run, where no scenario checked anything, is a failure in every report', () => {
  const aborted: K6SummaryData = {
    root_group: { name: '', checks: [] },
    metrics: { 'checks{scenario:websocket_connection}': { values: { rate: 0 }, thresholds: { 'rate==1': { ok: true } } } },
  };
  const r = buildResult(aborted, meta);
  assert.equal(r.verdict, 'fail');
  assert.deepEqual(r.scenarios.map((s) => s.verdict), ['fail', 'fail']);
  assert.match(renderJUnit(r), /name="scenario ran its checks">\s*<failure message="no checks ran/);
  assert.match(renderText(r), /FAIL in/);
});

test('a suite-wide metric owned by a scenario fails that scenario and leaves the suite list', () => {
  const d = data(true);
  d.metrics['wsgate_isolation_violations'] = { values: { count: 3, rate: 0.1 }, thresholds: { 'count==0': { ok: false } } };
  const r = buildResult(d, { ...meta, owners: { wsgate_isolation_violations: 'agent_events' } });
  assert.equal(r.verdict, 'fail');
  assert.equal(r.scenarios.find((s) => s.name === 'agent_events')?.verdict, 'fail');
  assert.equal(r.scenarios.find((s) => s.name === 'websocket_connection')?.verdict, 'pass');
  assert.deepEqual(r.thresholds.map((t) => t.metric), ['wsgate_connection_success']);
  const unowned = buildResult(d, meta);
  assert.equal(unowned.scenarios.find((s) => s.name === 'agent_events')?.verdict, 'pass');
  assert.ok(unowned.thresholds.some((t) => t.metric === 'wsgate_isolation_violations'));
});

test('a rate or trend threshold that measured nothing is "no data": not a pass in the text, skipped in JUnit, and it does not fail the verdict', () => {
  const d: K6SummaryData = {
    metrics: {
      'checks{scenario:agent_events}': { type: 'rate', values: { rate: 1, passes: 3, fails: 0 }, thresholds: { 'rate==1': { ok: true } } },
      'wsgate_checks_run{scenario:agent_events}': { type: 'counter', values: { count: 3 }, thresholds: { 'count>0': { ok: true } } },
      'wsgate_delivery{pattern:targeted}': { type: 'rate', values: { rate: 0, passes: 0, fails: 0 }, thresholds: { 'rate>=0.999': { ok: true } } },
      wsgate_event_latency: { type: 'trend', values: { avg: 0, 'p(95)': 0, count: 0 }, thresholds: { 'p(95)<2000': { ok: true } } },
      wsgate_isolation_violations: { type: 'counter', values: { count: 0 }, thresholds: { 'count==0': { ok: true } } },
    },
    root_group: { name: '', checks: [{ name: 'agent_events: a run completes', passes: 3, fails: 0 }] },
  };
  const r = buildResult(d, { suite: 's', env: 'local', target: {}, scenarios: ['agent_events'], finishedAt: new Date(0) });
  const status = Object.fromEntries(r.thresholds.map((t) => [`${t.metric} ${t.expression}`, t.status]));
  assert.deepEqual(status, {
    'wsgate_delivery{pattern:targeted} rate>=0.999': 'no data',
    'wsgate_event_latency p(95)<2000': 'no data',
    'wsgate_isolation_violations count==0': 'pass',
  });
  assert.equal(r.verdict, 'pass');
  const text = renderText(r);
  assert.match(text, /n\/a  wsgate_event_latency p\(95\)<2000 \(no data: nothing was measured\)/);
  assert.doesNotMatch(text, /ok\s+wsgate_event_latency/);
  const junit = renderJUnit(r);
  assert.match(junit, /name="threshold wsgate_event_latency p\(95\)&lt;2000">\n\s+<skipped message="no data: wsgate_event_latency got no sample/);
  assert.match(junit, /<testsuites [^>]* skipped="2"/);
});

/**
 * The monitor's core end to end, without k6: a synthetic k6 JSON stream (fed in arbitrary chunks) in,
 * console lines, timeline records and webhook notifications out; windows closed by the stream's clock
 * and, when it goes quiet, by a fake wall clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Monitor } from '../../cli/monitor/monitor.ts';
import type { MonitorSettings } from '../../cli/monitor/monitor.ts';
import { limitsFor, loadPolicy } from '../../cli/monitor/policy.ts';
import type { TimelineRecord } from '../../cli/monitor/timeline.ts';
import type { Notification } from '../../cli/monitor/webhook.ts';
import { T0, metricDefinition, probe, toText, vus } from './monitor-helpers.ts';

const SETTINGS: MonitorSettings = {
  env: 'local',
  sensitivity: 'medium',
  limits: limitsFor(loadPolicy(), 'local'),
  windowMs: 5000,
  rollbackAfterMs: 600_000,
};

function harness(settings: MonitorSettings = SETTINGS) {
  const lines: string[] = [];
  const records: TimelineRecord[] = [];
  const notes: Notification[] = [];
  const m = new Monitor(settings, { print: (l) => lines.push(l), record: (r) => records.push(r), notify: (n) => notes.push(n) });
  return { m, lines, records, notes };
}

/** Two probes a second from `fromS` to `toS` (seconds after T0), with every second run failing when `broken`. */
function probes(fromS: number, toS: number, broken = false): string[] {
  const out: string[] = [];
  for (let t = fromS * 1000; t < toS * 1000; t += 500) {
    out.push(...probe(T0 + t, { completed: !broken || t % 1000 !== 0 }));
    if (t % 1000 === 0) out.push(vus(T0 + t));
  }
  return out;
}

/** Feeds text in pieces of `size` bytes, as reads of a growing file would. */
function feed(m: Monitor, text: string, size = 997): void {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) m.push(bytes.subarray(i, i + size));
}

describe('Monitor', () => {
  test('healthy, then a fault, then recovery: window lines, ALERT and RESOLVED, webhook notes, timeline', () => {
    const { m, lines, records, notes } = harness();
    feed(m, toText([metricDefinition('wsgate_connection_success', 'rate'), ...probes(0, 10), ...probes(10, 20, true), ...probes(20, 30)]));
    const summary = m.end();

    const windows = lines.filter((l) => / window \d+ /.test(l));
    assert.equal(windows.length, 6);
    assert.match(windows[0] ?? '', /^12:00:05 window 1 {2}healthy {4}conn 100\.0% \(10\) {2}events 100\.0% \(10\) {2}errors 0\.0% {2}auth-fail 0\.0% {2}isolation 0 {2}drops 0 {2}120 runs\/min {2}p50 50 ms p95 50 ms$/);
    assert.match(windows[2] ?? '', /^12:00:15 window 3 {2}unhealthy {2}conn 100\.0% \(10\) {2}events 50\.0% \(10\)/);
    assert.match(windows[4] ?? '', /^12:00:25 window 5 {2}healthy /);
    const alerts = lines.filter((l) => /^(ALERT|RESOLVED)/.test(l));
    assert.deepEqual(alerts, [
      'ALERT critical agent_event_completion 50.0% < 85% (window 3)',
      'ALERT warning error_rate 25.0% > 5% (window 3)',
      'RESOLVED critical agent_event_completion 100.0% (window 5, alerting since window 3)',
      'RESOLVED warning error_rate 0.0% (window 5, alerting since window 3)',
    ]);
    // The alert is printed right after the window that raised it.
    assert.equal(lines.indexOf(alerts[0] ?? ''), lines.indexOf(windows[2] ?? '') + 1);

    assert.deepEqual(notes.map((n) => [n.kind, n.level, n.text]), [
      ['alert', 'critical', alerts[0]],
      ['alert', 'warning', alerts[1]],
      ['resolved', 'ok', alerts[2]],
      ['resolved', 'ok', alerts[3]],
    ]);
    assert.deepEqual(notes[0]?.fields.map((f) => f.title), ['Environment', 'Status', 'Metric', 'Value', 'Limit', 'Window']);
    assert.equal(notes[0]?.fields.find((f) => f.title === 'Value')?.value, '50.0% (10 samples)');

    assert.deepEqual(records.map((r) => r.type), ['window', 'window', 'window', 'alert', 'alert', 'window', 'window', 'alert', 'alert', 'window']);
    const w3 = records[2];
    assert.ok(w3?.type === 'window');
    assert.deepEqual(w3.readings.agent_event_completion, { value: 0.5, n: 10 });
    assert.equal(w3.status, 'unhealthy');
    assert.deepEqual(w3.active.map((a) => a.metric), ['agent_event_completion', 'error_rate']);

    assert.deepEqual(summary.windows, { healthy: 4, degraded: 0, unhealthy: 2 });
    assert.equal(summary.criticalFired, 1);
    assert.equal(summary.rollbackRecommended, false);
    assert.equal(summary.badLines, 0);
    assert.equal(summary.lateSamples, 0);
  });

  test('windows close as the stream passes them, not all at the end', () => {
    const { m, lines } = harness();
    feed(m, toText(probes(0, 6)));
    assert.equal(lines.length, 0, 'the stream is at 5.5 s: window 1 (0-5 s) waits 1 s for late samples');
    feed(m, toText(probes(6, 7)));
    assert.equal(lines.length, 1, 'the stream passed 6 s: window 1 closed');
    feed(m, toText(probes(7, 12)));
    assert.equal(lines.length, 2);
  });

  test('when the stream goes quiet, the wall clock closes windows; empty full windows warn that probes stopped', () => {
    const { m, lines } = harness();
    feed(m, toText(probes(0, 5)));
    assert.equal(lines.length, 0);
    m.tick(T0 + 6000);
    assert.equal(lines.length, 1);
    m.tick(T0 + 16_000);
    assert.deepEqual(lines.slice(1), [
      '12:00:10 window 2  degraded   conn n/a  events n/a  errors n/a  auth-fail n/a  isolation n/a  drops 0  0 runs/min  p50 n/a p95 n/a',
      'ALERT warning probe_results none: no connection attempt and no agent run in a full window (window 2)',
      '12:00:15 window 3  degraded   conn n/a  events n/a  errors n/a  auth-fail n/a  isolation n/a  drops 0  0 runs/min  p50 n/a p95 n/a',
    ]);
  });

  test('an interrupted stream: the partial last line still counts, the last window is partial', () => {
    const { m, lines, records } = harness();
    const text = toText(probes(0, 7));
    feed(m, text.slice(0, -1)); // k6 stopped before the final newline
    const summary = m.end();
    assert.equal(summary.badLines, 0);
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? '', /^12:00:06 window 2 {2}healthy .*\(partial: 2s\)$/);
    const last = records.at(-1);
    assert.ok(last?.type === 'window' && last.partial);
  });

  test('a torn or foreign line is counted as bad and skipped, never fatal', () => {
    const { m } = harness();
    feed(m, toText([...probe(T0), '{"metric":"checks","type":"Po', 'garbage', ...probe(T0 + 500)]));
    const s = m.end();
    assert.equal(s.badLines, 2);
    assert.equal(s.samples, 2 * probe(T0).filter((l) => !l.includes('iteration_duration')).length);
  });

  test('auth failures come from handshake statuses; isolation violations alert at once', () => {
    const { m, lines } = harness();
    const stream: string[] = [];
    for (let t = 0; t < 5000; t += 500) stream.push(...probe(T0 + t, t < 1000 ? { connected: false, status: '401' } : {}));
    stream.push(`{"metric":"wsgate_isolation_violations","type":"Point","data":{"time":"${new Date(T0 + 3000).toISOString()}","value":1,"tags":{}}}`);
    stream.push(vus(T0 + 6500));
    feed(m, toText(stream));
    assert.match(lines[0] ?? '', /unhealthy {2}conn 80\.0% \(10\) {2}events 100\.0% \(8\) .* auth-fail 20\.0% {2}isolation 1 /);
    assert.deepEqual(lines.slice(1), [
      'ALERT critical connection_success 80.0% < 90% (window 1)',
      'ALERT warning auth_failure_rate 20.0% > 5% (window 1)',
      'ALERT warning error_rate 11.1% > 5% (window 1)',
      'ALERT critical isolation_violations 1 > 0 (window 1)',
    ]);
  });

  test('the rollback trigger fires once when degraded outlasts the limit, and is recorded and sent', () => {
    const { m, lines, records, notes } = harness({ ...SETTINGS, rollbackAfterMs: 12_000 });
    feed(m, toText([...probes(0, 5), ...probes(5, 30, true)]));
    m.end();
    const rollbacks = lines.filter((l) => l.startsWith('ROLLBACK RECOMMENDED'));
    assert.deepEqual(rollbacks, [
      'ROLLBACK RECOMMENDED: degraded or worse for 15s (since window 2, 12:00:05 UTC), longer than the 12s limit; active: critical agent_event_completion 50.0% < 85%; warning error_rate 25.0% > 5%',
    ]);
    assert.equal(records.filter((r) => r.type === 'rollback').length, 1);
    assert.equal(notes.filter((n) => n.kind === 'rollback').length, 1);
    assert.equal(m.summary().rollbackRecommended, true);
  });
});

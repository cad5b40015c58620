/**
 * Windows -> health: the limits at their edges, n/a (never 100%), alerts that fire, change level and
 * resolve, the status, the no-data rule, the rollback trigger on window time, and the printed lines.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatAlert, formatRollback, formatWindow, limitPct, span } from '../../cli/monitor/format.ts';
import { Judge, NO_DATA, evaluate, readWindow } from '../../cli/monitor/judge.ts';
import { limitsFor, loadPolicy } from '../../cli/monitor/policy.ts';
import type { WindowStats } from '../../cli/monitor/windows.ts';
import { T0 } from './monitor-helpers.ts';

const PROD = limitsFor(loadPolicy(), 'production', 'medium');
const W = 30_000;

/** A window `index` (30 s) with these tallies; unset parts are empty. */
function win(index: number, o: { conn?: [number, number]; runs?: [number, number]; checks?: [number, number]; hs?: [number, number]; iso?: number; drops?: number; lat?: number[]; partialMs?: number } = {}): WindowStats {
  const start = T0 + (index - 1) * W;
  const [cOk, cN] = o.conn ?? [0, 0];
  const [rOk, rN] = o.runs ?? [0, 0];
  const [kOk, kN] = o.checks ?? [0, 0];
  const [hN, hFail] = o.hs ?? [cN, 0];
  return {
    index,
    start,
    end: start + (o.partialMs ?? W),
    partial: o.partialMs !== undefined,
    connections: { ok: cOk, n: cN },
    agentRuns: { ok: rOk, n: rN },
    checks: { ok: kOk, n: kN },
    handshakes: { n: hN, authFailed: hFail },
    isolationViolations: o.iso ?? 0,
    drops: o.drops ?? 0,
    latenciesMs: o.lat ?? [],
    samples: cN + rN + kN + hN + (o.iso ?? 0),
  };
}

const healthy = (i: number) => win(i, { conn: [20, 20], runs: [20, 20], checks: [40, 40] });

describe('evaluate: the limits at their edges', () => {
  const level = (w: WindowStats, metric: string) => evaluate(readWindow(w), PROD).find((f) => f.metric === metric)?.level;

  test('connection success (production): < 90% critical, 90 to 95% warning, 95% fine', () => {
    assert.equal(level(win(1, { conn: [89, 100] }), 'connection_success'), 'critical');
    assert.equal(level(win(1, { conn: [90, 100] }), 'connection_success'), 'warning');
    assert.equal(level(win(1, { conn: [94, 100] }), 'connection_success'), 'warning');
    assert.equal(level(win(1, { conn: [19, 20] }), 'connection_success'), undefined, '95% exactly is not below 95%');
  });

  test('staging is looser: 80% critical, 80 to 90% warning', () => {
    const staging = limitsFor(loadPolicy(), 'staging');
    const f = (ok: number) => evaluate(readWindow(win(1, { conn: [ok, 100] })), staging)[0]?.level;
    assert.deepEqual([f(79), f(80), f(89), f(90)], ['critical', 'warning', 'warning', undefined]);
  });

  test('agent event completion: < 85% critical, 85 to 95% warning', () => {
    assert.equal(level(win(1, { runs: [84, 100] }), 'agent_event_completion'), 'critical');
    assert.equal(level(win(1, { runs: [85, 100] }), 'agent_event_completion'), 'warning');
    assert.equal(level(win(1, { runs: [95, 100] }), 'agent_event_completion'), undefined);
  });

  test('auth failures and errors warn above 5%; any isolation violation is critical', () => {
    assert.equal(level(win(1, { conn: [100, 100], hs: [100, 6] }), 'auth_failure_rate'), 'warning');
    assert.equal(level(win(1, { conn: [100, 100], hs: [100, 5] }), 'auth_failure_rate'), undefined);
    assert.equal(level(win(1, { checks: [94, 100] }), 'error_rate'), 'warning');
    assert.equal(level(win(1, { checks: [95, 100] }), 'error_rate'), undefined);
    assert.equal(level(win(1, { conn: [1, 1], iso: 1 }), 'isolation_violations'), 'critical');
    assert.equal(level(win(1, { conn: [1, 1] }), 'isolation_violations'), undefined);
  });

  test('--alert-threshold high turns a 96% window into a warning; low lets 86% pass in staging', () => {
    const high = limitsFor(loadPolicy(), 'production', 'high');
    assert.equal(evaluate(readWindow(win(1, { conn: [96, 100] })), high)[0]?.level, 'warning');
    const low = limitsFor(loadPolicy(), 'staging', 'low');
    assert.equal(evaluate(readWindow(win(1, { conn: [86, 100] })), low)[0]?.level, undefined);
  });

  test('no samples is no reading (n/a), never 100%', () => {
    const r = readWindow(win(1));
    assert.deepEqual(r.connection_success, { value: undefined, n: 0 });
    assert.deepEqual(r.agent_event_completion, { value: undefined, n: 0 });
    assert.deepEqual(r.error_rate, { value: undefined, n: 0 });
    assert.deepEqual(r.auth_failure_rate, { value: undefined, n: 0 });
    assert.equal(r.isolation_violations.value, undefined, 'a window that saw no traffic cannot claim 0 violations');
    assert.equal(readWindow(win(1, { conn: [3, 3] })).isolation_violations.value, 0);
  });
});

describe('Judge: alerts, status, rollback', () => {
  test('fires when a level appears, says when it changes, resolves when it clears; status follows', () => {
    const j = new Judge(PROD, 600_000);
    assert.equal(j.judge(healthy(1)).status, 'healthy');
    const w2 = j.judge(win(2, { conn: [20, 20], runs: [18, 20], checks: [38, 40] }));
    assert.equal(w2.status, 'degraded');
    assert.deepEqual(w2.events.map(formatAlert), ['ALERT warning agent_event_completion 90.0% < 95% (window 2)']);
    const w3 = j.judge(win(3, { conn: [20, 20], runs: [10, 20], checks: [30, 40] }));
    assert.equal(w3.status, 'unhealthy');
    assert.deepEqual(w3.events.map(formatAlert), [
      'ALERT critical agent_event_completion 50.0% < 85% (window 3, was warning)',
      'ALERT warning error_rate 25.0% > 5% (window 3)',
    ]);
    const w4 = j.judge(win(4, { conn: [20, 20], runs: [10, 20], checks: [30, 40] }));
    assert.deepEqual(w4.events, [], 'an alert that stays is not repeated');
    assert.equal(w4.status, 'unhealthy');
    const w5 = j.judge(healthy(5));
    assert.equal(w5.status, 'healthy');
    assert.deepEqual(w5.events.map(formatAlert), [
      'RESOLVED critical agent_event_completion 100.0% (window 5, alerting since window 2)',
      'RESOLVED warning error_rate 0.0% (window 5, alerting since window 3)',
    ]);
    const sum = j.summary();
    assert.deepEqual(sum.windows, { healthy: 2, degraded: 1, unhealthy: 2 });
    assert.equal(sum.alertsFired, 3);
    assert.equal(sum.criticalFired, 1);
    assert.deepEqual(sum.criticalMetrics, ['agent_event_completion']);
    assert.equal(sum.resolved, 2);
  });

  test('a metric with no reading keeps its alert: an n/a window neither raises nor clears it', () => {
    const j = new Judge(PROD, 600_000);
    j.judge(win(1, { conn: [20, 20], runs: [5, 20], checks: [40, 40] }));
    const naRuns = j.judge(win(2, { conn: [20, 20], checks: [20, 20] }));
    assert.deepEqual(naRuns.events, []);
    assert.equal(naRuns.status, 'unhealthy');
    assert.match(formatWindow(naRuns), /events n\/a {2}/);
  });

  test('a full window with no probe result is a warning (probes stopped); a partial one is not', () => {
    const j = new Judge(PROD, 600_000);
    j.judge(healthy(1));
    const empty = j.judge(win(2));
    assert.equal(empty.status, 'degraded');
    assert.deepEqual(empty.events.map((e) => [e.kind, e.metric, e.level]), [['fired', NO_DATA, 'warning']]);
    assert.equal(formatAlert(empty.events[0]!), 'ALERT warning probe_results none: no connection attempt and no agent run in a full window (window 2)');
    const back = j.judge(healthy(3));
    assert.deepEqual(back.events.map((e) => [e.kind, e.metric]), [['resolved', NO_DATA]]);
    const j2 = new Judge(PROD, 600_000);
    assert.equal(j2.judge(win(1, { partialMs: 2000 })).status, 'healthy');
  });

  test('isolation violations: critical at once, with the count', () => {
    const j = new Judge(PROD, 600_000);
    const r = j.judge(win(1, { conn: [20, 20], runs: [20, 20], checks: [40, 40], iso: 3 }));
    assert.equal(r.status, 'unhealthy');
    assert.deepEqual(r.events.map(formatAlert), ['ALERT critical isolation_violations 3 > 0 (window 1)']);
  });

  describe('rollback trigger, on window time (a fake clock: the windows carry their own times)', () => {
    const degraded = (i: number) => win(i, { conn: [93, 100], runs: [20, 20], checks: [40, 40] });

    test('fires once, on the first window whose end is more than the limit after the streak began', () => {
      const j = new Judge(PROD, 90_000); // three 30 s windows
      j.judge(healthy(1));
      const fired: number[] = [];
      for (let i = 2; i <= 8; i++) if (j.judge(degraded(i)).rollback) fired.push(i);
      // streak starts at window 2 (T0+30s); window 4 ends 90 s later (not more), window 5 at 120 s
      assert.deepEqual(fired, [5]);
      assert.equal(j.summary().rollbackRecommended, true);
    });

    test('a healthy window resets the streak', () => {
      const j = new Judge(PROD, 90_000);
      const seq = [degraded(1), degraded(2), degraded(3), healthy(4), degraded(5), degraded(6), degraded(7)];
      assert.deepEqual(seq.map((w) => Boolean(j.judge(w).rollback)), [false, false, false, false, false, false, false]);
      assert.equal(j.judge(degraded(8)).rollback?.sinceWindow, 5);
    });

    test('unhealthy counts as degraded or worse, and the line says how long, since when, and what is active', () => {
      const j = new Judge(PROD, 60_000);
      j.judge(win(1, { conn: [50, 100], runs: [20, 20], checks: [40, 40] }));
      j.judge(degraded(2));
      const r = j.judge(degraded(3)).rollback;
      assert.ok(r);
      assert.equal(
        formatRollback(r),
        'ROLLBACK RECOMMENDED: degraded or worse for 1m 30s (since window 1, 12:00:00 UTC), longer than the 1m limit; active: warning connection_success 93.0% < 95%',
      );
    });

    test('the default policy: 10 minutes of 30 s windows', () => {
      const j = new Judge(PROD, loadPolicy().rollbackAfterDegradedS * 1000);
      let at = 0;
      for (let i = 1; i <= 30 && !at; i++) if (j.judge(degraded(i)).rollback) at = i;
      assert.equal(at, 21, '20 windows are exactly 10 min, the 21st is longer');
    });
  });
});

describe('the window line', () => {
  test('the documented format, numbers in parentheses being sample counts', () => {
    const j = new Judge(PROD, 600_000);
    j.judge(healthy(1));
    j.judge(healthy(2));
    const lat = [...Array(18).fill(31), 55, 55] as number[];
    const line = formatWindow(j.judge(win(3, { conn: [41, 41], runs: [20, 20], checks: [61, 61], lat })));
    assert.equal(line, '12:01:30 window 3  healthy    conn 100.0% (41)  events 100.0% (20)  errors 0.0%  auth-fail 0.0%  isolation 0  drops 0  40 runs/min  p50 31 ms p95 55 ms');
  });

  test('an empty window says n/a everywhere a rate would be, and a partial one says how long it was', () => {
    const j = new Judge(PROD, 600_000);
    const line = formatWindow(j.judge(win(1, { partialMs: 7000 })));
    assert.equal(line, '12:00:07 window 1  healthy    conn n/a  events n/a  errors n/a  auth-fail n/a  isolation n/a  drops 0  0 runs/min  p50 n/a p95 n/a  (partial: 7s)');
  });

  test('helpers: limits as written, spans', () => {
    assert.equal(limitPct(0.85), '85%');
    assert.equal(limitPct(0.925), '92.5%');
    assert.equal(limitPct(0.025), '2.5%');
    assert.deepEqual([span(600_000), span(630_000), span(45_000), span(3_600_000), span(0)], ['10m', '10m 30s', '45s', '1h', '0s']);
  });
});

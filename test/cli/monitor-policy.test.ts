/**
 * cli/monitor/policy.ts: thresholds/monitoring.json parsed once, typed, one-sentence errors, and the
 * sensitivity-adjusted limits (the ones the Prometheus rules reuse).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ConfigError } from '../../lib/core/errors.ts';
import { ALERT_METRICS, alertRules, limitsFor, loadPolicy, parsePolicy } from '../../cli/monitor/policy.ts';

const FILE = JSON.parse(readFileSync(new URL('../../thresholds/monitoring.json', import.meta.url), 'utf8')) as Record<string, unknown>;

function withChange(path: string[], value: unknown): unknown {
  const copy = structuredClone(FILE) as Record<string, unknown>;
  let o = copy;
  for (const key of path.slice(0, -1)) o = o[key] as Record<string, unknown>;
  const last = path.at(-1) ?? '';
  if (value === undefined) delete o[last];
  else o[last] = value;
  return copy;
}

function rejects(raw: unknown, message: string): void {
  assert.throws(
    () => parsePolicy(raw),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.message, message);
      return true;
    },
  );
}

describe('monitoring policy', () => {
  test('the bundled file parses: 30 s windows, 10 min rollback, the original design per environment', () => {
    const p = loadPolicy();
    assert.equal(p.windowS, 30);
    assert.equal(p.rollbackAfterDegradedS, 600);
    assert.deepEqual(Object.keys(p.environments).sort(), ['local', 'production', 'staging']);
    assert.deepEqual(p.environments['production']?.connection_success, { critical_below: 0.9, warning_below: 0.95 });
    assert.deepEqual(p.environments['staging']?.connection_success, { critical_below: 0.8, warning_below: 0.9 });
    for (const env of ['production', 'staging']) {
      const l = p.environments[env];
      assert.deepEqual(l?.agent_event_completion, { critical_below: 0.85, warning_below: 0.95 });
      assert.equal(l?.auth_failure_rate.warning_above, 0.05);
      assert.equal(l?.isolation_violations.critical_above, 0);
    }
  });

  test('medium sensitivity is the file as written', () => {
    const p = loadPolicy();
    assert.deepEqual(limitsFor(p, 'staging', 'medium'), p.environments['staging']);
  });

  test('high shifts rate floors up by 0.02 and halves ratio ceilings; low the other way; isolation never moves', () => {
    const p = loadPolicy();
    assert.deepEqual(limitsFor(p, 'production', 'high'), {
      connection_success: { critical_below: 0.92, warning_below: 0.97 },
      agent_event_completion: { critical_below: 0.87, warning_below: 0.97 },
      auth_failure_rate: { warning_above: 0.025 },
      error_rate: { warning_above: 0.025 },
      isolation_violations: { critical_above: 0 },
    });
    assert.deepEqual(limitsFor(p, 'staging', 'low'), {
      connection_success: { critical_below: 0.75, warning_below: 0.85 },
      agent_event_completion: { critical_below: 0.8, warning_below: 0.9 },
      auth_failure_rate: { warning_above: 0.1 },
      error_rate: { warning_above: 0.1 },
      isolation_violations: { critical_above: 0 },
    });
  });

  test('shifted limits stay within 0..1', () => {
    const p = parsePolicy(withChange(['sensitivity', 'high'], { rate_shift: 0.5, ratio_scale: 100 }));
    const l = limitsFor(p, 'production', 'high');
    assert.equal(l.connection_success.warning_below, 1);
    assert.equal(l.auth_failure_rate.warning_above, 1);
  });

  test('an environment without limits is one sentence naming the ones there are', () => {
    assert.throws(() => limitsFor(loadPolicy(), 'qa'), {
      message: 'thresholds/monitoring.json has no alert limits for environment "qa"; add them, or choose one of production, staging, local',
    });
  });

  test('alertRules flattens the limits, most severe first, with the k6 sources', () => {
    const rules = alertRules(limitsFor(loadPolicy(), 'production'));
    assert.deepEqual(
      rules.map((r) => `${r.level} ${r.metric} ${r.op} ${r.threshold}`),
      [
        'critical connection_success < 0.9',
        'warning connection_success < 0.95',
        'critical agent_event_completion < 0.85',
        'warning agent_event_completion < 0.95',
        'warning auth_failure_rate > 0.05',
        'warning error_rate > 0.05',
        'critical isolation_violations > 0',
      ],
    );
    assert.deepEqual([...new Set(rules.map((r) => r.metric))], [...ALERT_METRICS]);
    assert.equal(rules[0]?.source, 'wsgate_connection_success');
  });

  test('bad values are one sentence naming the field, the value and what is allowed', () => {
    rejects(withChange(['window_s'], 0), 'window_s in thresholds/monitoring.json is 0; it must be a number of seconds from 1 to 86400');
    rejects(withChange(['rollback_after_degraded_s'], undefined), 'rollback_after_degraded_s in thresholds/monitoring.json is missing; it must be a number of seconds from 1 to 604800');
    rejects(
      withChange(['environments', 'staging', 'connection_success', 'critical_below'], 80),
      'environments.staging.connection_success.critical_below in thresholds/monitoring.json is 80; it must be a fraction from 0 to 1',
    );
    rejects(
      withChange(['environments', 'production', 'agent_event_completion'], { critical_below: 0.9, warning_below: 0.85 }),
      'environments.production.agent_event_completion.warning_below in thresholds/monitoring.json is 0.85, below its critical_below 0.9; a warning must fire before the critical alert',
    );
    rejects(
      withChange(['environments', 'local', 'latency_p95'], { warning_above: 500 }),
      'environments.local.latency_p95 in thresholds/monitoring.json is not a metric the monitor judges; use connection_success, agent_event_completion, auth_failure_rate, error_rate, isolation_violations',
    );
    rejects(withChange(['sensitivity', 'low'], undefined), 'sensitivity.low in thresholds/monitoring.json is missing; it must be an object with rate_shift and ratio_scale');
    rejects(withChange(['environments'], {}), 'environments in thresholds/monitoring.json is empty; give the limits of at least one environment');
    rejects('[]', 'the file in thresholds/monitoring.json is "[]"; it must be an object with window_s, rollback_after_degraded_s, sensitivity and environments');
  });
});

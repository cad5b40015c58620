/**
 * The Prometheus alert rules: generated from thresholds/monitoring.json and never drifting from it,
 * valid for Debian's promtool, and firing exactly where the hand-written promtool unit tests
 * (monitoring/prometheus/wsgate-alerts.test.yml) say.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { alertRulesYaml, condition, loadPolicy, parsePolicy, POLICY_FILE, promDuration, RULES_FILE } from '../../scripts/prometheus-rules.ts';
import { k6SeriesIn, MONITORING, run, tempDir, tools, verifiedSeries } from './helpers.ts';

const RULES_TEST = join(MONITORING, 'prometheus', 'wsgate-alerts.test.yml');
const promtool = tools('promtool');

describe('generated rules', () => {
  test('the committed wsgate-alerts.yml is what `npm run rules` makes from thresholds/monitoring.json', () => {
    const committed = readFileSync(RULES_FILE, 'utf8');
    assert.equal(committed, alertRulesYaml(loadPolicy()), 'monitoring/prometheus/wsgate-alerts.yml is stale: run `npm run rules` and commit it');
  });

  test('every limit of thresholds/monitoring.json is a condition in the rules, with the window and the rollback delay', () => {
    // Read the JSON here, independently of the generator's parser, and spell out the PromQL by hand.
    const json = JSON.parse(readFileSync(POLICY_FILE, 'utf8')) as {
      window_s: number;
      rollback_after_degraded_s: number;
      environments: Record<string, Record<string, Record<string, number>>>;
    };
    const w = `${json.window_s}s`;
    const expr: Record<string, (env: string, op: string, v: number) => string> = {
      connection_success: (env, op, v) => `expr: 'k6_wsgate_connection_success_rate{env="${env}"} ${op} ${v}'`,
      agent_event_completion: (env, op, v) => `expr: 'k6_wsgate_agent_event_completion_rate{env="${env}"} ${op} ${v}'`,
      auth_failure_rate: (env, op, v) =>
        `expr: |-\n          sum by (env) (increase(k6_ws_sessions_total{env="${env}", status=~"401|403"}[${w}]))\n` +
        `            / sum by (env) (increase(k6_ws_sessions_total{env="${env}"}[${w}])) ${op} ${v}\n`,
      // error rate > v  <=>  pass ratio < 1 - v
      error_rate: (env, _op, v) => `expr: 'k6_checks_rate{env="${env}"} < ${Math.round((1 - v) * 1e9) / 1e9}'`,
      isolation_violations: (env, op, v) => `expr: 'k6_wsgate_isolation_violations_total{env="${env}"} ${op} ${v}'`,
    };
    const rules = readFileSync(RULES_FILE, 'utf8');
    let n = 0;
    for (const [env, signals] of Object.entries(json.environments)) {
      for (const [signal, limits] of Object.entries(signals)) {
        for (const [key, value] of Object.entries(limits)) {
          const expected = (expr[signal] ?? assert.fail(`no mapping for ${signal}`))(env, key.endsWith('_below') ? '<' : '>', value);
          assert.ok(rules.includes(expected), `${env}.${signal}.${key} = ${value} is in the rules as ${expected}`);
          n++;
        }
      }
    }
    assert.ok(n >= 21, `checked ${n} limits`);
    assert.ok(rules.includes(`for: ${promDuration(json.window_s)}\n`));
    assert.equal(promDuration(json.rollback_after_degraded_s), '10m');
    assert.equal(rules.match(/alert: WsgateRollback\n(?:.*\n)*?\s+for: 10m\n/g)?.length, Object.keys(json.environments).length);
  });

  test('the production and staging connection-success limits differ in the rules as in the JSON', () => {
    const policy = loadPolicy();
    const find = (env: string, level: string) => policy.limits.find((l) => l.env === env && l.signal === 'connection_success' && l.level === level);
    const cond = (env: string, level: string) => condition(find(env, level) ?? assert.fail(`no ${env} ${level}`), policy.windowS);
    assert.equal(cond('production', 'critical'), 'k6_wsgate_connection_success_rate{env="production"} < 0.9');
    assert.equal(cond('production', 'warning'), 'k6_wsgate_connection_success_rate{env="production"} < 0.95');
    assert.equal(cond('staging', 'critical'), 'k6_wsgate_connection_success_rate{env="staging"} < 0.8');
    assert.equal(cond('staging', 'warning'), 'k6_wsgate_connection_success_rate{env="staging"} < 0.9');
  });

  test('a policy the generator cannot encode fails with one sentence naming the field', () => {
    const base = { window_s: 30, rollback_after_degraded_s: 600 };
    assert.throws(() => parsePolicy({ ...base, environments: { production: { p99_latency: { warning_above: 1 } } } }), {
      code: 'ERR_MONITORING_POLICY',
      message: /environments\.production\.p99_latency has no Prometheus mapping; known: connection_success, .*\. Add one to scripts\/prometheus-rules\.ts\.$/,
    });
    assert.throws(() => parsePolicy({ ...base, environments: { production: { connection_success: { critical_below: 1.5 } } } }), {
      message: 'thresholds/monitoring.json: environments.production.connection_success.critical_below is 1.5; a rate is a fraction between 0 and 1.',
    });
    assert.throws(() => parsePolicy({ ...base, environments: { production: { connection_success: { critical_under: 0.9 } } } }), {
      message: /critical_under is not one of critical_below, warning_below, critical_above, warning_above\.$/,
    });
    assert.throws(() => parsePolicy({ ...base, window_s: '30s', environments: {} }), {
      message: 'thresholds/monitoring.json: window_s is "30s"; expected a whole number of seconds above 0.',
    });
  });

  test('every series the rules read is one k6 was seen to produce (monitoring/k6-series.json)', () => {
    const known = verifiedSeries();
    const exprs = [...readFileSync(RULES_FILE, 'utf8').matchAll(/^ {8}expr: (.*(?:\n {10}.*)*)/gm)].map((m) => m[1] ?? '');
    assert.ok(exprs.length >= 24, `found ${exprs.length} expressions`);
    for (const e of exprs) {
      const names = k6SeriesIn(e);
      assert.ok(names.length > 0, `expression reads a k6 series: ${e}`);
      for (const n of names) assert.ok(n in known, `${n} (in ${e.trim()}) is in monitoring/k6-series.json`);
    }
  });
});

describe('promtool', { skip: promtool.skip }, () => {
  test('promtool check rules accepts the rules', () => {
    const r = run(promtool.paths['promtool'] ?? 'promtool', ['check', 'rules', RULES_FILE]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /SUCCESS: 24 rules found/);
  });

  test('promtool test rules: each threshold fires where crossed and stays quiet where not', () => {
    const r = run(promtool.paths['promtool'] ?? 'promtool', ['test', 'rules', RULES_TEST]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /SUCCESS/);
  });

  test('promtool test rules fails when a limit moves (the unit tests can fail)', () => {
    const dir = tempDir('rules');
    try {
      copyFileSync(RULES_TEST, join(dir.path, 'wsgate-alerts.test.yml'));
      const policy = JSON.parse(readFileSync(POLICY_FILE, 'utf8')) as { environments: { staging: { connection_success: { critical_below: number } } } };
      policy.environments.staging.connection_success.critical_below = 0.85;
      writeFileSync(join(dir.path, 'wsgate-alerts.yml'), alertRulesYaml(parsePolicy(policy)));
      const r = run(promtool.paths['promtool'] ?? 'promtool', ['test', 'rules', join(dir.path, 'wsgate-alerts.test.yml')], dir.path);
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out + r.err, /alertname: WsgateConnectionSuccessCritical/);
    } finally {
      dir.remove();
    }
  });
});

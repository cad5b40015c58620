/**
 * Unit tests of the pipeline's pieces, on made-up results: the rollback policy file, each trigger at
 * its boundary, baseline tolerances, the decision and its exit code, the business impact formula, the
 * monitor timeline, baselines on disk, the report's order, and the merge's threshold semantics (k6's).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Aggregation } from '../../cli/merge/aggregate.ts';
import { holds, parseExpression, parseSelector, percentile } from '../../cli/merge/thresholds.ts';
import { assess } from '../../cli/pipeline/assess.ts';
import type { AssessInput } from '../../cli/pipeline/assess.ts';
import { loadBaseline, saveBaseline } from '../../cli/pipeline/baseline.ts';
import { decisionWord } from '../../cli/pipeline/decision-file.ts';
import { parseMonitorTimeline } from '../../cli/pipeline/monitor-evidence.ts';
import { loadPolicy, parsePolicy } from '../../cli/pipeline/policy.ts';
import type { Policy } from '../../cli/pipeline/policy.ts';
import { renderPipelineJUnit, renderReport } from '../../cli/pipeline/report.ts';
import { main } from '../../cli/main.ts';
import { EXIT } from '../../cli/io.ts';
import type { SuiteResult } from '../../lib/core/summary.ts';
import { capture, closedPort, tempDir } from './helpers.ts';

const POLICY_DOC = JSON.parse(readFileSync(new URL('../../thresholds/rollback-policy.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const policy = (env = 'local'): Policy => parsePolicy(structuredClone(POLICY_DOC), env, 'policy.json');

const rate = (passes: number, fails: number) => ({ rate: passes + fails ? passes / (passes + fails) : 0, passes, fails });

function result(suite: string, o: { conn?: [number, number]; agent?: [number, number]; isolation?: number; p95?: number; failed?: string[]; scenarios?: string[] } = {}): SuiteResult {
  const scenarios = o.scenarios ?? ['a', 'b'];
  return {
    wsgate_result_version: 1,
    suite,
    env: 'local',
    verdict: (o.failed?.length ?? 0) > 0 || (o.isolation ?? 0) > 0 ? 'fail' : 'pass',
    finished_at: '2026-11-24T00:00:00.000Z',
    duration_s: 10,
    target: { ws_url: 'ws://127.0.0.1:1/ws' },
    scenarios: scenarios.map((name) => {
      const failed = o.failed?.includes(name) ?? false;
      return { name, verdict: failed ? 'fail' : 'pass', checks: [{ name: 'it works', passes: failed ? 0 : 1, fails: failed ? 1 : 0, ok: !failed }], thresholds: [] };
    }),
    thresholds: [],
    metrics: {
      wsgate_connection_success: rate(...(o.conn ?? [100, 0])),
      wsgate_agent_event_completion: rate(...(o.agent ?? [100, 0])),
      wsgate_isolation_violations: { count: o.isolation ?? 0, rate: 0 },
      wsgate_event_latency: { count: 10, med: 30, 'p(95)': o.p95 ?? 50, 'p(99)': 60, avg: 31, min: 10, max: 70 },
    },
  };
}

const CRITICAL = ['jwt_secret_synchronization_regression', 'websocket_403_handshake_regression', 'load_balancer_timeout_regression', 'multi_user_isolation_regression', 'agent_events_missing_regression'];

function input(over: Partial<AssessInput> = {}): AssessInput {
  return {
    command: 'post',
    env: 'local',
    policy: policy(),
    validation: result('deployment-validation'),
    regression: result('regression-prevention', { scenarios: CRITICAL }),
    expected: ['deployment-validation', 'regression-prevention'],
    ...over,
  };
}

const fired = (i: AssessInput) => assess(i).triggers.filter((t) => t.fired).map((t) => t.id);

describe('rollback policy file', () => {
  test('the shipped policy holds the original design\'s five triggers', () => {
    const p = loadPolicy('production');
    assert.deepEqual(p.rollback, { connection_success_below: 0.7, critical_regressions_failed_above: 2, agent_event_completion_below: 0.8, isolation_violations_above: 0, degraded_health_longer_than_s: 600 });
    assert.equal(p.monthlyRevenue, null, 'no revenue figure is assumed for production');
    assert.equal(policy('local').monthlyRevenue, 10000);
  });

  test('bad values are one sentence naming the field, the value and what is allowed', () => {
    const bad = (mutate: (d: Record<string, any>) => void, message: RegExp) => {
      const d = structuredClone(POLICY_DOC) as Record<string, any>;
      mutate(d);
      assert.throws(() => parsePolicy(d, 'local', 'p.json'), message);
    };
    bad((d) => (d['rollback']['connection_success_below'] = 70), /^Error: p\.json: rollback\.connection_success_below is 70; it must be a number from 0 to 1$|rollback\.connection_success_below is 70; it must be a number from 0 to 1/);
    bad((d) => (d['rollback']['critical_regressions_failed_above'] = 1.5), /critical_regressions_failed_above is 1\.5; it must be a whole number/);
    bad((d) => delete d['rollback']['degraded_health_longer_than_s'], /rollback\.degraded_health_longer_than_s is undefined; it is required/);
    bad((d) => (d['rollback']['conection_success_below'] = 0.7), /rollback\.conection_success_below is 0\.7; unknown field/);
    bad((d) => (d['baseline']['on_exceeded'] = 'panic'), /baseline\.on_exceeded is "panic"; choose "hold" or "rollback"/);
    bad((d) => (d['baseline']['event_latency_stats'] = ['p95']), /event_latency_stats is \["p95"\]; it must be a list of k6 trend statistics/);
    bad((d) => (d['environments']['local']['monthly_revenue'] = '10k'), /environments\.local\.monthly_revenue is "10k"/);
  });

  test('an environment may override a trigger', () => {
    const d = structuredClone(POLICY_DOC) as Record<string, any>;
    d['environments']['staging']['rollback'] = { connection_success_below: 0.9 };
    const p = parsePolicy(d, 'staging', 'p.json');
    assert.equal(p.rollback.connection_success_below, 0.9);
    assert.equal(p.rollback.agent_event_completion_below, 0.8, 'the rest stays');
  });
});

describe('rollback triggers, at their boundaries', () => {
  test('connection success below 70% (combined over both suites)', () => {
    assert.deepEqual(fired(input({ validation: result('deployment-validation', { conn: [70, 30] }) , regression: result('regression-prevention', { scenarios: CRITICAL, conn: [70, 30] }) })), [], '70% is not below 70%');
    assert.deepEqual(fired(input({ validation: result('deployment-validation', { conn: [69, 31] }), regression: result('regression-prevention', { scenarios: CRITICAL, conn: [70, 30] }) })), ['connection_success'], '139/200 = 69.5%');
  });

  test('more than two critical regression tests failing', () => {
    const failing = (n: number) => input({ regression: result('regression-prevention', { scenarios: CRITICAL, failed: CRITICAL.slice(0, n) }) });
    assert.deepEqual(fired(failing(2)), []);
    assert.deepEqual(fired(failing(3)), ['critical_regressions']);
    assert.equal(assess(failing(2)).decision, 'hold', 'failing tests without a trigger hold the rollout');
    const nonCritical = input({ regression: result('regression-prevention', { scenarios: ['connection_leak_regression', 'auth_token_refresh_regression', ...CRITICAL.slice(0, 1)], failed: ['connection_leak_regression', 'auth_token_refresh_regression', CRITICAL[0]!] }) });
    assert.deepEqual(fired(nonCritical), [], 'non-critical failures do not count');
  });

  test('agent event delivery below 80%', () => {
    assert.deepEqual(fired(input({ validation: result('deployment-validation', { agent: [8, 2] }), regression: result('regression-prevention', { scenarios: CRITICAL, agent: [0, 0] }) })), []);
    assert.deepEqual(fired(input({ validation: result('deployment-validation', { agent: [79, 21] }), regression: result('regression-prevention', { scenarios: CRITICAL, agent: [0, 0] }) })), ['agent_event_completion']);
  });

  test('any isolation violation, named per suite', () => {
    const a = assess(input({ regression: result('regression-prevention', { scenarios: CRITICAL, isolation: 1 }) }));
    assert.deepEqual(a.triggers.filter((t) => t.fired).map((t) => t.observed), ['1 seen: deployment-validation 0, regression-prevention 1']);
    assert.equal(a.decision, 'rollback');
  });

  test('degraded health for more than 10 minutes, from a monitor timeline', () => {
    const windows = (statuses: string[]) =>
      [
        JSON.stringify({ type: 'header', env: 'local' }),
        ...statuses.map((status, i) => JSON.stringify({ type: 'window', index: i, start: new Date(i * 60_000).toISOString(), end: new Date((i + 1) * 60_000).toISOString(), status })),
        JSON.stringify({ type: 'summary', rollback_recommended: false }),
      ].join('\n');
    const ten = parseMonitorTimeline(windows(['healthy', ...Array(10).fill('degraded'), 'healthy']), 't.jsonl');
    assert.equal(ten.longestDegradedS, 600);
    assert.deepEqual(fired(input({ monitor: ten })), [], '600 s is not more than 600 s');
    const eleven = parseMonitorTimeline(windows(['degraded', 'unhealthy', ...Array(9).fill('degraded'), 'healthy', 'degraded']), 't.jsonl');
    assert.equal(eleven.longestDegradedS, 660, 'unhealthy counts as degraded or worse');
    assert.deepEqual(fired(input({ monitor: eleven })), ['degraded_health']);
    const none = assess(input()).triggers.find((t) => t.id === 'degraded_health');
    assert.equal(none?.assessed, false, 'without a timeline the trigger is reported as not assessed');
    assert.throws(() => parseMonitorTimeline('{"type":"window"}', 't.jsonl'), /has no header line/);
  });
});

describe('decision, baseline and impact', () => {
  test('proceed / hold / rollback, and pre never says rollback', () => {
    assert.equal(assess(input()).decision, 'proceed');
    assert.equal(assess(input({ validation: result('deployment-validation', { failed: ['a'] }) })).decision, 'hold');
    assert.equal(assess(input({ regression: null })).decision, 'hold', 'an expected suite without a result holds');
    const leak = { validation: result('deployment-validation', { isolation: 2 }) };
    assert.equal(assess(input(leak)).decision, 'rollback');
    assert.equal(assess(input({ ...leak, command: 'pre' })).decision, 'hold');
  });

  test('baseline tolerances: rate drops and latency rises', () => {
    const base = { validation: result('deployment-validation', { p95: 100 }), regression: result('regression-prevention', { scenarios: CRITICAL }) };
    const within = assess(input({ baseline: base, validation: result('deployment-validation', { p95: 350 }) }));
    assert.equal(within.decision, 'proceed', 'p(95) +250 ms is within max(50%, 250 ms)');
    const beyond = assess(input({ baseline: base, validation: result('deployment-validation', { p95: 351 }) }));
    assert.equal(beyond.decision, 'hold');
    assert.match(beyond.reasons[0] ?? '', /^baseline: event latency p\(95\) went from 100 ms to 351 ms/);
    const drop = assess(input({ baseline: base, validation: result('deployment-validation', { conn: [94, 6] }), regression: result('regression-prevention', { scenarios: CRITICAL, conn: [94, 6] }) }));
    assert.ok(drop.deltas.find((d) => d.metric === 'connection success')?.exceeded, '6 points is more than 5');
    const p = policy();
    p.baseline.on_exceeded = 'rollback';
    assert.equal(assess(input({ baseline: base, policy: p, validation: result('deployment-validation', { p95: 351 }) })).decision, 'rollback');
  });

  test('business impact: revenue x (1 - C x A), or all of it with an isolation violation', () => {
    const i = assess(input({ validation: result('deployment-validation', { conn: [90, 10], agent: [80, 20] }), regression: null, expected: ['deployment-validation'], baseline: { validation: result('deployment-validation'), regression: null } })).impact;
    assert.equal(i.share?.toFixed(4), '0.2800');
    assert.equal(Math.round(i.atRisk ?? 0), 2800);
    assert.equal(Math.round(i.added ?? 0), 2800);
    assert.ok(i.formula.includes('Now: share = 1 - 0.9000 x 0.8000 = 0.2800.'), i.formula.join('\n'));
    assert.ok(i.formula.includes('Revenue at risk = 10,000 USD x 0.2800 = 2,800 USD per month.'));
    const leak = assess(input({ validation: result('deployment-validation', { isolation: 1 }) })).impact;
    assert.equal(leak.share, 1);
    const prod = assess(input({ policy: policy('production') })).impact;
    assert.equal(prod.atRisk, null);
    assert.ok(prod.formula.some((l) => l.startsWith('No monthly revenue is set for env production')));
  });

  test('the report leads with the verdict and the recommendation; JUnit marks fired triggers as failures', () => {
    const a = assess(input({ validation: result('deployment-validation', { isolation: 3 }) }));
    const text = renderReport(
      { assessment: a, exitCode: 5, startedAt: new Date(0), finishedAt: new Date(1000), policyFile: 'thresholds/rollback-policy.json', target: {}, validation: result('deployment-validation', { isolation: 3 }), regression: null, files: [{ label: 'x', path: '/tmp/r/x.json' }], notes: [] },
      '/tmp/r/deployment_report.md',
    );
    const lines = text.split('\n');
    assert.equal(lines[0], '# Post-deployment report: local — ROLLBACK RECOMMENDED');
    assert.match(lines[2] ?? '', /^\*\*Roll back this deployment\.\*\* 1 rollback trigger fired: any user isolation violation \(3 seen/);
    const order = ['## Why', '## Rollback triggers', '## Deployment validation', '## Business impact', '## Raw results'].map((h) => text.indexOf(h));
    assert.deepEqual([...order].sort((x, y) => x - y), order, 'sections in order');
    assert.match(text, /- x: \[x\.json\]\(x\.json\)/, 'links relative to the report');
    const junit = renderPipelineJUnit(a);
    assert.match(junit, /name="no rollback: any user isolation violation">\n\s+<failure message="observed 3 seen/);
    assert.match(junit, /name="no rollback: health degraded for more than 600 s">\n\s+<skipped /);
  });
});

describe('baselines on disk', () => {
  test('saved atomically, read back, wrong env refused', () => {
    const dir = tempDir('wsgate-baseline-');
    const b = { wsgate_baseline_version: 1 as const, env: 'local', saved_at: 'now', source: 'results/pre-x', validation: result('deployment-validation'), regression: null };
    const path = saveBaseline(dir, b);
    assert.deepEqual(readdirSync(dir), ['local.json']);
    assert.deepEqual(loadBaseline(dir, 'local')?.baseline, b);
    assert.equal(loadBaseline(dir, 'staging'), undefined);
    writeFileSync(join(dir, 'staging.json'), JSON.stringify({ ...b, env: 'local' }));
    assert.throws(() => loadBaseline(dir, 'staging'), /belongs to env "local", not "staging"/);
    writeFileSync(path, '{');
    assert.throws(() => loadBaseline(dir, 'local'), /is not valid JSON; run wsgate pre --env local again/);
  });
});

describe('the CLI surface', () => {
  test('help lists pre, post and merge and every exit code; flags are checked before anything runs', async () => {
    const c = capture();
    assert.equal(await main(['help'], {}, c.io), EXIT.PASS);
    assert.match(c.out(), /\n {2}pre {10}before a deploy/);
    assert.match(c.out(), /5 rollback recommended \(post\)/);
    const post = capture();
    assert.equal(await main(['post', '--help'], {}, post.io), EXIT.PASS);
    for (const code of ['0    proceed', '1    hold', '5    rollback recommended', '2    usage', '3    the target', '4    no verdict', '130  interrupted']) assert.ok(post.out().includes(code), code);
    const bad = capture();
    assert.equal(await main(['pre', '--monitor-timeline', 'x'], {}, bad.io), EXIT.USAGE);
    assert.match(bad.err(), /^wsgate: --monitor-timeline only applies to wsgate post\n$/);
    const policyErr = capture();
    assert.equal(await main(['post', '--policy', '/nonexistent/p.json'], {}, policyErr.io), EXIT.USAGE);
    assert.match(policyErr.err(), /^wsgate: the rollback policy \/nonexistent\/p\.json cannot be read \(ENOENT\)/);
    assert.equal(EXIT.ROLLBACK, 5);
  });
});

describe('--decision-file', () => {
  test('the word is the exit code\'s meaning', () => {
    assert.deepEqual([0, 1, 5, 2, 3, 4, 130].map(decisionWord), ['proceed', 'hold', 'rollback', 'could-not-run', 'could-not-run', 'could-not-run', 'could-not-run']);
  });

  test('a run that stops before deciding leaves could-not-run, never the previous word; an unwritable file is one sentence', async () => {
    const dir = tempDir('wsgate-decision-');
    const file = join(dir, 'hooks', 'chat.decision');
    const stopped = async (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<number> => {
      writeFileSync(join(dir, 'hooks', 'chat.decision'), 'rollback\n');
      const c = capture();
      const code = await main([...argv, '--decision-file', file], env, c.io);
      assert.equal(readFileSync(file, 'utf8'), 'could-not-run\n', `${argv.join(' ')}: ${c.all()}`);
      return code;
    };
    saveBaseline(join(dir, 'hooks'), { wsgate_baseline_version: 1, env: 'local', saved_at: 'now', source: 'x', validation: result('deployment-validation'), regression: null });
    assert.equal(await stopped(['pre', '--monitor-timeline', 'x']), EXIT.USAGE);
    assert.equal(await stopped(['post', '--policy', '/nonexistent/p.json']), EXIT.USAGE);
    // The target does not answer the pre-flight check: exit 3 from the suite, no recommendation.
    const port = await closedPort();
    const unreachable = { WSGATE_WS_URL: `ws://127.0.0.1:${port}/ws`, WSGATE_HTTP_URL: `http://127.0.0.1:${port}`, WSGATE_AUTH_URL: `http://127.0.0.1:${port}`, WSGATE_JWT_SECRET: 'decision-file-test-secret-0123456789abcdef' };
    assert.equal(await stopped(['post', '--env', 'local', '--baseline-dir', join(dir, 'hooks'), '--results-dir', join(dir, 'results'), '--no-dashboard'], unreachable), EXIT.UNREACHABLE);
    assert.deepEqual(readdirSync(join(dir, 'hooks')).sort(), ['chat.decision', 'local.json'], 'no temporary file left beside it');
    const c = capture();
    writeFileSync(join(dir, 'a-file'), '');
    assert.equal(await main(['post', '--decision-file', join(dir, 'a-file', 'decision')], {}, c.io), EXIT.USAGE);
    assert.match(c.err(), /^wsgate: --decision-file .*a-file\/decision cannot be written \((ENOTDIR|EEXIST)\); choose a writable path\n$/);
  });
});

describe('merge: k6 threshold semantics', () => {
  test('operators in k6\'s order, methods, selectors', () => {
    assert.deepEqual(parseExpression('rate>=0.999'), { source: 'rate>=0.999', method: 'rate', op: '>=', value: 0.999 });
    assert.deepEqual(parseExpression('p(95) < 2000'), { source: 'p(95) < 2000', method: 'p', percentile: 95, op: '<', value: 2000 });
    assert.equal(parseExpression('count==0').op, '==');
    assert.equal(parseExpression('count===0').op, '===');
    assert.throws(() => parseExpression('p95<1'), /unknown aggregation method "p95"/);
    assert.deepEqual(parseSelector("checks{scenario:agent_events, 'group':'::x'}"), { name: 'checks', tags: { scenario: 'agent_events', group: '::x' } });
  });

  test('a missing sink value passes, as in k6; percentiles interpolate', () => {
    assert.equal(holds(parseExpression('rate>0.95'), {}), true);
    assert.equal(holds(parseExpression('count>0'), { count: 0 }), false);
    assert.ok(Math.abs(percentile([1, 2, 3, 4], 0.95) - 3.85) < 1e-12, 'i = 0.95 x 3 = 2.85: 3 + 0.85 x (4 - 3)');
    assert.equal(percentile([5], 0.99), 5);
    assert.equal(percentile([], 0.5), 0);
  });

  test('empty metrics: a Rate passes, a Counter count>0 fails, a Trend has no count', () => {
    const agg = new Aggregation({ thresholds: { 'r{scenario:x}': ['rate>0.9'], 'c{scenario:x}': ['count>0'], t: ['count>5', 'p(95)<1'] } });
    agg.beginInstance();
    agg.addLine(JSON.stringify({ type: 'Metric', data: { name: 'r', type: 'rate' } }));
    agg.addLine(JSON.stringify({ type: 'Metric', data: { name: 'c', type: 'counter' } }));
    agg.addLine(JSON.stringify({ type: 'Metric', data: { name: 't', type: 'trend' } }));
    agg.addLine(JSON.stringify({ type: 'Point', metric: 'r', data: { time: '2026-01-01T00:00:00Z', value: 0, tags: { scenario: 'y' } } }));
    agg.addLine(JSON.stringify({ type: 'Point', metric: 'c', data: { time: '2026-01-01T00:00:01Z', value: 1, tags: { scenario: 'y' } } }));
    agg.addLine(JSON.stringify({ type: 'Point', metric: 't', data: { time: '2026-01-01T00:00:02Z', value: 2, tags: {} } }));
    agg.addLine('not json');
    const s = agg.summary();
    assert.equal(s.metrics['r{scenario:x}']?.thresholds?.['rate>0.9']?.ok, true);
    assert.equal(s.metrics['c{scenario:x}']?.thresholds?.['count>0']?.ok, false);
    assert.equal(s.metrics['t']?.thresholds?.['count>5']?.ok, true, 'k6 gives a Trend no count to judge');
    assert.equal(s.metrics['t']?.thresholds?.['p(95)<1']?.ok, false);
    assert.equal(agg.badLines, 1);
    assert.equal(s.state?.testRunDurationMs, 2000);
  });
});

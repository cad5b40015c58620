/**
 * End to end: wsgate's engine (`node dist/node/engine.mjs run --out experimental-prometheus-rw`) pushes
 * a wsgate run's metrics into a real Prometheus (Debian's, on loopback, remote-write receiver on,
 * wsgate's alert rules loaded), and the test finds them there with k6's names, labels and units, so
 * monitoring/ works whichever engine ran. With WSGATE_K6 set, the same runs on k6's own output
 * (dist/*.js, `k6 run --out experimental-prometheus-rw`) are held to the same checks, each engine into
 * a Prometheus of its own; skipped with one line otherwise.
 *
 * Three runs at once per engine, each against its own reference service: the monitoring bundle tagged
 * env=staging and the deployment-validation bundle tagged env=production (the suite that records
 * wsgate_auth_failures), both playing isolation_leak (and idle_timeout for the monitoring pool), so the
 * counters that exist only after a failure do appear; and the monitoring bundle tagged env=local
 * against a service playing handshake_403, for the windowed auth-failure rule. The test then checks
 * every series of monitoring/k6-series.json, its labels and units, that the isolation alert fires, and
 * that every dashboard query returns data.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build, isStale } from '../../build.mjs';
import { AGENT_EVENTS } from '../../lib/dialects/dialect.ts';
import { startTarget } from '../../reference-service/service.ts';
import type { RunningTarget } from '../../reference-service/service.ts';
import { RULES_FILE } from '../../scripts/prometheus-rules.ts';
import { k6Binary, k6Skip } from '../helpers/k6.ts';
import { dashboardQueries, REPO, startServer, tempDir, tools, verifiedSeries } from './helpers.ts';
import type { Server } from './helpers.ts';

const SECRET = 'prometheus-test-secret-0123456789abcdef';
const TREND_STATS = 'p(50),p(95),p(99),count';
const RUN_TIMEOUT_MS = 40_000;
const need = tools('prometheus');

type Kind = 'wsgate' | 'k6';

/** How each engine is started on a suite: program, leading arguments and the suite's bundle. */
const ENGINES: Record<Kind, { start: () => string[]; bundle: (suite: string) => string }> = {
  wsgate: { start: () => [process.execPath, join(REPO, 'dist', 'node', 'engine.mjs'), 'run'], bundle: (suite) => join('dist', 'engine', `${suite}.mjs`) },
  k6: { start: () => [k6Binary(), 'run'], bundle: (suite) => join('dist', `${suite}.js`) },
};

interface RunResult {
  code: number | null;
  out: string;
}

/** The caller's environment without wsgate or k6 configuration. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('WSGATE_') && !k.startsWith('K6_')) env[k] = v;
  }
  return env;
}

function runOnce(cmd: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0] ?? '', cmd.slice(1), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

function remoteWriteSuite(kind: Kind): void {
  const engine = kind === 'k6' ? 'k6' : 'the engine';
  let dir: ReturnType<typeof tempDir> | undefined;
  let prom: Server | undefined;
  const targets: RunningTarget[] = [];
  const runs: Record<string, RunResult> = {};

  async function query(expr: string): Promise<Sample[]> {
    const url = (prom ?? assert.fail('prometheus is not running')).url;
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: Sample[] } };
    assert.equal(body.status, 'success', `${expr}: ${body.error ?? ''}`);
    return body.data.result;
  }

  before(async () => {
    dir = tempDir(`prometheus-${kind}`);
    if (isStale()) await build();
    const start = ENGINES[kind].start();
    const configFile = join(dir.path, 'prometheus.yml');
    // a 1 s evaluation interval so the alert rules see the run while the test waits
    writeFileSync(configFile, `global:\n  evaluation_interval: 1s\nrule_files:\n  - ${JSON.stringify(RULES_FILE)}\n`);
    const data = join(dir.path, 'data');
    const server = await startServer(
      need.paths['prometheus'] ?? 'prometheus',
      (port) => [`--config.file=${configFile}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver'],
      '/-/ready',
    );
    prom = server;
    // One service per run: isolation_leak sends events to "the first open connection of another
    // user", which must be a user of the same run for each run to see its own violations.
    const forMonitoring = await startTarget({ authSecret: SECRET, backendSecret: SECRET, faults: ['isolation_leak', 'idle_timeout'], idleTimeoutS: 2 });
    targets.push(forMonitoring);
    const forValidation = await startTarget({ authSecret: SECRET, backendSecret: SECRET, faults: ['isolation_leak'] });
    targets.push(forValidation);
    const refusing = await startTarget({ authSecret: SECRET, backendSecret: SECRET, faults: ['handshake_403'] });
    targets.push(refusing);
    const results = join(dir.path, 'results');
    mkdirSync(results);
    const env = (target: RunningTarget): NodeJS.ProcessEnv => ({
      ...cleanEnv(),
      WSGATE_ENV: 'local',
      WSGATE_WS_URL: target.wsUrl,
      WSGATE_HTTP_URL: target.httpUrl,
      WSGATE_AUTH_URL: target.authUrl,
      WSGATE_TOKEN_SOURCE: 'mint',
      WSGATE_JWT_SECRET: SECRET,
      WSGATE_RESULTS_DIR: results,
      WSGATE_MONITOR_DURATION: '5s',
      WSGATE_MONITOR_POOL_CONNECTIONS: '3',
      WSGATE_MONITOR_PROBES_PER_MIN: '120',
      WSGATE_IDLE_HOLD_S: '1',
      K6_PROMETHEUS_RW_SERVER_URL: `${server.url}/api/v1/write`,
      K6_PROMETHEUS_RW_TREND_STATS: TREND_STATS,
      K6_PROMETHEUS_RW_PUSH_INTERVAL: '1s',
    });
    const cmd = (envTag: string, suite: string) => [...start, '--quiet', '--tag', `env=${envTag}`, '--out', 'experimental-prometheus-rw', ENGINES[kind].bundle(suite)];
    const [monitoring, validation, refused] = await Promise.all([
      runOnce(cmd('staging', 'monitoring'), env(forMonitoring)),
      runOnce(cmd('production', 'deployment-validation'), env(forValidation)),
      runOnce(cmd('local', 'monitoring'), env(refusing)),
    ]);
    runs['monitoring'] = monitoring;
    runs['validation'] = validation;
    runs['monitoring refused'] = refused;
  });

  after(async () => {
    await Promise.all([prom?.stop(), ...targets.map((t) => t.close())]);
    dir?.remove();
  });

  test(`the three runs on ${engine} ran to the end (0: pass, 99: thresholds crossed, as the faults make them)`, () => {
    assert.deepEqual(Object.keys(runs).sort(), ['monitoring', 'monitoring refused', 'validation']);
    for (const [name, r] of Object.entries(runs)) {
      assert.ok(r.code === 0 || r.code === 99, `${name}: ${engine} exited ${r.code}\n${r.out.slice(-3000)}`);
      assert.doesNotMatch(r.out, /Failed to send the time series data|remote write/i, `${name}: ${engine} reported no remote-write error`);
    }
  });

  test('every series of monitoring/k6-series.json arrived, each with an env label from --tag env', async () => {
    const url = (prom ?? assert.fail()).url;
    const names = ((await (await fetch(`${url}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    for (const [name, info] of Object.entries(verifiedSeries())) {
      assert.ok(names.includes(name), `${name} arrived (${engine} sent: ${names.filter((n) => n.startsWith('k6_')).join(', ')})`);
      const envs = (await query(`count by (env) (${name})`)).map((s) => s.metric['env']);
      assert.ok(envs.length > 0 && envs.every((e) => e === 'staging' || e === 'production' || e === 'local'), `${name} carries an env label, got ${JSON.stringify(envs)}`);
      for (const label of info.labels) {
        assert.ok((await query(`count(${name}{${label}!=""})`)).length > 0, `${name} has a ${label} label`);
      }
    }
  });

  test('a Rate becomes k6_<name>_rate, a Counter k6_<name>_total, a Trend one series per stat; no bare or _count-only names', async () => {
    const url = (prom ?? assert.fail()).url;
    const names = ((await (await fetch(`${url}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    const wsgate = names.filter((n) => n.startsWith('k6_wsgate_')).sort();
    assert.deepEqual(wsgate, [
      'k6_wsgate_agent_event_completion_rate',
      'k6_wsgate_auth_failures_rate',
      'k6_wsgate_checks_run_total',
      'k6_wsgate_connection_drops_total',
      'k6_wsgate_connection_success_rate',
      'k6_wsgate_event_latency_count',
      'k6_wsgate_event_latency_p50',
      'k6_wsgate_event_latency_p95',
      'k6_wsgate_event_latency_p99',
      'k6_wsgate_greeting_latency_count',
      'k6_wsgate_greeting_latency_p50',
      'k6_wsgate_greeting_latency_p95',
      'k6_wsgate_greeting_latency_p99',
      'k6_wsgate_idle_survival_rate',
      'k6_wsgate_isolation_checked_total',
      'k6_wsgate_isolation_violations_total',
    ]);
  });

  test('rates are ratios, event latency is in seconds for each of the five events, and the trend count is divided by 1000', async () => {
    for (const s of await query('k6_wsgate_connection_success_rate')) {
      const v = Number(s.value[1]);
      assert.ok(v >= 0 && v <= 1, `ratio ${v}`);
    }
    const events = (await query('count by (event) (k6_wsgate_event_latency_p95{env="staging"})')).map((s) => s.metric['event']).sort();
    assert.deepEqual(events, [...AGENT_EVENTS].sort());
    for (const s of await query('k6_wsgate_event_latency_p99')) {
      const v = Number(s.value[1]);
      // the reference service answers within milliseconds: seconds, not ms, and never 0
      assert.ok(v > 0 && v < 5, `latency ${v} s (${s.metric['event']})`);
    }
    // k6 v2.2 passes every stat of a time trend through its ms -> s conversion, the sample count too,
    // and the engine does the same so the series mean the same
    for (const s of await query('k6_wsgate_event_latency_count')) {
      const v = Number(s.value[1]);
      assert.ok(v > 0 && v < 1, `count ${v} is samples / 1000`);
      assert.ok(Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6, `count ${v} * 1000 is whole`);
    }
  });

  test('the faults show up: isolation violations and pool connection drops were counted in staging', async () => {
    const iso = await query('sum by (env) (k6_wsgate_isolation_violations_total)');
    assert.ok(iso.some((s) => s.metric['env'] === 'staging' && Number(s.value[1]) > 0), JSON.stringify(iso));
    const drops = await query('k6_wsgate_connection_drops_total{env="staging", scenario="pool"}');
    assert.ok(drops.length > 0 && drops.every((s) => Number(s.value[1]) > 0), JSON.stringify(drops));
  });

  test('no label value carries a token (JWTs start with eyJ)', async () => {
    const all = await query('{__name__=~"k6_.+"}');
    assert.ok(all.length > 50, `${all.length} series`);
    for (const s of all) {
      for (const [k, v] of Object.entries(s.metric)) assert.doesNotMatch(v, /eyJ[A-Za-z0-9_-]{10,}/, `label ${k} of ${s.metric['__name__']}`);
    }
  });

  test("wsgate's rules load and evaluate cleanly, and the isolation alert fires for both environments", async () => {
    const url = (prom ?? assert.fail()).url;
    type Rules = { data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] } };
    let firing: string[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      firing = (await query('ALERTS{alertname="WsgateIsolationViolationsCritical", alertstate="firing"}')).map((s) => `${s.metric['env']}/${s.metric['severity']}`);
      if (firing.includes('staging/critical') && firing.includes('production/critical')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(
      firing.includes('staging/critical') && firing.includes('production/critical'),
      `firing: ${JSON.stringify(firing)}; ALERTS: ${JSON.stringify((await query('ALERTS')).map((s) => s.metric))}; series: ${JSON.stringify(await query('k6_wsgate_isolation_violations_total'))}`,
    );
    const rules = ((await (await fetch(`${url}/api/v1/rules`)).json()) as Rules).data.groups;
    assert.deepEqual(rules.map((g) => g.name).sort(), ['wsgate-local', 'wsgate-production', 'wsgate-staging']);
    const all = rules.flatMap((g) => g.rules);
    assert.equal(all.length, 24);
    for (const r of all) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
  });

  test('refused handshakes fire the windowed auth-failure alert at once; cumulative rate alerts wait for their window', async () => {
    const deadline = Date.now() + 10_000;
    let alerts: Record<string, string>[] = [];
    while (Date.now() < deadline) {
      alerts = (await query('ALERTS{env="local"}')).map((s) => s.metric);
      if (alerts.some((a) => a['alertname'] === 'WsgateAuthFailureRateWarning' && a['alertstate'] === 'firing')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const state = (name: string) => alerts.filter((a) => a['alertname'] === name).map((a) => a['alertstate']);
    assert.deepEqual(state('WsgateAuthFailureRateWarning'), ['firing'], JSON.stringify(alerts));
    // every handshake was refused: connection success is 0, but `for: 30s` has not elapsed yet
    assert.ok(state('WsgateConnectionSuccessCritical').length > 0, JSON.stringify(alerts));
    assert.ok(state('WsgateConnectionSuccessCritical').every((s) => s === 'pending'), JSON.stringify(alerts));
  });

  test('every dashboard query parses and returns data from the run', async () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 10);
    for (const q of queries) {
      const expr = q.expr.replaceAll('$env', 'staging|production|local').replaceAll('$__rate_interval', '1m');
      const result = await query(expr);
      assert.ok(result.length > 0, `"${q.title}": ${expr} returned nothing`);
    }
  });
}

describe("the engine's remote write into a real Prometheus", { skip: need.skip, timeout: 90_000 }, () => remoteWriteSuite('wsgate'));

describe("k6's remote write (the k6 at WSGATE_K6) into a real Prometheus", { skip: need.skip || k6Skip(), timeout: 90_000 }, () => remoteWriteSuite('k6'));

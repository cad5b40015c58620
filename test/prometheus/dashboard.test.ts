/**
 * The Grafana dashboard (monitoring/grafana/wsgate-dashboard.json): importable shape, a datasource and an
 * env variable, the panels the issue asks for, and queries that read only series k6 was seen to produce
 * (monitoring/k6-series.json). remote-write.test.ts runs the same queries against a real Prometheus fed
 * by a real k6 run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DASHBOARD, dashboardQueries, k6SeriesIn, verifiedSeries } from './helpers.ts';

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
}

const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const queryPanels = dash.panels.filter((p) => p.type !== 'row');

test('the dashboard has a stable uid, a Prometheus datasource variable and an env variable read from k6 series', () => {
  assert.equal(dash.uid, 'wsgate-k6');
  assert.ok(dash.schemaVersion >= 36, 'datasource variables by uid need schemaVersion >= 36');
  const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));
  assert.equal(vars['datasource']?.type, 'datasource');
  assert.equal(vars['datasource']?.query, 'prometheus');
  assert.equal(vars['env']?.type, 'query');
  assert.equal(vars['env']?.datasource?.uid, '${datasource}');
  assert.deepEqual(vars['env']?.query, { query: 'label_values(k6_wsgate_connection_success_rate, env)', refId: 'PrometheusVariableQueryEditor-VariableQuery' });
});

test('it has the panels the issue names: connection success, event completion, latency by event, violations, drops, auth failures', () => {
  const byTitle = new Map(queryPanels.map((p) => [p.title, p]));
  const exprsOf = (title: string) => (byTitle.get(title)?.targets ?? assert.fail(`no panel "${title}"`)).map((t) => t.expr);
  assert.deepEqual(exprsOf('Connection success'), ['k6_wsgate_connection_success_rate{env=~"$env"}']);
  assert.deepEqual(exprsOf('Agent event completion'), ['k6_wsgate_agent_event_completion_rate{env=~"$env"}']);
  assert.deepEqual(
    exprsOf('Event latency by event (p50 / p95 / p99)'),
    ['p50', 'p95', 'p99'].map((p) => `max by (env, event) (k6_wsgate_event_latency_${p}{env=~"$env"})`),
  );
  assert.match(exprsOf('Isolation violations')[0] ?? '', /k6_wsgate_isolation_violations_total\{env=~"\$env"\}/);
  assert.match(exprsOf('Connection drops (monitoring pool)')[0] ?? '', /k6_wsgate_connection_drops_total\{env=~"\$env"\}/);
  assert.deepEqual(exprsOf('Auth failures'), [
    'sum by (env) (increase(k6_ws_sessions_total{env=~"$env", status=~"401|403"}[$__rate_interval])) / sum by (env) (increase(k6_ws_sessions_total{env=~"$env"}[$__rate_interval]))',
    'k6_wsgate_auth_failures_rate{env=~"$env"}',
  ]);
  assert.match(exprsOf('Threshold violations: firing wsgate alerts')[0] ?? '', /^sum by \(alertname, env, severity, scenario\) \(ALERTS\{alertstate="firing", alertname=~"Wsgate\.\*", env=~"\$env"\}\)$/);
});

test('every query uses the datasource variable, filters by $env, and reads only series k6 produces', () => {
  const known = verifiedSeries();
  let n = 0;
  for (const p of queryPanels) {
    assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" uses the datasource variable`);
    assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
    for (const t of p.targets ?? []) {
      n++;
      assert.equal(t.datasource.uid, '${datasource}', `"${p.title}" ${t.refId}`);
      assert.match(t.expr, /env=~"\$env"/, `"${p.title}" ${t.refId} filters by $env`);
      const names = k6SeriesIn(t.expr);
      if (names.length === 0) assert.match(t.expr, /\bALERTS\{/, `"${p.title}" reads k6 series or ALERTS`);
      for (const name of names) assert.ok(name in known, `"${p.title}" reads ${name}, which is not in monitoring/k6-series.json`);
    }
  }
  assert.equal(n, dashboardQueries().length);
  assert.ok(n >= 10, `${n} queries`);
});

test('panel ids are unique and panels do not overlap on the 24-column grid', () => {
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  const cells = new Set<string>();
  for (const p of dash.panels) {
    const { h, w, x, y } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24, `"${p.title}" fits in 24 columns`);
    for (let r = y; r < y + h; r++) {
      for (let c = x; c < x + w; c++) {
        const k = `${r}:${c}`;
        assert.ok(!cells.has(k), `"${p.title}" overlaps another panel at row ${r} column ${c}`);
        cells.add(k);
      }
    }
  }
});

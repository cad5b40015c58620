/**
 * The engine's Prometheus remote-write output against a real Prometheus (Debian's, on loopback, its
 * remote-write receiver on): synthetic series go in through PrometheusOutput and come back through the
 * HTTP API under k6's names, labels and units (monitoring/k6-series.json). A small capture server
 * checks what the HTTP API cannot show: headers, label order, retries. fromEnv's validation needs
 * neither and always runs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deserialize } from 'prometheus-remote-write';
import type { SeriesSnapshot, SinkSnapshot, Tags } from '../../engine/contracts.ts';
import { CounterSink, TrendSink, statsOf } from '../../engine/metrics/sinks.ts';
import { DEFAULT_URL, PrometheusConfigError, PrometheusOutput, optionsFromEnv, statSuffix } from '../../engine/output/prometheus.ts';
import { freePort, startServer, tempDir, tools } from '../prometheus/helpers.ts';
import type { Server } from '../prometheus/helpers.ts';

const need = tools('prometheus');
const K6_STATS = ['p(50)', 'p(95)', 'p(99)', 'count'];
const LATENCIES_MS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

const counter = (sum: number): SinkSnapshot => ({ type: 'counter', isTime: false, sum, count: 1 });
const rate = (passes: number, total: number): SinkSnapshot => ({ type: 'rate', isTime: false, passes, total });
const gauge = (value: number, valueTime: number): SinkSnapshot => ({ type: 'gauge', isTime: false, value, valueTime, min: value, max: value, count: 1 });
function trend(values: readonly number[], isTime: boolean): SinkSnapshot {
  const sink = new TrendSink(isTime);
  for (const v of values) sink.add(v);
  return sink.snapshot();
}
const series = (metric: string, tags: Tags, sink: SinkSnapshot): SeriesSnapshot => ({ metric, tags, sink });

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('PrometheusOutput into a real Prometheus', { skip: need.skip ? 'prometheus is not installed (CI installs it)' : false, timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let prom: Server | undefined;
  const promUrl = (): string => (prom ?? assert.fail('prometheus is not running')).url;

  async function query(expr: string, atMs: number): Promise<Sample[]> {
    const res = await fetch(`${promUrl()}/api/v1/query?query=${encodeURIComponent(expr)}&time=${atMs / 1000}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
    assert.equal(body.status, 'success', `${expr}: ${body.error ?? ''}`);
    return body.data.result;
  }
  /** The one series `expr` selects: its labels without __name__, and its value. */
  async function one(expr: string, atMs: number): Promise<{ labels: Record<string, string>; value: number }> {
    const result = await query(expr, atMs);
    assert.equal(result.length, 1, `${expr} selects one series: ${JSON.stringify(result)}`);
    const { __name__: _name, ...labels } = result[0]?.metric ?? {};
    return { labels, value: Number(result[0]?.value[1]) };
  }

  before(async () => {
    dir = tempDir('prom-output');
    const config = join(dir.path, 'prometheus.yml');
    writeFileSync(config, 'global:\n  scrape_interval: 15s\n');
    const data = join(dir.path, 'data');
    prom = await startServer(
      need.paths['prometheus'] ?? 'prometheus',
      (port) => [`--config.file=${config}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver'],
      '/-/ready',
    );
  });

  after(async () => {
    await prom?.stop();
    dir?.remove();
  });

  test("k6's names, labels and units: _total, _rate, bare gauge, one series per trend stat in seconds (count / 1000 too)", async () => {
    const logs: string[] = [];
    const out = new PrometheusOutput({
      url: `${promUrl()}/api/v1/write`,
      trendStats: K6_STATS,
      pushIntervalMs: 1000,
      extraLabels: { env: 'staging', testid: 'run-1' },
      log: (l) => logs.push(l),
    });
    const t0 = Date.now();
    const latency = trend(LATENCIES_MS, true);
    await out.push(
      [
        series('wsgate_checks_run', { scenario: 'pool' }, counter(7)),
        series('wsgate_connection_success', { scenario: 'pool' }, rate(9, 10)),
        series('wsgate_connection_success', { scenario: 'probes', env: 'production' }, rate(1, 4)),
        // vu and iter are metadata in k6 and an empty group (the root group) is no label
        series('wsgate_event_latency', { scenario: 'pool', event: 'message', vu: '3', iter: '7', group: '' }, latency),
        series('vus', {}, gauge(5, t0)),
        series('checks', { scenario: 'pool', check: 'connected' }, rate(3, 3)),
        series('ws_sessions', { scenario: 'pool', status: '101', name: 'ws://target/ws', url: 'ws://target/ws', 'my-tag': 'a', '1st': 'b', __name__: 'evil' }, counter(3)),
      ],
      t0,
    );
    assert.deepEqual(logs, [], 'no push error');

    const names = ((await (await fetch(`${promUrl()}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    assert.deepEqual(names.filter((n) => n.startsWith('k6_')).sort(), [
      'k6_checks_rate',
      'k6_vus',
      'k6_ws_sessions_total',
      'k6_wsgate_checks_run_total',
      'k6_wsgate_connection_success_rate',
      'k6_wsgate_event_latency_count',
      'k6_wsgate_event_latency_p50',
      'k6_wsgate_event_latency_p95',
      'k6_wsgate_event_latency_p99',
    ]);

    assert.deepEqual(await one('k6_wsgate_checks_run_total', t0), { labels: { env: 'staging', testid: 'run-1', scenario: 'pool' }, value: 7 });
    assert.deepEqual(await one('k6_wsgate_connection_success_rate{scenario="pool"}', t0), { labels: { env: 'staging', testid: 'run-1', scenario: 'pool' }, value: 0.9 });
    // a tag wins over an extra label of the same name
    assert.deepEqual(await one('k6_wsgate_connection_success_rate{scenario="probes"}', t0), { labels: { env: 'production', testid: 'run-1', scenario: 'probes' }, value: 0.25 });
    assert.deepEqual(await one('k6_vus', t0), { labels: { env: 'staging', testid: 'run-1' }, value: 5 });
    assert.deepEqual(await one('k6_checks_rate', t0), { labels: { env: 'staging', testid: 'run-1', scenario: 'pool', check: 'connected' }, value: 1 });
    assert.deepEqual(await one('k6_ws_sessions_total', t0), {
      labels: { env: 'staging', testid: 'run-1', scenario: 'pool', status: '101', name: 'ws://target/ws', url: 'ws://target/ws', my_tag: 'a', _1st: 'b', _name__: 'evil' },
      value: 3,
    });

    // Each stat is the metrics room's own value divided by 1000, the count included...
    const expected = statsOf(latency, K6_STATS, 0);
    const latencyLabels = { env: 'staging', testid: 'run-1', scenario: 'pool', event: 'message' };
    for (const stat of K6_STATS) {
      const got = await one(`k6_wsgate_event_latency_${statSuffix(stat)}`, t0);
      assert.deepEqual(got.labels, latencyLabels, stat);
      assert.equal(got.value, (expected[stat] ?? NaN) / 1000, stat);
    }
    // ...and close to what k6 reports for these samples (linear interpolation over the sorted values).
    const k6Seconds: Record<string, number> = { p50: 0.055, p95: 0.0955, p99: 0.0991, count: 0.01 };
    for (const [suffix, v] of Object.entries(k6Seconds)) {
      const got = (await one(`k6_wsgate_event_latency_${suffix}`, t0)).value;
      assert.ok(Math.abs(got - v) < 1e-4, `${suffix}: ${got} s, k6 would say ${v} s`);
    }
    await out.stop();
  });

  test("every trend stat k6 knows, named k6's way (p(99.9) -> p999); a trend that is not time is not converted", async () => {
    const out = new PrometheusOutput({ url: `${promUrl()}/api/v1/write`, trendStats: ['avg', 'min', 'med', 'max', 'sum', 'count', 'p(99.9)', 'p(0.5)'], pushIntervalMs: 1000, log: (l) => assert.fail(l) });
    const t0 = Date.now();
    const sizes = [1, 2, 3, 4, 1000];
    await out.push([series('wsgate_payload_bytes', { scenario: 'load' }, trend(sizes, false))], t0);
    const want: Record<string, number> = { avg: 202, min: 1, med: 3, max: 1000, sum: 1010, count: 5, p999: 996.016, p05: 1.02 };
    for (const [suffix, v] of Object.entries(want)) {
      const got = await one(`k6_wsgate_payload_bytes_${suffix}`, t0);
      assert.deepEqual(got.labels, { scenario: 'load' });
      assert.ok(Math.abs(got.value - v) <= v * 2e-3, `${suffix}: ${got.value}, k6 would say ${v}`);
    }
    await out.stop();
  });

  test('a series is sent only when it changed, at most once per push interval, and stop() sends the final state', async () => {
    const logs: string[] = [];
    const out = new PrometheusOutput({ url: `${promUrl()}/api/v1/write`, pushIntervalMs: 1000, log: (l) => logs.push(l) });
    // Flushes stamped ahead of the clock: stop() stamps Date.now(), which must still come after them.
    const t = Date.now() + 10_000;
    const grow = (n: number, g = 5) => [series('wsgate_t3_drops', { scenario: 's' }, counter(n)), series('wsgate_t3_level', { scenario: 's' }, gauge(g, t))];
    await out.push(grow(1), t); // sent: both
    await out.push(grow(2), t + 500); // within the interval: waits
    await out.push(grow(2), t + 1000); // sent: the counter only, the gauge did not change
    await out.push(grow(2), t + 2000); // nothing changed: no request
    await out.stop({ series: grow(3) }); // sent: the counter, stamped after t + 1000
    await out.stop(); // a second stop is harmless
    await out.push(grow(4), t + 3000); // after stop: ignored
    assert.deepEqual(logs, []);
    const at = t + 60_000;
    assert.equal((await one('count_over_time(k6_wsgate_t3_drops_total[10m])', at)).value, 3);
    assert.equal((await one('k6_wsgate_t3_drops_total', at)).value, 3);
    assert.equal((await one('count_over_time(k6_wsgate_t3_level[10m])', at)).value, 1);
    const stamps = (await query('k6_wsgate_t3_drops_total[10m]', at)) as unknown as { values: [number, string][] }[];
    const times = (stamps[0]?.values ?? []).map(([ts]) => Math.round(ts * 1000));
    assert.deepEqual(times.slice(0, 2), [t, t + 1000]);
    assert.ok((times[2] ?? 0) > t + 1000, `the final push is stamped after the last one: ${times.join(', ')}`);
  });

  test('push errors are logged once per kind, never thrown, and never show the URL password', async () => {
    const logs: string[] = [];
    const port = await freePort();
    const refused = new PrometheusOutput({ url: `http://alice:hunter2@127.0.0.1:${port}/api/v1/write`, pushIntervalMs: 1, log: (l) => logs.push(l) });
    const t = Date.now();
    for (let i = 0; i < 3; i++) await refused.push([series('wsgate_t4', {}, counter(i + 1))], t + i * 10);
    await refused.stop();
    assert.equal(logs.length, 1, logs.join('\n'));
    assert.match(logs[0] ?? '', /ECONNREFUSED/);
    assert.doesNotMatch(logs[0] ?? '', /hunter2|alice/);

    const wrongPath = new PrometheusOutput({ url: `${promUrl()}/api/v1/nowhere`, pushIntervalMs: 1, log: (l) => logs.push(l) });
    for (let i = 0; i < 3; i++) await wrongPath.push([series('wsgate_t4', {}, counter(i + 1))], t + i * 10);
    await wrongPath.stop();
    assert.equal(logs.length, 2, logs.join('\n'));
    assert.match(logs[1] ?? '', /HTTP 404/);
  });
});

interface Captured {
  url: string;
  headers: IncomingHttpHeaders;
  timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
}

/** snappyjs comes with prometheus-remote-write; resolve it from there. */
const snappy = createRequire(createRequire(import.meta.url).resolve('prometheus-remote-write'))('snappyjs') as { uncompress(b: Uint8Array): Uint8Array };

/** A remote-write endpoint that records every request and answers `status(n)` to the n-th (1-based). */
async function captureServer(status: (n: number) => number): Promise<{ url: string; requests: Captured[]; close: () => Promise<void> }> {
  const requests: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // The package declares ArrayBufferLike, but protobufjs decodes the Uint8Array that snappy returns.
      void deserialize(snappy.uncompress(Buffer.concat(chunks)) as unknown as ArrayBuffer).then((decoded) => {
        const message = decoded as unknown as { timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: { toString(): string } }[] }[] };
        requests.push({
          url: req.url ?? '',
          headers: req.headers,
          timeseries: message.timeseries.map((ts) => ({
            labels: ts.labels.map((l) => ({ name: l.name, value: l.value })),
            samples: ts.samples.map((x) => ({ value: x.value, timestamp: Number(x.timestamp.toString()) })),
          })),
        });
        const code = status(requests.length);
        res.writeHead(code).end(code === 503 ? 'overloaded' : '');
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/api/v1/write`, requests, close: () => new Promise((r) => server.close(() => r())) };
}

describe('PrometheusOutput on the wire (capture server)', () => {
  test("spec headers, basic auth from the URL's user info, custom headers, sorted labels; a refused push is retried", async () => {
    // The first request fails as an overloaded endpoint would.
    const capture = await captureServer((n) => (n === 1 ? 503 : 204));
    try {
      const logs: string[] = [];
      const out = new PrometheusOutput({ url: capture.url.replace('//', '//alice:hunter2@'), pushIntervalMs: 1, headers: { 'X-Scope-OrgID': 'tenant-1' }, log: (l) => logs.push(l) });
      assert.equal(out.url, capture.url);
      assert.doesNotMatch(out.description, /hunter2|alice/);
      const s = [series('wsgate_w', { zone: 'z', Alpha: 'A', scenario: 's' }, counter(1))];
      const t = Date.now();
      await out.push(s, t); // 503
      await out.push(s, t + 10); // unchanged, but the last push failed: sent again
      await out.push(s, t + 20); // unchanged and delivered: nothing sent
      await out.stop();
      assert.equal(capture.requests.length, 2);
      assert.equal(logs.length, 1);
      assert.match(logs[0] ?? '', /HTTP 503.*overloaded/);
      const last = capture.requests[1] ?? assert.fail();
      assert.equal(last.url, '/api/v1/write');
      assert.equal(last.headers['content-encoding'], 'snappy');
      assert.equal(last.headers['content-type'], 'application/x-protobuf');
      assert.equal(last.headers['x-prometheus-remote-write-version'], '0.1.0');
      assert.equal(last.headers['x-scope-orgid'], 'tenant-1');
      assert.equal(last.headers['authorization'], 'Basic ' + Buffer.from('alice:hunter2').toString('base64'));
      assert.deepEqual(last.timeseries, [
        {
          labels: [
            { name: 'Alpha', value: 'A' },
            { name: '__name__', value: 'k6_wsgate_w_total' },
            { name: 'scenario', value: 's' },
            { name: 'zone', value: 'z' },
          ],
          samples: [{ value: 1, timestamp: t + 10 }],
        },
      ]);
    } finally {
      await capture.close();
    }
  });

  test('snapshots that land on one label set are merged into one series, not sent twice', async () => {
    const capture = await captureServer(() => 204);
    try {
      const out = new PrometheusOutput({ url: capture.url, trendStats: ['count'], log: (l) => assert.fail(l) });
      const a = new CounterSink();
      a.add(2);
      await out.push(
        [
          series('wsgate_dup', { scenario: 's', vu: '1' }, a.snapshot()),
          series('wsgate_dup', { scenario: 's', vu: '2' }, counter(3)),
          series('wsgate_lat', { scenario: 's', group: '' }, trend([1, 2], false)),
          series('wsgate_lat', { scenario: 's' }, trend([3], false)),
        ],
        Date.now(),
      );
      await out.stop();
      assert.equal(capture.requests.length, 1);
      const sent = (capture.requests[0]?.timeseries ?? []).map((ts) => `${ts.labels.find((l) => l.name === '__name__')?.value}=${ts.samples[0]?.value}`).sort();
      assert.deepEqual(sent, ['k6_wsgate_dup_total=5', 'k6_wsgate_lat_count=3']);
    } finally {
      await capture.close();
    }
  });
});

describe('PrometheusOutput.fromEnv reads k6 variables', () => {
  test("k6's defaults, and every variable it reads", () => {
    assert.deepEqual(optionsFromEnv({}), { url: DEFAULT_URL, trendStats: ['p(99)'], pushIntervalMs: 5000, headers: {} });
    const o = optionsFromEnv({
      K6_PROMETHEUS_RW_SERVER_URL: 'http://prom:9090/api/v1/write',
      K6_PROMETHEUS_RW_TREND_STATS: 'p(50),p(95),p(99),count',
      K6_PROMETHEUS_RW_PUSH_INTERVAL: '1s',
      K6_PROMETHEUS_RW_USERNAME: 'alice',
      K6_PROMETHEUS_RW_PASSWORD: 'hunter2',
      K6_PROMETHEUS_RW_HEADERS_X_Scope_OrgID: 'tenant-1',
      K6_PROMETHEUS_RW_HTTP_HEADERS: 'X-A:1,X-B:2',
      K6_PROMETHEUS_RW_STALE_MARKERS: 'false',
      WSGATE_ENV: 'staging',
    });
    assert.deepEqual(o, {
      url: 'http://prom:9090/api/v1/write',
      trendStats: ['p(50)', 'p(95)', 'p(99)', 'count'],
      pushIntervalMs: 1000,
      headers: { Authorization: 'Basic ' + Buffer.from('alice:hunter2').toString('base64'), X_Scope_OrgID: 'tenant-1', 'X-A': '1', 'X-B': '2' },
    });
    const interval = (v: string) => optionsFromEnv({ K6_PROMETHEUS_RW_PUSH_INTERVAL: v }).pushIntervalMs;
    assert.deepEqual(['500ms', '250', '1m30s', '1.5s', '1d'].map(interval), [500, 250, 90_000, 1500, 86_400_000]);
    assert.equal(optionsFromEnv({ K6_PROMETHEUS_RW_BEARER_TOKEN: 'tok' }).headers?.['Authorization'], 'Bearer tok');
    const out = PrometheusOutput.fromEnv({ K6_PROMETHEUS_RW_SERVER_URL: 'http://bob:pw@prom:9090/api/v1/write' }, () => {});
    assert.equal(out.url, 'http://prom:9090/api/v1/write');
    assert.equal(out.description, 'Prometheus remote write (http://prom:9090/api/v1/write)');
  });

  test("k6's series name suffix of each trend stat", () => {
    assert.deepEqual(['p(50)', 'p(99.9)', 'p(0.5)', 'p(100)', 'avg', 'med', 'count', 'sum'].map(statSuffix), ['p50', 'p999', 'p05', 'p100', 'avg', 'med', 'count', 'sum']);
  });

  const SECRET = 'hunter2';
  const bad: [string, Record<string, string>, string][] = [
    ['a scheme other than http(s)', { K6_PROMETHEUS_RW_SERVER_URL: `ftp://alice:${SECRET}@prom/` }, 'K6_PROMETHEUS_RW_SERVER_URL'],
    ['an unparseable URL with user info', { K6_PROMETHEUS_RW_SERVER_URL: `http://alice:${SECRET}@[prom` }, 'K6_PROMETHEUS_RW_SERVER_URL'],
    ['an unknown stat', { K6_PROMETHEUS_RW_TREND_STATS: 'p(50),p95' }, 'K6_PROMETHEUS_RW_TREND_STATS'],
    ['a percentile over 100', { K6_PROMETHEUS_RW_TREND_STATS: 'p(101)' }, 'K6_PROMETHEUS_RW_TREND_STATS'],
    ['an empty stat', { K6_PROMETHEUS_RW_TREND_STATS: 'p(99),' }, 'K6_PROMETHEUS_RW_TREND_STATS'],
    ['a zero interval', { K6_PROMETHEUS_RW_PUSH_INTERVAL: '0s' }, 'K6_PROMETHEUS_RW_PUSH_INTERVAL'],
    ['a word for an interval', { K6_PROMETHEUS_RW_PUSH_INTERVAL: 'soon' }, 'K6_PROMETHEUS_RW_PUSH_INTERVAL'],
    ['a password without a user', { K6_PROMETHEUS_RW_PASSWORD: SECRET }, 'K6_PROMETHEUS_RW_PASSWORD'],
    ['a header value with a line break', { K6_PROMETHEUS_RW_HEADERS_X_Token: `${SECRET}\nX-Evil: 1` }, 'K6_PROMETHEUS_RW_HEADERS_<name>'],
    ['a header pair without a colon', { K6_PROMETHEUS_RW_HTTP_HEADERS: `Authorization=${SECRET}` }, 'K6_PROMETHEUS_RW_HTTP_HEADERS'],
    ['stale markers, which the engine lacks', { K6_PROMETHEUS_RW_STALE_MARKERS: 'true' }, 'K6_PROMETHEUS_RW_STALE_MARKERS'],
    ['sigv4, which the engine lacks', { K6_PROMETHEUS_RW_SIGV4_SECRET_KEY: SECRET }, 'K6_PROMETHEUS_RW_SIGV4_SECRET_KEY'],
    ['a misspelt variable', { K6_PROMETHEUS_RW_TREND_STAT: 'p(95)' }, 'K6_PROMETHEUS_RW_TREND_STAT'],
  ];
  for (const [what, env, setting] of bad) {
    test(`refuses ${what} in one sentence that names ${setting} and shows no secret`, () => {
      assert.throws(
        () => PrometheusOutput.fromEnv(env, () => {}),
        (err: unknown) => {
          assert.ok(err instanceof PrometheusConfigError, String(err));
          assert.equal(err.code, 'WSGATE_CONFIG');
          assert.equal(err.name, 'PrometheusConfigError');
          assert.equal(err.setting, setting);
          assert.ok(err.message.includes(setting), err.message);
          assert.doesNotMatch(err.message, /\n/);
          assert.ok(!err.message.includes(SECRET), err.message);
          assert.ok(!err.message.includes('alice:'), err.message);
          return true;
        },
      );
    });
  }

  test('the constructor refuses bad options by name too', () => {
    assert.throws(() => new PrometheusOutput({ url: 'http://p/api/v1/write', pushIntervalMs: 0, log: () => {} }), /pushIntervalMs is 0/);
    assert.throws(() => new PrometheusOutput({ url: 'http://p/api/v1/write', trendStats: [], log: () => {} }), /trendStats is empty/);
    assert.throws(() => new PrometheusOutput({ url: 'http://p/api/v1/write', headers: { 'Bad Name': 'x' }, log: () => {} }), /not a valid HTTP header name/);
  });
});

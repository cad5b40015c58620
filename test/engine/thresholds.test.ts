import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { ThresholdOptions } from '../../engine/contracts.ts';
import { DurationError, parseDuration } from '../../engine/metrics/duration.ts';
import { Registry, mergeSnapshots } from '../../engine/metrics/registry.ts';
import { buildSummaryData } from '../../engine/metrics/summary.ts';
import { ThresholdError, Thresholds, breached, evaluate, parseMetricKey, parseThreshold, parseThresholdExpression } from '../../engine/metrics/thresholds.ts';
import type { Operator, ThresholdResult } from '../../engine/metrics/thresholds.ts';
import { buildResult } from '../../lib/core/summary.ts';

const DURATION_MS = 4000;

/** A registry whose every aggregation has a known, exactly representable value. */
function fixture(submetrics: string[] = []): Registry {
  const r = new Registry({ submetrics });
  r.declare('reqs', 'counter');
  r.declare('vus', 'gauge');
  r.declare('ok', 'rate');
  r.declare('lat', 'trend', true);
  for (const v of [2, 3, 1]) r.add('reqs', v); // count 6, rate 1.5/s over 4 s
  r.add('vus', 9, {}, 1);
  r.add('vus', 4, {}, 2); // value 4
  for (const v of [1, 1, 1, 0]) r.add('ok', v); // rate 0.75
  // Whole microseconds below 2.048 ms: the histogram is exact, so these are k6's values.
  for (const v of [0.5, 1, 1.5, 2]) r.add('lat', v); // avg 1.25, min 0.5, max 2, med 1.25, p(50) 1.25, p(0) 0.5, p(100) 2
  return r;
}

const OBSERVED: [metric: string, aggregation: string, value: number][] = [
  ['reqs', 'count', 6],
  ['reqs', 'rate', 1.5],
  ['vus', 'value', 4],
  ['ok', 'rate', 0.75],
  ['lat', 'avg', 1.25],
  ['lat', 'min', 0.5],
  ['lat', 'max', 2],
  ['lat', 'med', 1.25],
  ['lat', 'p(50)', 1.25],
  ['lat', 'p(0)', 0.5],
  ['lat', 'p(100)', 2],
];

/** For each operator, a right-hand side that makes it pass and one that makes it fail, around v. */
const CASES: Record<Operator, (v: number) => [pass: number, fail: number]> = {
  '<': (v) => [v + 1, v],
  '<=': (v) => [v, v - 1],
  '>': (v) => [v - 1, v],
  '>=': (v) => [v, v + 1],
  '==': (v) => [v, v + 1],
  '===': (v) => [v, v + 0.25],
  '!=': (v) => [v + 1, v],
};

test('every aggregation with every operator passes and fails as k6 decides, and reports the value it compared', () => {
  const options: ThresholdOptions = {};
  const want: [string, string, boolean][] = [];
  for (const [metric, aggregation, v] of OBSERVED) {
    for (const [op, rhs] of Object.entries(CASES) as [Operator, (v: number) => [number, number]][]) {
      const [pass, fail] = rhs(v);
      const list = options[metric] ?? (options[metric] = []);
      list.push(`${aggregation}${op}${pass}`, `${aggregation} ${op} ${fail}`);
      want.push([metric, `${aggregation}${op}${pass}`, true], [metric, `${aggregation} ${op} ${fail}`, false]);
    }
  }
  const results = evaluate(options, fixture(), DURATION_MS);
  for (const [metric, expression, ok] of want) {
    assert.equal(results[metric]?.[expression]?.ok, ok, `${metric}: ${expression}`);
  }
  for (const [metric, aggregation, v] of OBSERVED) {
    assert.equal(results[metric]?.[`${aggregation}<${v + 1}`]?.observed, v, `${metric} ${aggregation} observed`);
  }
  assert.equal(want.length, 11 * 7 * 2);
  // The same verdicts from a snapshot that crossed a process boundary (JSON) and was merged.
  const snapshot = JSON.parse(JSON.stringify(mergeSnapshots([fixture().snapshot()]))) as ReturnType<Registry['snapshot']>;
  assert.deepEqual(evaluate(options, snapshot, DURATION_MS), results);
  assert.deepEqual(breached(results), ['lat', 'ok', 'reqs', 'vus']);
});

test('expressions: whitespace anywhere outside p(...), k6 operator order, Go floats', () => {
  const parse = (s: string): [string, string, number | undefined, number, string] => {
    const e = parseThresholdExpression(s);
    return [e.aggregation, e.operator, e.percentile, e.value, e.key];
  };
  assert.deepEqual(parse('p(95)<200'), ['p', '<', 95, 200, 'p(95)']);
  assert.deepEqual(parse('  p(99.9)   <=  1.5  '), ['p', '<=', 99.9, 1.5, 'p(99.9)']);
  assert.deepEqual(parse('p(99.90)<1'), ['p', '<', 99.9, 1, 'p(99.9)']);
  assert.deepEqual(parse('\tavg\t>=\t-3'), ['avg', '>=', undefined, -3, 'avg']);
  assert.deepEqual(parse('rate===1'), ['rate', '===', undefined, 1, 'rate']);
  assert.deepEqual(parse('rate == 1'), ['rate', '==', undefined, 1, 'rate']);
  assert.deepEqual(parse('count!=0'), ['count', '!=', undefined, 0, 'count']);
  assert.deepEqual(parse('value>1e3'), ['value', '>', undefined, 1000, 'value']);
  assert.deepEqual(parse('max < .5'), ['max', '<', undefined, 0.5, 'max']);
  assert.deepEqual(parse('med>-Inf'), ['med', '>', undefined, -Infinity, 'med']);
});

function syntaxError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ThresholdError, `expected ThresholdError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_THRESHOLD_SYNTAX');
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /\.\s/, 'one sentence');
    return true;
  });
}

test('invalid expressions fail with ERR_THRESHOLD_SYNTAX and a sentence naming metric and expression', () => {
  const on = (s: string): (() => unknown) => () => new Thresholds({ lat: [s] });
  syntaxError(on('p(95)'), /^threshold "p\(95\)" on lat has no operator; write <aggregation> <operator> <number> with one of <, <=, >, >=, ==, ===, !=$/);
  syntaxError(on('count!20'), /^threshold "count!20" on lat has no operator/);
  syntaxError(on('count=20'), /has no operator/);
  syntaxError(on('count<'), /has no operator/);
  syntaxError(on('count<='), /^threshold "count<=" on lat compares with "=", which is not a number/);
  syntaxError(on('p(95)<abc'), /^threshold "p\(95\)<abc" on lat compares with "abc", which is not a number; write <aggregation> <operator> <number>, such as "p\(95\)<500"$/);
  syntaxError(on('foo>20'), /^threshold "foo>20" on lat has an unknown aggregation "foo"; use count, rate, value, avg, min, med, max or p\(N\)$/);
  syntaxError(on('p(101)<1'), /^threshold "p\(101\)<1" on lat has a malformed percentile "p\(101\)"; write p\(N\) with N a number from 0 to 100/);
  syntaxError(on('p(-1)<1'), /malformed percentile/);
  syntaxError(on('p()<1'), /malformed percentile/);
  syntaxError(on('p(NaN)<1'), /malformed percentile/);
  syntaxError(on('p( 95 )<1'), /malformed percentile "p\( 95 \)"/);
  syntaxError(on('p(95<1'), /unknown aggregation "p\(95"/);
  syntaxError(() => new Thresholds({ lat: [{ threshold: 'avg<1', abortOnFail: 'yes' as unknown as boolean }] }), /^threshold "avg<1" on lat has abortOnFail "yes"; it must be true or false$/);
  syntaxError(() => new Thresholds({ lat: [{ threshold: 'avg<1', delayAbortEval: '10 sec' }] }), /^threshold "avg<1" on lat has delayAbortEval "10 sec", which is not a k6 duration/);
  syntaxError(() => new Thresholds({ lat: [{ abortOnFail: true } as unknown as string] }), /^a threshold on lat is \{"abortOnFail":true\}; write an expression string or \{threshold/);
});

test('object form: abortOnFail and delayAbortEval, and when a failure aborts the test', () => {
  assert.deepEqual(parseThreshold({ threshold: 'rate>0.9', abortOnFail: true, delayAbortEval: '1m30s' }, 'ok'), {
    source: 'rate>0.9',
    aggregation: 'rate',
    percentile: undefined,
    operator: '>',
    value: 0.9,
    key: 'rate',
    abortOnFail: true,
    delayAbortEvalMs: 90_000,
  });
  assert.equal(parseThreshold({ threshold: 'rate>0.9' }).abortOnFail, false);
  // Options typed for scripts take a string; k6 also reads a JSON number as milliseconds.
  assert.equal(parseThreshold({ threshold: 'rate>0.9', delayAbortEval: 2500 as unknown as string }).delayAbortEvalMs, 2500);
  const thresholds = new Thresholds({
    ok: [{ threshold: 'rate>0.9', abortOnFail: true, delayAbortEval: '10s' }, { threshold: 'rate>0.8', abortOnFail: true }, 'rate>0.7', { threshold: 'rate>0.1', abortOnFail: true }],
    lat: [{ threshold: 'p(95)<0.1', abortOnFail: false }],
    idle: [{ threshold: 'rate>0.9', abortOnFail: true }],
  });
  const r = fixture();
  r.declare('idle', 'rate');
  const results = thresholds.evaluate(r, 5000, { final: false });
  assert.deepEqual(results['idle']?.['rate>0.9'], { ok: undefined, noData: true, observed: undefined }, 'a run-time evaluation skips empty sinks');
  const abort = (ms: number): string[] => thresholds.aborting(results, ms).map((a) => `${a.metric} ${a.expression}`);
  assert.deepEqual(abort(5000), ['ok rate>0.8']);
  assert.deepEqual(abort(10_000), ['ok rate>0.8'], 'delayAbortEval must be strictly less than the time spent');
  assert.deepEqual(abort(10_001), ['ok rate>0.9', 'ok rate>0.8']);
});

test('metric keys: k6 tag parsing with quotes and spaces, and malformed keys', () => {
  assert.deepEqual(parseMetricKey('checks{check:"a b"}'), { key: 'checks{check:"a b"}', metric: 'checks', tags: { check: 'a b' }, name: 'checks{check:"a b"}' });
  assert.deepEqual(parseMetricKey("ws_sessions{ 'status' : 101 , name:\"x y\" }"), {
    key: "ws_sessions{ 'status' : 101 , name:\"x y\" }",
    metric: 'ws_sessions',
    tags: { status: '101', name: 'x y' },
    name: "ws_sessions{'status' : 101 , name:\"x y\"}",
  });
  assert.deepEqual(parseMetricKey('http_req_duration{url:http://h:80/x}').tags, { url: 'http://h:80/x' });
  assert.deepEqual(parseMetricKey('m{a: }').tags, { a: '' });
  assert.deepEqual(parseMetricKey('m{a:1,a:2}').tags, { a: '2' });
  assert.equal(parseMetricKey('checks').tags, undefined);
  for (const key of ['m{a}', 'm{a:}', 'm{a:b', 'ma:b}', 'm}a:b{', 'm{a:b}x', '{a:b}', 'm{a:b,}', 'm{}']) {
    assert.throws(
      () => new Thresholds({ [key]: ['rate>0'] }),
      (e: unknown) => e instanceof ThresholdError && e.code === 'ERR_THRESHOLD_METRIC' && e.message.startsWith(`threshold metric ${JSON.stringify(key)} is malformed (`) && e.message.endsWith('; write name or name{tag:value,...}'),
      key,
    );
  }
});

test('an aggregation the metric type lacks is ERR_THRESHOLD_AGGREGATION; an unknown metric ERR_THRESHOLD_METRIC', () => {
  const r = fixture(['ok{scenario:a}']);
  const invalid = (options: ThresholdOptions, code: string, message: string): void => {
    assert.throws(
      () => new Thresholds(options).validate(r),
      (e: unknown) => e instanceof ThresholdError && e.code === code && e.message === message,
    );
  };
  invalid({ reqs: ['p(95)<1'] }, 'ERR_THRESHOLD_AGGREGATION', 'threshold "p(95)<1" on reqs uses p(N), which a counter metric does not have; use count, rate');
  invalid({ lat: ['rate<1'] }, 'ERR_THRESHOLD_AGGREGATION', 'threshold "rate<1" on lat uses rate, which a trend metric does not have; use avg, min, max, med, p(N)');
  invalid({ vus: ['count>1'] }, 'ERR_THRESHOLD_AGGREGATION', 'threshold "count>1" on vus uses count, which a gauge metric does not have; use value');
  invalid({ 'ok{scenario:a}': ['avg>1'] }, 'ERR_THRESHOLD_AGGREGATION', 'threshold "avg>1" on ok{scenario:a} uses avg, which a rate metric does not have; use rate');
  invalid({ nope: ['count>1'] }, 'ERR_THRESHOLD_METRIC', 'thresholds are set on "nope" but no metric "nope" exists; use a built-in or declared custom metric');
  invalid({ 'nope{a:b}': ['count>1'] }, 'ERR_THRESHOLD_METRIC', 'thresholds are set on "nope{a:b}" but no metric "nope" exists; use a built-in or declared custom metric');
  invalid({ 'ok{scenario:b}': ['rate>1'] }, 'ERR_THRESHOLD_METRIC', 'the registry has no sink for submetric "ok{scenario:b}"; pass Thresholds.submetricKeys() to new Registry({ submetrics })');
  // evaluate() validates too.
  assert.throws(() => evaluate({ reqs: ['avg<1'] }, r.snapshot(), 1000), (e: unknown) => e instanceof ThresholdError && e.code === 'ERR_THRESHOLD_AGGREGATION');
});

test('no data: empty metrics and unmatched submetrics report noData, with the verdict k6 gives', () => {
  const options: ThresholdOptions = {
    empty_rate: ['rate>0.99', 'rate<0.01'],
    empty_counter: ['count>0', 'count==0', 'rate>1', 'rate<1'],
    empty_trend: ['p(95)<500', 'avg>0', 'max==0'],
    empty_gauge: ['value>0', 'value<1'],
    'checks{scenario:never}': ['rate==1'],
    'lat{scenario:never}': ['p(99)<1'],
    lat: ['p(99)<5'],
  };
  const thresholds = new Thresholds(options);
  const r = fixture(thresholds.submetricKeys());
  r.declare('empty_rate', 'rate');
  r.declare('empty_counter', 'counter');
  r.declare('empty_trend', 'trend', true);
  r.declare('empty_gauge', 'gauge');
  r.check('s: something', true, { scenario: 'ran' });
  const results = thresholds.evaluate(r.snapshot(), DURATION_MS);
  const res = (ok: boolean, observed: number | undefined, noData = true): ThresholdResult => ({ ok, noData, observed });
  const p99 = 1.5 + (2 - 1.5) * (0.99 * 3 - 2); // k6's interpolation over 0.5, 1, 1.5, 2
  assert.deepEqual(results, {
    // A Rate without samples has no "rate": k6 passes any expression on it.
    empty_rate: { 'rate>0.99': res(true, undefined), 'rate<0.01': res(true, undefined) },
    // A Counter without samples counts 0: count>0 fails.
    empty_counter: { 'count>0': res(false, 0), 'count==0': res(true, 0), 'rate>1': res(false, 0), 'rate<1': res(true, 0) },
    // A Trend without samples reads 0 everywhere.
    empty_trend: { 'p(95)<500': res(true, 0), 'avg>0': res(false, 0), 'max==0': res(true, 0) },
    empty_gauge: { 'value>0': res(false, 0), 'value<1': res(true, 0) },
    'checks{scenario:never}': { 'rate==1': res(true, undefined) },
    'lat{scenario:never}': { 'p(99)<1': res(true, 0) },
    lat: { 'p(99)<5': res(true, p99, false) },
  });
  // Over a zero duration a Counter has no rate, which passes.
  assert.deepEqual(thresholds.evaluate(r, 0)['empty_counter']?.['rate>1'], res(true, undefined));
  // During the run k6 skips them: no verdict yet.
  const running = thresholds.evaluate(r, DURATION_MS, { final: false });
  assert.deepEqual(running['empty_counter']?.['count>0'], { ok: undefined, noData: true, observed: undefined });
  assert.deepEqual(running['lat']?.['p(99)<5'], res(true, p99, false));
});

test('summary: k6 handleSummary shape, and lib/core/summary.ts reaches the right verdicts from it', () => {
  const options: ThresholdOptions = {
    'checks{ scenario:websocket_connection }': ['rate==1'],
    'checks{scenario:agent_events}': ['rate==1'],
    wsgate_connection_success: ['rate>0.95'],
    wsgate_isolation_violations: ['count==0'],
    'wsgate_checks_run{scenario:agent_events}': ['count>0'],
    wsgate_event_latency: ['p(95)<2000', 'avg<1000'],
  };
  const run = (connectionOk: boolean, agentRan: boolean): ReturnType<typeof buildSummaryData> => {
    const thresholds = new Thresholds(options);
    // Two workers and a coordinator, as the engine runs.
    const workers = [0, 1].map(() => {
      const r = new Registry({ submetrics: thresholds.submetricKeys() });
      r.declare('wsgate_connection_success', 'rate');
      r.declare('wsgate_isolation_violations', 'counter');
      r.declare('wsgate_checks_run', 'counter');
      r.declare('wsgate_event_latency', 'trend', true);
      r.declare('data_sent', 'counter');
      r.declare('unused', 'counter');
      return r;
    });
    workers.forEach((r, i) => {
      const ws = { scenario: 'websocket_connection' };
      r.check('websocket_connection: missing token is refused with 401', true, ws);
      r.check('websocket_connection: valid token is accepted', connectionOk || i === 0, ws);
      r.add('wsgate_connection_success', connectionOk || i === 0 ? 1 : 0, ws);
      r.add('data_sent', 100, ws);
      if (agentRan) {
        const ae = { scenario: 'agent_events' };
        r.check('agent_events: agent run delivers all five events', true, ae);
        r.add('wsgate_checks_run', 1, ae);
        r.add('wsgate_event_latency', 120 + i, ae);
      }
    });
    const coordinator = new Registry();
    for (const w of workers) coordinator.merge(w.snapshot());
    const snapshot = coordinator.snapshot();
    return buildSummaryData(snapshot, thresholds.evaluate(snapshot, 10_030), { testRunDurationMs: 10_030, isStdOutTTY: false, summaryTrendStats: ['avg', 'p(95)', 'count'] });
  };
  const meta = { suite: 'deployment-validation', env: 'local', target: { ws_url: 'ws://h/ws' }, scenarios: ['websocket_connection', 'agent_events'], finishedAt: new Date(0) };
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

  const healthy = run(true, true);
  assert.deepEqual(healthy.root_group.checks[0], {
    name: 'websocket_connection: missing token is refused with 401',
    path: '::websocket_connection: missing token is refused with 401',
    id: md5('::websocket_connection: missing token is refused with 401'),
    passes: 2,
    fails: 0,
  });
  assert.deepEqual({ ...healthy.root_group, checks: healthy.root_group.checks.length }, { name: '', path: '', id: 'd41d8cd98f00b204e9800998ecf8427e', groups: [], checks: 3 });
  assert.deepEqual(healthy.options, { summaryTrendStats: ['avg', 'p(95)', 'count'], summaryTimeUnit: '', noColor: false });
  assert.deepEqual(healthy.state, { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: 10_030 });
  assert.deepEqual(Object.keys(healthy.metrics).sort(), [
    'checks',
    'checks{scenario:agent_events}',
    'checks{scenario:websocket_connection}',
    'data_sent',
    'wsgate_checks_run',
    'wsgate_checks_run{scenario:agent_events}',
    'wsgate_connection_success',
    'wsgate_event_latency',
    'wsgate_isolation_violations',
  ]);
  assert.deepEqual(healthy.metrics['wsgate_event_latency'], {
    type: 'trend',
    contains: 'time',
    values: { avg: 120.5, 'p(95)': 120.95, count: 2 },
    thresholds: { 'p(95)<2000': { ok: true }, 'avg<1000': { ok: true } },
  });
  assert.deepEqual(healthy.metrics['data_sent'], { type: 'counter', contains: 'data', values: { count: 200, rate: 200 / 10.03 } });
  assert.deepEqual(healthy.metrics['wsgate_isolation_violations'], { type: 'counter', contains: 'default', values: { count: 0, rate: 0 }, thresholds: { 'count==0': { ok: true } } });
  assert.deepEqual(healthy.metrics['checks{scenario:websocket_connection}'], { type: 'rate', contains: 'default', values: { rate: 1, passes: 4, fails: 0 }, thresholds: { 'rate==1': { ok: true } } });
  const pass = buildResult(healthy, meta);
  assert.equal(pass.verdict, 'pass');
  assert.deepEqual(pass.scenarios.map((s) => [s.name, s.verdict, s.checks.length, s.thresholds.length]), [['websocket_connection', 'pass', 2, 1], ['agent_events', 'pass', 1, 2]]);
  assert.deepEqual(pass.thresholds.map((t) => `${t.metric} ${t.expression} ${t.ok}`).sort(), [
    'wsgate_connection_success rate>0.95 true',
    'wsgate_event_latency avg<1000 true',
    'wsgate_event_latency p(95)<2000 true',
    'wsgate_isolation_violations count==0 true',
  ]);
  assert.equal(pass.duration_s, 10.03);

  const failing = buildResult(run(false, true), meta);
  assert.equal(failing.verdict, 'fail');
  assert.deepEqual(failing.scenarios.map((s) => s.verdict), ['fail', 'pass']);
  assert.deepEqual(failing.scenarios[0]?.checks.find((c) => !c.ok), { name: 'valid token is accepted', passes: 1, fails: 1, ok: false });
  assert.deepEqual(failing.thresholds.filter((t) => !t.ok).map((t) => [t.metric, t.expression, t.observed['rate']]), [['wsgate_connection_success', 'rate>0.95', 0.5]]);

  // A scenario that never ran: its submetrics have no data; k6's count>0 fails, rate==1 holds.
  const silent = run(true, false);
  assert.deepEqual(silent.metrics['wsgate_checks_run{scenario:agent_events}'], { type: 'counter', contains: 'default', values: { count: 0, rate: 0 }, thresholds: { 'count>0': { ok: false } } });
  assert.deepEqual(silent.metrics['checks{scenario:agent_events}']?.thresholds, { 'rate==1': { ok: true } });
  const r = buildResult(silent, meta);
  assert.equal(r.verdict, 'fail');
  assert.deepEqual(r.scenarios.map((s) => s.verdict), ['pass', 'fail']);
});

test('k6 durations parse to milliseconds; bad ones name the value', () => {
  const cases: [string | number, number][] = [
    ['1h2m3.5s', 3_723_500],
    ['500ms', 500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['0.3s', 300],
    ['1.5ms', 1.5],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['100ns', 0.0001],
    ['0', 0],
    ['1500', 1500],
    ['1.5', 1.5],
    [1500, 1500],
    ['-5s', -5000],
    ['+2m', 120_000],
    ['2d', 172_800_000],
    ['1d12h', 129_600_000],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, String(input));
  for (const bad of ['', '1h30', '10x', 'abc', '1.5d', 's', '1d-2h', '.s', '5 s']) {
    assert.throws(
      () => parseDuration(bad, 'delayAbortEval'),
      (e: unknown) => e instanceof DurationError && e.code === 'ERR_DURATION' && e.message.startsWith(`delayAbortEval: ${JSON.stringify(bad)} is not a valid k6 duration (`),
      bad,
    );
  }
});

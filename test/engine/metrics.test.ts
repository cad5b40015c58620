import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Float64Histogram, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { RegistrySnapshot } from '../../engine/contracts.ts';
import { Registry, mergeIntervals, mergeSnapshots, valuesOf } from '../../engine/metrics/registry.ts';
import { seededRandom } from '../../reference-service/rare.ts';
import { CounterSink, GaugeSink, MetricError, RateSink, TrendSink, fastIndexOf, mergeSinkSnapshots, percentileKey, statsOf } from '../../engine/metrics/sinks.ts';

/** Deterministic PRNG (mulberry32, the reference service's dice), so a failure reproduces. */
const prng = seededRandom;

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** 100k values each, in ms, from distributions a latency metric shows (fractional, long tails). */
const DISTRIBUTIONS: Record<string, (rand: () => number) => number> = {
  'uniform 0-100 ms': (r) => r() * 100,
  'sub-millisecond 0.01-1 ms': (r) => 0.01 + r() * 0.99,
  'lognormal long tail': (r) => Math.exp(3 + 1.5 * normal(r)),
  'exponential mean 40 ms': (r) => -40 * Math.log(1 - r()),
  'pareto heavy tail (up to hours)': (r) => Math.min(5 / Math.pow(1 - r(), 1 / 1.1), 5_000_000),
  'bimodal 0.4 ms / 2 s with outliers': (r) => (r() < 0.7 ? 0.4 + r() * 0.05 : 2000 + r() * 300) + (r() < 0.001 ? 60_000 : 0),
};

const STATS = ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'] as const;

/** k6's TrendSink.P on the exact samples (metrics/sink.go). */
function k6Percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  if (sorted.length === 1) return sorted[0] ?? 0;
  const i = fraction * (sorted.length - 1);
  const j = sorted[Math.floor(i)] ?? 0;
  const k = sorted[Math.ceil(i)] ?? 0;
  return j + (k - j) * (i - Math.floor(i));
}

for (const [name, draw] of Object.entries(DISTRIBUTIONS)) {
  test(`merged snapshots give exactly the percentiles of one registry: ${name}`, () => {
    const rand = prng(name.length * 7919);
    const values = Array.from({ length: 100_000 }, () => draw(rand));
    const whole = new Registry();
    whole.declare('lat', 'trend', true);
    for (const v of values) whole.add('lat', v, { scenario: 's' });
    const expected = statsOf(whole.snapshot().sinks['lat'] ?? assert.fail('no lat'), STATS, 1000);

    for (const parts of [2, 3, 8]) {
      const registries = Array.from({ length: parts }, () => {
        const r = new Registry();
        r.declare('lat', 'trend', true);
        return r;
      });
      const split = prng(parts);
      for (const v of values) registries[Math.floor(split() * parts)]?.add('lat', v, { scenario: 's' });
      const snapshots = registries.map((r) => r.snapshot());
      // Through the pure merge and through a coordinator registry that declared nothing.
      const merged = mergeSnapshots(snapshots).sinks['lat'] ?? assert.fail('no merged lat');
      assert.deepEqual(statsOf(merged, STATS, 1000), expected, `${parts} registries, mergeSnapshots`);
      const coordinator = new Registry();
      for (const s of snapshots) coordinator.merge(s);
      assert.deepEqual(statsOf(coordinator.sink('lat') ?? assert.fail('no sink'), STATS, 1000), expected, `${parts} registries, Registry.merge`);
    }

    // And those values are k6's, within what 3 significant digits allow.
    const sorted = [...values].sort((a, b) => a - b);
    assert.equal(expected['count'], 100_000);
    assert.equal(expected['min'], sorted[0]);
    assert.equal(expected['max'], sorted[sorted.length - 1]);
    const exactAvg = values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(Math.abs((expected['avg'] ?? NaN) - exactAvg) <= 0.0005, `avg ${expected['avg']} vs k6 ${exactAvg}`);
    for (const [stat, fraction] of [['med', 0.5], ['p(90)', 0.9], ['p(95)', 0.95], ['p(99)', 0.99], ['p(99.9)', 0.999]] as const) {
      const k6 = k6Percentile(sorted, fraction);
      const ours = expected[stat] ?? NaN;
      // Half a bucket: 1/2048 of the value, or half a microsecond below 2.048 ms, plus rounding to 1 µs.
      assert.ok(Math.abs(ours - k6) <= Math.abs(k6) / 2048 + 0.001, `${stat}: ours ${ours}, k6 ${k6}`);
    }
  });
}

test('the fast path puts every value in the bucket HDR would, and encodes the same histogram', () => {
  const reference = new Float64Histogram(1, 3_600_000_000, 3);
  reference.autoResize = true;
  const rand = prng(42);
  const edges = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 4097, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
  for (const v of [...edges, ...Array.from({ length: 20_000 }, () => Math.floor(2 ** (rand() * 32)))]) {
    assert.equal(fastIndexOf(v), reference.countsArrayIndex(v), `index of ${v}`);
  }
  const sink = new TrendSink(true);
  const more = [0, 0.0004, 0.37, 1.5, 2.0475, 12.3456, 999.9999, 3_599_999.999, 4_294_967.295, 7_200_000, 123_456_789];
  for (let i = 0; i < 5000; i++) more.push(rand() * 10 ** (rand() * 6));
  const check = new Float64Histogram(1, 3_600_000_000, 3);
  check.autoResize = true;
  for (const v of more) {
    sink.add(v);
    check.recordValue(Math.round(v * 1000));
  }
  assert.equal(sink.snapshot().hdr, encodeIntoCompressedBase64(check));
  // Values past one hour (and past 2^32 µs) resize the histogram instead of failing.
  assert.equal(sink.max, 123_456_789);
  assert.equal(sink.percentile(1), 123_456_789);
});

test('trend: k6 values on exactly representable samples, empty and single-sample trends', () => {
  const t = new TrendSink(true);
  assert.deepEqual(t.stats(['avg', 'min', 'med', 'max', 'p(90)', 'count']), { avg: 0, min: 0, med: 0, max: 0, 'p(90)': 0, count: 0 });
  t.add(0.7);
  assert.deepEqual(t.stats(['med', 'p(99)', 'min', 'max']), { med: 0.7, 'p(99)': 0.7, min: 0.7, max: 0.7 });
  const u = new TrendSink(true);
  // Below 2.048 ms buckets are 1 µs wide: whole microseconds come back exactly.
  const samples = [0.5, 1, 1.5, 2, 0.001, 0.25];
  for (const v of samples) u.add(v);
  const sorted = [...samples].sort((a, b) => a - b);
  for (const f of [0, 0.1, 0.5, 0.9, 0.95, 0.999, 1]) assert.equal(u.percentile(f), k6Percentile(sorted, f), `p(${f * 100})`);
  assert.equal(u.avg, 5251 / 6 / 1000, "the mean of the values in whole microseconds");
  assert.equal(u.sum, 5.251);
  assert.throws(() => u.stats(['p95']), (e: unknown) => e instanceof MetricError && e.code === 'ERR_METRIC_STAT' && /unknown trend stat "p95"; use avg, min, med, max, count or p\(N\)/.test(e.message));
  assert.throws(() => u.add(Infinity), (e: unknown) => e instanceof MetricError && e.code === 'ERR_METRIC_VALUE');
  // Negative values: exact in min and avg, read as 0 by percentiles in between.
  const n = new TrendSink(false);
  for (const v of [-2, 1, 1.5]) n.add(v);
  assert.deepEqual(n.stats(['min', 'med', 'max', 'avg']), { min: -2, med: 1, max: 1.5, avg: 0.5 / 3 });
});

test('counter, gauge and rate: k6 summary values, and merges that equal one sink', () => {
  const c = new CounterSink();
  for (const v of [1, 2, 3.5]) c.add(v);
  assert.deepEqual(c.stats([], 2000), { count: 6.5, rate: 3.25 });
  assert.deepEqual(c.stats([], 0), { count: 6.5, rate: 0 });
  const c2 = new CounterSink();
  c2.add(0);
  assert.equal(c2.isEmpty(), false, 'a zero sample still observes the counter, as in k6');
  assert.deepEqual(statsOf(mergeSinkSnapshots([c.snapshot(), c2.snapshot()]), [], 1000), { count: 6.5, rate: 6.5 });

  const g1 = new GaugeSink();
  const g2 = new GaugeSink();
  g1.add(5, 1000);
  g1.add(-1, 3000);
  g2.add(7, 2000);
  g2.add(3, 2500);
  assert.deepEqual(statsOf(mergeSinkSnapshots([g1.snapshot(), g2.snapshot()]), [], 0), { value: -1, min: -1, max: 7 });
  assert.deepEqual(statsOf(mergeSinkSnapshots([g2.snapshot(), g1.snapshot()]), [], 0), { value: -1, min: -1, max: 7 });
  assert.deepEqual(new GaugeSink().stats(), { value: 0, min: 0, max: 0 });

  const r = new RateSink();
  for (const v of [1, 0, 1, 1, 0.5, 0]) r.add(v);
  assert.deepEqual(r.stats(), { rate: 4 / 6, passes: 4, fails: 2 });
  assert.deepEqual(new RateSink().stats(), { rate: 0, passes: 0, fails: 0 });
  assert.throws(() => r.merge(c.snapshot()), (e: unknown) => e instanceof MetricError && e.code === 'ERR_METRIC_TYPE');
});

test('registry: submetrics match on every tag, parsed like k6 (quotes, spaces, empty values)', () => {
  const r = new Registry({
    submetrics: ['ws_sessions{status:101,name:x}', 'checks{check:"a b"}', "lat{ 'scenario' : 'agent events' }", 'lat{flag: }', 'lat', 'checks{scenario:s1}'],
  });
  r.declare('ws_sessions', 'counter');
  r.declare('lat', 'trend', true);
  r.add('ws_sessions', 1, { status: '101', name: 'x', extra: 'y' });
  r.add('ws_sessions', 1, { status: '101' });
  r.add('ws_sessions', 1, { status: '400', name: 'x' });
  r.add('lat', 1.5, { scenario: 'agent events' });
  r.add('lat', 2, { scenario: 'agent events', flag: '' });
  r.add('lat', 3, { scenario: 'other' });
  r.check('a b', true, { scenario: 's1' });
  r.check('a b', false, { scenario: 's2', check: 'overridden' });
  r.check('c', true, { scenario: 's1' });
  const s = r.snapshot();
  assert.deepEqual(Object.keys(s.sinks).sort(), ['checks', "checks{check:\"a b\"}", 'checks{scenario:s1}', 'lat', "lat{ 'scenario' : 'agent events' }", 'lat{flag: }', 'ws_sessions', 'ws_sessions{status:101,name:x}']);
  assert.equal(s.sinks['ws_sessions{status:101,name:x}']?.sum, 1);
  assert.equal(s.sinks['ws_sessions']?.sum, 3);
  assert.equal(s.sinks["lat{ 'scenario' : 'agent events' }"]?.count, 2);
  assert.equal(s.sinks['lat{flag: }']?.count, 1);
  assert.deepEqual([s.sinks['checks{check:"a b"}']?.passes, s.sinks['checks{check:"a b"}']?.total], [1, 2]);
  assert.deepEqual([s.sinks['checks{scenario:s1}']?.passes, s.sinks['checks{scenario:s1}']?.total], [2, 2]);
  assert.deepEqual([s.sinks['checks']?.passes, s.sinks['checks']?.total], [2, 3]);
  assert.deepEqual(s.checks, { 'a b': { passes: 1, fails: 1 }, c: { passes: 1, fails: 0 } });
  assert.equal(s.series, undefined);
});

test('registry: undeclared metrics, redeclarations, bad names and NaN fail with a code and a sentence', () => {
  const r = new Registry();
  r.declare('lat', 'trend', true);
  assert.equal(r.declare('lat', 'trend', true).name, 'lat');
  const fails = (fn: () => void, code: string, message: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof MetricError && e.code === code && message.test(e.message));
  };
  fails(() => r.add('nope', 1), 'ERR_METRIC_UNDECLARED', /^a sample was added to metric "nope", which is not declared; call registry\.declare\("nope", type, isTime\) first$/);
  fails(() => r.handle('nope'), 'ERR_METRIC_UNDECLARED', /metric "nope"/);
  fails(() => r.declare('lat', 'counter'), 'ERR_METRIC_TYPE', /^metric "lat" is already declared as a trend of time; it cannot be redeclared as a counter$/);
  fails(() => r.declare('1abc', 'counter'), 'ERR_METRIC_NAME', /metric name "1abc" is invalid/);
  fails(() => r.add('lat', NaN), 'ERR_METRIC_VALUE', /NaN is not a valid value for metric "lat"/);
  fails(() => r.check('a::b', true), 'ERR_METRIC_NAME', /check name "a::b" contains "::"/);
  assert.equal(r.sink('lat')?.count, 0, 'a refused sample leaves no trace');
});

test('registry: a handle adds like add(), and gauges keep the time they are given', () => {
  const r = new Registry();
  const vus = r.declare('vus', 'gauge');
  const lat = r.declare('lat', 'trend', true);
  vus.add(3, {}, 1000);
  vus.add(2, {}, 2000);
  lat.add(0.5);
  r.add('lat', 1.5);
  assert.deepEqual(r.snapshot().sinks['vus'], { type: 'gauge', isTime: false, value: 2, valueTime: 2000, min: 2, max: 3, count: 2 });
  assert.equal(r.sink('lat')?.count, 2);
});

test('intervals: drain returns the samples since the last drain, and workers merge exactly', () => {
  const workers = [new Registry(), new Registry(), new Registry()];
  const whole = new Registry();
  for (const r of [...workers, whole]) {
    r.declare('lat', 'trend', true);
    r.declare('msgs', 'counter');
    r.declare('ok', 'rate');
  }
  const rand = prng(7);
  const flush = (): void => {
    for (const r of workers) r.drainInterval();
    whole.drainInterval();
  };
  for (let i = 0; i < 3000; i++) workers[i % 3]?.add('lat', rand() * 50);
  flush();
  for (let i = 0; i < 9000; i++) {
    const v = rand() * 500;
    workers[i % 3]?.add('lat', v);
    whole.add('lat', v);
    workers[i % 3]?.add('msgs', 2);
    whole.add('msgs', 2);
  }
  workers[0]?.add('ok', 1);
  whole.add('ok', 1);
  const merged = mergeIntervals(workers.map((r) => r.drainInterval()));
  const single = whole.drainInterval();
  const stats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];
  assert.deepEqual(valuesOf(merged.sinks, stats, 1000), valuesOf(single.sinks, stats, 1000));
  assert.deepEqual(valuesOf(single.sinks, stats, 1000)['msgs'], { type: 'counter', isTime: false, values: { count: 18_000, rate: 18_000 } });
  assert.equal(valuesOf(single.sinks, stats, 1000)['lat']?.values['count'], 9000, 'the first interval was drained');
  assert.deepEqual(whole.drainInterval().sinks, {}, 'nothing since the last drain');
  whole.add('msgs', 5);
  assert.deepEqual(whole.drainIntervalValues(stats, 500), { msgs: { type: 'counter', isTime: false, values: { count: 5, rate: 10 } } });
  assert.deepEqual(whole.drainIntervalValues(stats, 500), {});
  // The totals still hold everything.
  assert.equal(whole.values(stats, 1000)['lat']?.values['count'], 9000);
  assert.equal(workers.reduce((n, r) => n + (r.values(stats, 1000)['lat']?.values['count'] ?? 0), 0), 12_000);
});

test('series: one sink per exact tag set, only when asked, merged by tag set', () => {
  const make = (): Registry => {
    const r = new Registry({ series: true, submetrics: ['lat{scenario:a}'] });
    r.declare('lat', 'trend', true);
    return r;
  };
  const a = make();
  const b = make();
  a.add('lat', 1, { scenario: 'a', url: 'x' });
  a.add('lat', 2, { url: 'x', scenario: 'a' });
  a.add('lat', 3, { scenario: 'b' });
  b.add('lat', 4, { scenario: 'b' });
  a.check('c1', true, { scenario: 'a' });
  const series = (s: RegistrySnapshot): string[] =>
    (s.series ?? []).map((x) => `${x.metric} ${JSON.stringify(Object.fromEntries(Object.entries(x.tags).sort()))} ${x.sink.count ?? x.sink.total}`).sort();
  assert.deepEqual(series(a.snapshot()), [
    'checks {"check":"c1","scenario":"a"} 1',
    'lat {"scenario":"a","url":"x"} 2',
    'lat {"scenario":"b"} 1',
  ]);
  const merged = mergeSnapshots([a.snapshot(), b.snapshot()]);
  assert.deepEqual(series(merged), ['checks {"check":"c1","scenario":"a"} 1', 'lat {"scenario":"a","url":"x"} 2', 'lat {"scenario":"b"} 2']);
  const coordinator = new Registry({ series: true });
  coordinator.merge(a.snapshot());
  coordinator.merge(b.snapshot());
  assert.deepEqual(series(coordinator.snapshot()), series(merged));
  assert.equal(coordinator.sink('lat{scenario:a}')?.count, 2, 'submetrics unknown to the coordinator are taken from the snapshots');
  const plain = new Registry();
  plain.declare('lat', 'trend', true);
  plain.add('lat', 1, { scenario: 'a' });
  assert.equal(plain.snapshot().series, undefined);
});

test('percentile keys use Go %g like k6', () => {
  assert.deepEqual([95, 99.9, 0, 100, 99.99, 0.00001, 0.0001].map(percentileKey), ['p(95)', 'p(99.9)', 'p(0)', 'p(100)', 'p(99.99)', 'p(1e-05)', 'p(0.0001)']);
});

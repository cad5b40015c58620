/**
 * From k6's byte stream to windows: complete lines only (partial lines, split UTF-8, no final newline),
 * samples picked from k6's JSON, and the window math (boundaries, empty windows, late samples, the
 * closing rule, the final partial window).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineSplitter, parseLine } from '../../cli/monitor/samples.ts';
import type { Sample } from '../../cli/monitor/samples.ts';
import { WindowAggregator, percentile } from '../../cli/monitor/windows.ts';
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';
import { T0, metricDefinition, point, probe } from './monitor-helpers.ts';

const s = (metric: string, at: number, value = 1, tags: Sample['tags'] = {}): Sample => ({ metric, time: T0 + at, value, tags });

describe('LineSplitter', () => {
  test('hands out complete lines only, holding a partial one until its end arrives', () => {
    const l = new LineSplitter();
    assert.deepEqual(l.push('{"a":1}\n{"b":'), ['{"a":1}']);
    assert.equal(l.pending, 5);
    assert.deepEqual(l.push('2}'), []);
    assert.deepEqual(l.push('\n\n{"c":3}\n'), ['{"b":2}', '{"c":3}']);
    assert.deepEqual(l.end(), []);
  });

  test('a UTF-8 character split across reads survives', () => {
    const l = new LineSplitter();
    const bytes = Buffer.from('{"check":"probe ✓ ok"}\n');
    const cut = bytes.indexOf(0x9c); // inside the three bytes of ✓
    assert.deepEqual(l.push(bytes.subarray(0, cut)), []);
    assert.deepEqual(l.push(bytes.subarray(cut)), ['{"check":"probe ✓ ok"}']);
  });

  test('the last line without a newline comes out at the end', () => {
    const l = new LineSplitter();
    assert.deepEqual(l.push('{"a":1}\n{"b":2}'), ['{"a":1}']);
    assert.deepEqual(l.end(), ['{"b":2}']);
  });

  test('any chunking of a real stream gives the same lines', () => {
    const text = probe(T0).join('\n') + '\n';
    const whole = new LineSplitter().push(text);
    for (const size of [1, 7, 64, 333]) {
      const l = new LineSplitter();
      const got: string[] = [];
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += size) got.push(...l.push(bytes.subarray(i, i + size)));
      assert.deepEqual(got, whole, `chunks of ${size}`);
    }
  });
});

describe('parseLine', () => {
  test('a monitored Point becomes a sample with its time (ns precision), value and the tags that matter', () => {
    const r = parseLine(point('ws_connecting', T0 + 1500, 3.2, { status: '403', url: 'ws://x/ws' }));
    assert.deepEqual(r, { kind: 'sample', sample: { metric: 'ws_connecting', time: T0 + 1500, value: 3.2, tags: { status: '403' } } });
    const lat = parseLine(point(CLIENT_METRICS.eventLatency, T0, 12, { event: 'agent_completed' }));
    assert.equal(lat.kind === 'sample' && lat.sample.tags.event, 'agent_completed');
  });

  test('metric definitions and unmonitored metrics are skipped; unmonitored Points still give their time', () => {
    assert.deepEqual(parseLine(metricDefinition(CLIENT_METRICS.connectionSuccess, 'rate')), { kind: 'skip' });
    assert.deepEqual(parseLine(point('vus', T0 + 2000, 3)), { kind: 'skip', time: T0 + 2000 });
    assert.deepEqual(parseLine(metricDefinition('http_reqs', 'counter')), { kind: 'skip' });
  });

  test('what is not k6 JSON is bad, never an exception', () => {
    for (const line of ['not json', '{"metric":"checks","type":"Point"', '42', '{"metric":"checks","type":"Point","data":{"time":"yesterday","value":1}}', '{"metric":"checks","type":"Point","data":{"time":"2026-11-24T12:00:00Z","value":"1"}}']) {
      assert.equal(parseLine(line).kind, 'bad', line);
    }
  });
});

describe('WindowAggregator', () => {
  test('window 1 starts at the whole second of the first sample; samples land by time', () => {
    const w = new WindowAggregator(5000, 1000);
    w.add(s(CLIENT_METRICS.connectionSuccess, 300));
    w.add(s(CLIENT_METRICS.connectionSuccess, 4999, 0));
    w.add(s(CLIENT_METRICS.connectionSuccess, 5000));
    assert.equal(w.start, T0);
    assert.deepEqual(w.advance(T0 + 5999), []);
    const [first] = w.advance(T0 + 6000);
    assert.equal(first?.index, 1);
    assert.equal(first?.start, T0);
    assert.equal(first?.end, T0 + 5000);
    assert.deepEqual(first?.connections, { ok: 1, n: 2 });
  });

  test('a window closes once the clock passes its end by the lateness allowance, and not before', () => {
    const w = new WindowAggregator(10_000, 1000);
    w.add(s('checks', 0));
    w.add(s('checks', 10_500));
    assert.deepEqual(w.advance(), [], 'stream clock 10.5 s: window 1 still open for late samples');
    assert.equal(w.add(s('checks', 9_900, 0)), true, 'a slightly late sample still counts');
    w.add(s('checks', 11_000));
    const closed = w.advance();
    assert.equal(closed.length, 1);
    assert.deepEqual(closed[0]?.checks, { ok: 1, n: 2 });
  });

  test('a sample for a window already closed is counted as late and left out', () => {
    const w = new WindowAggregator(5000, 1000);
    w.add(s('checks', 0));
    w.add(s('checks', 7000));
    assert.equal(w.advance().length, 1);
    assert.equal(w.add(s('checks', 4000)), false);
    assert.equal(w.late, 1);
  });

  test('windows without samples still close, in order, as empty windows', () => {
    const w = new WindowAggregator(5000, 1000);
    w.add(s(CLIENT_METRICS.connectionSuccess, 0));
    w.observe(T0 + 21_000); // k6's vus samples keep the clock moving while probes report nothing
    const closed = w.advance();
    assert.deepEqual(closed.map((x) => [x.index, x.samples]), [[1, 1], [2, 0], [3, 0], [4, 0]]);
  });

  test('another clock (the wall clock) closes windows when the stream is quiet; before any sample nothing', () => {
    const w = new WindowAggregator(5000, 1000);
    assert.deepEqual(w.advance(T0 + 60_000), []);
    w.add(s('checks', 100));
    assert.deepEqual(w.advance(T0 + 11_000).map((x) => x.index), [1, 2]);
  });

  test('finish() closes the window the stream stopped in as partial, ending at the last sample', () => {
    const w = new WindowAggregator(5000, 1000);
    w.add(s(CLIENT_METRICS.agentEventCompletion, 100));
    w.add(s(CLIENT_METRICS.agentEventCompletion, 7200));
    const closed = w.finish();
    assert.deepEqual(closed.map((x) => [x.index, x.partial, x.end - T0]), [[1, false, 5000], [2, true, 7200]]);
    assert.deepEqual(w.finish(), [], 'nothing twice');
  });

  test('finish() leaves out a trailing window without samples, and an empty stream gives none', () => {
    const w = new WindowAggregator(5000, 1000);
    w.add(s('checks', 100));
    w.observe(T0 + 6000);
    assert.deepEqual(w.finish().map((x) => [x.index, x.partial]), [[1, false]]);
    assert.deepEqual(new WindowAggregator(5000).finish(), []);
  });

  test('each metric goes to its tally: handshakes by status, counters summed, latency of agent_completed only', () => {
    const w = new WindowAggregator(5000, 0);
    for (const status of ['101', '101', '401', '403', '503']) w.add(s('ws_connecting', 10, 2, { status }));
    w.add(s(CLIENT_METRICS.isolationViolations, 10, 2));
    w.add(s(CLIENT_METRICS.isolationViolations, 20, 1));
    w.add(s(CLIENT_METRICS.connectionDrops, 30, 1));
    w.add(s(CLIENT_METRICS.eventLatency, 40, 12, { event: 'agent_started' }));
    w.add(s(CLIENT_METRICS.eventLatency, 40, 55, { event: 'agent_completed' }));
    const [x] = w.advance(T0 + 5000);
    assert.deepEqual(x?.handshakes, { n: 5, authFailed: 2 });
    assert.equal(x?.isolationViolations, 3);
    assert.equal(x?.drops, 1);
    assert.deepEqual(x?.latenciesMs, [55]);
  });
});

test('percentile by nearest rank; undefined for no values', () => {
  assert.equal(percentile([], 50), undefined);
  assert.equal(percentile([7], 95), 7);
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 95), 95);
});

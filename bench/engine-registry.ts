/**
 * Cost of the engine's metrics hot path: 5 million samples into a Registry, a third each to a trend
 * (with a scenario submetric, as thresholds like `ws_latency{scenario:agent_events}` create), a counter
 * and a rate, every sample tagged with its scenario. Values are drawn up front so only add() is timed.
 * Also shown: the same through MetricHandle (no name lookup), with series kept, and what a snapshot,
 * its JSON and a merge of it cost. The last line is JSON.
 *
 *   node --import tsx bench/engine-registry.ts [--samples 5000000]
 */
import { parseArgs } from 'node:util';
import { Registry } from '../engine/metrics/registry.ts';
import type { Tags } from '../engine/contracts.ts';

const { values: args } = parseArgs({ options: { samples: { type: 'string' } } });
const SAMPLES = Number(args.samples ?? 5_000_000);

const TAGS: Tags[] = [{ scenario: 'agent_events' }, { scenario: 'websocket_connection' }];
const NAMES = ['ws_latency', 'ws_msgs', 'ws_ok'] as const;

// Latencies in ms with a long tail; every 100th sample a failure.
const draws = new Float64Array(SAMPLES);
for (let i = 0; i < SAMPLES; i++) draws[i] = Math.exp(2 + 1.2 * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()));

function registry(series: boolean): Registry {
  const r = new Registry({ submetrics: ['ws_latency{scenario:agent_events}', 'checks{scenario:agent_events}'], series });
  r.declare('ws_latency', 'trend', true);
  r.declare('ws_msgs', 'counter');
  r.declare('ws_ok', 'rate');
  return r;
}

function byName(r: Registry, n: number): void {
  for (let i = 0; i < n; i++) {
    const tags = TAGS[i & 1] as Tags;
    switch (i % 3) {
      case 0:
        r.add('ws_latency', draws[i] as number, tags);
        break;
      case 1:
        r.add('ws_msgs', 1, tags);
        break;
      default:
        r.add('ws_ok', i % 100 === 0 ? 0 : 1, tags);
    }
  }
}

function byHandle(r: Registry, n: number): void {
  const [lat, msgs, ok] = NAMES.map((name) => r.handle(name));
  if (!lat || !msgs || !ok) throw new Error('metrics not declared');
  for (let i = 0; i < n; i++) {
    const tags = TAGS[i & 1] as Tags;
    switch (i % 3) {
      case 0:
        lat.add(draws[i] as number, tags);
        break;
      case 1:
        msgs.add(1, tags);
        break;
      default:
        ok.add(i % 100 === 0 ? 0 : 1, tags);
    }
  }
}

function timeNs(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start);
}

// Warm the JIT on a throwaway registry.
byName(registry(false), Math.min(SAMPLES, 500_000));
byHandle(registry(false), Math.min(SAMPLES, 500_000));

const main = registry(false);
const nameNs = timeNs(() => byName(main, SAMPLES)) / SAMPLES;
const handleNs = timeNs(() => byHandle(registry(false), SAMPLES)) / SAMPLES;
const seriesNs = timeNs(() => byName(registry(true), SAMPLES)) / SAMPLES;

let snapshot = main.snapshot();
const snapshotMs = timeNs(() => (snapshot = main.snapshot())) / 1e6;
let json = '';
const jsonMs = timeNs(() => (json = JSON.stringify(snapshot))) / 1e6;
const mergeMs = timeNs(() => new Registry().merge(JSON.parse(json) as typeof snapshot)) / 1e6;
const stats = main.values(['avg', 'p(95)', 'count'], 1000)['ws_latency']?.values;

console.log(`samples:                 ${SAMPLES} (trend, counter, rate in turn; scenario tag; trend submetric)`);
console.log(`add(name, value, tags):  ${nameNs.toFixed(1)} ns/sample`);
console.log(`handle.add(value, tags): ${handleNs.toFixed(1)} ns/sample`);
console.log(`with series kept:        ${seriesNs.toFixed(1)} ns/sample`);
console.log(`snapshot ${snapshotMs.toFixed(2)} ms, JSON ${jsonMs.toFixed(2)} ms (${json.length} chars), merge ${mergeMs.toFixed(2)} ms`);
console.log(`ws_latency: avg ${stats?.['avg']?.toFixed(3)} ms, p(95) ${stats?.['p(95)']?.toFixed(3)} ms, count ${stats?.['count']}`);
console.log(
  JSON.stringify({
    bench: 'engine-registry',
    samples: SAMPLES,
    ns_per_sample: Number(nameNs.toFixed(1)),
    ns_per_sample_handle: Number(handleNs.toFixed(1)),
    ns_per_sample_series: Number(seriesNs.toFixed(1)),
    snapshot_ms: Number(snapshotMs.toFixed(2)),
    snapshot_json_chars: json.length,
    merge_ms: Number(mergeMs.toFixed(2)),
    node: process.version,
  }),
);

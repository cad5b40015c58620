/**
 * Re-aggregates k6 samples (`k6 run --out json=FILE`, one JSON object a line) from one or several k6
 * instances into the data k6's handleSummary() would have been given had one process run them all:
 * every metric's values, each threshold's verdict (judged on the union of samples, thresholds.ts) and
 * the checks by name (from the `checks` samples' `check` and `group` tags). lib/core/summary.ts's buildResult
 * turns that into wsgate's result exactly as it does for a single run.
 *
 * Counters add up, Rates count passes and fails, Gauges keep the latest value, Trends keep every value
 * (percentiles need them all: a percentile of percentiles is not a percentile).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { K6SummaryData } from '../../lib/core/summary.ts';
import { holds, parseExpression, parseSelector, percentile, typeFromMethods } from './thresholds.ts';
import type { Expression, MetricType } from './thresholds.ts';

type Tags = Record<string, string>;

class Sink {
  count = 0;
  sum = 0;
  min = 0;
  max = 0;
  trues = 0;
  last = 0;
  lastTime = -Infinity;
  values: number[] = [];

  constructor(readonly type: MetricType) {}

  add(value: number, time: number): void {
    if (this.count === 0 || value < this.min) this.min = value;
    if (this.count === 0 || value > this.max) this.max = value;
    this.count += 1;
    this.sum += value;
    if (value !== 0) this.trues += 1;
    if (time >= this.lastTime) {
      this.last = value;
      this.lastTime = time;
    }
    if (this.type === 'trend') this.values.push(value);
  }

  private sorted(): number[] {
    return this.values.sort((a, b) => a - b);
  }

  /** What a threshold sees (k6's Thresholds.Run): keys absent where k6 leaves them absent. */
  sinked(durationS: number, exprs: readonly Expression[]): Record<string, number> {
    switch (this.type) {
      case 'counter':
        return durationS > 0 ? { count: this.sum, rate: this.sum / durationS } : { count: this.sum };
      case 'gauge':
        return { value: this.last };
      case 'rate':
        return this.count > 0 ? { rate: this.trues / this.count } : {};
      case 'trend': {
        const s = this.sorted();
        const out: Record<string, number> = { min: this.min, max: this.max, avg: this.count ? this.sum / this.count : 0, med: percentile(s, 0.5) };
        for (const e of exprs) if (e.method === 'p') out[`p(${e.percentile})`] = percentile(s, (e.percentile ?? 0) / 100);
        return out;
      }
    }
  }

  /** What the end-of-test summary shows (k6's summary values for the type). */
  summary(durationS: number, trendStats: readonly string[]): Record<string, number> {
    switch (this.type) {
      case 'counter':
        return { count: this.sum, rate: durationS > 0 ? this.sum / durationS : 0 };
      case 'gauge':
        return { value: this.last, min: this.min, max: this.max };
      case 'rate':
        return { rate: this.count ? this.trues / this.count : 0, passes: this.trues, fails: this.count - this.trues };
      case 'trend': {
        const s = this.sorted();
        const out: Record<string, number> = {};
        for (const stat of trendStats) {
          const p = /^p\((.+)\)$/.exec(stat);
          if (p) out[stat] = percentile(s, Number(p[1]) / 100);
          else if (stat === 'avg') out[stat] = this.count ? this.sum / this.count : 0;
          else if (stat === 'min') out[stat] = this.min;
          else if (stat === 'max') out[stat] = this.max;
          else if (stat === 'med') out[stat] = percentile(s, 0.5);
          else if (stat === 'count') out[stat] = this.count;
        }
        return out;
      }
    }
  }
}

interface Watched {
  selector: string;
  name: string;
  tags: Tags;
  exprs: Expression[];
}

export interface MergeInput {
  /** The bundle's thresholds (options.thresholds as `k6 inspect` prints them; objects keep `threshold`). */
  thresholds: Record<string, readonly (string | { threshold: string })[]>;
  /** options.summaryTrendStats (k6's default when absent). */
  summaryTrendStats?: readonly string[] | undefined;
}

const K6_DEFAULT_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];

/** Aggregates samples from any number of instances; feed each instance's lines, then call summary(). */
export class Aggregation {
  private readonly types = new Map<string, MetricType>();
  private readonly sinks = new Map<string, Sink>();
  private readonly watched: Watched[];
  /** Checks by group path, then name, in order of first appearance. */
  private readonly checks = new Map<string, Map<string, { passes: number; fails: number }>>();
  private readonly spans: { first: number; last: number }[] = [];
  private current: { first: number; last: number } | undefined;
  samples = 0;
  badLines = 0;

  constructor(private readonly input: MergeInput) {
    this.watched = Object.entries(input.thresholds).map(([selector, list]) => {
      const { name, tags } = parseSelector(selector);
      return { selector, name, tags, exprs: list.map((t) => parseExpression(typeof t === 'string' ? t : t.threshold)) };
    });
  }

  /** Starts a new instance's stream (its time span counts separately toward the run's duration). */
  beginInstance(): void {
    this.current = { first: Infinity, last: -Infinity };
    this.spans.push(this.current);
  }

  private sink(key: string, type: MetricType): Sink {
    let s = this.sinks.get(key);
    if (!s) {
      s = new Sink(type);
      this.sinks.set(key, s);
    }
    return s;
  }

  /** One line of k6's JSON output. */
  addLine(line: string): void {
    if (!line.trim()) return;
    let rec: { type?: string; metric?: string; data?: { type?: string; name?: string; value?: number; time?: string; tags?: Tags | null } };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      this.badLines += 1;
      return;
    }
    if (rec.type === 'Metric' && rec.data?.name && rec.data.type) {
      this.types.set(rec.data.name, rec.data.type as MetricType);
      return;
    }
    if (rec.type !== 'Point' || !rec.metric || typeof rec.data?.value !== 'number') return;
    const type = this.types.get(rec.metric);
    if (!type) {
      this.badLines += 1; // k6 defines a metric before its first sample; anything else is not k6's output
      return;
    }
    const time = Date.parse(rec.data.time ?? '');
    const tags = rec.data.tags ?? {};
    const value = rec.data.value;
    this.samples += 1;
    if (this.current && Number.isFinite(time)) {
      this.current.first = Math.min(this.current.first, time);
      this.current.last = Math.max(this.current.last, time);
    }
    this.sink(rec.metric, type).add(value, time);
    for (const w of this.watched) {
      if (w.name !== rec.metric || Object.keys(w.tags).length === 0) continue;
      if (Object.entries(w.tags).every(([k, v]) => tags[k] === v)) this.sink(w.selector, type).add(value, time);
    }
    if (rec.metric === 'checks' && tags['check'] !== undefined) {
      const group = tags['group'] ?? '';
      let byName = this.checks.get(group);
      if (!byName) {
        byName = new Map();
        this.checks.set(group, byName);
      }
      const c = byName.get(tags['check']) ?? { passes: 0, fails: 0 };
      if (value !== 0) c.passes += 1;
      else c.fails += 1;
      byName.set(tags['check'], c);
    }
  }

  /** The longest instance's span, first to last sample: segments run side by side. */
  durationMs(): number {
    return Math.max(0, ...this.spans.filter((s) => s.last >= s.first).map((s) => s.last - s.first));
  }

  /** handleSummary()-shaped data for lib/core/summary.ts's buildResult. */
  summary(): K6SummaryData {
    const durationMs = this.durationMs();
    const durationS = durationMs / 1000;
    const trendStats = this.input.summaryTrendStats ?? K6_DEFAULT_TREND_STATS;
    const metrics: K6SummaryData['metrics'] = {};
    for (const [key, sink] of this.sinks) {
      if (key.includes('{')) continue;
      metrics[key] = { type: sink.type, values: sink.summary(durationS, trendStats) };
    }
    for (const w of this.watched) {
      const type = this.types.get(w.name) ?? typeFromMethods(w.exprs);
      const sink = this.sinks.get(w.selector) ?? new Sink(type);
      const sinked = sink.sinked(durationS, w.exprs);
      const thresholds: Record<string, { ok: boolean }> = {};
      for (const e of w.exprs) thresholds[e.source] = { ok: holds(e, sinked) };
      metrics[w.selector] = { type, values: sink.summary(durationS, trendStats), thresholds };
    }
    const groups = [...this.checks.entries()];
    const list = (m: Map<string, { passes: number; fails: number }>) => [...m.entries()].map(([name, c]) => ({ name, ...c }));
    return {
      metrics,
      root_group: {
        name: '',
        checks: list(this.checks.get('') ?? new Map()),
        groups: groups.filter(([g]) => g !== '').map(([g, m]) => ({ name: g, checks: list(m) })),
      },
      state: { testRunDurationMs: durationMs },
    };
  }
}

/** Feeds one k6 JSON output file (plain or .gz) into the aggregation, as one instance. */
export async function addFile(agg: Aggregation, file: string): Promise<void> {
  agg.beginInstance();
  const raw = createReadStream(file);
  const stream = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  await new Promise<void>((resolve, reject) => {
    raw.once('error', reject);
    stream.once('error', reject);
    lines.on('line', (l) => agg.addLine(l));
    lines.once('close', resolve);
  });
}

/**
 * The metric registry of one worker (or of the coordinator, by merging workers' snapshots): one sink
 * per declared metric, one per submetric the thresholds name, an interval sink per top-level metric for
 * the ~1 s flushes, k6's check counts, and optionally one sink per exact tag set (series) for outputs
 * that keep series apart.
 *
 * add() is the hot path (millions of calls per run): a map lookup (none through a MetricHandle), the
 * sinks' own work, and per submetric a loop over its precomputed tag pairs. Nothing is allocated per
 * sample unless series are kept (then the series key is a new string per sample).
 *
 * Submetric membership is k6's: a sample belongs to `m{k:v,...}` when its tags hold every k:v (a k:""
 * pair needs the tag present and empty). Keys are parsed like k6 (quotes trimmed: `checks{check:"a b"}`).
 *
 * Pure module (no I/O).
 */
import type { FlushPoint, MetricType, RegistrySnapshot, SeriesSnapshot, SinkSnapshot, Tags } from '../contracts.ts';
import { MetricError, createSink, mergeSinkSnapshots } from './sinks.ts';
import type { Sink } from './sinks.ts';
import { parseMetricKey } from './thresholds.ts';
import type { SinkSource } from './thresholds.ts';

/** k6's metric name rule (metrics/registry.go). */
const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{1,128}$/;
/** k6's group separator: a check name cannot contain it (lib/models.go). */
const GROUP_SEPARATOR = '::';
const EMPTY_TAGS: Tags = Object.freeze({}) as Tags;
const METRIC_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'rate', 'trend']);

export interface RegistryOptions {
  /**
   * Threshold keys: `checks{scenario:agent_events}`, `ws_sessions{status:101,name:x}`; plain names
   * are accepted and ignored (a top-level metric needs no extra sink). Typically
   * Thresholds.submetricKeys() or simply Object.keys(options.thresholds).
   */
  submetrics?: readonly string[];
  /** Keep a sink per (metric, exact tag set), in snapshot().series. Costs a string per sample. */
  series?: boolean;
}

/** A declared metric, for adding samples without the registry's name lookup. */
export interface MetricHandle {
  readonly name: string;
  readonly type: MetricType;
  readonly isTime: boolean;
  /** Same as Registry.add(name, value, tags, time). */
  add(value: number, tags?: Tags, time?: number): void;
}

/** Per top-level metric, the samples since the previous drain (only metrics that got some). */
export interface IntervalSnapshot {
  sinks: Record<string, SinkSnapshot>;
}

/** Top-level metric name -> type and k6 summary values: FlushPoint's `interval` and `total`. */
export type FlushValues = FlushPoint['total'];

interface Submetric {
  key: string;
  parent: string;
  /** Parallel arrays: no per-sample iteration over an object. */
  tagKeys: string[];
  tagValues: string[];
  /** Created when the parent is declared (the sink type is the parent's). */
  sink: Sink | undefined;
}

interface Metric {
  name: string;
  type: MetricType;
  isTime: boolean;
  sink: Sink;
  interval: Sink;
  subs: Submetric[];
  handle: MetricHandle;
}

interface Series {
  metric: string;
  tags: Tags;
  sink: Sink;
}

export class Registry implements SinkSource {
  private readonly metrics = new Map<string, Metric>();
  private readonly submetrics = new Map<string, Submetric>();
  private readonly checks = new Map<string, { passes: number; fails: number }>();
  private readonly series: Map<string, Series> | undefined;
  private readonly checksMetric: Metric;

  constructor(options: RegistryOptions = {}) {
    for (const key of options.submetrics ?? []) this.defineSubmetric(key);
    this.series = options.series ? new Map() : undefined;
    this.declare('checks', 'rate', false);
    this.checksMetric = this.metrics.get('checks') as Metric;
  }

  /**
   * Declares a metric (k6's NewMetric): declaring it again with the same type is a no-op, with another
   * type an error. `isTime` is k6's "contains time" (trends of durations in ms).
   */
  declare(name: string, type: MetricType, isTime = false): MetricHandle {
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type || existing.isTime !== isTime) {
        throw new MetricError(
          'ERR_METRIC_TYPE',
          `metric "${name}" is already declared as ${describe(existing.type, existing.isTime)}; it cannot be redeclared as ${describe(type, isTime)}`,
        );
      }
      return existing.handle;
    }
    if (!METRIC_NAME.test(name)) {
      throw new MetricError('ERR_METRIC_NAME', `metric name "${name}" is invalid; use 2 to 129 ASCII letters, digits or underscores, not starting with a digit`);
    }
    if (!METRIC_TYPES.has(type)) {
      throw new MetricError('ERR_METRIC_TYPE', `metric "${name}" has unknown type "${String(type)}"; use counter, gauge, rate or trend`);
    }
    const subs: Submetric[] = [];
    for (const sub of this.submetrics.values()) {
      if (sub.parent !== name) continue;
      sub.sink = createSink(type, isTime);
      subs.push(sub);
    }
    // The handle closes over the entry so its add() skips the name lookup.
    let metric: Metric;
    const handle: MetricHandle = {
      name,
      type,
      isTime,
      add: (value: number, tags: Tags = EMPTY_TAGS, time?: number): void => this.record(metric, value, tags, time, undefined, undefined),
    };
    metric = { name, type, isTime, sink: createSink(type, isTime), interval: createSink(type, isTime), subs, handle };
    this.metrics.set(name, metric);
    return metric.handle;
  }

  /** Is `name` declared? */
  has(name: string): boolean {
    return this.metrics.has(name);
  }

  /** The handle of a declared metric (throws ERR_METRIC_UNDECLARED). */
  handle(name: string): MetricHandle {
    const m = this.metrics.get(name);
    if (m === undefined) throw undeclared(name);
    return m.handle;
  }

  /**
   * Adds a sample. `value` is ms for time metrics; for rates non-zero is a pass; `time` (epoch ms,
   * default now) matters for gauges only. Throws MetricError for an undeclared metric or NaN (k6 drops
   * NaN with a warning, or throws under --throw), and for an infinite trend value.
   */
  add(name: string, value: number, tags: Tags = EMPTY_TAGS, time?: number): void {
    const m = this.metrics.get(name);
    if (m === undefined) throw undeclared(name);
    this.record(m, value, tags, time, undefined, undefined);
  }

  /**
   * Records one check as k6's check() does: a sample of the builtin `checks` rate with the tags plus
   * check=name (which wins over a `check` tag), and a pass or fail in root_group.checks.
   */
  check(name: string, ok: boolean, tags: Tags = EMPTY_TAGS): void {
    let counts = this.checks.get(name);
    if (counts === undefined) {
      if (name.includes(GROUP_SEPARATOR)) {
        throw new MetricError('ERR_METRIC_NAME', `check name "${name}" contains "::", which k6 reserves for group paths; rename the check`);
      }
      counts = { passes: 0, fails: 0 };
      this.checks.set(name, counts);
    }
    if (ok) counts.passes++;
    else counts.fails++;
    this.record(this.checksMetric, ok ? 1 : 0, tags, undefined, 'check', name);
  }

  private record(m: Metric, value: number, tags: Tags, time: number | undefined, extraKey: string | undefined, extraValue: string | undefined): void {
    if (value !== value) {
      throw new MetricError('ERR_METRIC_VALUE', `NaN is not a valid value for metric "${m.name}"; add a number or a boolean`);
    }
    // One clock read per gauge sample, shared by its sinks.
    const t = time === undefined && m.type === 'gauge' ? Date.now() : time;
    m.sink.add(value, t);
    m.interval.add(value, t);
    const subs = m.subs;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i] as Submetric;
      if (matches(sub, tags, extraKey, extraValue)) (sub.sink as Sink).add(value, t);
    }
    if (this.series !== undefined) this.recordSeries(m, value, tags, t, extraKey, extraValue);
  }

  private recordSeries(m: Metric, value: number, tags: Tags, time: number | undefined, extraKey: string | undefined, extraValue: string | undefined): void {
    const series = this.series as Map<string, Series>;
    const key = seriesKey(m.name, tags, extraKey, extraValue);
    let s = series.get(key);
    if (s === undefined) {
      const own: Tags = { ...tags };
      if (extraKey !== undefined) own[extraKey] = extraValue ?? '';
      s = { metric: m.name, tags: own, sink: createSink(m.type, m.isTime) };
      series.set(key, s);
    }
    s.sink.add(value, time);
  }

  /** The live sink of a metric or submetric key (undefined when unknown). */
  sink(key: string): Sink | undefined {
    return this.metrics.get(key)?.sink ?? this.submetrics.get(key)?.sink;
  }

  /** Every declared metric and known submetric (empty ones included), the checks, and series if kept. */
  snapshot(): RegistrySnapshot {
    const sinks: Record<string, SinkSnapshot> = {};
    for (const m of this.metrics.values()) sinks[m.name] = m.sink.snapshot();
    for (const sub of this.submetrics.values()) if (sub.sink) sinks[sub.key] = sub.sink.snapshot();
    const checks: Record<string, { passes: number; fails: number }> = {};
    for (const [name, c] of this.checks) checks[name] = { passes: c.passes, fails: c.fails };
    const out: RegistrySnapshot = { sinks, checks };
    if (this.series !== undefined) {
      out.series = [...this.series.values()].map((s): SeriesSnapshot => ({ metric: s.metric, tags: { ...s.tags }, sink: s.sink.snapshot() }));
    }
    return out;
  }

  /**
   * Adds another registry's snapshot exactly: counters sum, rates add passes and totals, gauges keep
   * the later value, min/max combine, trends add histograms. Metrics and submetrics this registry does
   * not know yet are declared from the snapshot (a coordinator needs no declarations of its own).
   * Interval sinks are not touched: workers' intervals merge with mergeIntervals().
   */
  merge(snapshot: RegistrySnapshot): void {
    const entries = Object.entries(snapshot.sinks);
    // Parents first, so a submetric finds its parent's type.
    for (const [key, s] of entries) {
      if (key.includes('{')) continue;
      const handle = this.declare(key, s.type, s.isTime);
      (this.metrics.get(handle.name) as Metric).sink.merge(s);
    }
    for (const [key, s] of entries) {
      if (!key.includes('{')) continue;
      let sub = this.submetrics.get(key);
      if (sub === undefined) {
        sub = this.defineSubmetric(key);
        // Declaring the parent attaches its submetrics; an existing parent got it in defineSubmetric.
        if (!this.metrics.has(sub.parent)) this.declare(sub.parent, s.type, s.isTime);
      }
      (sub.sink as Sink).merge(s);
    }
    for (const [name, c] of Object.entries(snapshot.checks)) {
      const own = this.checks.get(name);
      if (own) {
        own.passes += c.passes;
        own.fails += c.fails;
      } else {
        this.checks.set(name, { passes: c.passes, fails: c.fails });
      }
    }
    if (this.series !== undefined && snapshot.series) {
      for (const s of snapshot.series) {
        const key = seriesKey(s.metric, s.tags, undefined, undefined);
        let own = this.series.get(key);
        if (own === undefined) {
          own = { metric: s.metric, tags: { ...s.tags }, sink: createSink(s.sink.type, s.sink.isTime) };
          this.series.set(key, own);
        }
        own.sink.merge(s.sink);
      }
    }
  }

  /**
   * The samples each top-level metric got since the previous drain, as snapshots (merge several
   * workers' with mergeIntervals, read values with valuesOf); empties the interval sinks.
   */
  drainInterval(): IntervalSnapshot {
    const sinks: Record<string, SinkSnapshot> = {};
    for (const m of this.metrics.values()) {
      if (m.interval.isEmpty()) continue;
      sinks[m.name] = m.interval.snapshot();
      m.interval.reset();
    }
    return { sinks };
  }

  /**
   * drainInterval() read at once, for a single process (no histogram encoding): the k6 values of each
   * top-level metric's samples since the previous drain; `durationMs` is the interval's length.
   */
  drainIntervalValues(stats: readonly string[], durationMs: number): FlushValues {
    const out: FlushValues = {};
    for (const m of this.metrics.values()) {
      if (m.interval.isEmpty()) continue;
      out[m.name] = { type: m.type, isTime: m.isTime, values: m.interval.stats(stats, durationMs) };
      m.interval.reset();
    }
    return out;
  }

  /** Totals of the top-level metrics that have samples, from the live sinks (FlushPoint.total). */
  values(stats: readonly string[], durationMs: number): FlushValues {
    const out: FlushValues = {};
    for (const m of this.metrics.values()) {
      if (m.sink.isEmpty()) continue;
      out[m.name] = { type: m.type, isTime: m.isTime, values: m.sink.stats(stats, durationMs) };
    }
    return out;
  }

  private defineSubmetric(key: string): Submetric {
    const known = this.submetrics.get(key);
    if (known) return known;
    const selector = parseMetricKey(key);
    const tags = selector.tags ?? {};
    const sub: Submetric = {
      key,
      parent: selector.metric,
      tagKeys: Object.keys(tags),
      tagValues: Object.values(tags),
      sink: undefined,
    };
    // A plain name is not a submetric: its sink is the metric's own.
    if (selector.tags === undefined) return sub;
    this.submetrics.set(key, sub);
    const parent = this.metrics.get(sub.parent);
    if (parent) this.attach(sub);
    return sub;
  }

  private attach(sub: Submetric): void {
    const parent = this.metrics.get(sub.parent) as Metric;
    if (sub.sink !== undefined) return;
    sub.sink = createSink(parent.type, parent.isTime);
    parent.subs.push(sub);
  }
}

function matches(sub: Submetric, tags: Tags, extraKey: string | undefined, extraValue: string | undefined): boolean {
  const keys = sub.tagKeys;
  const values = sub.tagValues;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = k === extraKey ? extraValue : tags[k];
    if (v !== values[i]) return false;
  }
  return true;
}

/** The metric and its tags sorted by key, with separators no tag contains in practice (NUL, SOH). */
function seriesKey(metric: string, tags: Tags, extraKey: string | undefined, extraValue: string | undefined): string {
  const keys = Object.keys(tags);
  if (extraKey !== undefined && !Object.hasOwn(tags, extraKey)) keys.push(extraKey);
  keys.sort();
  let key = metric;
  for (const k of keys) key += '\u0000' + k + '\u0001' + (k === extraKey ? extraValue : tags[k]);
  return key;
}

function undeclared(name: string): MetricError {
  return new MetricError('ERR_METRIC_UNDECLARED', `a sample was added to metric "${name}", which is not declared; call registry.declare("${name}", type, isTime) first`);
}

function describe(type: MetricType, isTime: boolean): string {
  return `a ${type}${isTime ? ' of time' : ''}`;
}

/** Merges several workers' interval snapshots (same interval) into one, exactly. */
export function mergeIntervals(intervals: readonly IntervalSnapshot[]): IntervalSnapshot {
  return { sinks: mergeSinkRecords(intervals.map((i) => i.sinks)) };
}

/**
 * Merges several registries' snapshots into one, exactly (see Registry.merge); checks keep the order
 * in which they were first seen.
 */
export function mergeSnapshots(snapshots: readonly RegistrySnapshot[]): RegistrySnapshot {
  const checks: Record<string, { passes: number; fails: number }> = {};
  for (const s of snapshots) {
    for (const [name, c] of Object.entries(s.checks)) {
      const own = checks[name] ?? (checks[name] = { passes: 0, fails: 0 });
      own.passes += c.passes;
      own.fails += c.fails;
    }
  }
  const out: RegistrySnapshot = { sinks: mergeSinkRecords(snapshots.map((s) => s.sinks)), checks };
  if (snapshots.some((s) => s.series !== undefined)) {
    const byKey = new Map<string, { metric: string; tags: Tags; sinks: SinkSnapshot[] }>();
    for (const s of snapshots) {
      for (const series of s.series ?? []) {
        const key = seriesKey(series.metric, series.tags, undefined, undefined);
        const entry = byKey.get(key) ?? { metric: series.metric, tags: { ...series.tags }, sinks: [] };
        entry.sinks.push(series.sink);
        byKey.set(key, entry);
      }
    }
    out.series = [...byKey.values()].map((e) => ({ metric: e.metric, tags: e.tags, sink: mergeSinkSnapshots(e.sinks) }));
  }
  return out;
}

function mergeSinkRecords(records: readonly Record<string, SinkSnapshot>[]): Record<string, SinkSnapshot> {
  const byKey = new Map<string, SinkSnapshot[]>();
  for (const r of records) {
    for (const [key, s] of Object.entries(r)) {
      const list = byKey.get(key);
      if (list) list.push(s);
      else byKey.set(key, [s]);
    }
  }
  const out: Record<string, SinkSnapshot> = {};
  for (const [key, list] of byKey) out[key] = mergeSinkSnapshots(list);
  return out;
}

/**
 * k6 summary values of snapshots (an interval's or a registry's): FlushPoint's `interval` / `total`.
 * Only top-level metrics with samples unless `includeSubmetrics`.
 */
export function valuesOf(
  sinks: Readonly<Record<string, SinkSnapshot>>,
  stats: readonly string[],
  durationMs: number,
  includeSubmetrics = false,
): FlushValues {
  const out: FlushValues = {};
  for (const [key, s] of Object.entries(sinks)) {
    if (!includeSubmetrics && key.includes('{')) continue;
    const sink = createSink(s.type, s.isTime);
    sink.merge(s);
    if (sink.isEmpty()) continue;
    out[key] = { type: s.type, isTime: s.isTime, values: sink.stats(stats, durationMs) };
  }
  return out;
}

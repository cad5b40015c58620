/**
 * The four k6 sinks (counter, gauge, rate, trend) with k6's summary values, in a state that crosses
 * process boundaries (SinkSnapshot) and merges exactly: a run split over workers reports what one
 * process that saw every sample would have reported.
 *
 * Semantics follow k6 v2.2 (metrics/sink.go, internal/js/summary.go, metrics/sample.go):
 * - counter: `count` is the sum of the values, `rate` the sum per second of test run duration (0 when
 *   the duration is 0);
 * - gauge: `value` is the last value, plus `min` and `max` (all 0 when empty);
 * - rate: `rate` = non-zero samples / samples (0 when empty), `passes`, `fails`;
 * - trend: `avg`, `min`, `med`, `max`, `count`, `p(N)` for any N in [0, 100] (all 0 when empty).
 *
 * Where wsgate's trend differs from k6's: k6 keeps every sample and interpolates linearly between
 * sorted samples (i = N/100 x (count - 1)); we keep an HDR histogram (hdr-histogram-js, pure JS) of the
 * values scaled by 1000 and rounded (microseconds for time metrics) with 3 significant digits, and apply
 * k6's interpolation to the histogram's ranks. So a percentile is HDR-quantized: each sample reads as the
 * middle of its bucket (buckets are 1 unit wide below 2048 units, i.e. 2.048 ms, and at most 1/1024 of
 * the value wide above), clamped to the exact min and max; p(0) and p(100) are the exact min and max.
 * `min`, `max` and `count` are exact; `avg` is the exact mean of the values rounded to 1/1000 (so within
 * 0.0005 of k6's), because an integer sum is what merges exactly across workers. Negative trend values
 * (HDR cannot hold them) count in the lowest bucket: exact in min/avg, read as 0 by percentiles.
 *
 * Pure module (no I/O).
 */
import { Float64Histogram, JsHistogram, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { MetricType, SinkSnapshot } from '../contracts.ts';
import { CodedError } from '../../lib/core/errors.ts';

export type MetricErrorCode =
  | 'ERR_METRIC_UNDECLARED'
  | 'ERR_METRIC_NAME'
  | 'ERR_METRIC_TYPE'
  | 'ERR_METRIC_VALUE'
  | 'ERR_METRIC_STAT'
  | 'ERR_METRIC_SNAPSHOT';

/** A misuse of a metric (undeclared, redeclared with another type, bad value or stat); one sentence. */
export class MetricError extends CodedError<MetricErrorCode> {}

/** Trend values are recorded as Math.round(value * TREND_SCALE): microseconds for values in ms. */
const TREND_SCALE = 1000;
/** One hour in microseconds: the histogram is sized for it up front, and grows past it (autoResize). */
const HDR_HIGHEST_TRACKABLE = 3_600_000_000;
const HDR_SIGNIFICANT_DIGITS = 3;
/** Float64 counts: a bucket cannot overflow before 2^53 samples (Int32 would wrap silently on merge). */
const HDR_BIT_BUCKET_SIZE = 64;
/**
 * The fast path below computes the HDR bucket index with Math.clz32, valid for values below 2^32; HDR's
 * own recordValue costs ~4x more per sample (log2/pow). A test holds it equal to countsArrayIndex.
 */
const FAST_PATH_LIMIT = 2 ** 32;

/** k6's default summaryTrendStats. */
export const DEFAULT_TREND_STATS: readonly string[] = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];

/**
 * Go's strconv.ParseFloat as k6 uses it for p(N) and threshold values: decimal text with an optional
 * exponent, inf/infinity and nan; Go's hexadecimal floats are not accepted here.
 */
export function parseGoFloat(text: string): number | undefined {
  if (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) {
    const n = Number(text);
    // Go reports out-of-range decimals (1e400) as an error.
    return Number.isFinite(n) ? n : undefined;
  }
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (!special) return undefined;
  if (special[2]?.toLowerCase() === 'nan') return NaN;
  return special[1] === '-' ? -Infinity : Infinity;
}

/** The key k6 gives a percentile: `p(` + Go's %g of N + `)`, e.g. p(95), p(99.9), p(1e-05). */
export function percentileKey(n: number): string {
  return `p(${formatG(n)})`;
}

/** Go's strconv.FormatFloat(n, 'g', -1, 64): shortest digits, exponent form below 1e-4 or from 1e21. */
function formatG(n: number): string {
  if (n === 0 || !Number.isFinite(n)) return String(n);
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21) {
    // JS gives "1e-5", Go "1e-05": at least two exponent digits.
    return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  return String(n);
}

/** A summary stat of a trend: one of k6's static resolvers or a percentile (fraction 0..1). */
type TrendStat = { kind: 'avg' | 'min' | 'med' | 'max' | 'count' } | { kind: 'p'; fraction: number };

const STATIC_TREND_STATS = new Set(['avg', 'min', 'med', 'max', 'count']);

/** Parses a summaryTrendStats entry the way k6 validates it (metrics/sample.go parsePercentile). */
function parseTrendStat(stat: string): TrendStat {
  if (STATIC_TREND_STATS.has(stat)) return { kind: stat as 'avg' | 'min' | 'med' | 'max' | 'count' };
  if (stat.startsWith('p(') && stat.endsWith(')')) {
    const n = parseGoFloat(stat.slice(2, -1));
    if (n !== undefined && n >= 0 && n <= 100) return { kind: 'p', fraction: n / 100 };
  }
  throw new MetricError(
    'ERR_METRIC_STAT',
    `unknown trend stat "${stat}"; use avg, min, med, max, count or p(N) with N a number from 0 to 100`,
  );
}

// ---- sinks ---------------------------------------------------------------------------------

/** What every sink offers: k6's Sink plus an exact snapshot/merge and k6's summary values. */
interface SinkBase {
  readonly type: MetricType;
  readonly isTime: boolean;
  /** Samples added (for a counter: calls, not the sum). k6 treats a metric as observed when > 0. */
  readonly count: number;
  add(value: number, time?: number): void;
  isEmpty(): boolean;
  snapshot(): SinkSnapshot;
  /** Adds another sink's snapshot of the same type: the result is as if this sink had seen its samples. */
  merge(snapshot: SinkSnapshot): void;
  /** Empties the sink (interval sinks, after a drain). */
  reset(): void;
  /**
   * k6's summary values. Trends return the requested `stats` (k6's summaryTrendStats); the other types
   * always return their fixed set (k6 ignores summaryTrendStats for them).
   */
  stats(stats: readonly string[], durationMs: number): Record<string, number>;
}

/** k6's Counter: sums its values; empty until the first sample (even a 0). */
export class CounterSink implements SinkBase {
  readonly type = 'counter' as const;
  readonly isTime: boolean;
  sum = 0;
  count = 0;
  constructor(isTime = false) {
    this.isTime = isTime;
  }
  add(value: number): void {
    this.sum += value;
    this.count++;
  }
  isEmpty(): boolean {
    return this.count === 0;
  }
  snapshot(): SinkSnapshot {
    return { type: 'counter', isTime: this.isTime, sum: this.sum, count: this.count };
  }
  merge(s: SinkSnapshot): void {
    expectType(s, 'counter');
    this.sum += s.sum ?? 0;
    this.count += s.count ?? 0;
  }
  reset(): void {
    this.sum = 0;
    this.count = 0;
  }
  stats(_stats: readonly string[], durationMs: number): Record<string, number> {
    return { count: this.sum, rate: durationMs > 0 ? this.sum / (durationMs / 1000) : 0 };
  }
}

/** k6's Gauge: the last value (with its time, for merging), min and max. */
export class GaugeSink implements SinkBase {
  readonly type = 'gauge' as const;
  readonly isTime: boolean;
  value = 0;
  /** Epoch ms of `value`: merging keeps the later one. */
  valueTime = 0;
  min = 0;
  max = 0;
  count = 0;
  constructor(isTime = false) {
    this.isTime = isTime;
  }
  add(value: number, time: number = Date.now()): void {
    this.value = value;
    this.valueTime = time;
    if (this.count === 0 || value < this.min) this.min = value;
    if (this.count === 0 || value > this.max) this.max = value;
    this.count++;
  }
  isEmpty(): boolean {
    return this.count === 0;
  }
  snapshot(): SinkSnapshot {
    if (this.count === 0) return { type: 'gauge', isTime: this.isTime, count: 0 };
    return { type: 'gauge', isTime: this.isTime, value: this.value, valueTime: this.valueTime, min: this.min, max: this.max, count: this.count };
  }
  merge(s: SinkSnapshot): void {
    expectType(s, 'gauge');
    const count = s.count ?? 0;
    if (count === 0) return;
    const value = s.value ?? 0;
    const time = s.valueTime ?? 0;
    // Later sample wins; a tie goes to the larger value so the result does not depend on merge order.
    if (this.count === 0 || time > this.valueTime || (time === this.valueTime && value > this.value)) {
      this.value = value;
      this.valueTime = time;
    }
    const min = s.min ?? value;
    const max = s.max ?? value;
    if (this.count === 0 || min < this.min) this.min = min;
    if (this.count === 0 || max > this.max) this.max = max;
    this.count += count;
  }
  reset(): void {
    this.value = 0;
    this.valueTime = 0;
    this.min = 0;
    this.max = 0;
    this.count = 0;
  }
  stats(): Record<string, number> {
    return { value: this.value, min: this.min, max: this.max };
  }
}

/** k6's Rate: the share of non-zero samples. */
export class RateSink implements SinkBase {
  readonly type = 'rate' as const;
  readonly isTime: boolean;
  passes = 0;
  total = 0;
  constructor(isTime = false) {
    this.isTime = isTime;
  }
  get count(): number {
    return this.total;
  }
  /** As k6: any non-zero value is a pass (NaN included; the registry refuses NaN before it gets here). */
  add(value: number): void {
    this.total++;
    if (value !== 0) this.passes++;
  }
  isEmpty(): boolean {
    return this.total === 0;
  }
  snapshot(): SinkSnapshot {
    return { type: 'rate', isTime: this.isTime, passes: this.passes, total: this.total };
  }
  merge(s: SinkSnapshot): void {
    expectType(s, 'rate');
    this.passes += s.passes ?? 0;
    this.total += s.total ?? 0;
  }
  reset(): void {
    this.passes = 0;
    this.total = 0;
  }
  stats(): Record<string, number> {
    return { rate: this.total > 0 ? this.passes / this.total : 0, passes: this.passes, fails: this.total - this.passes };
  }
}

/** k6's Trend over an HDR histogram, with exact min, max and count (see the module comment). */
export class TrendSink implements SinkBase {
  readonly type = 'trend' as const;
  readonly isTime: boolean;
  count = 0;
  /** Sum of Math.round(value * TREND_SCALE): an integer, so merging is exact in any order. */
  private scaledSum = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;
  private readonly hist: Float64Histogram;

  constructor(isTime = false) {
    this.isTime = isTime;
    this.hist = new Float64Histogram(1, HDR_HIGHEST_TRACKABLE, HDR_SIGNIFICANT_DIGITS);
    this.hist.autoResize = true;
    // The fast path hard-codes this layout (2048 sub-buckets, unit 1); refuse to run on another.
    if (this.hist.subBucketHalfCountMagnitude !== 10 || this.hist.unitMagnitude !== 0 || this.hist.unitMagnitudeMask !== 0) {
      throw new MetricError('ERR_METRIC_TYPE', 'hdr-histogram-js has an unexpected bucket layout; pin hdr-histogram-js 3.0.1');
    }
  }

  add(value: number): void {
    // NaN and ±Infinity fail both comparisons; HDR cannot hold them and k6 drops NaN.
    if (!(value > -Infinity && value < Infinity)) {
      throw new MetricError('ERR_METRIC_VALUE', `${value} is not a finite number; a trend sample must be one`);
    }
    this.count++;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
    const scaled = Math.round(value * TREND_SCALE);
    this.scaledSum += scaled;
    recordFast(this.hist, scaled < 0 ? 0 : scaled);
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  /** The exact smallest sample (0 when empty, as k6). */
  get min(): number {
    return this.count === 0 ? 0 : this.minValue;
  }
  /** The exact largest sample (0 when empty, as k6). */
  get max(): number {
    return this.count === 0 ? 0 : this.maxValue;
  }
  /** Sum of the samples, each rounded to 1/TREND_SCALE. */
  get sum(): number {
    return this.scaledSum / TREND_SCALE;
  }
  /** Mean (0 when empty, as k6). */
  get avg(): number {
    return this.count === 0 ? 0 : this.scaledSum / this.count / TREND_SCALE;
  }

  snapshot(): SinkSnapshot {
    if (this.count === 0) return { type: 'trend', isTime: this.isTime, count: 0, sum: 0 };
    return {
      type: 'trend',
      isTime: this.isTime,
      count: this.count,
      sum: this.sum,
      min: this.minValue,
      max: this.maxValue,
      hdr: encodeIntoCompressedBase64(this.hist),
    };
  }

  merge(s: SinkSnapshot): void {
    expectType(s, 'trend');
    const count = s.count ?? 0;
    if (count === 0) return;
    if (s.hdr === undefined || s.min === undefined || s.max === undefined) {
      throw new MetricError('ERR_METRIC_SNAPSHOT', `a trend snapshot with ${count} samples lacks its histogram, min or max`);
    }
    const other = decodeFromCompressedBase64(s.hdr, HDR_BIT_BUCKET_SIZE, false);
    if (!(other instanceof JsHistogram) || other.totalCount !== count) {
      throw new MetricError('ERR_METRIC_SNAPSHOT', `a trend snapshot says ${count} samples but its histogram holds ${other.totalCount} (or is not a JS histogram)`);
    }
    this.hist.add(other);
    this.count += count;
    // The snapshot's sum is scaledSum / TREND_SCALE; rounding recovers the integer (exact below ~2^51).
    this.scaledSum += Math.round((s.sum ?? 0) * TREND_SCALE);
    if (s.min < this.minValue) this.minValue = s.min;
    if (s.max > this.maxValue) this.maxValue = s.max;
  }

  reset(): void {
    if (this.count === 0) return;
    this.count = 0;
    this.scaledSum = 0;
    this.minValue = Infinity;
    this.maxValue = -Infinity;
    this.hist.reset();
  }

  /** k6's TrendSink.P(fraction): linear interpolation between the ranks around fraction x (count - 1). */
  percentile(fraction: number): number {
    return this.percentiles([fraction])[0] ?? 0;
  }

  /** Several percentiles (fractions 0..1) in one pass over the histogram. */
  percentiles(fractions: readonly number[]): number[] {
    if (this.count === 0) return fractions.map(() => 0);
    if (this.count === 1) return fractions.map(() => this.minValue);
    const positions = fractions.map((f) => f * (this.count - 1));
    const ranks = new Set<number>();
    for (const i of positions) {
      ranks.add(Math.floor(i));
      ranks.add(Math.ceil(i));
    }
    const at = this.valuesAtRanks([...ranks].sort((a, b) => a - b));
    return positions.map((i) => {
      const j = at.get(Math.floor(i)) ?? 0;
      const k = at.get(Math.ceil(i)) ?? 0;
      return j + (k - j) * (i - Math.floor(i));
    });
  }

  stats(stats: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    const parsed = stats.map(parseTrendStat);
    const wanted: number[] = [];
    for (const p of parsed) {
      if (p.kind === 'p') wanted.push(p.fraction);
      else if (p.kind === 'med') wanted.push(0.5);
    }
    const values = this.percentiles(wanted);
    let next = 0;
    parsed.forEach((p, n) => {
      const stat = stats[n] ?? '';
      switch (p.kind) {
        case 'avg':
          out[stat] = this.avg;
          break;
        case 'min':
          out[stat] = this.min;
          break;
        case 'max':
          out[stat] = this.max;
          break;
        case 'count':
          out[stat] = this.count;
          break;
        case 'med':
        case 'p':
          out[stat] = values[next++] ?? 0;
          break;
      }
    });
    return out;
  }

  /**
   * The sample at each 0-based rank (ascending ranks), read from the histogram: the middle of the
   * sample's bucket, clamped to the exact min and max; the first and last ranks are the exact min and max.
   */
  private valuesAtRanks(ranks: readonly number[]): Map<number, number> {
    const out = new Map<number, number>();
    const h = this.hist;
    const last = this.count - 1;
    let r = 0;
    let seen = 0;
    for (let i = 0; i < h.countsArrayLength && r < ranks.length; i++) {
      const c = h.getCountAtIndex(i);
      if (c === 0) continue;
      seen += c;
      let value = NaN;
      while (r < ranks.length && (ranks[r] ?? 0) < seen) {
        const rank = ranks[r] ?? 0;
        if (Number.isNaN(value)) {
          const lowest = h.valueFromIndex(i);
          value = (lowest + (h.sizeOfEquivalentValueRange(lowest) - 1) / 2) / TREND_SCALE;
        }
        out.set(rank, rank === 0 ? this.minValue : rank === last ? this.maxValue : Math.min(this.maxValue, Math.max(this.minValue, value)));
        r++;
      }
    }
    return out;
  }
}

/**
 * Records `scaled` (a non-negative integer) into `h` as Histogram.recordValue would, without its
 * per-sample log2/pow: bucket = floor(log2 v) - 10, index = bucket x 1024 + (v >> bucket). Updates the
 * same fields recordValue updates (for unit 1: maxValue = v, minNonZeroValue = v).
 */
function recordFast(h: Float64Histogram, scaled: number): void {
  if (scaled < FAST_PATH_LIMIT) {
    const bucket = 21 - Math.clz32(scaled);
    const index = bucket <= 0 ? scaled : (bucket << 10) + (scaled >>> bucket);
    if (index < h.countsArrayLength) {
      const counts = h._counts;
      counts[index] = (counts[index] as number) + 1;
      h._totalCount++;
      if (scaled > h.maxValue) h.maxValue = scaled;
      if (scaled !== 0 && scaled < h.minNonZeroValue) h.minNonZeroValue = scaled;
      return;
    }
  }
  h.recordValue(scaled);
}

/** Exposed for the test that holds the fast path equal to HDR's own index. */
export function fastIndexOf(scaled: number): number {
  const bucket = 21 - Math.clz32(scaled);
  return bucket <= 0 ? scaled : (bucket << 10) + (scaled >>> bucket);
}

/** A live sink of any type; `type` tells them apart. */
export type Sink = CounterSink | GaugeSink | RateSink | TrendSink;

/** An empty sink of a type. */
export function createSink(type: MetricType, isTime = false): Sink {
  switch (type) {
    case 'counter':
      return new CounterSink(isTime);
    case 'gauge':
      return new GaugeSink(isTime);
    case 'rate':
      return new RateSink(isTime);
    case 'trend':
      return new TrendSink(isTime);
    default:
      throw new MetricError('ERR_METRIC_TYPE', `unknown metric type "${String(type)}"; use counter, gauge, rate or trend`);
  }
}

/** A live sink holding a snapshot's state (decodes the trend histogram). */
export function sinkFromSnapshot(s: SinkSnapshot): Sink {
  const sink = createSink(s.type, s.isTime);
  sink.merge(s);
  return sink;
}

/** Merges snapshots of one metric (same type) into one, exactly. */
export function mergeSinkSnapshots(snapshots: readonly SinkSnapshot[]): SinkSnapshot {
  const first = snapshots[0];
  if (!first) throw new MetricError('ERR_METRIC_SNAPSHOT', 'cannot merge an empty list of sink snapshots');
  const sink = createSink(first.type, first.isTime);
  for (const s of snapshots) sink.merge(s);
  return sink.snapshot();
}

/** Is `x` a live sink rather than a snapshot? */
function isSink(x: SinkSnapshot | Sink): x is Sink {
  return x instanceof CounterSink || x instanceof GaugeSink || x instanceof RateSink || x instanceof TrendSink;
}

/**
 * k6's summary values of a sink or snapshot: trend -> the requested stats (avg, min, med, max, count,
 * p(N)); counter -> count (the sum) and rate (per second of `durationMs`); rate -> rate, passes, fails;
 * gauge -> value, min, max.
 */
export function statsOf(sink: SinkSnapshot | Sink, stats: readonly string[], durationMs: number): Record<string, number> {
  return (isSink(sink) ? sink : sinkFromSnapshot(sink)).stats(stats, durationMs);
}

function expectType(s: SinkSnapshot, type: MetricType): void {
  if (s.type !== type) {
    throw new MetricError('ERR_METRIC_TYPE', `cannot merge a ${s.type} snapshot into a ${type} sink; a metric keeps one type everywhere`);
  }
}

/**
 * k6 thresholds: parsing, validation against the metrics' types, evaluation and abortOnFail, with the
 * semantics of k6 v2.2 (metrics/thresholds.go, metrics/thresholds_parser.go, metrics/metric.go,
 * internal/metrics/engine/engine.go, internal/cmd/test_load.go):
 *
 * Syntax. `<aggregation> <operator> <number>`. The operators are tried in k6's order (<=, <, >=, >, ===,
 * ==, !=) and the first one with something on its right splits the expression, both sides trimmed, so
 * whitespace is optional. Aggregations: count, rate, value, avg, min, med, max, p(N) with N a float in
 * [0, 100] and no spaces inside the parentheses. The number is Go's ParseFloat (1e3, inf and nan too).
 *
 * Validation (k6 exits 104, invalid config, before the test starts): the metric must exist and the
 * aggregation must suit its type: counter count|rate; gauge value; rate rate; trend avg|min|max|med|p(N).
 *
 * Metric keys. `name` or `name{k:v,...}`: k6 splits the part in braces on commas, each piece on its first
 * colon, trims spaces and then quote characters (" and ') off both ends of key and value, so
 * `checks{check:"a b"}` selects check = `a b`; a comma cannot be part of a value. A sample belongs to the
 * submetric when its tags hold every k:v. k6 names the submetric `name{` + trimmed inside + `}`.
 *
 * Evaluation: what k6 compares. k6 builds a map of the sink's values and looks the aggregation up in it;
 * a missing entry PASSES the threshold. The map holds:
 *   counter: count = sum (0 when empty: `count>0` FAILS on a counter that never got a sample, `count==0`
 *            passes); rate = sum per second of test duration, absent when the duration is 0;
 *   gauge:   value = last value (0 when empty);
 *   trend:   min, max, avg, med, p(N) (all 0 when empty: `p(95)<500` passes with no samples, `avg>0` fails);
 *   rate:    rate, absent when there is no sample: a Rate threshold passes with no data.
 * So "no data" is not one verdict in k6: it depends on the type and the aggregation. `ok` here is always
 * k6's verdict; `noData` says the (sub)metric had no sample so wsgate can say so.
 *
 * When k6 evaluates. Every 2 s during the run, metrics whose sink is empty are skipped (their thresholds
 * keep their previous state, initially passing); a run-time failure of a threshold with abortOnFail aborts
 * the test (exit 99) once delayAbortEval (if set) is strictly less than the time spent in the test. At the
 * end, every threshold is evaluated, empty sinks included, and the summary shows `ok: !failed`.
 *
 * Pure module.
 */
import type { RegistrySnapshot, MetricType, Tags, ThresholdOptions } from '../contracts.ts';
import type { Threshold } from '../../lib/runtime/options.ts';
import { CodedError } from '../../lib/core/errors.ts';
import { DurationError, parseDuration } from './duration.ts';
import { TrendSink, parseGoFloat, percentileKey, sinkFromSnapshot } from './sinks.ts';
import type { Sink } from './sinks.ts';

export type ThresholdErrorCode = 'ERR_THRESHOLD_SYNTAX' | 'ERR_THRESHOLD_AGGREGATION' | 'ERR_THRESHOLD_METRIC';

/** An invalid threshold option (k6 exits 104 for all of them); the message is one sentence. */
export class ThresholdError extends CodedError<ThresholdErrorCode> {
  constructor(
    code: ThresholdErrorCode,
    /** The metric key as written in the options. */
    readonly metric: string,
    /** The expression, when the error is about one. */
    readonly expression: string | undefined,
    message: string,
  ) {
    super(code, message);
  }
}

type Aggregation = 'count' | 'rate' | 'value' | 'avg' | 'min' | 'max' | 'med' | 'p';
export type Operator = '<=' | '<' | '>=' | '>' | '===' | '==' | '!=';

/** k6's scan order: longer tokens before their prefixes. */
const OPERATORS: readonly Operator[] = ['<=', '<', '>=', '>', '===', '==', '!='];
const STATIC_AGGREGATIONS: readonly Aggregation[] = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max'];

/** Which aggregations each metric type supports (k6's supportedAggregationMethods). */
const AGGREGATIONS_BY_TYPE: Readonly<Record<MetricType, readonly Aggregation[]>> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p'],
};

export interface ThresholdExpression {
  /** As written. */
  source: string;
  aggregation: Aggregation;
  /** N of p(N). */
  percentile: number | undefined;
  operator: Operator;
  value: number;
  /** The sink value compared: `p(95)`, `rate`, ... (k6's SinkKey, percentile with Go's %g). */
  key: string;
}

export interface ThresholdDefinition extends ThresholdExpression {
  abortOnFail: boolean;
  /** delayAbortEval in ms; undefined when not set (then a failure aborts at once). */
  delayAbortEvalMs: number | undefined;
}

export interface MetricSelector {
  /** The key as written in the options (what the registry's snapshot is keyed by). */
  key: string;
  /** The metric the key selects from. */
  metric: string;
  /** The submetric's tags; undefined for a plain metric. */
  tags: Tags | undefined;
  /** k6's name for it in the summary: `metric{` + the trimmed inside + `}`. */
  name: string;
}

const quote = (s: string): string => JSON.stringify(s);

/** Parses `<aggregation> <operator> <number>`; `metric` only names the metric in errors. */
export function parseThresholdExpression(source: string, metric = ''): ThresholdExpression {
  const where = metric ? ` on ${metric}` : '';
  for (const operator of OPERATORS) {
    const at = source.indexOf(operator);
    if (at < 0) continue;
    const right = source.slice(at + operator.length);
    if (right === '') continue;
    const left = source.slice(0, at).trim();
    // k6 reads the aggregation before the number, so an expression wrong on both sides names the left.
    let aggregation: Aggregation | undefined;
    let percentile: number | undefined;
    if ((STATIC_AGGREGATIONS as readonly string[]).includes(left)) {
      aggregation = left as Aggregation;
    } else if (left.startsWith('p(') && left.endsWith(')')) {
      const n = parseGoFloat(left.slice(2, -1));
      if (n === undefined || Number.isNaN(n) || n < 0 || n > 100) {
        throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, source, `threshold ${quote(source)}${where} has a malformed percentile ${quote(left)}; write p(N) with N a number from 0 to 100, such as p(99.9)`);
      }
      aggregation = 'p';
      percentile = n;
    }
    if (aggregation === undefined) {
      throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, source, `threshold ${quote(source)}${where} has an unknown aggregation ${quote(left)}; use count, rate, value, avg, min, med, max or p(N)`);
    }
    const valueText = right.trim();
    const value = parseGoFloat(valueText);
    if (value === undefined) {
      throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, source, `threshold ${quote(source)}${where} compares with ${quote(valueText)}, which is not a number; write <aggregation> <operator> <number>, such as "p(95)<500"`);
    }
    return { source, aggregation, percentile, operator, value, key: percentile === undefined ? aggregation : percentileKey(percentile) };
  }
  throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, source, `threshold ${quote(source)}${where} has no operator; write <aggregation> <operator> <number> with one of <, <=, >, >=, ==, ===, !=`);
}

/** Parses a threshold in string or object form ({threshold, abortOnFail, delayAbortEval}). */
export function parseThreshold(threshold: Threshold, metric = ''): ThresholdDefinition {
  if (typeof threshold === 'string') return { ...parseThresholdExpression(threshold, metric), abortOnFail: false, delayAbortEvalMs: undefined };
  if (typeof threshold !== 'object' || threshold === null || typeof threshold.threshold !== 'string') {
    throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, undefined, `a threshold on ${metric || 'a metric'} is ${JSON.stringify(threshold) ?? String(threshold)}; write an expression string or {threshold: string, abortOnFail?: boolean, delayAbortEval?: duration}`);
  }
  const parsed = parseThresholdExpression(threshold.threshold, metric);
  const on = metric ? ` on ${metric}` : '';
  const { abortOnFail, delayAbortEval } = threshold as { abortOnFail?: unknown; delayAbortEval?: unknown };
  if (abortOnFail !== undefined && typeof abortOnFail !== 'boolean') {
    throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, parsed.source, `threshold ${quote(parsed.source)}${on} has abortOnFail ${JSON.stringify(abortOnFail)}; it must be true or false`);
  }
  let delayAbortEvalMs: number | undefined;
  // k6 reads delayAbortEval as a nullable duration: null or absent means "not set".
  if (delayAbortEval !== undefined && delayAbortEval !== null) {
    if (typeof delayAbortEval !== 'string' && typeof delayAbortEval !== 'number') {
      throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, parsed.source, `threshold ${quote(parsed.source)}${on} has delayAbortEval ${JSON.stringify(delayAbortEval)}; use a k6 duration such as "10s" or a number of milliseconds`);
    }
    try {
      delayAbortEvalMs = parseDuration(delayAbortEval);
    } catch (e) {
      if (!(e instanceof DurationError)) throw e;
      throw new ThresholdError('ERR_THRESHOLD_SYNTAX', metric, parsed.source, `threshold ${quote(parsed.source)}${on} has delayAbortEval ${JSON.stringify(delayAbortEval)}, which is not a k6 duration; use a string such as "10s" or "1m30s", or a number of milliseconds`);
    }
  }
  return { ...parsed, abortOnFail: abortOnFail ?? false, delayAbortEvalMs };
}

/**
 * Parses a threshold key, `name` or `name{k:v,...}`, as k6 does (ParseMetricName validation, then
 * AddSubmetric's reading of the tags).
 */
export function parseMetricKey(key: string): MetricSelector {
  const open = key.indexOf('{');
  const close = key.lastIndexOf('}');
  const bad = (why: string): ThresholdError =>
    new ThresholdError('ERR_THRESHOLD_METRIC', key, undefined, `threshold metric ${quote(key)} is malformed (${why}); write name or name{tag:value,...}`);
  if (open < 0 && close < 0) {
    if (key === '') throw bad('empty name');
    return { key, metric: key, tags: undefined, name: key };
  }
  if (open < 0 || close < 0) throw bad('unmatched curly brace');
  if (close < open) throw bad('closing curly brace before the opening one');
  if (close !== key.length - 1) throw bad('text after the closing curly brace');
  const metric = key.slice(0, open);
  if (metric === '') throw bad('no metric name before the curly brace');
  const inside = key.slice(open + 1, close);
  const tags: Tags = {};
  for (const piece of inside.split(',')) {
    const colon = piece.indexOf(':');
    const rawValue = colon < 0 ? '' : piece.slice(colon + 1);
    // k6 rejects a piece with nothing after its first colon (or no colon at all): "a", "a:", "".
    if (rawValue === '') throw bad(`tag ${quote(piece)} is not key:value`);
    const k = trimQuotes(piece.slice(0, colon).trim());
    tags[k] = trimQuotes(rawValue.trim());
  }
  return { key, metric, tags, name: `${metric}{${inside.trim()}}` };
}

/** Go's strings.Trim(s, `"'`). */
function trimQuotes(s: string): string {
  return s.replace(/^["']+/, '').replace(/["']+$/, '');
}

// ---- evaluation --------------------------------------------------------------------------

/** Live sinks by metric or submetric key (the Registry is one). */
export interface SinkSource {
  sink(key: string): Sink | undefined;
}

export interface ThresholdResult {
  /** k6's verdict; undefined when a run-time evaluation skipped the metric (no samples yet). */
  ok: boolean | undefined;
  /** The metric or submetric had no sample. */
  noData: boolean;
  /** The value compared (k6's sink value), undefined when k6 has none (empty rate, counter rate at 0 s). */
  observed: number | undefined;
}

/** Threshold key as written -> expression as written -> result. */
export type ThresholdResults = Record<string, Record<string, ThresholdResult>>;

export interface EvaluateOptions {
  /**
   * true (default): the end-of-test evaluation, empty sinks included, as k6's summary shows it.
   * false: a run-time evaluation (k6 runs one every 2 s), which skips metrics with no samples.
   */
  final?: boolean;
}

export interface AbortingThreshold {
  metric: string;
  expression: string;
}

interface MetricThresholds {
  selector: MetricSelector;
  thresholds: ThresholdDefinition[];
}

/** A test's thresholds, parsed (syntax errors throw here) and ready to validate and evaluate. */
export class Thresholds {
  readonly metrics: readonly MetricThresholds[];

  constructor(options: ThresholdOptions) {
    this.metrics = Object.entries(options).map(([key, list]) => {
      const selector = parseMetricKey(key);
      if (!Array.isArray(list)) {
        throw new ThresholdError('ERR_THRESHOLD_SYNTAX', key, undefined, `thresholds of ${quote(key)} are ${JSON.stringify(list) ?? String(list)}; give a list of expressions`);
      }
      return { selector, thresholds: list.map((t) => parseThreshold(t, key)) };
    });
  }

  /** The submetric keys a Registry must track (its `submetrics` option). */
  submetricKeys(): string[] {
    return this.metrics.filter((m) => m.selector.tags !== undefined).map((m) => m.selector.key);
  }

  /**
   * k6's pre-run validation: every metric exists and every aggregation suits its type. Throws
   * ThresholdError ERR_THRESHOLD_METRIC / ERR_THRESHOLD_AGGREGATION.
   */
  validate(source: RegistrySnapshot | SinkSource): void {
    this.validateWith(lookupOf(source));
  }

  private validateWith(lookup: (key: string) => Sink | undefined): void {
    for (const { selector, thresholds } of this.metrics) {
      const parent = lookup(selector.metric);
      if (!parent) {
        throw new ThresholdError('ERR_THRESHOLD_METRIC', selector.key, undefined, `thresholds are set on ${quote(selector.key)} but no metric ${quote(selector.metric)} exists; use a built-in or declared custom metric`);
      }
      for (const t of thresholds) {
        if (!AGGREGATIONS_BY_TYPE[parent.type].includes(t.aggregation)) {
          throw new ThresholdError(
            'ERR_THRESHOLD_AGGREGATION',
            selector.key,
            t.source,
            `threshold ${quote(t.source)} on ${selector.key} uses ${t.aggregation === 'p' ? 'p(N)' : t.aggregation}, which a ${parent.type} metric does not have; use ${AGGREGATIONS_BY_TYPE[parent.type].map((a) => (a === 'p' ? 'p(N)' : a)).join(', ')}`,
          );
        }
      }
      if (selector.tags !== undefined && !lookup(selector.key)) {
        throw new ThresholdError('ERR_THRESHOLD_METRIC', selector.key, undefined, `the registry has no sink for submetric ${quote(selector.key)}; pass Thresholds.submetricKeys() to new Registry({ submetrics })`);
      }
    }
  }

  /** Evaluates every threshold (validating first) against live sinks or a merged snapshot. */
  evaluate(source: RegistrySnapshot | SinkSource, durationMs: number, options: EvaluateOptions = {}): ThresholdResults {
    const lookup = lookupOf(source);
    this.validateWith(lookup);
    const final = options.final ?? true;
    const results: ThresholdResults = {};
    for (const { selector, thresholds } of this.metrics) {
      const sink = lookup(selector.key);
      const perExpression: Record<string, ThresholdResult> = {};
      results[selector.key] = perExpression;
      if (!sink) continue; // validate() threw already
      const noData = sink.isEmpty();
      for (const t of thresholds) {
        if (noData && !final) {
          perExpression[t.source] = { ok: undefined, noData, observed: undefined };
          continue;
        }
        const observed = thresholdValue(sink, t, durationMs);
        // k6: a value the sink does not have passes.
        const ok = observed === undefined ? true : compare(observed, t.operator, t.value);
        perExpression[t.source] = { ok, noData, observed };
      }
    }
    return results;
  }

  /**
   * The thresholds with abortOnFail that failed in `results` (a run-time evaluation) and whose
   * delayAbortEval is strictly less than `elapsedMs` (time spent in the test), as k6 decides to abort.
   */
  aborting(results: ThresholdResults, elapsedMs: number): AbortingThreshold[] {
    const out: AbortingThreshold[] = [];
    for (const { selector, thresholds } of this.metrics) {
      for (const t of thresholds) {
        if (!t.abortOnFail || results[selector.key]?.[t.source]?.ok !== false) continue;
        if (t.delayAbortEvalMs === undefined || t.delayAbortEvalMs < elapsedMs) out.push({ metric: selector.key, expression: t.source });
      }
    }
    return out;
  }
}

/** Evaluates thresholds given as options or parsed (see Thresholds.evaluate). */
export function evaluate(
  thresholds: Thresholds | ThresholdOptions,
  source: RegistrySnapshot | SinkSource,
  durationMs: number,
  options: EvaluateOptions = {},
): ThresholdResults {
  return (thresholds instanceof Thresholds ? thresholds : new Thresholds(thresholds)).evaluate(source, durationMs, options);
}

/** The metric keys with at least one failed threshold, sorted (k6's "thresholds on metrics ... crossed"). */
export function breached(results: ThresholdResults): string[] {
  return Object.keys(results)
    .filter((k) => Object.values(results[k] ?? {}).some((r) => r.ok === false))
    .sort();
}

/** The value k6 compares for `t`, or undefined when k6's sink map lacks it (which passes). */
function thresholdValue(sink: Sink, t: ThresholdExpression, durationMs: number): number | undefined {
  switch (sink.type) {
    case 'counter':
      if (t.aggregation === 'count') return sink.sum;
      if (t.aggregation === 'rate') return durationMs > 0 ? sink.sum / (durationMs / 1000) : undefined;
      return undefined;
    case 'gauge':
      return t.aggregation === 'value' ? sink.value : undefined;
    case 'rate':
      return t.aggregation === 'rate' && sink.total > 0 ? sink.passes / sink.total : undefined;
    case 'trend':
      return trendValue(sink, t);
  }
}

function trendValue(sink: TrendSink, t: ThresholdExpression): number | undefined {
  switch (t.aggregation) {
    case 'min':
      return sink.min;
    case 'max':
      return sink.max;
    case 'avg':
      return sink.avg;
    case 'med':
      return sink.percentile(0.5);
    case 'p':
      return sink.percentile((t.percentile ?? 0) / 100);
    default:
      return undefined;
  }
}

/** k6's comparison (== and === are the same on floats). */
function compare(lhs: number, operator: Operator, rhs: number): boolean {
  switch (operator) {
    case '>':
      return lhs > rhs;
    case '>=':
      return lhs >= rhs;
    case '<=':
      return lhs <= rhs;
    case '<':
      return lhs < rhs;
    case '==':
    case '===':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
  }
}

function lookupOf(source: RegistrySnapshot | SinkSource): (key: string) => Sink | undefined {
  if (typeof (source as SinkSource).sink === 'function') return (key) => (source as SinkSource).sink(key);
  const snapshot = source as RegistrySnapshot;
  const cache = new Map<string, Sink>();
  return (key) => {
    const hit = cache.get(key);
    if (hit) return hit;
    const s = Object.hasOwn(snapshot.sinks, key) ? snapshot.sinks[key] : undefined;
    if (!s) return undefined;
    const sink = sinkFromSnapshot(s);
    cache.set(key, sink);
    return sink;
  };
}

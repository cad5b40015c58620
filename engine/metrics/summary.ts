/**
 * k6's handleSummary() `data` object, built from a merged registry snapshot and the end-of-test
 * threshold results, in the shape k6 v2.2 passes it (internal/js/summary.go summarizeMetricsToObject
 * and exportGroup), so lib/core/summary.ts and users' handleSummary functions read it unchanged:
 *
 *   { root_group: {name: '', path: '', id: md5(''), groups: [], checks: [{name, path: '::'+name,
 *     id: md5(path), passes, fails}]},
 *     options: {summaryTrendStats, summaryTimeUnit, noColor},
 *     state: {isStdOutTTY, isStdErrTTY, testRunDurationMs},
 *     metrics: {name: {type, contains, values, thresholds?: {expression: {ok}}}},
 *     setup_data?: ... }
 *
 * Which metrics appear (k6's "observed" metrics): those that got at least one sample, every metric or
 * submetric with thresholds even without samples, and the parent of each such submetric. Submetrics
 * are keyed `name{` + trimmed selector + `}` as k6 names them. `ok` is k6's `!threshold.LastFailed`
 * after the final evaluation.
 *
 * Pure module.
 */
import { createHash } from 'node:crypto';
import type { MetricType, RegistrySnapshot } from '../contracts.ts';
import { DEFAULT_TREND_STATS, sinkFromSnapshot } from './sinks.ts';
import { parseMetricKey } from './thresholds.ts';
import type { ThresholdResults } from './thresholds.ts';

export interface K6SummaryMetric {
  type: MetricType;
  contains: 'time' | 'default' | 'data';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface K6SummaryCheck {
  name: string;
  path: string;
  id: string;
  passes: number;
  fails: number;
}

interface K6SummaryGroup {
  name: string;
  path: string;
  id: string;
  groups: K6SummaryGroup[];
  checks: K6SummaryCheck[];
}

/** handleSummary(data) as k6 v2.2 builds it (legacy summary data, the default). */
export interface K6HandleSummaryData {
  root_group: K6SummaryGroup;
  options: { summaryTrendStats: string[]; summaryTimeUnit: string; noColor: boolean };
  state: { isStdOutTTY: boolean; isStdErrTTY: boolean; testRunDurationMs: number };
  metrics: Record<string, K6SummaryMetric>;
  /** k6 passes undefined when setup() returned nothing; JSON then leaves the key out. */
  setup_data?: unknown;
}

export interface SummaryOptions {
  testRunDurationMs: number;
  /** Default k6's: avg, min, med, max, p(90), p(95). */
  summaryTrendStats?: readonly string[];
  isStdOutTTY: boolean;
  /** Default: same as isStdOutTTY. */
  isStdErrTTY?: boolean;
  /** k6's --no-color; default false. */
  noColor?: boolean;
  /** k6's summaryTimeUnit option; '' when not set, as k6. */
  summaryTimeUnit?: string;
  /** What setup() returned, already JSON-shaped. */
  setupData?: unknown;
}

/** k6's data_sent / data_received are the only metrics that "contain data" (custom ones cannot). */
const DATA_METRICS: ReadonlySet<string> = new Set(['data_sent', 'data_received']);

/**
 * Builds handleSummary's `data`. `thresholds` are the final evaluation's results (Thresholds.evaluate
 * with final: true), keyed as in the options.
 */
export function buildSummaryData(snapshot: RegistrySnapshot, thresholds: ThresholdResults | undefined, options: SummaryOptions): K6HandleSummaryData {
  const trendStats = [...(options.summaryTrendStats ?? DEFAULT_TREND_STATS)];
  const withThresholds = new Map<string, { name: string; results: Record<string, { ok: boolean }> }>();
  const parents = new Set<string>();
  for (const [key, perExpression] of Object.entries(thresholds ?? {})) {
    const selector = parseMetricKey(key);
    const results: Record<string, { ok: boolean }> = {};
    // ok undefined means "not evaluated yet", which k6 shows as not failed.
    for (const [expression, r] of Object.entries(perExpression)) results[expression] = { ok: r.ok !== false };
    withThresholds.set(key, { name: selector.name, results });
    if (selector.tags !== undefined) parents.add(selector.metric);
  }

  const metrics: Record<string, K6SummaryMetric> = {};
  for (const [key, s] of Object.entries(snapshot.sinks)) {
    const sink = sinkFromSnapshot(s);
    const t = withThresholds.get(key);
    if (sink.isEmpty() && !t && !parents.has(key)) continue;
    const entry: K6SummaryMetric = {
      type: s.type,
      contains: s.isTime ? 'time' : DATA_METRICS.has(key) ? 'data' : 'default',
      values: sink.stats(trendStats, options.testRunDurationMs),
    };
    if (t && Object.keys(t.results).length > 0) entry.thresholds = t.results;
    // k6 names a submetric by its trimmed selector, whatever spacing the options used.
    metrics[t?.name ?? (key.includes('{') ? parseMetricKey(key).name : key)] = entry;
  }

  const data: K6HandleSummaryData = {
    root_group: {
      name: '',
      path: '',
      id: md5(''),
      groups: [],
      checks: Object.entries(snapshot.checks).map(([name, c]) => {
        const path = '::' + name;
        return { name, path, id: md5(path), passes: c.passes, fails: c.fails };
      }),
    },
    options: { summaryTrendStats: trendStats, summaryTimeUnit: options.summaryTimeUnit ?? '', noColor: options.noColor ?? false },
    state: {
      isStdOutTTY: options.isStdOutTTY,
      isStdErrTTY: options.isStdErrTTY ?? options.isStdOutTTY,
      testRunDurationMs: options.testRunDurationMs,
    },
    metrics,
  };
  if (options.setupData !== undefined) data.setup_data = options.setupData;
  return data;
}

/** k6's group and check ids: hex md5 of the path (correlation only). */
function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

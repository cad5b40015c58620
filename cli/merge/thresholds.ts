/**
 * k6 threshold expressions and metric selectors, judged the way k6 v2.2 judges them (its metrics package:
 * thresholds.go, thresholds_parser.go, metric.go, sink.go; docs/k6.md), so a verdict made
 * here from merged samples is the verdict one k6 process would have made:
 *
 * - `<method> <op> <value>`; the operators are tried in k6's order (<=, <, >=, >, ===, ==, !=) and the
 *   first one found with something on its right wins; methods: count, rate, value, avg, min, med, max, p(N).
 * - A sink value that does not exist passes the threshold ("no samples yet"): a Rate with no samples has
 *   no `rate`, a Counter over a zero duration has no `rate`, a Trend has no `count` at all. A Counter
 *   always has `count` (0 when empty), a Trend always has min/max/avg/med/p(N) (0 when empty).
 * - Percentiles: sorted values, i = pct x (n - 1), linear interpolation between floor(i) and ceil(i).
 * - `metric{k:v,k2:v2}` selects the samples whose tags contain every k:v (quotes around k and v trimmed).
 *
 * Pure module.
 */
export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

export interface Expression {
  source: string;
  method: string;
  /** For p(N): N. */
  percentile?: number;
  op: '<=' | '<' | '>=' | '>' | '===' | '==' | '!=';
  value: number;
}

const OPERATORS = ['<=', '<', '>=', '>', '===', '==', '!='] as const;
const METHODS = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max'];

export class ThresholdSyntaxError extends Error {}

export function parseExpression(source: string): Expression {
  for (const op of OPERATORS) {
    const at = source.indexOf(op);
    if (at === -1) continue;
    const right = source.slice(at + op.length);
    if (right === '') continue;
    const left = source.slice(0, at).trim();
    const value = Number(right.trim());
    if (right.trim() === '' || !Number.isFinite(value)) throw new ThresholdSyntaxError(`threshold "${source}": the right-hand side is not a number`);
    if (METHODS.includes(left)) return { source, method: left, op, value };
    const p = /^p\((.+)\)$/.exec(left);
    if (p) {
      const n = Number(p[1]);
      if (!Number.isFinite(n) || n < 0 || n > 100) throw new ThresholdSyntaxError(`threshold "${source}": a percentile must be a number from 0 to 100`);
      return { source, method: 'p', percentile: n, op, value };
    }
    throw new ThresholdSyntaxError(`threshold "${source}": unknown aggregation method "${left}"`);
  }
  throw new ThresholdSyntaxError(`threshold "${source}" is malformed (no operator)`);
}

/** The key a sink value is stored under: `p(95)`, `rate`, ... (k6 formats N with %g). */
function sinkKey(e: Expression): string {
  return e.method === 'p' ? `p(${formatG(e.percentile ?? 0)})` : e.method;
}

/** Go's %g for the numbers a percentile can be (0..100): shortest representation, no trailing zeros. */
function formatG(n: number): string {
  return String(n);
}

/** Does the threshold hold over these sink values? A missing value passes, as in k6. */
export function holds(e: Expression, sinked: Readonly<Record<string, number>>): boolean {
  const lhs = sinked[sinkKey(e)];
  if (lhs === undefined) return true;
  switch (e.op) {
    case '>':
      return lhs > e.value;
    case '>=':
      return lhs >= e.value;
    case '<=':
      return lhs <= e.value;
    case '<':
      return lhs < e.value;
    case '==':
    case '===':
      return lhs === e.value;
    case '!=':
      return lhs !== e.value;
  }
}

/** `checks{scenario:agent_events}` -> name `checks`, tags {scenario: agent_events}. */
export function parseSelector(selector: string): { name: string; tags: Record<string, string> } {
  const open = selector.indexOf('{');
  if (open === -1) return { name: selector, tags: {} };
  if (!selector.endsWith('}')) throw new ThresholdSyntaxError(`metric selector "${selector}" lacks a closing curly brace in its last position`);
  const tags: Record<string, string> = {};
  for (const kv of selector.slice(open + 1, -1).split(',')) {
    if (kv === '') continue;
    const colon = kv.indexOf(':');
    const key = (colon === -1 ? kv : kv.slice(0, colon)).trim().replace(/^["']+|["']+$/g, '');
    const value = colon === -1 ? '' : kv.slice(colon + 1).trim().replace(/^["']+|["']+$/g, '');
    tags[key] = value;
  }
  return { name: selector.slice(0, open), tags };
}

/** The metric type a threshold method implies, for a metric no instance recorded a sample of. */
export function typeFromMethods(exprs: readonly Expression[]): MetricType {
  const methods = exprs.map((e) => e.method);
  if (methods.includes('count')) return 'counter';
  if (methods.includes('value')) return 'gauge';
  if (methods.some((m) => ['avg', 'min', 'med', 'max', 'p'].includes(m))) return 'trend';
  return 'rate';
}

/** k6's percentile: linear interpolation over sorted values (TrendSink.P). `sorted` must be ascending. */
export function percentile(sorted: readonly number[], pct: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  if (n === 1) return sorted[0] ?? 0;
  const i = pct * (n - 1);
  const j = sorted[Math.floor(i)] ?? 0;
  const k = sorted[Math.ceil(i)] ?? 0;
  return j + (k - j) * (i - Math.floor(i));
}

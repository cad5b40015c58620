/**
 * Generates monitoring/prometheus/wsgate-alerts.yml from thresholds/monitoring.json, so the Prometheus
 * alerts and `wsgate monitor` judge with the same limits. `npm run rules` writes the file;
 * test/prometheus/rules.test.ts regenerates it in memory and fails when the committed file differs.
 *
 * The series are what k6 v2.2's `experimental-prometheus-rw` output produced in
 * test/prometheus/remote-write.test.ts (listed in monitoring/k6-series.json). k6 exports a Rate only as
 * `k6_<name>_rate`, the ratio since the k6 process started, with no pass/total counts, so the rules on
 * wsgate's Rates compare that cumulative ratio and require it to stay past the limit for one window
 * (`for: window_s`). The auth failure rate is built from a counter (k6's ws_sessions by HTTP status), so
 * that one is a true window: increase() over window_s. See monitoring/README.md, "What the alerts measure".
 *
 * Only the `medium` sensitivity is encoded: `wsgate monitor --alert-threshold` has no Prometheus twin.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const POLICY_FILE = fileURLToPath(new URL('../thresholds/monitoring.json', import.meta.url));
export const RULES_FILE = fileURLToPath(new URL('../monitoring/prometheus/wsgate-alerts.yml', import.meta.url));

type Level = 'critical' | 'warning';
type Direction = 'below' | 'above';

/** One limit of one environment, e.g. production connection_success critical_below 0.9. */
export interface Limit {
  readonly env: string;
  readonly signal: SignalName;
  readonly level: Level;
  readonly direction: Direction;
  readonly value: number;
}

export interface MonitoringPolicy {
  readonly windowS: number;
  readonly rollbackAfterDegradedS: number;
  /** Every limit, in the file's order: environment, then signal, then key. */
  readonly limits: readonly Limit[];
  readonly environments: readonly string[];
}

export type SignalName = 'connection_success' | 'agent_event_completion' | 'auth_failure_rate' | 'error_rate' | 'isolation_violations';

interface Signal {
  readonly title: string;
  readonly what: string;
  /** The PromQL for one environment; `window` is the policy's window as a Prometheus duration. */
  readonly query: (env: string, window: string) => string;
  /** The expression judges one window itself (no cumulative ratio), so no `for:` is needed. */
  readonly windowed?: boolean;
  /** The series is the complement of the signal (a pass ratio for an error rate). */
  readonly complement?: boolean;
  readonly unit: 'ratio' | 'count';
  readonly meaning: string;
}

/** How each signal of thresholds/monitoring.json reads in PromQL. */
const SIGNALS: Record<SignalName, Signal> = {
  connection_success: {
    title: 'ConnectionSuccess',
    what: 'connection success',
    query: (env) => `k6_wsgate_connection_success_rate{env="${env}"}`,
    unit: 'ratio',
    meaning: 'share of handshakes meant to succeed that got 101 and connection_established',
  },
  agent_event_completion: {
    title: 'AgentEventCompletion',
    what: 'agent event completion',
    query: (env) => `k6_wsgate_agent_event_completion_rate{env="${env}"}`,
    unit: 'ratio',
    meaning: 'share of agent runs that delivered all five events in order within the deadline',
  },
  auth_failure_rate: {
    title: 'AuthFailureRate',
    what: 'auth failure rate',
    // What `wsgate monitor` reads too: handshakes answered 401/403 among all handshakes. k6 counts
    // them per HTTP status in the built-in ws_sessions counter, so this one is a true window.
    query: (env, window) =>
      `sum by (env) (increase(k6_ws_sessions_total{env="${env}", status=~"401|403"}[${window}]))` +
      `\n  / sum by (env) (increase(k6_ws_sessions_total{env="${env}"}[${window}]))`,
    windowed: true,
    unit: 'ratio',
    meaning: 'share of WebSocket handshakes answered 401/403 in the last window',
  },
  error_rate: {
    title: 'ErrorRate',
    what: 'check error rate',
    // k6 exports checks as one cumulative pass ratio per check. "error rate > x" is written as
    // "pass ratio < 1 - x": `1 - 0.95` is 0.050000000000000044 in floating point, which is above 0.05.
    query: (env) => `k6_checks_rate{env="${env}"}`,
    complement: true,
    unit: 'ratio',
    meaning: 'share of each k6 check that failed',
  },
  isolation_violations: {
    title: 'IsolationViolations',
    what: 'isolation violations',
    query: (env) => `k6_wsgate_isolation_violations_total{env="${env}"}`,
    unit: 'count',
    meaning: 'events delivered to a user they were not meant for',
  },
};

class PolicyError extends Error {
  readonly code = 'ERR_MONITORING_POLICY';
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new PolicyError(`thresholds/monitoring.json: ${field} is ${JSON.stringify(v)}; expected a whole number of seconds above 0.`);
  }
  return v;
}

/** Parses thresholds/monitoring.json; every bad value fails with one sentence naming the field. */
export function parsePolicy(json: unknown): MonitoringPolicy {
  if (!isRecord(json)) throw new PolicyError('thresholds/monitoring.json: expected a JSON object.');
  const windowS = positiveInt(json['window_s'], 'window_s');
  const rollbackAfterDegradedS = positiveInt(json['rollback_after_degraded_s'], 'rollback_after_degraded_s');
  const envs = json['environments'];
  if (!isRecord(envs) || Object.keys(envs).length === 0) {
    throw new PolicyError('thresholds/monitoring.json: environments must be an object with at least one environment.');
  }
  const limits: Limit[] = [];
  for (const [env, signals] of Object.entries(envs)) {
    if (!/^[a-z][a-z0-9_-]*$/.test(env)) throw new PolicyError(`thresholds/monitoring.json: environment name ${JSON.stringify(env)} must match [a-z][a-z0-9_-]*.`);
    if (!isRecord(signals)) throw new PolicyError(`thresholds/monitoring.json: environments.${env} must be an object.`);
    for (const [signal, keys] of Object.entries(signals)) {
      if (!(signal in SIGNALS)) {
        throw new PolicyError(`thresholds/monitoring.json: environments.${env}.${signal} has no Prometheus mapping; known: ${Object.keys(SIGNALS).join(', ')}. Add one to scripts/prometheus-rules.ts.`);
      }
      if (!isRecord(keys)) throw new PolicyError(`thresholds/monitoring.json: environments.${env}.${signal} must be an object.`);
      for (const [key, value] of Object.entries(keys)) {
        const m = /^(critical|warning)_(below|above)$/.exec(key);
        const field = `environments.${env}.${signal}.${key}`;
        if (!m) throw new PolicyError(`thresholds/monitoring.json: ${field} is not one of critical_below, warning_below, critical_above, warning_above.`);
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw new PolicyError(`thresholds/monitoring.json: ${field} is ${JSON.stringify(value)}; expected a number >= 0.`);
        }
        const s: Signal = SIGNALS[signal as SignalName];
        if (s.unit === 'ratio' && value > 1) throw new PolicyError(`thresholds/monitoring.json: ${field} is ${value}; a rate is a fraction between 0 and 1.`);
        limits.push({ env, signal: signal as SignalName, level: m[1] as Level, direction: m[2] as Direction, value });
      }
    }
  }
  return { windowS, rollbackAfterDegradedS, limits, environments: Object.keys(envs) };
}

export function loadPolicy(path = POLICY_FILE): MonitoringPolicy {
  return parsePolicy(JSON.parse(readFileSync(path, 'utf8')) as unknown);
}

/** 30 -> "30s", 600 -> "10m", 90 -> "90s": Prometheus durations. */
export function promDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** The PromQL condition for one limit: a non-empty result means the limit is crossed. */
export function condition(limit: Limit, windowS: number): string {
  const s: Signal = SIGNALS[limit.signal];
  const below = limit.direction === 'below' !== (s.complement === true);
  const value = s.complement ? complement(limit.value) : limit.value;
  return `${s.query(limit.env, promDuration(windowS))} ${below ? '<' : '>'} ${value}`;
}

/** 1 - v without floating-point noise: 0.05 -> 0.95. */
function complement(v: number): number {
  return Number((1 - v).toFixed(12));
}

export function alertName(limit: Limit): string {
  return `Wsgate${SIGNALS[limit.signal].title}${limit.level === 'critical' ? 'Critical' : 'Warning'}`;
}

/** `expr:` as one single-quoted line, or as a literal block when the PromQL has several lines. */
function expr(promql: string): string[] {
  if (!promql.includes('\n')) return [`        expr: ${q(promql)}`];
  return ['        expr: |-', ...promql.split('\n').map((l) => `          ${l}`)];
}

/** A YAML scalar: single-quoted (no escapes but '' for '), which keeps PromQL and Go templates literal. */
function q(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function percent(v: number): string {
  return `${Math.round(v * 10000) / 100}%`;
}

function ruleFor(limit: Limit, policy: MonitoringPolicy): string[] {
  const s: Signal = SIGNALS[limit.signal];
  const shown = s.unit === 'ratio' ? percent(limit.value) : String(limit.value);
  const rule = `${limit.level} ${limit.direction} ${shown}`;
  const pct = '{{ $value | humanizePercentage }}';
  let summary: string;
  if (s.unit === 'count') summary = `${limit.env} ${s.what} {{ $value }} in scenario {{ $labels.scenario }} (${rule})`;
  else if (s.windowed) summary = `${limit.env} ${s.what} ${pct} over the last ${promDuration(policy.windowS)} (${rule})`;
  // the value is the pass ratio; Go templates cannot subtract
  else if (s.complement) summary = `${limit.env} check "{{ $labels.check }}" passed ${pct} in scenario {{ $labels.scenario }} (${s.what} ${rule})`;
  else summary = `${limit.env} ${s.what} ${pct} in scenario {{ $labels.scenario }} (${rule})`;
  const lines = [
    `      # ${s.meaning}; environments.${limit.env}.${limit.signal}.${limit.level}_${limit.direction} = ${limit.value}`,
    `      - alert: ${alertName(limit)}`,
    ...expr(condition(limit, policy.windowS)),
  ];
  // A cumulative ratio over the first few samples of a run swings between 0 and 1, so it has to stay
  // past its limit for a whole window. A windowed ratio already is one window's verdict, and a count
  // of isolation violations is exact: those alert at once.
  if (s.unit === 'ratio' && !s.windowed) lines.push(`        for: ${promDuration(policy.windowS)}`);
  lines.push(
    // env is also a series label; repeating it as a rule label keeps rules of different environments
    // distinct (promtool rejects same-named rules with equal labels).
    '        labels:',
    `          env: ${limit.env}`,
    `          severity: ${limit.level}`,
    `          signal: ${limit.signal}`,
    '        annotations:',
    `          summary: ${q(summary)}`,
  );
  return lines;
}

function rollbackRule(env: string, limits: readonly Limit[], policy: MonitoringPolicy): string[] {
  // Degraded = any warning (or worse) condition; every limit of the environment is in the union.
  const body = limits.map((l, i) => `            ${i === 0 ? '   ' : 'or '}${condition(l, policy.windowS).replaceAll('\n', '\n               ')}`);
  const after = promDuration(policy.rollbackAfterDegradedS);
  return [
    `      # degraded (any condition above) for rollback_after_degraded_s = ${policy.rollbackAfterDegradedS}`,
    '      - alert: WsgateRollback',
    '        expr: |-',
    '          count by (env) (',
    ...body,
    '          ) > 0',
    `        for: ${after}`,
    '        labels:',
    `          env: ${env}`,
    '          severity: critical',
    '          action: rollback',
    '        annotations:',
    `          summary: ${q(`${env} degraded for ${after}: roll back the deployment`)}`,
  ];
}

/** The whole rules file for `policy`, byte for byte what `npm run rules` writes. */
export function alertRulesYaml(policy: MonitoringPolicy): string {
  const out = [
    '# GENERATED by `npm run rules` (scripts/prometheus-rules.ts) from thresholds/monitoring.json. Do not edit:',
    '# change the JSON and regenerate; test/prometheus/rules.test.ts fails when the two disagree.',
    '#',
    '# Series come from k6 v2.2 `--out experimental-prometheus-rw` with `--tag env=<environment>`',
    '# (monitoring/README.md). *_rate series are ratios since the k6 run started, not per window.',
    'groups:',
  ];
  for (const env of policy.environments) {
    const limits = policy.limits.filter((l) => l.env === env);
    out.push(`  - name: wsgate-${env}`, '    rules:');
    for (const limit of limits) out.push(...ruleFor(limit, policy));
    out.push(...rollbackRule(env, limits, policy));
  }
  return out.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(RULES_FILE, alertRulesYaml(loadPolicy()));
  process.stdout.write(`wrote ${RULES_FILE}\n`);
}

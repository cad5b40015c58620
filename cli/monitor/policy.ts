/**
 * The alert policy of continuous monitoring (thresholds/monitoring.json), parsed once, typed, with
 * one-sentence errors. Pure module: `wsgate monitor` judges its windows with it, and the Prometheus
 * rule generator reads the same limits through {@link limitsFor} and {@link alertRules}, so the two
 * can never disagree on a number.
 *
 * Rates are fractions (0.9 is 90%). A window is unhealthy when any critical rule fires, degraded when
 * any warning does, healthy otherwise.
 */
import { ConfigError } from '../../lib/core/errors.ts';
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';
import POLICY_FILE from '../../thresholds/monitoring.json';
import { K6_BUILTIN } from './samples.ts';

export const SENSITIVITIES = ['low', 'medium', 'high'] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];

export type AlertLevel = 'warning' | 'critical';

/** What the policy judges; the names are the keys of thresholds/monitoring.json's environments. */
export const ALERT_METRICS = ['connection_success', 'agent_event_completion', 'auth_failure_rate', 'error_rate', 'isolation_violations'] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

interface RateFloor {
  /** Critical when the rate is below this. */
  critical_below: number;
  /** Warning when the rate is below this (and not critical). */
  warning_below: number;
}

/** The limits of one environment, in the file's own shape. */
export interface AlertLimits {
  connection_success: RateFloor;
  agent_event_completion: RateFloor;
  auth_failure_rate: { warning_above: number };
  error_rate: { warning_above: number };
  /** A count per window, not a ratio: --alert-threshold never moves it. */
  isolation_violations: { critical_above: number };
}

interface SensitivityShift {
  /** Added to every *_below limit (the result is kept within 0..1). */
  rate_shift: number;
  /** Multiplies every *_above ratio limit (the result is kept within 0..1). */
  ratio_scale: number;
}

export interface MonitoringPolicy {
  /** Default window length, seconds. */
  windowS: number;
  /** Default rollback trigger: seconds of continuous degraded-or-worse status. */
  rollbackAfterDegradedS: number;
  sensitivity: Record<Sensitivity, SensitivityShift>;
  /** Per environment, at medium sensitivity (as written in the file). */
  environments: Record<string, AlertLimits>;
}

/** One rule in a flat form, e.g. for generating Prometheus alert rules. */
export interface AlertRule {
  metric: AlertMetric;
  level: AlertLevel;
  /** The rule fires when `value <op> threshold`. */
  op: '<' | '>';
  threshold: number;
  /** What the value is made of, in k6 metric names (`ws_connecting` and `checks` are k6's own). */
  source: string;
}

const WHERE = 'thresholds/monitoring.json';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

function num(v: unknown, path: string, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(`${path} in ${WHERE} is ${describe(v)}; it must be ${what} from ${min} to ${max}`);
  }
  return v;
}

function obj(v: unknown, path: string, keys: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(`${path} in ${WHERE} is ${describe(v)}; it must be an object with ${keys}`);
  return v;
}

function floor(v: unknown, path: string): RateFloor {
  const o = obj(v, path, 'critical_below and warning_below');
  const critical = num(o['critical_below'], `${path}.critical_below`, 0, 1, 'a fraction');
  const warning = num(o['warning_below'], `${path}.warning_below`, 0, 1, 'a fraction');
  if (warning < critical) {
    throw new ConfigError(`${path}.warning_below in ${WHERE} is ${warning}, below its critical_below ${critical}; a warning must fire before the critical alert`);
  }
  return { critical_below: critical, warning_below: warning };
}

function ceiling(v: unknown, path: string): { warning_above: number } {
  return { warning_above: num(obj(v, path, 'warning_above')['warning_above'], `${path}.warning_above`, 0, 1, 'a fraction') };
}

function limits(v: unknown, path: string): AlertLimits {
  const o = obj(v, path, ALERT_METRICS.join(', '));
  for (const key of Object.keys(o)) {
    if (!(ALERT_METRICS as readonly string[]).includes(key)) {
      throw new ConfigError(`${path}.${key} in ${WHERE} is not a metric the monitor judges; use ${ALERT_METRICS.join(', ')}`);
    }
  }
  return {
    connection_success: floor(o['connection_success'], `${path}.connection_success`),
    agent_event_completion: floor(o['agent_event_completion'], `${path}.agent_event_completion`),
    auth_failure_rate: ceiling(o['auth_failure_rate'], `${path}.auth_failure_rate`),
    error_rate: ceiling(o['error_rate'], `${path}.error_rate`),
    isolation_violations: {
      critical_above: num(obj(o['isolation_violations'], `${path}.isolation_violations`, 'critical_above')['critical_above'], `${path}.isolation_violations.critical_above`, 0, 1e9, 'a whole count'),
    },
  };
}

/** Parses and checks the policy; throws ConfigError naming the field, the value and what is allowed. */
export function parsePolicy(raw: unknown): MonitoringPolicy {
  const o = obj(raw, 'the file', 'window_s, rollback_after_degraded_s, sensitivity and environments');
  const sens = obj(o['sensitivity'], 'sensitivity', SENSITIVITIES.join(', '));
  const sensitivity = {} as Record<Sensitivity, SensitivityShift>;
  for (const name of SENSITIVITIES) {
    const s = obj(sens[name], `sensitivity.${name}`, 'rate_shift and ratio_scale');
    sensitivity[name] = {
      rate_shift: num(s['rate_shift'], `sensitivity.${name}.rate_shift`, -1, 1, 'a fraction'),
      ratio_scale: num(s['ratio_scale'], `sensitivity.${name}.ratio_scale`, 0, 100, 'a factor'),
    };
  }
  const envs = obj(o['environments'], 'environments', 'one entry per environment');
  const environments: Record<string, AlertLimits> = {};
  for (const [name, v] of Object.entries(envs)) environments[name] = limits(v, `environments.${name}`);
  if (Object.keys(environments).length === 0) throw new ConfigError(`environments in ${WHERE} is empty; give the limits of at least one environment`);
  return {
    windowS: num(o['window_s'], 'window_s', 1, 86_400, 'a number of seconds'),
    rollbackAfterDegradedS: num(o['rollback_after_degraded_s'], 'rollback_after_degraded_s', 1, 7 * 86_400, 'a number of seconds'),
    sensitivity,
    environments,
  };
}

let cached: MonitoringPolicy | undefined;

/** The bundled thresholds/monitoring.json, parsed once. */
export function loadPolicy(): MonitoringPolicy {
  cached ??= parsePolicy(POLICY_FILE);
  return cached;
}

/** Float noise from shifting (0.9 + 0.02 = 0.9200000000000002) must not decide an alert. */
function tidy(x: number): number {
  return Math.min(1, Math.max(0, Math.round(x * 1e9) / 1e9));
}

export function isSensitivity(s: string): s is Sensitivity {
  return (SENSITIVITIES as readonly string[]).includes(s);
}

/**
 * The limits of `env` at `sensitivity`: rate_shift added to every *_below limit, ratio_scale
 * multiplying every *_above ratio, both kept within 0..1; the isolation count is never moved.
 */
export function limitsFor(policy: MonitoringPolicy, env: string, sensitivity: Sensitivity = 'medium'): AlertLimits {
  const base = policy.environments[env];
  if (!base) {
    throw new ConfigError(`${WHERE} has no alert limits for environment "${env}"; add them, or choose one of ${Object.keys(policy.environments).join(', ')}`);
  }
  const { rate_shift, ratio_scale } = policy.sensitivity[sensitivity];
  const shift = (f: RateFloor): RateFloor => ({ critical_below: tidy(f.critical_below + rate_shift), warning_below: tidy(f.warning_below + rate_shift) });
  return {
    connection_success: shift(base.connection_success),
    agent_event_completion: shift(base.agent_event_completion),
    auth_failure_rate: { warning_above: tidy(base.auth_failure_rate.warning_above * ratio_scale) },
    error_rate: { warning_above: tidy(base.error_rate.warning_above * ratio_scale) },
    isolation_violations: { critical_above: base.isolation_violations.critical_above },
  };
}

/** The limits as a flat list of rules, most severe first per metric. */
export function alertRules(l: AlertLimits): AlertRule[] {
  return [
    { metric: 'connection_success', level: 'critical', op: '<', threshold: l.connection_success.critical_below, source: CLIENT_METRICS.connectionSuccess },
    { metric: 'connection_success', level: 'warning', op: '<', threshold: l.connection_success.warning_below, source: CLIENT_METRICS.connectionSuccess },
    { metric: 'agent_event_completion', level: 'critical', op: '<', threshold: l.agent_event_completion.critical_below, source: CLIENT_METRICS.agentEventCompletion },
    { metric: 'agent_event_completion', level: 'warning', op: '<', threshold: l.agent_event_completion.warning_below, source: CLIENT_METRICS.agentEventCompletion },
    { metric: 'auth_failure_rate', level: 'warning', op: '>', threshold: l.auth_failure_rate.warning_above, source: `${K6_BUILTIN.wsConnecting}{status=401|403} / ${K6_BUILTIN.wsConnecting}` },
    { metric: 'error_rate', level: 'warning', op: '>', threshold: l.error_rate.warning_above, source: `1 - ${K6_BUILTIN.checks}` },
    { metric: 'isolation_violations', level: 'critical', op: '>', threshold: l.isolation_violations.critical_above, source: CLIENT_METRICS.isolationViolations },
  ];
}

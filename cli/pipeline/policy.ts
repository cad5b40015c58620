/**
 * The rollback policy (thresholds/rollback-policy.json): the original design's five rollback triggers,
 * the tolerances a post-deployment run may drift from its baseline, and the per-environment revenue
 * figure of the business impact estimate. Read once, checked field by field; every bad value is one
 * sentence naming the field, the value and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../lib/core/errors.ts';
import { packageRoot } from '../io.ts';

interface RollbackLimits {
  /** Roll back when the connection success rate is below this (fraction). */
  connection_success_below: number;
  /** Roll back when more than this many critical regression tests fail. */
  critical_regressions_failed_above: number;
  /** Roll back when the agent event completion rate is below this (fraction). */
  agent_event_completion_below: number;
  /** Roll back when more than this many isolation violations are seen (0: any). */
  isolation_violations_above: number;
  /** Roll back when monitoring saw degraded-or-worse health for longer than this many seconds. */
  degraded_health_longer_than_s: number;
}

interface BaselineTolerances {
  /** What a drift beyond tolerance means: hold the rollout (exit 1) or recommend a rollback (exit 5). */
  on_exceeded: 'hold' | 'rollback';
  connection_success_max_drop: number;
  agent_event_completion_max_drop: number;
  /** Which wsgate_event_latency statistics are compared (k6 names: med, p(95), ...). */
  event_latency_stats: string[];
  /** A latency statistic may grow by this fraction of its baseline... */
  event_latency_max_increase_ratio: number;
  /** ...and it is never held against a deploy for growing less than this many milliseconds. */
  event_latency_min_increase_ms: number;
}

export interface Policy {
  /** Where it was read from, for the report. */
  file: string;
  env: string;
  rollback: RollbackLimits;
  baseline: BaselineTolerances;
  /** User-set monthly revenue that depends on the chat (null: no estimate). */
  monthlyRevenue: number | null;
  currency: string;
}

const DEFAULT_POLICY_FILE = 'thresholds/rollback-policy.json';

const ROLLBACK_KEYS: Record<keyof RollbackLimits, 'fraction' | 'count' | 'seconds'> = {
  connection_success_below: 'fraction',
  critical_regressions_failed_above: 'count',
  agent_event_completion_below: 'fraction',
  isolation_violations_above: 'count',
  degraded_health_longer_than_s: 'seconds',
};

const BASELINE_NUMBERS: Record<string, 'fraction' | 'ratio' | 'ms'> = {
  connection_success_max_drop: 'fraction',
  agent_event_completion_max_drop: 'fraction',
  event_latency_max_increase_ratio: 'ratio',
  event_latency_min_increase_ms: 'ms',
};

const LATENCY_STAT = /^(avg|min|med|max|p\((\d+(\.\d+)?)\))$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(file: string, field: string, value: unknown, allowed: string): never {
  throw new ConfigError(`${file}: ${field} is ${JSON.stringify(value)}; ${allowed}`);
}

function checkKeys(file: string, where: string, obj: Json, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (key.startsWith('$')) continue;
    if (!allowed.includes(key)) fail(file, `${where}${key}`, obj[key], `unknown field; the fields are ${allowed.join(', ')}`);
  }
}

function number(file: string, field: string, v: unknown, kind: 'fraction' | 'count' | 'seconds' | 'ratio' | 'ms'): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= 0 && (kind !== 'fraction' || v <= 1) && (kind !== 'count' || Number.isInteger(v));
  if (!ok) {
    const allowed: Record<typeof kind, string> = {
      fraction: 'it must be a number from 0 to 1',
      count: 'it must be a whole number, 0 or more',
      seconds: 'it must be a number of seconds, 0 or more',
      ratio: 'it must be a number, 0 or more (0.5 allows 50% more)',
      ms: 'it must be a number of milliseconds, 0 or more',
    };
    fail(file, field, v, allowed[kind]);
  }
  return v;
}

function rollbackLimits(file: string, where: string, raw: unknown, base?: RollbackLimits): RollbackLimits {
  if (!isObject(raw)) fail(file, where.replace(/\.$/, ''), raw, 'it must be an object');
  checkKeys(file, where, raw, Object.keys(ROLLBACK_KEYS));
  const out = { ...(base ?? {}) } as RollbackLimits;
  for (const [key, kind] of Object.entries(ROLLBACK_KEYS) as [keyof RollbackLimits, 'fraction' | 'count' | 'seconds'][]) {
    if (raw[key] === undefined) {
      if (!base) fail(file, `${where}${key}`, undefined, 'it is required');
      continue;
    }
    out[key] = number(file, `${where}${key}`, raw[key], kind);
  }
  return out;
}

function baselineTolerances(file: string, where: string, raw: unknown, base?: BaselineTolerances): BaselineTolerances {
  if (!isObject(raw)) fail(file, where.replace(/\.$/, ''), raw, 'it must be an object');
  checkKeys(file, where, raw, ['on_exceeded', 'event_latency_stats', ...Object.keys(BASELINE_NUMBERS)]);
  const out = { ...(base ?? {}) } as BaselineTolerances;
  const need = (key: string) => {
    if (raw[key] === undefined && !base) fail(file, `${where}${key}`, undefined, 'it is required');
    return raw[key] !== undefined;
  };
  if (need('on_exceeded')) {
    if (raw['on_exceeded'] !== 'hold' && raw['on_exceeded'] !== 'rollback') fail(file, `${where}on_exceeded`, raw['on_exceeded'], 'choose "hold" or "rollback"');
    out.on_exceeded = raw['on_exceeded'];
  }
  if (need('event_latency_stats')) {
    const stats = raw['event_latency_stats'];
    if (!Array.isArray(stats) || stats.some((s) => typeof s !== 'string' || !LATENCY_STAT.test(s))) {
      fail(file, `${where}event_latency_stats`, stats, 'it must be a list of k6 trend statistics: avg, min, med, max or p(N)');
    }
    out.event_latency_stats = stats as string[];
  }
  for (const [key, kind] of Object.entries(BASELINE_NUMBERS)) {
    if (need(key)) (out as unknown as Record<string, number>)[key] = number(file, `${where}${key}`, raw[key], kind);
  }
  return out;
}

/** Parses a policy document for one environment. `file` names it in error messages. */
export function parsePolicy(doc: unknown, env: string, file: string): Policy {
  if (!isObject(doc)) fail(file, 'the document', doc, 'it must be a JSON object with rollback, baseline and environments');
  checkKeys(file, '', doc, ['rollback', 'baseline', 'environments']);
  let rollback = rollbackLimits(file, 'rollback.', doc['rollback']);
  let baseline = baselineTolerances(file, 'baseline.', doc['baseline']);
  const envs = doc['environments'] ?? {};
  if (!isObject(envs)) fail(file, 'environments', envs, 'it must be an object keyed by environment name');
  const own = envs[env];
  let monthlyRevenue: number | null = null;
  let currency = 'USD';
  if (own !== undefined) {
    const where = `environments.${env}.`;
    if (!isObject(own)) fail(file, `environments.${env}`, own, 'it must be an object');
    checkKeys(file, where, own, ['monthly_revenue', 'currency', 'rollback', 'baseline']);
    if (own['monthly_revenue'] !== undefined && own['monthly_revenue'] !== null) {
      const v = own['monthly_revenue'];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(file, `${where}monthly_revenue`, v, 'it must be a number, 0 or more, or null for no estimate');
      monthlyRevenue = v;
    }
    if (own['currency'] !== undefined) {
      if (typeof own['currency'] !== 'string' || !/^[A-Z]{3}$/.test(own['currency'])) fail(file, `${where}currency`, own['currency'], 'it must be a three-letter currency code such as USD');
      currency = own['currency'];
    }
    if (own['rollback'] !== undefined) rollback = rollbackLimits(file, `${where}rollback.`, own['rollback'], rollback);
    if (own['baseline'] !== undefined) baseline = baselineTolerances(file, `${where}baseline.`, own['baseline'], baseline);
  }
  return { file, env, rollback, baseline, monthlyRevenue, currency };
}

/** Reads the policy file (default: thresholds/rollback-policy.json of this package) for `env`. */
export function loadPolicy(env: string, path?: string): Policy {
  const file = path ?? join(packageRoot(), DEFAULT_POLICY_FILE);
  const shown = path ?? DEFAULT_POLICY_FILE;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`the rollback policy ${shown} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass an existing file with --policy`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the rollback policy ${shown} is not valid JSON (${(err as Error).message})`);
  }
  return parsePolicy(doc, env, shown);
}

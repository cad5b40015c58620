/**
 * Scenario options checked and normalised once, with k6's defaults and k6's validation rules
 * (lib/executor/*_config Validate): every bad value fails with one sentence naming the scenario, the
 * executor, the option, what is allowed and what was given. Durations become milliseconds.
 * Pure module.
 */
import type { ExecutorName } from '../../lib/runtime/options.ts';

/** Codes of {@link ScenarioConfigError}. */
export type ScenarioConfigErrorCode = 'ERR_SCENARIO_NAME' | 'ERR_SCENARIO_EXECUTOR' | 'ERR_SCENARIO_UNKNOWN_OPTION' | 'ERR_SCENARIO_OPTION';

/** A scenario whose options k6 would refuse. `scenario` and `option` say where. */
export class ScenarioConfigError extends Error {
  readonly code: ScenarioConfigErrorCode;
  readonly scenario: string;
  readonly option: string | undefined;
  constructor(code: ScenarioConfigErrorCode, scenario: string, option: string | undefined, message: string) {
    super(message);
    this.code = code;
    this.scenario = scenario;
    this.option = option;
    this.name = new.target.name;
  }
}

/** k6's defaults (lib/executor): gracefulStop 30s, maxDuration 10m, timeUnit 1s, gracefulRampDown 30s. */
export const DEFAULT_GRACEFUL_STOP_MS = 30_000;
export const DEFAULT_MAX_DURATION_MS = 600_000;
export const DEFAULT_TIME_UNIT_MS = 1_000;
export const DEFAULT_GRACEFUL_RAMP_DOWN_MS = 30_000;
/** k6's minDuration for duration and maxDuration (stages may be shorter, even 0). */
export const MIN_DURATION_MS = 1_000;
/** k6's sanity limit on ramping-vus targets. */
export const MAX_CONCURRENT_VUS = 100_000_000;

interface BaseNormalized {
  name: string;
  exec: string;
  startTimeMs: number;
  gracefulStopMs: number;
}
/** A stage with its duration in ms. */
export interface NormalizedStage {
  durationMs: number;
  target: number;
}
export interface PerVuIterationsPlan extends BaseNormalized {
  executor: 'per-vu-iterations';
  vus: number;
  iterations: number;
  maxDurationMs: number;
}
export interface SharedIterationsPlan extends BaseNormalized {
  executor: 'shared-iterations';
  vus: number;
  iterations: number;
  maxDurationMs: number;
}
export interface ConstantVusPlan extends BaseNormalized {
  executor: 'constant-vus';
  vus: number;
  durationMs: number;
}
export interface RampingVusPlan extends BaseNormalized {
  executor: 'ramping-vus';
  startVUs: number;
  stages: NormalizedStage[];
  gracefulRampDownMs: number;
}
export interface ConstantArrivalRatePlan extends BaseNormalized {
  executor: 'constant-arrival-rate';
  rate: number;
  timeUnitMs: number;
  durationMs: number;
  preAllocatedVUs: number;
  maxVUs: number;
}
export interface RampingArrivalRatePlan extends BaseNormalized {
  executor: 'ramping-arrival-rate';
  startRate: number;
  timeUnitMs: number;
  stages: NormalizedStage[];
  preAllocatedVUs: number;
  maxVUs: number;
}
/** A validated scenario with every default applied. */
export type NormalizedScenario =
  | PerVuIterationsPlan
  | SharedIterationsPlan
  | ConstantVusPlan
  | RampingVusPlan
  | ConstantArrivalRatePlan
  | RampingArrivalRatePlan;

const BASE_KEYS = ['executor', 'exec', 'startTime', 'gracefulStop', 'env', 'tags'] as const;
const KEYS: Record<ExecutorName, readonly string[]> = {
  'per-vu-iterations': [...BASE_KEYS, 'vus', 'iterations', 'maxDuration'],
  'shared-iterations': [...BASE_KEYS, 'vus', 'iterations', 'maxDuration'],
  'constant-vus': [...BASE_KEYS, 'vus', 'duration'],
  'ramping-vus': [...BASE_KEYS, 'startVUs', 'stages', 'gracefulRampDown'],
  'constant-arrival-rate': [...BASE_KEYS, 'rate', 'timeUnit', 'duration', 'preAllocatedVUs', 'maxVUs'],
  'ramping-arrival-rate': [...BASE_KEYS, 'startRate', 'timeUnit', 'stages', 'preAllocatedVUs', 'maxVUs'],
};
const EXECUTORS = Object.keys(KEYS) as ExecutorName[];

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds in a k6 duration: Go's time.ParseDuration syntax plus k6's days ("1m30s", "500ms",
 * "1.5h", "2d", "0"), or a number of milliseconds as k6 takes from JSON. Undefined when malformed.
 */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  let rest = value;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
    rest = rest.slice(m[0].length);
  }
  return Number.isFinite(total) ? sign * total : undefined;
}

/** Shortest k6-style rendering of ms, for messages ("1m30s", "500ms"). */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000 || !Number.isInteger(ms / 1000)) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

function show(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`;
  if (v === undefined) return 'nothing';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Checks a scenario as k6 would and returns it with k6's defaults applied (durations in ms). Throws
 * {@link ScenarioConfigError}, e.g. "scenario agent_events: executor per-vu-iterations needs vus >= 1,
 * got 0". Accepts any value so options from user bundles can be checked as they come.
 */
export function validateScenario(name: string, config: unknown): NormalizedScenario {
  if (!/^[0-9a-zA-Z_-]+$/.test(name)) {
    throw new ScenarioConfigError('ERR_SCENARIO_NAME', name, undefined, `scenario ${show(name)}: the name may contain only latin letters, digits, underscores and dashes`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ScenarioConfigError('ERR_SCENARIO_OPTION', name, undefined, `scenario ${name}: the scenario must be an object with an executor, got ${show(config)}`);
  }
  const c = config as Record<string, unknown>;
  const executor = c['executor'];
  if (typeof executor !== 'string' || !(EXECUTORS as string[]).includes(executor)) {
    throw new ScenarioConfigError('ERR_SCENARIO_EXECUTOR', name, 'executor', `scenario ${name}: executor must be one of ${EXECUTORS.join(', ')}, got ${show(executor)}`);
  }
  const ex = executor as ExecutorName;
  const allowed = KEYS[ex];
  for (const key of Object.keys(c)) {
    if (c[key] !== undefined && !allowed.includes(key)) {
      throw new ScenarioConfigError('ERR_SCENARIO_UNKNOWN_OPTION', name, key, `scenario ${name}: executor ${ex} has no option ${key}; its options are ${allowed.join(', ')}`);
    }
  }

  const fail = (option: string, needs: string, got: unknown): never => {
    throw new ScenarioConfigError('ERR_SCENARIO_OPTION', name, option, `scenario ${name}: executor ${ex} needs ${needs}, got ${show(got)}`);
  };
  const int = (option: string, dflt: number | undefined, min: number): number => {
    const v = c[option];
    if (v === undefined) {
      if (dflt === undefined) return fail(option, `${option} (a whole number >= ${min})`, v);
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) return fail(option, `${option} as a whole number >= ${min}`, v);
    if (v < min) return fail(option, `${option} >= ${min}`, v);
    return v;
  };
  const duration = (option: string, dflt: number | undefined, minMs: number): number => {
    const v = c[option];
    if (v === undefined) {
      if (dflt === undefined) return fail(option, `${option} (a duration of at least ${formatDurationMs(minMs)}, such as "30s")`, v);
      return dflt;
    }
    const ms = parseDurationMs(v);
    if (ms === undefined) return fail(option, `${option} as a duration such as "30s", "1m30s" or "500ms"`, v);
    if (ms < minMs) return fail(option, `${option} of at least ${formatDurationMs(minMs)}`, v);
    return ms;
  };
  const stages = (): NormalizedStage[] => {
    const v = c['stages'];
    if (!Array.isArray(v) || v.length === 0) return fail('stages', 'stages as a non-empty list of { duration, target }', v);
    return v.map((s: unknown, i): NormalizedStage => {
      const st = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
      const ms = parseDurationMs(st['duration']);
      if (ms === undefined || ms < 0) return fail('stages', `stage ${i + 1} to have a duration such as "30s"`, st['duration']);
      const target = st['target'];
      if (typeof target !== 'number' || !Number.isInteger(target) || target < 0) return fail('stages', `stage ${i + 1} to have a target that is a whole number >= 0`, target);
      if (ex === 'ramping-vus' && target > MAX_CONCURRENT_VUS) return fail('stages', `stage ${i + 1} target <= ${MAX_CONCURRENT_VUS}`, target);
      return { durationMs: ms, target };
    });
  };

  const execName = c['exec'];
  if (execName !== undefined && (typeof execName !== 'string' || execName === '')) fail('exec', 'exec as the name of an exported function', execName);
  const env = c['env'];
  if (env !== undefined && (typeof env !== 'object' || env === null || Object.values(env).some((x) => typeof x !== 'string'))) fail('env', 'env as an object of string values', env);
  const tags = c['tags'];
  if (tags !== undefined && (typeof tags !== 'object' || tags === null || Object.values(tags).some((x) => typeof x !== 'string'))) fail('tags', 'tags as an object of string values', tags);

  const base: BaseNormalized = {
    name,
    exec: typeof execName === 'string' ? execName : 'default',
    startTimeMs: duration('startTime', 0, 0),
    gracefulStopMs: duration('gracefulStop', DEFAULT_GRACEFUL_STOP_MS, 0),
  };

  switch (ex) {
    case 'per-vu-iterations':
      return { ...base, executor: ex, vus: int('vus', 1, 1), iterations: int('iterations', 1, 1), maxDurationMs: duration('maxDuration', DEFAULT_MAX_DURATION_MS, MIN_DURATION_MS) };
    case 'shared-iterations': {
      const vus = int('vus', 1, 1);
      const iterations = int('iterations', 1, 1);
      if (iterations < vus) fail('iterations', `iterations >= vus (${vus}), since every VU must get at least one`, iterations);
      return { ...base, executor: ex, vus, iterations, maxDurationMs: duration('maxDuration', DEFAULT_MAX_DURATION_MS, MIN_DURATION_MS) };
    }
    case 'constant-vus':
      return { ...base, executor: ex, vus: int('vus', 1, 1), durationMs: duration('duration', undefined, MIN_DURATION_MS) };
    case 'ramping-vus': {
      const startVUs = int('startVUs', 1, 0);
      if (startVUs > MAX_CONCURRENT_VUS) fail('startVUs', `startVUs <= ${MAX_CONCURRENT_VUS}`, startVUs);
      const st = stages();
      if (Math.max(startVUs, ...st.map((s) => s.target)) <= 0) fail('stages', 'startVUs or one of the stage targets to be above 0', st.map((s) => s.target));
      return { ...base, executor: ex, startVUs, stages: st, gracefulRampDownMs: duration('gracefulRampDown', DEFAULT_GRACEFUL_RAMP_DOWN_MS, 0) };
    }
    case 'constant-arrival-rate': {
      const rate = int('rate', undefined, 1);
      const timeUnitMs = duration('timeUnit', DEFAULT_TIME_UNIT_MS, 0);
      if (timeUnitMs <= 0) fail('timeUnit', 'timeUnit above 0', c['timeUnit']);
      const durationMs = duration('duration', undefined, MIN_DURATION_MS);
      const preAllocatedVUs = int('preAllocatedVUs', undefined, 0);
      const maxVUs = int('maxVUs', preAllocatedVUs, 0);
      if (maxVUs < preAllocatedVUs) fail('maxVUs', `maxVUs >= preAllocatedVUs (${preAllocatedVUs})`, maxVUs);
      return { ...base, executor: ex, rate, timeUnitMs, durationMs, preAllocatedVUs, maxVUs };
    }
    case 'ramping-arrival-rate': {
      const startRate = int('startRate', 0, 0);
      const timeUnitMs = duration('timeUnit', DEFAULT_TIME_UNIT_MS, 0);
      if (timeUnitMs <= 0) fail('timeUnit', 'timeUnit above 0', c['timeUnit']);
      const st = stages();
      const preAllocatedVUs = int('preAllocatedVUs', undefined, 0);
      const maxVUs = int('maxVUs', preAllocatedVUs, 0);
      if (maxVUs < preAllocatedVUs) fail('maxVUs', `maxVUs >= preAllocatedVUs (${preAllocatedVUs})`, maxVUs);
      return { ...base, executor: ex, startRate, timeUnitMs, stages: st, preAllocatedVUs, maxVUs };
    }
  }
}

/**
 * Scenario options checked and normalised once, with k6's defaults and k6's validation rules
 * (lib/executor/*_config Validate): every bad value fails with one sentence naming the scenario, the
 * executor, the option, what is allowed and what was given. Durations become milliseconds.
 * Pure module.
 */
import type { ExecutorName } from '../../lib/runtime/options.ts';
import { CodedError } from '../../lib/core/errors.ts';

/** Codes of {@link ScenarioConfigError}. */
export type ScenarioConfigErrorCode = 'ERR_SCENARIO_NAME' | 'ERR_SCENARIO_EXECUTOR' | 'ERR_SCENARIO_UNKNOWN_OPTION' | 'ERR_SCENARIO_OPTION';

/** A scenario whose options k6 would refuse. `scenario` and `option` say where. */
export class ScenarioConfigError extends CodedError<ScenarioConfigErrorCode> {
  constructor(
    code: ScenarioConfigErrorCode,
    readonly scenario: string,
    readonly option: string | undefined,
    message: string,
  ) {
    super(code, message);
  }
}

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
function parseDurationMs(value: unknown): number | undefined {
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
function formatDurationMs(ms: number): string {
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

  const r = new ScenarioReader(name, ex, c);
  r.checkCommon();
  const base: BaseNormalized = {
    name,
    exec: typeof c['exec'] === 'string' ? c['exec'] : 'default',
    startTimeMs: r.duration('startTime', 0, 0),
    gracefulStopMs: r.duration('gracefulStop', DEFAULT_GRACEFUL_STOP_MS, 0),
  };
  return withExecutorOptions(base, ex, r);
}

/** k6's defaults (lib/executor): gracefulStop 30s, maxDuration 10m, timeUnit 1s, gracefulRampDown 30s. */
const DEFAULT_GRACEFUL_STOP_MS = 30_000;
const DEFAULT_MAX_DURATION_MS = 600_000;
const DEFAULT_TIME_UNIT_MS = 1_000;
const DEFAULT_GRACEFUL_RAMP_DOWN_MS = 30_000;
/** k6's minDuration for duration and maxDuration (stages may be shorter, even 0). */
const MIN_DURATION_MS = 1_000;
/** k6's sanity limit on ramping-vus targets. */
const MAX_CONCURRENT_VUS = 100_000_000;

/** `base` with the options of executor `ex`, checked, and k6's defaults for those not given. */
function withExecutorOptions(base: BaseNormalized, ex: ExecutorName, r: ScenarioReader): NormalizedScenario {
  switch (ex) {
    case 'per-vu-iterations':
      return { ...base, executor: ex, vus: r.int('vus', 1, 1), iterations: r.int('iterations', 1, 1), maxDurationMs: r.duration('maxDuration', DEFAULT_MAX_DURATION_MS, MIN_DURATION_MS) };
    case 'shared-iterations': {
      const vus = r.int('vus', 1, 1);
      const iterations = r.int('iterations', 1, 1);
      if (iterations < vus) r.fail('iterations', `iterations >= vus (${vus}), since every VU must get at least one`, iterations);
      return { ...base, executor: ex, vus, iterations, maxDurationMs: r.duration('maxDuration', DEFAULT_MAX_DURATION_MS, MIN_DURATION_MS) };
    }
    case 'constant-vus':
      return { ...base, executor: ex, vus: r.int('vus', 1, 1), durationMs: r.duration('duration', undefined, MIN_DURATION_MS) };
    case 'ramping-vus': {
      const startVUs = r.int('startVUs', 1, 0);
      if (startVUs > MAX_CONCURRENT_VUS) r.fail('startVUs', `startVUs <= ${MAX_CONCURRENT_VUS}`, startVUs);
      const st = r.stages();
      if (Math.max(startVUs, ...st.map((s) => s.target)) <= 0) r.fail('stages', 'startVUs or one of the stage targets to be above 0', st.map((s) => s.target));
      return { ...base, executor: ex, startVUs, stages: st, gracefulRampDownMs: r.duration('gracefulRampDown', DEFAULT_GRACEFUL_RAMP_DOWN_MS, 0) };
    }
    case 'constant-arrival-rate': {
      const rate = r.int('rate', undefined, 1);
      const timeUnitMs = r.timeUnit();
      const durationMs = r.duration('duration', undefined, MIN_DURATION_MS);
      return { ...base, executor: ex, rate, timeUnitMs, durationMs, ...r.vuPool() };
    }
    case 'ramping-arrival-rate': {
      const startRate = r.int('startRate', 0, 0);
      const timeUnitMs = r.timeUnit();
      const stages = r.stages();
      return { ...base, executor: ex, startRate, timeUnitMs, stages, ...r.vuPool() };
    }
  }
}

/** Reads one scenario's options; every bad value throws ScenarioConfigError naming the scenario, the executor and the option. */
class ScenarioReader {
  constructor(
    private readonly name: string,
    private readonly ex: ExecutorName,
    private readonly c: Record<string, unknown>,
  ) {}

  fail(option: string, needs: string, got: unknown): never {
    throw new ScenarioConfigError('ERR_SCENARIO_OPTION', this.name, option, `scenario ${this.name}: executor ${this.ex} needs ${needs}, got ${show(got)}`);
  }

  /** exec, env and tags, which every executor has. */
  checkCommon(): void {
    const execName = this.c['exec'];
    if (execName !== undefined && (typeof execName !== 'string' || execName === '')) this.fail('exec', 'exec as the name of an exported function', execName);
    for (const option of ['env', 'tags']) {
      const v = this.c[option];
      if (v !== undefined && (typeof v !== 'object' || v === null || Object.values(v).some((x) => typeof x !== 'string'))) this.fail(option, `${option} as an object of string values`, v);
    }
  }

  int(option: string, dflt: number | undefined, min: number): number {
    const v = this.c[option];
    if (v === undefined) {
      if (dflt === undefined) return this.fail(option, `${option} (a whole number >= ${min})`, v);
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.fail(option, `${option} as a whole number >= ${min}`, v);
    if (v < min) return this.fail(option, `${option} >= ${min}`, v);
    return v;
  }

  duration(option: string, dflt: number | undefined, minMs: number): number {
    const v = this.c[option];
    if (v === undefined) {
      if (dflt === undefined) return this.fail(option, `${option} (a duration of at least ${formatDurationMs(minMs)}, such as "30s")`, v);
      return dflt;
    }
    const ms = parseDurationMs(v);
    if (ms === undefined) return this.fail(option, `${option} as a duration such as "30s", "1m30s" or "500ms"`, v);
    if (ms < minMs) return this.fail(option, `${option} of at least ${formatDurationMs(minMs)}`, v);
    return ms;
  }

  /** An arrival-rate executor's timeUnit: above 0. */
  timeUnit(): number {
    const timeUnitMs = this.duration('timeUnit', DEFAULT_TIME_UNIT_MS, 0);
    if (timeUnitMs <= 0) this.fail('timeUnit', 'timeUnit above 0', this.c['timeUnit']);
    return timeUnitMs;
  }

  /** An arrival-rate executor's VUs: preAllocatedVUs, and maxVUs no fewer. */
  vuPool(): { preAllocatedVUs: number; maxVUs: number } {
    const preAllocatedVUs = this.int('preAllocatedVUs', undefined, 0);
    const maxVUs = this.int('maxVUs', preAllocatedVUs, 0);
    if (maxVUs < preAllocatedVUs) this.fail('maxVUs', `maxVUs >= preAllocatedVUs (${preAllocatedVUs})`, maxVUs);
    return { preAllocatedVUs, maxVUs };
  }

  stages(): NormalizedStage[] {
    const v = this.c['stages'];
    if (!Array.isArray(v) || v.length === 0) return this.fail('stages', 'stages as a non-empty list of { duration, target }', v);
    return v.map((s: unknown, i): NormalizedStage => {
      const st = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
      const ms = parseDurationMs(st['duration']);
      if (ms === undefined || ms < 0) return this.fail('stages', `stage ${i + 1} to have a duration such as "30s"`, st['duration']);
      const target = st['target'];
      if (typeof target !== 'number' || !Number.isInteger(target) || target < 0) return this.fail('stages', `stage ${i + 1} to have a target that is a whole number >= 0`, target);
      if (this.ex === 'ramping-vus' && target > MAX_CONCURRENT_VUS) return this.fail('stages', `stage ${i + 1} target <= ${MAX_CONCURRENT_VUS}`, target);
      return { durationMs: ms, target };
    });
  }
}

/**
 * Test options in k6's shape (the subset wsgate and its users reach for), so one `options` export
 * serves `k6 run` and the engine alike. Durations are k6 strings ("30s", "1m30s", "500ms").
 * Pure types.
 */

interface ScenarioBase {
  /** The exported function to run; default "default". */
  exec?: string;
  /** Offset from the test start ("0s"). */
  startTime?: string;
  /** How long running iterations may finish after the scenario's end ("30s"). */
  gracefulStop?: string;
  /** Extra variables for this scenario's VUs. */
  env?: Record<string, string>;
  /** Tags added to every sample of this scenario. */
  tags?: Record<string, string>;
}

interface PerVuIterations extends ScenarioBase {
  executor: 'per-vu-iterations';
  vus?: number;
  iterations?: number;
  maxDuration?: string;
}
interface SharedIterations extends ScenarioBase {
  executor: 'shared-iterations';
  vus?: number;
  iterations?: number;
  maxDuration?: string;
}
interface ConstantVus extends ScenarioBase {
  executor: 'constant-vus';
  vus?: number;
  duration: string;
}
interface Stage {
  duration: string;
  target: number;
}
interface RampingVus extends ScenarioBase {
  executor: 'ramping-vus';
  startVUs?: number;
  stages: Stage[];
  gracefulRampDown?: string;
}
interface ConstantArrivalRate extends ScenarioBase {
  executor: 'constant-arrival-rate';
  rate: number;
  timeUnit?: string;
  duration: string;
  preAllocatedVUs: number;
  maxVUs?: number;
}
interface RampingArrivalRate extends ScenarioBase {
  executor: 'ramping-arrival-rate';
  startRate?: number;
  timeUnit?: string;
  stages: Stage[];
  preAllocatedVUs: number;
  maxVUs?: number;
}

export type Scenario = PerVuIterations | SharedIterations | ConstantVus | RampingVus | ConstantArrivalRate | RampingArrivalRate;
export type ExecutorName = Scenario['executor'];

/** A threshold: an expression, or k6's object form with abortOnFail. */
export type Threshold = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string };

export interface Options {
  scenarios?: Record<string, Scenario>;
  thresholds?: Record<string, Threshold[]>;
  summaryTrendStats?: string[];
  setupTimeout?: string;
  teardownTimeout?: string;
  /** Tags added to every sample of the test. */
  tags?: Record<string, string>;
  /** k6: the system tags k6 adds to samples (the engine adds only safe ones and ignores this). */
  systemTags?: string[];
  /** k6's shortcuts for a single "default" scenario when `scenarios` is absent. */
  vus?: number;
  iterations?: number;
  duration?: string;
}

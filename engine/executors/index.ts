/**
 * k6's six executors for wsgate's engine: the one entry point, {@link startExecutor}, checks the
 * scenario and runs this worker's share of it against an {@link ExecutorHost}.
 *
 * Numbering, the same on every worker and instance without any coordination:
 *   VU ids          idInTest = plan.vuIdOffset + g + 1, g the VU's global index in the scenario (striped);
 *   iterationInTest per-vu-iterations  g * iterations + (the VU's own iteration index);
 *                   shared-iterations  the pool's global index (striped over the VU-proportional re-cut);
 *                   arrival-rate       the schedule slot's global index (slot i starts at its time);
 *                   constant/ramping-vus  k6's rule: this worker's start-order counter, mapped through
 *                   the striping (unique, but not tied to a VU or a time).
 */
import type { ExecutorHost, ExecutorRun, ScenarioPlan } from '../contracts.ts';
import { resolveTuple, type ExecutionPosition, type SegmentTuple } from '../segments.ts';
import type { ExecutorName } from '../../lib/runtime/options.ts';
import type { NormalizedScenario } from './config.ts';
import { validateScenario } from './config.ts';
import { startConstantArrivalRate } from './constant-arrival-rate.ts';
import { startConstantVus } from './constant-vus.ts';
import { startPerVuIterations } from './per-vu-iterations.ts';
import { startRampingArrivalRate } from './ramping-arrival-rate.ts';
import { startRampingVus } from './ramping-vus.ts';
import { startSharedIterations } from './shared-iterations.ts';

export { validateScenario, ScenarioConfigError } from './config.ts';
export { rampingVusRawSteps, rampingVusGracefulSteps, type ExecutionStep } from './ramping-vus.ts';
export { constantArrivalRateTotal } from './constant-arrival-rate.ts';
export { rampingArrivalRateSlots } from './ramping-arrival-rate.ts';

/**
 * Validates `plan.config` (throws ScenarioConfigError) and starts this worker's share of the scenario:
 * `position` is its tuple (see engine/segments.ts: executionTuple, workerTuple) or a segment and sequence
 * as strings. The run waits for testStartEpochMs + startTime, runs, gives running iterations
 * gracefulStop, interrupts what is left and resolves `done`. A share with no work resolves at once.
 */
export function startExecutor(plan: ScenarioPlan, position: ExecutionPosition, host: ExecutorHost): ExecutorRun {
  const config = validateScenario(plan.name, plan.config);
  // The table pairs each executor with its own plan type; indexing it by a union loses that pairing.
  const start = STARTERS[config.executor] as Starter<ExecutorName>;
  return start(config, resolveTuple(position), plan.vuIdOffset, host);
}

type Starter<E extends ExecutorName> = (plan: Extract<NormalizedScenario, { executor: E }>, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost) => ExecutorRun;

const STARTERS: { readonly [E in ExecutorName]: Starter<E> } = {
  'per-vu-iterations': startPerVuIterations,
  'shared-iterations': startSharedIterations,
  'constant-vus': startConstantVus,
  'ramping-vus': startRampingVus,
  'constant-arrival-rate': startConstantArrivalRate,
  'ramping-arrival-rate': startRampingArrivalRate,
};

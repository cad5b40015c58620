/**
 * ramping-arrival-rate: the rate moves linearly from stage to stage (k6's RampingArrivalRate). The
 * number of iterations started by time x is the area under the rate curve up to x, so iteration i
 * (1-based) starts where that area reaches i: for a constant stage that is linear in i, for a ramp the
 * root of a quadratic (k6's `cal`). A fraction of an iteration left at a stage's end carries into the
 * next. Slots at or after the end of the last stage do not run.
 *
 * Areas are kept in units of 1/(2*timeUnit) iterations so that whole-millisecond stages compare as
 * integers and a stage boundary never loses or duplicates an iteration to rounding.
 */
import type { ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import { startArrivalRate, type Slot } from './arrival-rate.ts';
import type { NormalizedStage, RampingArrivalRatePlan } from './config.ts';

/** What the slot computation needs of a plan. */
export interface RateCurve {
  startRate: number;
  timeUnitMs: number;
  stages: readonly NormalizedStage[];
}

/** This segment's slots of a ramping-arrival-rate curve, in time order; ends with the last stage. */
export function* rampingArrivalRateSlots(curve: RateCurve, iterationTuple: SegmentTuple): Generator<Slot> {
  const twoU = 2 * curve.timeUnitMs;
  let n = 0;
  let iteration = iterationTuple.globalIndex(n);
  let from = curve.startRate;
  let done2 = 0;
  let end2 = 0;
  let stageStart = 0;
  for (const stage of curve.stages) {
    const to = stage.target;
    const dur = stage.durationMs;
    end2 += dur * (from + to);
    const limit = end2 + end2 * 1e-12; // tolerance only matters for non-integer millisecond inputs
    for (let a2 = twoU * (iteration + 1); a2 <= limit; a2 = twoU * (iteration + 1)) {
      const area = a2 - done2;
      const x = from === to ? area / (2 * to) : (from * dur - Math.sqrt(Math.max(0, dur * (from * from * dur + area * (to - from))))) / (from - to);
      yield { iteration, atMs: stageStart + x };
      iteration = iterationTuple.globalIndex(++n);
    }
    done2 = end2;
    from = to;
    stageStart += dur;
  }
}

/** Total duration of the stages. */
function stagesDurationMs(stages: readonly NormalizedStage[]): number {
  return stages.reduce((sum, s) => sum + s.durationMs, 0);
}

/** Starts a ramping-arrival-rate scenario on this worker's share. */
export function startRampingArrivalRate(plan: RampingArrivalRatePlan, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return startArrivalRate(plan, stagesDurationMs(plan.stages), (iterationTuple) => rampingArrivalRateSlots(plan, iterationTuple), tuple, vuIdOffset, host);
}

/**
 * constant-arrival-rate: `rate` iterations per `timeUnit` for `duration` (k6's ConstantArrivalRate).
 * Slot i of the whole test starts at i * timeUnit / rate (the first at 0) and only slots before the end
 * of `duration` run, so a whole test runs exactly ceil(duration * rate / timeUnit) slots. A segment runs
 * its striped share of those slots at their whole-test times.
 */
import type { ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import { startArrivalRate, type Slot } from './arrival-rate.ts';
import type { ConstantArrivalRatePlan } from './config.ts';

/** This segment's slots of a constant-arrival-rate scenario, in time order (an endless iterator). */
function* constantArrivalRateSlots(plan: ConstantArrivalRatePlan, iterationTuple: SegmentTuple): Generator<Slot> {
  for (let n = 0; ; n++) {
    const iteration = iterationTuple.globalIndex(n);
    // Multiply before dividing: integer inputs give the exact offset for whole-ms periods.
    yield { iteration, atMs: (iteration * plan.timeUnitMs) / plan.rate };
  }
}

/** How many slots the whole test has: those starting before `duration` ends. */
export function constantArrivalRateTotal(plan: ConstantArrivalRatePlan): number {
  return Math.ceil((plan.durationMs * plan.rate) / plan.timeUnitMs);
}

/** Starts a constant-arrival-rate scenario on this worker's share. */
export function startConstantArrivalRate(plan: ConstantArrivalRatePlan, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return startArrivalRate(plan, plan.durationMs, (iterationTuple) => constantArrivalRateSlots(plan, iterationTuple), tuple, vuIdOffset, host);
}

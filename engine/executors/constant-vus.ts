/**
 * constant-vus: a fixed number of VUs loop iterations for `duration` (k6's ConstantVUs). Iterations are
 * numbered as k6 numbers them: a counter shared by this worker's VUs, in start order, mapped through the
 * segment's striping, so numbers are unique across the whole test without any coordination.
 */
import type { ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import type { ConstantVusPlan } from './config.ts';
import { VuLoopRun } from './vu-loops.ts';

/** Scaled numbers for a segment: the VUs here. */
function constantVusShare(plan: ConstantVusPlan, tuple: SegmentTuple): { vus: number } {
  return { vus: tuple.scale(plan.vus) };
}

class ConstantVusRun extends VuLoopRun {
  private counter = 0;

  constructor(host: ExecutorHost, plan: ConstantVusPlan, tuple: SegmentTuple, vuIdOffset: number) {
    const { vus } = constantVusShare(plan, tuple);
    super(host, { startTimeMs: plan.startTimeMs, regularEndMs: plan.durationMs, hardEndMs: plan.durationMs + plan.gracefulStopMs, gracefulStopMs: plan.gracefulStopMs }, tuple, vuIdOffset, vus);
    host.allocatedVus(vus);
    if (vus === 0) this.finishEmpty();
    else this.begin();
  }

  protected next(): number {
    return this.tuple.globalIndex(this.counter++);
  }
}

/** Starts a constant-vus scenario on this worker's share. */
export function startConstantVus(plan: ConstantVusPlan, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return new ConstantVusRun(host, plan, tuple, vuIdOffset);
}

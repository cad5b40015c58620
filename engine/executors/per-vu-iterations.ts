/**
 * per-vu-iterations: each VU runs `iterations` iterations back to back (k6's PerVUIterations). Only the
 * VUs are split between segments (iterations per VU stay whole, or scaling would be quadratic). Whatever
 * a VU has not started when maxDuration ends counts as dropped.
 */
import type { ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import type { PerVuIterationsPlan } from './config.ts';
import { VuLoopRun, type LoopState } from './vu-loops.ts';

/** Scaled numbers for a segment: VUs here and the iterations each runs. */
function perVuIterationsShare(plan: PerVuIterationsPlan, tuple: SegmentTuple): { vus: number; iterations: number } {
  return { vus: tuple.scale(plan.vus), iterations: plan.iterations };
}

class PerVuIterationsRun extends VuLoopRun {
  constructor(
    host: ExecutorHost,
    private readonly plan: PerVuIterationsPlan,
    tuple: SegmentTuple,
    vuIdOffset: number,
  ) {
    const vus = perVuIterationsShare(plan, tuple).vus;
    super(host, { startTimeMs: plan.startTimeMs, regularEndMs: plan.maxDurationMs, hardEndMs: plan.maxDurationMs + plan.gracefulStopMs, gracefulStopMs: plan.gracefulStopMs }, tuple, vuIdOffset, vus);
    host.allocatedVus(vus);
    if (vus === 0) this.finishEmpty();
    else this.begin();
  }

  protected next(loop: LoopState): number | undefined {
    // Deterministic and unique in the whole test: VU g owns iterations g*iterations .. (g+1)*iterations-1.
    return loop.started < this.plan.iterations ? loop.globalVu * this.plan.iterations + loop.started : undefined;
  }

  protected override loopEnded(loop: LoopState): void {
    const left = this.plan.iterations - loop.started;
    if (left > 0 && !this.aborted) this.host.dropped(left);
  }
}

/** Starts a per-vu-iterations scenario on this worker's share. */
export function startPerVuIterations(plan: PerVuIterationsPlan, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return new PerVuIterationsRun(host, plan, tuple, vuIdOffset);
}

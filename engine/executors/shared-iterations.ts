/**
 * shared-iterations: VUs pull from one pool of iterations until it is empty (k6's SharedIterations).
 * Between segments the pool is split in proportion to each segment's VUs, not its length: k6 re-cuts the
 * sequence by the VU count first, then stripes the iterations over that cut, and so does this.
 * Iterations left in the pool when maxDuration ends count as dropped.
 */
import type { ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import type { SharedIterationsPlan } from './config.ts';
import { VuLoopRun } from './vu-loops.ts';

/** Scaled numbers for a segment: VUs here, the pool size here, and the tuple numbering the pool. */
function sharedIterationsShare(plan: SharedIterationsPlan, tuple: SegmentTuple): { vus: number; iterations: number; iterationTuple: SegmentTuple | undefined } {
  const vus = tuple.scale(plan.vus);
  const iterationTuple = tuple.forValue(plan.vus);
  const iterations = vus > 0 && iterationTuple ? iterationTuple.scale(plan.iterations) : 0;
  return { vus, iterations, iterationTuple };
}

class SharedIterationsRun extends VuLoopRun {
  private attempted = 0;
  private reported = false;
  private readonly total: number;
  private readonly iterationTuple: SegmentTuple | undefined;

  constructor(host: ExecutorHost, plan: SharedIterationsPlan, tuple: SegmentTuple, vuIdOffset: number) {
    const share = sharedIterationsShare(plan, tuple);
    super(host, { startTimeMs: plan.startTimeMs, regularEndMs: plan.maxDurationMs, hardEndMs: plan.maxDurationMs + plan.gracefulStopMs, gracefulStopMs: plan.gracefulStopMs }, tuple, vuIdOffset, share.vus);
    this.total = share.iterations;
    this.iterationTuple = share.iterationTuple;
    host.allocatedVus(share.vus);
    if (share.vus === 0 || share.iterations === 0) this.finishEmpty();
    else this.begin();
  }

  protected next(): number | undefined {
    if (this.attempted >= this.total || !this.iterationTuple) return undefined;
    return this.iterationTuple.globalIndex(this.attempted++);
  }

  protected override loopEnded(): void {
    // k6 reports what was left of the pool once, after all VUs returned.
    if (this.reported || !this.idle()) return;
    this.reported = true;
    if (this.attempted < this.total && !this.aborted) this.host.dropped(this.total - this.attempted);
  }
}

/** Starts a shared-iterations scenario on this worker's share. */
export function startSharedIterations(plan: SharedIterationsPlan, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return new SharedIterationsRun(host, plan, tuple, vuIdOffset);
}

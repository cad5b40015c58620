/**
 * Where a worker's share of each scenario comes from: the machine's execution segment (k6's
 * --execution-segment / --execution-segment-sequence, the whole test when absent) split evenly between
 * this machine's workers, so all workers of all machines together run the test exactly once.
 */
import type { ExecutorHost, ExecutorRun, ScenarioPlan } from './contracts.ts';
import { startExecutor } from './executors/index.ts';
import { executionTuple, workerTuple } from './segments.ts';

export { validateScenario } from './executors/index.ts';

export interface WorkerShare {
  /** The machine's segment and sequence as given ('' = whole test). */
  segment: string;
  sequence: string;
  workerIndex: number;
  workerCount: number;
}

/** Checks the machine's segment and sequence (throws SegmentError with one sentence). */
export function checkSegment(segment: string | undefined, sequence: string | undefined): void {
  executionTuple(segment || undefined, sequence || undefined);
}

export function startScenario(plan: ScenarioPlan, share: WorkerShare, host: ExecutorHost): ExecutorRun {
  const machine = executionTuple(share.segment || undefined, share.sequence || undefined);
  return startExecutor(plan, workerTuple(machine, share.workerIndex, share.workerCount), host);
}

/**
 * The shape shared by the arrival-rate executors: iterations start at planned times whatever the
 * running ones do, each on a free VU. preAllocatedVUs are ready from the start; when none is free another
 * is initialised, up to maxVUs; when that limit is reached the iteration is dropped (dropped_iterations).
 *
 * Who starts what, across segments: the sequence is re-cut by maxVUs (as k6 does), and slot i of the
 * whole test's schedule belongs to exactly one segment, which starts it at the slot's whole-test time
 * with iterationInTest = i. One sleeper schedules every start from absolute offsets.
 *
 * Difference from k6, on purpose: k6 initialises the extra VU in the background and drops the iteration
 * that asked for it; here a VU is only an identity, so it is ready at once and that iteration runs.
 */
import type { EngineVu, ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import { BaseRun, Sleeper, makeVu } from './common.ts';
import type { ConstantArrivalRatePlan } from './config.ts';

/** One planned start: the global iteration index and its offset from the scenario start, in ms. */
export interface Slot {
  iteration: number;
  atMs: number;
}

/** Scaled VU numbers of an arrival-rate scenario for a segment (k6 scales them with the plain tuple). */
function arrivalRateVus(tuple: SegmentTuple, preAllocatedVUs: number, maxVUs: number): { preAllocatedVUs: number; maxVUs: number } {
  return { preAllocatedVUs: tuple.scale(preAllocatedVUs), maxVUs: tuple.scale(maxVUs) };
}

/** What the arrival-rate plans share. */
type ArrivalRatePlan = Pick<ConstantArrivalRatePlan, 'startTimeMs' | 'gracefulStopMs' | 'preAllocatedVUs' | 'maxVUs'>;

/** This segment's slots, in time order, given the iteration tuple (the sequence re-cut by maxVUs). */
type SlotsOf = (iterationTuple: SegmentTuple) => Iterator<Slot>;

/**
 * Starts an arrival-rate scenario on this worker's share: its schedule ends at `regularEndMs` (then
 * gracefulStop), and `slotsOf` gives the slots, the one thing the two executors do differently.
 */
export function startArrivalRate(plan: ArrivalRatePlan, regularEndMs: number, slotsOf: SlotsOf, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return new ArrivalRateRun(host, plan, regularEndMs, slotsOf, tuple, vuIdOffset);
}

/** Starts the slots on free VUs. */
class ArrivalRateRun extends BaseRun {
  private readonly free: EngineVu[] = [];
  private allocated = 0;
  private readonly sleeper = new Sleeper();
  private halted = false;
  /** The schedule's iterator and the slot it waits for (read by flushDue at the regular end). */
  private pending: Iterator<Slot> | undefined;
  private waiting: Slot | undefined;

  private readonly preAllocatedVUs: number;
  private readonly maxVUs: number;
  private readonly iterationTuple: SegmentTuple | undefined;

  constructor(
    host: ExecutorHost,
    plan: ArrivalRatePlan,
    regularEndMs: number,
    private readonly slotsOf: SlotsOf,
    private readonly vuTuple: SegmentTuple,
    private readonly vuIdOffset: number,
  ) {
    super(host, { startTimeMs: plan.startTimeMs, regularEndMs, hardEndMs: regularEndMs + plan.gracefulStopMs, gracefulStopMs: plan.gracefulStopMs });
    const vus = arrivalRateVus(vuTuple, plan.preAllocatedVUs, plan.maxVUs);
    this.preAllocatedVUs = vus.preAllocatedVUs;
    this.maxVUs = vus.maxVUs;
    this.iterationTuple = vuTuple.forValue(plan.maxVUs);
    this.setUp(this.maxVUs > 0 && this.iterationTuple !== undefined);
  }

  /** The slots of this segment in time order (offsets may reach past the regular end; they are cut). */
  private slots(): Iterator<Slot> {
    return this.iterationTuple ? this.slotsOf(this.iterationTuple) : [][Symbol.iterator]();
  }

  private setUp(hasWork: boolean): void {
    for (let k = 0; k < this.preAllocatedVUs; k++) this.free.push(this.newVu());
    if (this.preAllocatedVUs > 0) this.host.allocatedVus(this.preAllocatedVUs);
    // The first free VU taken is the lowest-numbered one, as with a fresh pool in k6.
    this.free.reverse();
    if (hasWork) this.begin();
    else this.finishEmpty();
  }

  private newVu(): EngineVu {
    // Local VU k of this segment is global VU globalIndex(k): preallocated ones come first globally too.
    return makeVu(this.vuIdOffset, this.vuTuple.globalIndex(this.allocated++));
  }

  protected launch(): void {
    void this.schedule();
  }

  private async schedule(): Promise<void> {
    const it = this.slots();
    this.pending = it;
    for (let r = it.next(); !r.done; r = it.next()) {
      this.waiting = r.value;
      if (r.value.atMs >= this.times.regularEndMs) break;
      if (!(await this.sleeper.until(this.t0 + r.value.atMs))) return;
      if (!this.accepting) return;
      this.waiting = undefined;
      this.startSlot(r.value.iteration);
    }
    this.waiting = undefined;
  }

  /**
   * At the regular end, starts the slots that were due but whose timer had not run yet (a busy event
   * loop fires timers late, and the end timer may come first): every slot before the end runs, so the
   * counts are exact. Not after stop(), which means "start nothing more".
   */
  private flushDue(): void {
    const it = this.pending;
    const limit = Math.min(this.elapsed(), this.times.regularEndMs);
    for (let slot = this.waiting; slot && slot.atMs < limit; ) {
      this.startSlot(slot.iteration);
      const r = it?.next();
      slot = r && !r.done ? r.value : undefined;
    }
    this.waiting = undefined;
  }

  private startSlot(iteration: number): void {
    let vu = this.free.pop();
    if (!vu && this.allocated < this.maxVUs) {
      vu = this.newVu();
      this.host.allocatedVus(1);
    }
    if (!vu) {
      this.host.dropped(1);
      return;
    }
    const v = vu;
    // k6 counts an arrival-rate VU as active only while it runs an iteration.
    this.host.activeVus(1);
    void this.runOn(v, iteration).then((ended) => {
      if (!ended) return;
      this.host.activeVus(-1);
      this.free.push(v);
      this.settle();
    });
  }

  protected halt(): void {
    if (this.halted) return;
    this.halted = true;
    if (!this.aborted && this.phase === 'graceful') this.flushDue();
    this.sleeper.wake();
  }

  protected idle(): boolean {
    // While running, the schedule itself is work even between iterations.
    return !this.accepting && this.inFlight.size === 0;
  }

  protected abandonRunning(): EngineVu[] {
    const vus = [...this.inFlight.keys()];
    for (const vu of vus) {
      this.abandon(vu);
      this.host.activeVus(-1);
    }
    return vus;
  }
}

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
import type { EngineVu, ExecutorHost } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import { BaseRun, Sleeper, makeVu, type RunTimes } from './common.ts';

/** One planned start: the global iteration index and its offset from the scenario start, in ms. */
export interface Slot {
  iteration: number;
  atMs: number;
}

/** Scaled VU numbers of an arrival-rate scenario for a segment (k6 scales them with the plain tuple). */
export function arrivalRateVus(tuple: SegmentTuple, preAllocatedVUs: number, maxVUs: number): { preAllocatedVUs: number; maxVUs: number } {
  return { preAllocatedVUs: tuple.scale(preAllocatedVUs), maxVUs: tuple.scale(maxVUs) };
}

/** Base of the arrival-rate executors: subclasses give the slots, this starts them on free VUs. */
export abstract class ArrivalRateRun extends BaseRun {
  private readonly free: EngineVu[] = [];
  private allocated = 0;
  private readonly sleeper = new Sleeper();
  private halted = false;
  /** The schedule's iterator and the slot it waits for (read by flushDue at the regular end). */
  private pending: Iterator<Slot> | undefined;
  private waiting: Slot | undefined;

  protected constructor(
    host: ExecutorHost,
    times: RunTimes,
    private readonly vuTuple: SegmentTuple,
    private readonly vuIdOffset: number,
    private readonly preAllocatedVUs: number,
    private readonly maxVUs: number,
  ) {
    super(host, times);
  }

  /** The slots of this segment in time order (offsets may reach past the regular end; they are cut). */
  protected abstract slots(): Iterator<Slot>;

  /** Call at the end of the subclass constructor. */
  protected setUp(hasWork: boolean): void {
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

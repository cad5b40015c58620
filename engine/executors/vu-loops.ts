/**
 * The shape shared by the executors whose VUs loop on their own (per-vu-iterations, shared-iterations,
 * constant-vus): every VU is taken at the start (k6's GetPlannedVU with the active count raised), loops
 * iterations back to back while the executor allows, and is returned when its loop ends.
 */
import type { EngineVu, ExecutorHost } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import { BaseRun, makeVu, monoNow, type RunTimes } from './common.ts';

/** One VU's loop: `alive` turns false when it ended or was abandoned at the hard end. */
export interface LoopState {
  vu: EngineVu;
  /** 0-based global VU index within the scenario. */
  globalVu: number;
  /** Iterations started by this VU. */
  started: number;
  alive: boolean;
}

/** Base of the looping-VU executors: subclasses say what each VU's next iteration is. */
export abstract class VuLoopRun extends BaseRun {
  protected readonly loops: LoopState[] = [];
  private live = 0;

  protected constructor(
    host: ExecutorHost,
    times: RunTimes,
    protected readonly tuple: SegmentTuple,
    protected readonly vuIdOffset: number,
    protected readonly numVus: number,
  ) {
    super(host, times);
  }

  /** Next iteration for `loop`: its iterationInTest, or undefined when this VU has no more work. */
  protected abstract next(loop: LoopState): number | undefined;
  /** Called once when a loop ends or is abandoned, for dropped-iteration accounting. */
  protected loopEnded(_loop: LoopState): void {}

  protected launch(): void {
    for (let k = 0; k < this.numVus; k++) {
      const globalVu = this.tuple.globalIndex(k);
      this.loops.push({ vu: makeVu(this.vuIdOffset, globalVu), globalVu, started: 0, alive: true });
    }
    this.live = this.loops.length;
    this.host.activeVus(this.loops.length);
    for (const loop of this.loops) void this.run(loop);
  }

  private async run(loop: LoopState): Promise<void> {
    while (loop.alive && this.accepting) {
      const iteration = this.next(loop);
      if (iteration === undefined) break;
      loop.started++;
      const began = monoNow();
      if (!(await this.runOn(loop.vu, iteration))) return; // abandoned: accounted for already
      const pause = this.guard.after(began);
      if (pause) await pause;
    }
    if (!loop.alive) return;
    this.release(loop);
    this.settle();
  }

  private release(loop: LoopState): void {
    loop.alive = false;
    this.live--;
    this.host.activeVus(-1);
    this.loopEnded(loop);
  }

  protected halt(): void {}

  protected idle(): boolean {
    return this.live === 0;
  }

  protected abandonRunning(): EngineVu[] {
    const interrupted: EngineVu[] = [];
    for (const loop of this.loops) {
      if (!loop.alive) continue;
      if (this.abandon(loop.vu)) interrupted.push(loop.vu);
      this.release(loop);
    }
    return interrupted;
  }
}

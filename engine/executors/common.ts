/**
 * What every executor shares: the life of a scenario on one worker, as k6 runs it.
 *
 *   waiting   until testStartEpochMs + startTime;
 *   running   iterations start (until the regular end: duration, maxDuration, the last stage, or stop());
 *   graceful  no new iteration starts; running ones may finish until the hard end (gracefulStop later);
 *   finished  what still runs at the hard end is handed to host.interrupt(); `done` resolves.
 *
 * Timing is measured on the monotonic clock from the moment the scenario started, and every wait is for
 * an absolute offset, so lateness never accumulates. Timers: the start delay, the regular end, the hard
 * end, and the executor's own scheduling sleeper; none per iteration.
 */
import type { EngineVu, ExecutorHost, ExecutorRun } from '../contracts.ts';

export type Phase = 'waiting' | 'running' | 'graceful' | 'finished';

/** Monotonic milliseconds (never jumps with the wall clock). */
export function monoNow(): number {
  return performance.now();
}

// Node fires longer timeouts at once (with a warning); longer waits are re-armed in steps of this.
const MAX_TIMER_MS = 2_147_483_647;

/** A one-shot timer for an absolute time on `clock`, also beyond Node's 24.8-day timeout limit. */
class TimerAt {
  private handle: ReturnType<typeof setTimeout> | undefined;

  constructor(clock: () => number, target: number, fn: () => void) {
    const arm = (): void => {
      const delay = target - clock();
      this.handle = delay > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(() => {
        this.handle = undefined;
        fn();
      }, Math.max(0, delay));
    };
    arm();
  }

  clear(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

/**
 * One cancellable timer for waiting until an absolute monotonic time. Waking early is possible
 * (`wake()`), and the wait re-arms itself if the timer fires before the target (timers have 1 ms grain).
 */
export class Sleeper {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private resolve: (() => void) | undefined;
  private cancelled = false;

  /** Resolves true at `monoTarget`, or false if {@link wake} was called first. */
  async until(monoTarget: number): Promise<boolean> {
    for (;;) {
      if (this.cancelled) return false;
      const delay = monoTarget - monoNow();
      if (delay <= 0) return true;
      await new Promise<void>((resolve) => {
        this.resolve = resolve;
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.resolve = undefined;
          resolve();
        }, Math.min(Math.ceil(delay), MAX_TIMER_MS));
      });
    }
  }

  /** Ends the current and every later wait (they resolve false). */
  wake(): void {
    this.cancelled = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const r = this.resolve;
    this.resolve = undefined;
    r?.();
  }
}

/**
 * Yields to the event loop after a run of iterations that ended without giving timers a chance (an exec
 * function that never awaits I/O resolves in a microtask, and a loop of those would starve the
 * executor's own timers). Costs nothing for iterations that do real I/O.
 */
class StarvationGuard {
  private fast = 0;
  /** Call after each iteration with when it started; may return a promise to await before the next. */
  after(startedMono: number): Promise<void> | undefined {
    if (monoNow() - startedMono >= 1) {
      this.fast = 0;
      return undefined;
    }
    if (++this.fast < 64) return undefined;
    this.fast = 0;
    return new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Makes the EngineVu for global VU index `globalIndex` (0-based, within the scenario). */
export function makeVu(vuIdOffset: number, globalIndex: number): EngineVu {
  return { idInTest: vuIdOffset + globalIndex + 1, iterationInScenario: 0 };
}

/** Times of a run, in ms from the scenario's start; `hardEndMs` >= `regularEndMs`. */
export interface RunTimes {
  startTimeMs: number;
  regularEndMs: number;
  hardEndMs: number;
  /** Graceful window after stop(): running iterations may finish within this, capped by hardEndMs. */
  gracefulStopMs: number;
}

/**
 * The common lifecycle. Subclasses start their VUs or schedule in {@link launch}, stop creating
 * iterations in {@link halt}, account for interrupted VUs in {@link abandonRunning}, and report when
 * nothing runs any more through {@link idle} and {@link settle}.
 */
export abstract class BaseRun implements ExecutorRun {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private startedAtEpoch: number | undefined;
  /** Monotonic time of the scenario's start (t = 0 for every offset). */
  protected t0 = 0;
  protected phase: Phase = 'waiting';
  /** True once stop() was called: k6 reports no dropped iterations for an aborted run. */
  protected aborted = false;
  private startTimer: TimerAt | undefined;
  private regularTimer: TimerAt | undefined;
  private hardTimer: TimerAt | undefined;
  /** Iterations in flight: VU -> token of that iteration (a replaced or missing token means abandoned). */
  protected readonly inFlight = new Map<EngineVu, object>();
  protected readonly guard = new StarvationGuard();

  protected constructor(
    protected readonly host: ExecutorHost,
    protected readonly times: RunTimes,
  ) {
    this.done = new Promise<void>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get startedAt(): number | undefined {
    return this.startedAtEpoch;
  }

  /** Arms the start: at testStartEpochMs + startTime (immediately when that is past). */
  protected begin(): void {
    const at = this.host.testStartEpochMs + this.times.startTimeMs;
    if (at > Date.now()) this.startTimer = new TimerAt(Date.now, at, () => this.start());
    else queueMicrotask(() => this.start());
  }

  /** Resolves `done` without running anything (no work for this segment). */
  protected finishEmpty(): void {
    this.phase = 'finished';
    this.resolveDone();
  }

  private start(): void {
    this.startTimer = undefined;
    if (this.phase !== 'waiting') return;
    this.phase = 'running';
    this.t0 = monoNow();
    this.startedAtEpoch = Date.now();
    this.regularTimer = new TimerAt(monoNow, this.t0 + this.times.regularEndMs, () => this.endRegular(this.times.hardEndMs));
    this.launch();
    // Executors whose work can end early (iteration counts) may already be idle.
    if (this.phase === 'running' && this.idle()) this.complete();
  }

  /** Milliseconds since the scenario started. */
  protected elapsed(): number {
    return monoNow() - this.t0;
  }

  stop(): void {
    if (this.phase === 'waiting') {
      this.startTimer?.clear();
      this.startTimer = undefined;
      this.aborted = true;
      this.finish();
      return;
    }
    if (this.phase !== 'running') return;
    this.aborted = true;
    this.endRegular(Math.min(this.elapsed() + this.times.gracefulStopMs, this.times.hardEndMs));
  }

  /** All work ended before the regular end (iteration executors): finish now. */
  protected complete(): void {
    if (this.phase !== 'running') return;
    this.phase = 'graceful';
    this.halt();
    this.finish();
  }

  /** Enters the graceful phase; the hard end comes at `hardAtMs` (offset from t0). */
  private endRegular(hardAtMs: number): void {
    if (this.phase !== 'running') return;
    this.phase = 'graceful';
    this.regularTimer?.clear();
    this.regularTimer = undefined;
    this.halt();
    if (this.idle()) {
      this.finish();
      return;
    }
    this.hardTimer = new TimerAt(monoNow, this.t0 + hardAtMs, () => this.hardEnd());
  }

  private hardEnd(): void {
    this.hardTimer = undefined;
    if (this.phase !== 'graceful') return;
    const vus = this.abandonRunning();
    if (vus.length > 0) this.host.interrupt(vus);
    this.finish();
  }

  private finish(): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    for (const t of [this.startTimer, this.regularTimer, this.hardTimer]) t?.clear();
    this.startTimer = this.regularTimer = this.hardTimer = undefined;
    this.halt();
    this.resolveDone();
  }

  /** Subclasses call this whenever a VU or an iteration ended: finishes once nothing runs. */
  protected settle(): void {
    if (this.phase === 'graceful' && this.idle()) this.finish();
    else if (this.phase === 'running' && this.idle()) this.complete();
  }

  /** Whether new iterations may start. */
  protected get accepting(): boolean {
    return this.phase === 'running';
  }

  /**
   * Starts one iteration on `vu`; resolves true when it ended normally, false when it was abandoned
   * (interrupted) meanwhile, in which case the caller must not touch any accounting.
   */
  protected runOn(vu: EngineVu, iterationInTest: number): Promise<boolean> {
    const token = {};
    this.inFlight.set(vu, token);
    const ended = (): boolean => {
      if (this.inFlight.get(vu) !== token) return false;
      this.inFlight.delete(vu);
      vu.iterationInScenario++;
      return true;
    };
    let p: Promise<void>;
    try {
      p = this.host.runIteration(vu, iterationInTest);
    } catch {
      p = Promise.resolve(); // the contract says it never throws; a broken host must not wedge the run
    }
    return p.then(ended, ended);
  }

  /** Forgets `vu`'s in-flight iteration (it is being interrupted); true if it had one. */
  protected abandon(vu: EngineVu): boolean {
    if (!this.inFlight.delete(vu)) return false;
    vu.iterationInScenario++;
    return true;
  }

  /** Starts VUs or the schedule (phase is running, t0 set). */
  protected abstract launch(): void;
  /** Stops starting iterations (called once or more when leaving the running phase). */
  protected abstract halt(): void;
  /** True when no iteration runs and no VU loop is alive. */
  protected abstract idle(): boolean;
  /** At the hard end: forgets every running iteration, does its accounting, returns those VUs. */
  protected abstract abandonRunning(): EngineVu[];
}

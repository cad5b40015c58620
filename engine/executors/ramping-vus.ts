/**
 * ramping-vus: the number of looping VUs follows the stages linearly (k6's RampingVUs).
 *
 * Two step lists drive it, both computed up front as k6 does:
 *   raw steps       how many of this segment's VUs should loop at each moment. Global VU u (1-based)
 *                   joins when the whole test's ramp reaches u and leaves when it drops below u, and a
 *                   segment only sees its own (striped) VUs, so the segments add up to the whole shape;
 *   graceful steps  how many VUs may still exist: a VU ramped down may finish its iteration within
 *                   gracefulRampDown; when that window closes it is interrupted. The last step, at
 *                   sum(stages) + gracefulStop, interrupts everything.
 * Iterations are numbered like constant-vus: a counter shared by this worker's VUs, mapped through the
 * striping.
 */
import type { EngineVu, ExecutorHost, ExecutorRun } from '../contracts.ts';
import type { SegmentTuple } from '../segments.ts';
import { BaseRun, Sleeper, makeVu, monoNow } from './common.ts';
import type { NormalizedStage, RampingVusPlan } from './config.ts';

/** At `offsetMs` from the scenario start, `plannedVUs` VUs (k6's ExecutionStep). */
export interface ExecutionStep {
  offsetMs: number;
  plannedVUs: number;
}

/** What the step computations need of a plan. */
export interface VuCurve {
  startVUs: number;
  stages: readonly NormalizedStage[];
  gracefulRampDownMs: number;
  gracefulStopMs: number;
}

/** k6's SegmentedIndex over any tuple: `scaled` local VUs (1-based count), the last one's global number. */
class StripedIndex {
  scaled = 0;
  unscaled = 0;
  constructor(private readonly tuple: SegmentTuple) {}
  private sync(): void {
    this.unscaled = this.scaled === 0 ? 0 : this.tuple.globalIndex(this.scaled - 1) + 1;
  }
  next(): void {
    this.scaled++;
    this.sync();
  }
  prev(): void {
    this.scaled--;
    this.sync();
  }
  /** The most local VUs whose global numbers are all <= value. */
  goTo(value: number): void {
    this.scaled = this.tuple.scale(value);
    this.sync();
  }
}

// Go computes these offsets as integer nanoseconds, truncating; doing the same keeps step times equal.
function truncNs(ms: number): number {
  return Math.trunc(ms * 1e6) / 1e6;
}

/**
 * k6's getRawExecutionSteps: this segment's planned VUs over time. With `zeroEnd`, a last step with 0
 * VUs at the end of the stages is added when needed.
 */
export function rampingVusRawSteps(curve: Pick<VuCurve, 'startVUs' | 'stages'>, tuple: SegmentTuple, zeroEnd: boolean): ExecutionStep[] {
  const index = new StripedIndex(tuple);
  let timeTillEnd = 0;
  let fromVUs = curve.startVUs;
  index.goTo(fromVUs);
  const steps: ExecutionStep[] = [{ offsetMs: 0, plannedVUs: index.scaled }];
  const add = (offsetMs: number, plannedVUs: number): void => {
    if (steps[steps.length - 1]?.plannedVUs !== plannedVUs) steps.push({ offsetMs, plannedVUs });
  };
  for (const stage of curve.stages) {
    const end = stage.target;
    const dur = stage.durationMs;
    timeTillEnd += dur;
    const diff = end - fromVUs;
    if (diff === 0) continue;
    if (dur === 0) {
      index.goTo(end);
      add(timeTillEnd, index.scaled);
      fromVUs = end;
      continue;
    }
    if (index.unscaled > end) {
      // Ramping down: VU u leaves when the ramp reaches u-1 (it is not stopped before its slot is gone).
      for (; index.unscaled > end; index.prev()) add(timeTillEnd - truncNs((dur * (end - index.unscaled + 1)) / diff), index.scaled - 1);
    } else {
      // Ramping up: VU u joins when the ramp reaches u.
      for (; index.unscaled <= end; index.next()) add(timeTillEnd - truncNs((dur * (end - index.unscaled)) / diff), index.scaled);
    }
    fromVUs = end;
  }
  if (zeroEnd && steps[steps.length - 1]?.plannedVUs !== 0) steps.push({ offsetMs: timeTillEnd, plannedVUs: 0 });
  return steps;
}

/**
 * k6's reserveVUsForGracefulRampDowns: after a ramp-down, keep the VUs reserved for gracefulRampDown
 * unless the count comes back up within it; no step at or after `endMs`.
 */
function reserveForGracefulRampDown(raw: readonly ExecutionStep[], rampDownMs: number, endMs: number): ExecutionStep[] {
  const out: ExecutionStep[] = [];
  let lastPlanned = 0;
  let lastDownSlope = 0;
  for (let r = 0; r < raw.length; r++) {
    const step = raw[r];
    if (!step) break;
    if (r === 0 || step.plannedVUs > lastPlanned) {
      out.push(step);
      lastPlanned = step.plannedVUs;
      continue;
    }
    if (step.plannedVUs === lastPlanned) continue;
    // A downward slope: look ahead one gracefulRampDown for a step back at or above lastPlanned.
    const timeout = step.offsetMs + rampDownMs;
    let skipped = false;
    let rampingDown = true;
    for (let a = Math.max(lastDownSlope, r + 1); a < raw.length; a++) {
      const adv = raw[a];
      const before = raw[a - 1];
      if (!adv || !before) break;
      if (adv.offsetMs > timeout) break;
      if (adv.plannedVUs >= lastPlanned) {
        r = a - 1;
        skipped = true;
        break;
      }
      if (rampingDown) {
        if (before.plannedVUs > adv.plannedVUs) lastDownSlope = a;
        else rampingDown = false;
      }
    }
    if (skipped) continue;
    if (timeout >= endMs) break;
    out.push({ offsetMs: timeout, plannedVUs: step.plannedVUs });
    lastPlanned = step.plannedVUs;
  }
  return out;
}

/**
 * k6's GetExecutionRequirements for ramping-vus: how many VUs may exist over time, including those
 * finishing iterations within gracefulRampDown, ending with 0 at sum(stages) + gracefulStop.
 */
export function rampingVusGracefulSteps(curve: VuCurve, tuple: SegmentTuple): ExecutionStep[] {
  let steps = rampingVusRawSteps(curve, tuple, false);
  const endMs = curve.stages.reduce((s, st) => s + st.durationMs, 0) + curve.gracefulStopMs;
  if (curve.gracefulRampDownMs > 0) steps = reserveForGracefulRampDown(steps, curve.gracefulRampDownMs, endMs);
  if (steps[steps.length - 1]?.plannedVUs !== 0) steps.push({ offsetMs: endMs, plannedVUs: 0 });
  return steps;
}

/** Most VUs this segment ever holds (what it allocates). */
function maxPlannedVus(steps: readonly ExecutionStep[]): number {
  return steps.reduce((m, s) => Math.max(m, s.plannedVUs), 0);
}

type HandleState = 'stopped' | 'running' | 'stopping';
interface Handle {
  vu: EngineVu;
  state: HandleState;
  /** Bumped on every hard stop and restart, so a loop left over from before exits quietly. */
  generation: number;
}
interface TimelineEvent {
  atMs: number;
  kind: 'raw' | 'graceful';
  plannedVUs: number;
}

/** Raw and graceful steps in time order; raw first when both fall at the same time (as k6). */
function timeline(raw: readonly ExecutionStep[], graceful: readonly ExecutionStep[]): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < raw.length || j < graceful.length) {
    const r = raw[i];
    const g = graceful[j];
    if (g && (!r || g.offsetMs < r.offsetMs)) {
      out.push({ atMs: g.offsetMs, kind: 'graceful', plannedVUs: g.plannedVUs });
      j++;
    } else if (r) {
      out.push({ atMs: r.offsetMs, kind: 'raw', plannedVUs: r.plannedVUs });
      i++;
    }
  }
  return out;
}

class RampingVusRun extends BaseRun {
  private readonly handles: Handle[] = [];
  private readonly events: TimelineEvent[];
  private readonly sleeper = new Sleeper();
  private rawCount = 0;
  private gracefulCount = 0;
  private counter = 0;

  constructor(
    host: ExecutorHost,
    plan: RampingVusPlan,
    private readonly tuple: SegmentTuple,
    vuIdOffset: number,
  ) {
    const raw = rampingVusRawSteps(plan, tuple, true);
    const graceful = rampingVusGracefulSteps(plan, tuple);
    const regularEndMs = raw[raw.length - 1]?.offsetMs ?? 0;
    const hardEndMs = graceful[graceful.length - 1]?.offsetMs ?? regularEndMs;
    super(host, { startTimeMs: plan.startTimeMs, regularEndMs, hardEndMs, gracefulStopMs: plan.gracefulStopMs });
    this.events = timeline(raw, graceful);
    const maxVus = maxPlannedVus(graceful);
    for (let k = 0; k < maxVus; k++) this.handles.push({ vu: makeVu(vuIdOffset, tuple.globalIndex(k)), state: 'stopped', generation: 0 });
    host.allocatedVus(maxVus);
    if (maxVus === 0) this.finishEmpty();
    else this.begin();
  }

  protected launch(): void {
    void this.schedule();
  }

  private async schedule(): Promise<void> {
    for (const ev of this.events) {
      if (!(await this.sleeper.until(this.t0 + ev.atMs))) return;
      if (this.phase === 'finished') return;
      if (ev.kind === 'raw') {
        if (this.accepting) this.applyRaw(ev.plannedVUs);
      } else {
        this.applyGraceful(ev.plannedVUs);
      }
    }
  }

  private applyRaw(planned: number): void {
    for (; this.rawCount < planned; this.rawCount++) {
      const h = this.handles[this.rawCount];
      if (h) this.startHandle(h);
    }
    for (; planned < this.rawCount; this.rawCount--) {
      const h = this.handles[this.rawCount - 1];
      if (h && h.state === 'running') h.state = 'stopping';
    }
  }

  private applyGraceful(planned: number): void {
    const interrupted: EngineVu[] = [];
    for (; planned < this.gracefulCount; this.gracefulCount--) {
      const h = this.handles[this.gracefulCount - 1];
      if (h) this.hardStop(h, interrupted);
    }
    this.gracefulCount = planned;
    if (interrupted.length > 0) this.host.interrupt(interrupted);
    this.settle();
  }

  private startHandle(h: Handle): void {
    if (h.state === 'running') return;
    if (h.state === 'stopping') {
      h.state = 'running'; // its loop is still alive: it simply goes on after the current iteration
      return;
    }
    h.state = 'running';
    h.generation++;
    this.host.activeVus(1);
    void this.loop(h, h.generation);
  }

  private hardStop(h: Handle, interrupted: EngineVu[]): void {
    if (h.state === 'stopped') return;
    if (this.abandon(h.vu)) interrupted.push(h.vu);
    h.state = 'stopped';
    h.generation++;
    this.host.activeVus(-1);
  }

  private async loop(h: Handle, generation: number): Promise<void> {
    while (h.generation === generation && h.state === 'running') {
      const began = monoNow();
      const ok = await this.runOn(h.vu, this.tuple.globalIndex(this.counter++));
      if (!ok || h.generation !== generation) return;
      const pause = this.guard.after(began);
      if (pause) await pause;
    }
    if (h.generation !== generation) return;
    // Gracefully stopped: the iteration ended, the VU goes back.
    h.state = 'stopped';
    this.host.activeVus(-1);
    this.settle();
  }

  protected halt(): void {
    for (const h of this.handles) if (h.state === 'running') h.state = 'stopping';
    this.rawCount = 0;
    if (this.phase === 'finished') this.sleeper.wake();
  }

  protected idle(): boolean {
    // While raw steps remain, a moment with no VUs is a gap in the ramp, not the end.
    return !this.accepting && this.handles.every((h) => h.state === 'stopped');
  }

  protected abandonRunning(): EngineVu[] {
    const interrupted: EngineVu[] = [];
    for (const h of this.handles) this.hardStop(h, interrupted);
    return interrupted;
  }
}

/** Starts a ramping-vus scenario on this worker's share. */
export function startRampingVus(plan: RampingVusPlan, tuple: SegmentTuple, vuIdOffset: number, host: ExecutorHost): ExecutorRun {
  return new RampingVusRun(host, plan, tuple, vuIdOffset);
}

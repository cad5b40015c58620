/**
 * The rare faults' dice and what an agent run plays (docs/protocol.md, "Faults"). Pure helpers: the
 * chat backend rolls the dice and follows the plan.
 *
 * A rare fault hits exactly one trial in every {@link RARE_PERIOD} (agent runs, connections or agent
 * events), at a random place within each block: about 3% over any run of the service, never a lucky
 * streak of none, and never at a place a client could predict. The randomness is seeded
 * (`faultSeed`), so a test can replay a sequence.
 */
import { RARE_PERIOD, RARE_RUN_FAULTS } from './faults.ts';

/** mulberry32: a small seeded generator of numbers in [0, 1); plenty for dice. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exactly one hit in every `period` trials, at a place drawn anew for each block. */
export class RareDice {
  private trials = 0;
  private target = 0;

  constructor(
    private readonly random: () => number,
    private readonly period: number = RARE_PERIOD,
  ) {}

  /** Rolls for the next trial: true when this is the block's one hit. */
  hit(): boolean {
    const place = this.trials % this.period;
    if (place === 0) this.target = Math.floor(this.random() * this.period);
    this.trials++;
    return place === this.target;
  }
}

export type RareRunFault = (typeof RARE_RUN_FAULTS)[number];

/** One frame a run sends: which of the five events (its index), after how long since the previous one. */
export interface Emission {
  /** Index into the five agent events; -1 for a slot that passes silently (the event is lost). */
  readonly index: number;
  readonly delayMs: number;
  /** rare_mislabel: the event carries this run id or user id instead of its own. */
  readonly mislabel?: { readonly runId?: string; readonly userId?: string };
}

/** How late the duplicate of duplicate_final_event follows the first agent_completed. */
const DUPLICATE_FINAL_DELAY_MS = 50;

export interface RunPlanOptions {
  readonly events: number;
  readonly stepDelayMs: number;
  /** missing_agent_events: the index whose slot passes silently, or -1. */
  readonly skipIndex: number;
  /** The rare fault that hit this run, if any. */
  readonly rare: RareRunFault | undefined;
  readonly duplicateFinal: boolean;
  readonly lateRunMs: number;
  readonly random: () => number;
  /** For rare_mislabel: a run id that is not this run's, and a user id that is not this run's user. */
  readonly otherRunId: string;
  readonly otherUserId: string;
}

/**
 * The frames of one run, in order. Healthy: the five events, each one step delay after the previous
 * (the first one step after the start). The faults bend that: a silent slot keeps the timing of the
 * rest, a duplicate follows its original at once, a swap keeps each event's own seq (so the order
 * and the seq both show it), a late run's last event comes `lateRunMs` after the fourth.
 */
export function planRun(o: RunPlanOptions): Emission[] {
  const pick = (n: number): number => Math.min(n - 1, Math.floor(o.random() * n));
  const plan: Emission[] = [];
  for (let i = 0; i < o.events; i++) plan.push({ index: i === o.skipIndex ? -1 : i, delayMs: o.stepDelayMs });
  const last = o.events - 1;
  switch (o.rare) {
    case 'rare_event_loss': {
      const k = pick(o.events);
      plan[k] = { index: -1, delayMs: o.stepDelayMs };
      break;
    }
    case 'rare_duplicate_event': {
      const k = pick(o.events);
      plan.splice(k + 1, 0, { index: k, delayMs: 0 });
      break;
    }
    case 'rare_reorder': {
      const k = pick(o.events - 1);
      plan[k] = { index: k + 1, delayMs: o.stepDelayMs };
      plan[k + 1] = { index: k, delayMs: o.stepDelayMs };
      break;
    }
    case 'rare_mislabel': {
      const k = pick(o.events);
      plan[k] = { index: k, delayMs: o.stepDelayMs, mislabel: o.random() < 0.5 ? { runId: o.otherRunId } : { userId: o.otherUserId } };
      break;
    }
    case 'rare_late_run':
      plan[last] = { index: last, delayMs: o.lateRunMs };
      break;
    case 'rare_stop_midway':
      plan.length = 2;
      break;
    case undefined:
      break;
  }
  if (o.duplicateFinal && plan.at(-1)?.index === last) plan.push({ index: last, delayMs: DUPLICATE_FINAL_DELAY_MS });
  return plan;
}

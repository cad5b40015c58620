/**
 * Samples -> rolling windows, by sample time. Window 1 starts at the whole second of the first sample;
 * window i covers [start + (i-1)·w, start + i·w). A window closes once the clock has passed its end
 * by the lateness allowance (k6 buffers samples for ~200 ms and VUs emit concurrently, so a sample
 * can arrive slightly after a later one). Windows close in order, empty ones included; a sample for a
 * window already closed is counted as late and left out. At the end, the window the stream stopped
 * in is closed as partial. Pure module: the clock is whatever the caller passes.
 */
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';
import type { Sample } from './samples.ts';
import { K6_BUILTIN } from './samples.ts';

/** How far past a window's end the clock must be before it closes. */
export const DEFAULT_LATENESS_MS = 1000;
/** The latency the window line reports: the whole run, start to agent_completed. */
const LATENCY_EVENT = 'agent_completed';
/** Handshake statuses that are authentication failures. */
const AUTH_FAILURE_STATUSES: ReadonlySet<string> = new Set(['401', '403']);

interface Tally {
  /** Samples that were 1 (true). */
  ok: number;
  /** All samples. */
  n: number;
}

export interface WindowStats {
  /** 1-based. */
  index: number;
  /** Milliseconds since the epoch; `end` is exclusive (for a partial window: the last sample's time). */
  start: number;
  end: number;
  /** The run stopped before the window's end. */
  partial: boolean;
  /** wsgate_connection_success. */
  connections: Tally;
  /** wsgate_agent_event_completion (one sample per agent run). */
  agentRuns: Tally;
  /** k6 checks. */
  checks: Tally;
  /** ws_connecting samples, and those with status 401/403. */
  handshakes: { n: number; authFailed: number };
  isolationViolations: number;
  drops: number;
  /** wsgate_event_latency{event:agent_completed}, ms. */
  latenciesMs: number[];
  /** Samples of monitored metrics that fell in this window. */
  samples: number;
}

function emptyWindow(index: number, start: number, end: number): WindowStats {
  return {
    index,
    start,
    end,
    partial: false,
    connections: { ok: 0, n: 0 },
    agentRuns: { ok: 0, n: 0 },
    checks: { ok: 0, n: 0 },
    handshakes: { n: 0, authFailed: 0 },
    isolationViolations: 0,
    drops: 0,
    latenciesMs: [],
    samples: 0,
  };
}

function tally(t: Tally, value: number): void {
  t.n++;
  if (value !== 0) t.ok++;
}

/** Adds one sample to a window's statistics. */
function addSample(w: WindowStats, s: Sample): void {
  w.samples++;
  switch (s.metric) {
    case CLIENT_METRICS.connectionSuccess:
      tally(w.connections, s.value);
      break;
    case CLIENT_METRICS.agentEventCompletion:
      tally(w.agentRuns, s.value);
      break;
    case K6_BUILTIN.checks:
      tally(w.checks, s.value);
      break;
    case K6_BUILTIN.wsConnecting:
      w.handshakes.n++;
      if (s.tags.status !== undefined && AUTH_FAILURE_STATUSES.has(s.tags.status)) w.handshakes.authFailed++;
      break;
    case CLIENT_METRICS.isolationViolations:
      w.isolationViolations += s.value;
      break;
    case CLIENT_METRICS.connectionDrops:
      w.drops += s.value;
      break;
    case CLIENT_METRICS.eventLatency:
      if (s.tags.event === LATENCY_EVENT) w.latenciesMs.push(s.value);
      break;
    default:
      w.samples--;
  }
}

export class WindowAggregator {
  private origin: number | undefined;
  private readonly open = new Map<number, WindowStats>();
  private nextToClose = 1;
  private streamClock = Number.NEGATIVE_INFINITY;
  /** Samples that arrived after their window had closed. */
  late = 0;

  constructor(
    readonly windowMs: number,
    readonly latenessMs: number = DEFAULT_LATENESS_MS,
  ) {
    if (!(windowMs > 0)) throw new RangeError(`window length must be positive, got ${windowMs}`);
  }

  /** The latest sample time seen (the stream's clock), or undefined before the first sample. */
  get clock(): number | undefined {
    return Number.isFinite(this.streamClock) ? this.streamClock : undefined;
  }

  /** Where window 1 starts, once the first sample has arrived. */
  get start(): number | undefined {
    return this.origin;
  }

  private bounds(index: number): { start: number; end: number } {
    const start = (this.origin ?? 0) + (index - 1) * this.windowMs;
    return { start, end: start + this.windowMs };
  }

  private window(index: number): WindowStats {
    let w = this.open.get(index);
    if (!w) {
      const { start, end } = this.bounds(index);
      w = emptyWindow(index, start, end);
      this.open.set(index, w);
    }
    return w;
  }

  /** Moves the stream's clock with the time of a sample that is not aggregated. */
  observe(time: number): void {
    if (Number.isFinite(time)) this.streamClock = Math.max(this.streamClock, time);
  }

  /** Adds a sample; returns false when its window had already closed (it is counted as late). */
  add(s: Sample): boolean {
    this.origin ??= Math.floor(s.time / 1000) * 1000;
    this.streamClock = Math.max(this.streamClock, s.time);
    const index = Math.max(1, Math.floor((s.time - this.origin) / this.windowMs) + 1);
    if (index < this.nextToClose) {
      this.late++;
      return false;
    }
    addSample(this.window(index), s);
    return true;
  }

  /**
   * Closes, in order, every window whose end + lateness is at or before `clock` (default: the stream's
   * clock) and returns them; empty windows in between are returned too.
   */
  advance(clock: number = this.streamClock): WindowStats[] {
    const closed: WindowStats[] = [];
    if (this.origin === undefined) return closed;
    while (this.bounds(this.nextToClose).end + this.latenessMs <= clock) {
      closed.push(this.window(this.nextToClose));
      this.open.delete(this.nextToClose);
      this.nextToClose++;
    }
    return closed;
  }

  /**
   * The end of the stream: closes every window up to the one holding the last sample. That last one is
   * partial (its end becomes the last sample's time) unless the stream reached its end; it is left
   * out when it holds no sample.
   */
  finish(): WindowStats[] {
    if (this.origin === undefined) return [];
    const last = this.streamClock;
    const closed = this.advance(last - this.latenessMs);
    for (let i = this.nextToClose; this.bounds(i).start <= last; i++) {
      const w = this.window(i);
      this.open.delete(i);
      this.nextToClose = i + 1;
      if (w.end > last) {
        if (w.samples === 0) continue;
        w.partial = true;
        w.end = last;
      }
      closed.push(w);
    }
    this.open.clear();
    return closed;
  }
}

/** The p-th percentile (0..100) by nearest rank; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

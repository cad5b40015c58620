/**
 * The contracts between the engine's rooms, in one place so each room can be built and tested alone:
 *   metrics/    the registry (sinks, submetrics, HDR trends), thresholds, k6's summary data shape;
 *   executors/  k6's six executors and execution segments: when each iteration starts, on which VU;
 *   output/     sample streams (k6's JSON lines, Prometheus remote write);
 *   report/     the self-contained HTML report;
 *   worker.ts, coordinator.ts, host.ts   processes, VUs on one event loop, setup/teardown, verdict.
 * Pure types.
 */
import type { Scenario, Threshold } from '../lib/runtime/options.ts';

export type Tags = Record<string, string>;
export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

/** One VU of the engine: an identity. Module state is shared, so a VU is only numbers and tags. */
export interface EngineVu {
  /** 1-based, unique in the whole test across workers and machines. */
  idInTest: number;
  /** 0-based iterations this VU has started in the current scenario. */
  iterationInScenario: number;
}

/**
 * What an executor asks of the worker. The executor decides when iterations start and on which VU;
 * the worker runs them (exec function, tags, metrics iterations/iteration_duration, errors).
 */
export interface ExecutorHost {
  /** Runs one iteration of the scenario's exec function on `vu`; resolves when it ends (never rejects). */
  runIteration(vu: EngineVu, iterationInTest: number): Promise<void>;
  /** Called when an arrival-rate executor had no free VU for an iteration (k6's dropped_iterations). */
  dropped(count: number): void;
  /** Called when the number of active VUs of this scenario changes (for k6's `vus` gauge). */
  activeVus(delta: number): void;
  /** Called when VUs are allocated (initialized) for this scenario (for k6's `vus_max`). */
  allocatedVus(delta: number): void;
  /**
   * Called when gracefulStop expired with iterations still running: the worker interrupts them (closes
   * their sockets) and stops waiting for them.
   */
  interrupt(vus: readonly EngineVu[]): void;
  /** Epoch ms of the test start (t=0 for startTime), shared by every worker and instance. */
  testStartEpochMs: number;
}

export interface ExecutorRun {
  /** Resolves when the scenario is over on this worker (all iterations ended or interrupted). */
  done: Promise<void>;
  /** First Ctrl-C / abort: start no new iteration, let running ones end within gracefulStop. */
  stop(): void;
  /** Epoch ms when the scenario started on this worker (after startTime). */
  readonly startedAt: number | undefined;
}

export interface ScenarioPlan {
  name: string;
  config: Scenario;
  /** Offset of this scenario's VU ids in the whole test (sum of earlier scenarios' VUs). */
  vuIdOffset: number;
}

/** A metric's state in a form that crosses process boundaries and merges exactly. */
export interface SinkSnapshot {
  type: MetricType;
  isTime: boolean;
  /** counter: sum; rate: passes and total; gauge: last value (and its time), min, max; trend: see hdr. */
  sum?: number;
  passes?: number;
  total?: number;
  value?: number;
  valueTime?: number;
  min?: number;
  max?: number;
  count?: number;
  /** Trend: HDR histogram, compressed base64 (hdr-histogram-js encodeIntoCompressedBase64). */
  hdr?: string;
}

export interface RegistrySnapshot {
  /** Metric or submetric name (`checks{scenario:agent_events}`) -> state. */
  sinks: Record<string, SinkSnapshot>;
  /** Checks by name, k6's root_group.checks. */
  checks: Record<string, { passes: number; fails: number }>;
  /** Per (metric, tag set), only when the registry was asked to keep series (Prometheus output). */
  series?: SeriesSnapshot[];
}

/** Thresholds as the options give them: metric or submetric name -> expressions. */
export type ThresholdOptions = Record<string, Threshold[]>;

/** One time series (a metric and one exact tag set), for outputs that keep series apart (Prometheus). */
export interface SeriesSnapshot {
  metric: string;
  tags: Tags;
  sink: SinkSnapshot;
}

/**
 * One flush of the merged run, every ~1 s: what the progress line, the HTML report's timeline and the
 * Prometheus output read. `total` is since the start, `interval` since the previous flush; both map
 * top-level metric names to their k6 summary values (count, rate, avg, min, med, max, p(90), p(95),
 * p(99), value, passes, fails as fit the type).
 */
export interface FlushPoint {
  /** Epoch ms of this flush. */
  time: number;
  interval: Record<string, { type: MetricType; isTime: boolean; values: Record<string, number> }>;
  total: Record<string, { type: MetricType; isTime: boolean; values: Record<string, number> }>;
  /** Every (metric, tag set) series since the start, only when an output asked for series. */
  series?: SeriesSnapshot[];
}

/**
 * Messages between the coordinator and its worker processes (Node IPC, JSON-serialised). Pure types.
 */
import type { RegistrySnapshot, Tags } from './contracts.ts';
import type { IntervalSnapshot } from './metrics/registry.ts';

export interface InitMessage {
  type: 'init';
  /** Absolute path of the engine bundle. */
  script: string;
  env: Record<string, string | undefined>;
  testTags: Tags;
  /** This worker's share: the machine's execution segment and sequence, split between workerCount workers. */
  segment: string;
  sequence: string;
  workerIndex: number;
  workerCount: number;
  /** Threshold keys (metrics and submetrics) the registry must keep apart. */
  submetrics: string[];
  /** Keep one sink per tag set (an output such as Prometheus needs series). */
  series: boolean;
  jsonOut: string | undefined;
  /** This worker's source addresses (empty: the system's choice). */
  localIps: string[];
}

export interface StartMessage {
  type: 'start';
  testStartEpochMs: number;
  setupData: unknown;
}

export type ToWorker = InitMessage | StartMessage | { type: 'stop' };

export interface WorkerStatus {
  openSockets: number;
  activeVus: number;
  iterations: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'flush'; snapshot: RegistrySnapshot; interval: IntervalSnapshot; status: WorkerStatus }
  | { type: 'abort'; reason: string }
  | { type: 'fatal'; message: string; exitCode: number }
  | { type: 'done'; snapshot: RegistrySnapshot; interval: IntervalSnapshot; status: WorkerStatus };

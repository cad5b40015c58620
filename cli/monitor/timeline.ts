/**
 * The monitor's timeline: JSON Lines, written as things happen. Each record is one synchronous write
 * followed by fsync, so whatever stops the run (Ctrl-C, a killed CI job, a crash) the file holds every
 * window and alert up to that moment, each line complete. The first line is the header, the last the
 * summary (absent only when the process was killed outright).
 *
 *   {"type":"header", ...}   env, sensitivity, window, rollback limit, the limits in force, started_at
 *   {"type":"window", ...}   one per closed window: status, readings with sample counts (null = n/a)
 *   {"type":"alert", ...}    state "fired" or "resolved"
 *   {"type":"rollback", ...} the rollback recommendation (at most one)
 *   {"type":"event", ...}    anything else worth keeping: the run started/ended, interrupted, webhook failures
 *   {"type":"summary", ...}  windows by status, alerts, rollback recommended, exit code
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { AlertLevel, AlertLimits, AlertMetric, Sensitivity } from './policy.ts';
import type { ActiveAlert, JudgedMetric, Status } from './judge.ts';

interface HeaderRecord {
  type: 'header';
  version: 1;
  env: string;
  sensitivity: Sensitivity;
  window_s: number;
  rollback_after_s: number;
  limits: AlertLimits;
  /** The monitored service, redacted. */
  target: string;
  duration: string;
  started_at: string;
}

export interface WindowRecord {
  type: 'window';
  index: number;
  start: string;
  end: string;
  partial: boolean;
  status: Status;
  readings: Record<AlertMetric, { value: number | null; n: number }>;
  drops: number;
  runs_per_min: number;
  latency_ms: { p50: number | null; p95: number | null; n: number };
  active: ActiveAlert[];
}

interface AlertRecord {
  type: 'alert';
  state: 'fired' | 'resolved';
  level: AlertLevel;
  previous?: AlertLevel;
  metric: JudgedMetric;
  value: number | null;
  n: number;
  op: '<' | '>';
  threshold: number;
  window: number;
  since_window?: number;
  at: string;
  line: string;
}

interface RollbackRecord {
  type: 'rollback';
  window: number;
  since: string;
  since_window: number;
  degraded_for_s: number;
  limit_s: number;
  active: ActiveAlert[];
  at: string;
  line: string;
}

interface EventRecord {
  type: 'event';
  at: string;
  what: string;
  detail?: string;
}

export interface SummaryRecord {
  type: 'summary';
  ended_at: string;
  windows: Record<Status, number> & { partial: number; total: number };
  alerts: { fired: number; critical: number; resolved: number; critical_metrics: JudgedMetric[]; active_at_end: ActiveAlert[] };
  rollback_recommended: boolean;
  interrupted: boolean;
  late_samples: number;
  bad_lines: number;
  webhook?: { delivered: number; failed: number };
  k6_exit: { code: number | null; signal: string | null } | null;
  /** null when the run failed with an error (then `error` says which). */
  exit_code: number | null;
  verdict: string;
  error?: string;
}

export type TimelineRecord = HeaderRecord | WindowRecord | AlertRecord | RollbackRecord | EventRecord | SummaryRecord;

export class TimelineWriter {
  private fd: number | undefined;

  /** Creates (or truncates) the file; throws the fs error when it cannot. */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w', 0o644);
  }

  write(record: TimelineRecord): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
    try {
      fsyncSync(this.fd);
    } catch {
      // Some filesystems (pipes, /dev/stdout) cannot fsync; the write itself went through.
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

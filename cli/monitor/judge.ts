/**
 * Windows -> health. Each closed window is read (rates with their sample counts; no samples is "no
 * reading", never 100%), held against the policy's limits, and the alerts move: a metric whose level
 * changes fires (or, back to none, resolves); a metric with no reading keeps the level it had, since a
 * window without evidence can neither raise nor clear an alert. The window's status is the worst
 * level active after it: unhealthy (a critical), degraded (a warning), healthy. When the status has
 * been degraded or worse continuously for longer than the rollback limit, a rollback is recommended,
 * once per run. Pure module: time is the windows' own (sample time).
 */
import type { AlertLevel, AlertLimits, AlertMetric } from './policy.ts';
import type { WindowStats } from './windows.ts';

export type Status = 'healthy' | 'degraded' | 'unhealthy';

/**
 * Not a policy metric: a full window with no connection attempt and no agent run means the probes
 * are not running, and the monitor cannot call that healthy.
 */
export const NO_DATA = 'probe_results';
export type JudgedMetric = AlertMetric | typeof NO_DATA;

export interface Reading {
  /** A fraction for rates, a count for isolation violations; undefined when the window has no sample for it. */
  value: number | undefined;
  /** The samples the value is made of. */
  n: number;
}

export interface Finding extends Reading {
  metric: JudgedMetric;
  /** The level the reading earns, if any. */
  level: AlertLevel | undefined;
  /** The limit it was held against: the one crossed, else the warning limit. */
  op: '<' | '>';
  threshold: number;
}

export interface ActiveAlert {
  metric: JudgedMetric;
  level: AlertLevel;
  /** The window it fired in (its current level may be from a later window). */
  sinceWindow: number;
  value: number | undefined;
  op: '<' | '>';
  threshold: number;
}

export interface AlertEvent {
  kind: 'fired' | 'resolved';
  metric: JudgedMetric;
  /** For `fired` the new level; for `resolved` the level it had. */
  level: AlertLevel;
  /** For `fired`: the level before, when it changed from one level to another. */
  previous?: AlertLevel;
  value: number | undefined;
  n: number;
  op: '<' | '>';
  threshold: number;
  window: number;
  /** For `resolved`: the window the alert first fired in. */
  sinceWindow?: number;
}

export interface RollbackEvent {
  window: number;
  /** Start of the first window of the unbroken degraded-or-worse streak. */
  since: number;
  sinceWindow: number;
  forMs: number;
  limitMs: number;
  active: ActiveAlert[];
}

export interface Judgement {
  window: WindowStats;
  readings: Record<AlertMetric, Reading>;
  findings: Finding[];
  status: Status;
  events: AlertEvent[];
  rollback: RollbackEvent | undefined;
  active: ActiveAlert[];
}

export interface JudgeSummary {
  windows: Record<Status, number>;
  partialWindows: number;
  /** Windows that had any probe result (connection attempt or agent run). */
  windowsWithData: number;
  alertsFired: number;
  criticalFired: number;
  resolved: number;
  /** Metrics that fired a critical alert at any time. */
  criticalMetrics: JudgedMetric[];
  rollbackRecommended: boolean;
  /** Alerts still active after the last window. */
  active: ActiveAlert[];
}

const RANK: Record<AlertLevel, number> = { warning: 1, critical: 2 };

function ratio(ok: number, n: number): Reading {
  return { value: n === 0 ? undefined : ok / n, n };
}

/** Whether the window saw the probes at all. */
function hasProbeData(w: WindowStats): boolean {
  return w.connections.n + w.agentRuns.n > 0;
}

/** The policy's metrics as read from one window. */
export function readWindow(w: WindowStats): Record<AlertMetric, Reading> {
  const active = hasProbeData(w) || w.checks.n + w.handshakes.n > 0 || w.isolationViolations > 0;
  return {
    connection_success: ratio(w.connections.ok, w.connections.n),
    agent_event_completion: ratio(w.agentRuns.ok, w.agentRuns.n),
    auth_failure_rate: ratio(w.handshakes.authFailed, w.handshakes.n),
    error_rate: ratio(w.checks.n - w.checks.ok, w.checks.n),
    // A counter only emits when it counts: no sample in a window that saw traffic is a true 0.
    isolation_violations: { value: active ? w.isolationViolations : undefined, n: w.isolationViolations },
  };
}

/** Holds each reading against its limits. */
export function evaluate(readings: Record<AlertMetric, Reading>, limits: AlertLimits): Finding[] {
  const below = (metric: 'connection_success' | 'agent_event_completion'): Finding => {
    const r = readings[metric];
    const l = limits[metric];
    if (r.value !== undefined && r.value < l.critical_below) return { metric, ...r, level: 'critical', op: '<', threshold: l.critical_below };
    if (r.value !== undefined && r.value < l.warning_below) return { metric, ...r, level: 'warning', op: '<', threshold: l.warning_below };
    return { metric, ...r, level: undefined, op: '<', threshold: l.warning_below };
  };
  const above = (metric: 'auth_failure_rate' | 'error_rate'): Finding => {
    const r = readings[metric];
    const t = limits[metric].warning_above;
    return { metric, ...r, level: r.value !== undefined && r.value > t ? 'warning' : undefined, op: '>', threshold: t };
  };
  const iso = readings.isolation_violations;
  const isoLimit = limits.isolation_violations.critical_above;
  return [
    below('connection_success'),
    below('agent_event_completion'),
    above('auth_failure_rate'),
    above('error_rate'),
    { metric: 'isolation_violations', ...iso, level: iso.value !== undefined && iso.value > isoLimit ? 'critical' : undefined, op: '>', threshold: isoLimit },
  ];
}

export class Judge {
  private readonly active = new Map<JudgedMetric, ActiveAlert>();
  private streakStart: { time: number; window: number } | undefined;
  private rollbackFired = false;
  private readonly counts: Record<Status, number> = { healthy: 0, degraded: 0, unhealthy: 0 };
  private partial = 0;
  private withData = 0;
  private fired = 0;
  private criticalFired = 0;
  private resolvedCount = 0;
  private readonly criticalMetrics = new Set<JudgedMetric>();

  constructor(
    readonly limits: AlertLimits,
    readonly rollbackAfterMs: number,
  ) {}

  judge(w: WindowStats): Judgement {
    const readings = readWindow(w);
    const findings = evaluate(readings, this.limits);
    if (!w.partial) {
      // Only a full window can prove the probes stopped; a partial one may just be short.
      findings.push({ metric: NO_DATA, value: undefined, n: 0, level: hasProbeData(w) ? undefined : 'warning', op: '>', threshold: 0 });
    }
    if (hasProbeData(w)) this.withData++;
    const events: AlertEvent[] = [];
    for (const f of findings) {
      // No reading: no evidence either way, the alert stays as it is. (NO_DATA always has its verdict.)
      if (f.value === undefined && f.metric !== NO_DATA) continue;
      const was = this.active.get(f.metric);
      if (f.level === undefined) {
        if (was) {
          this.active.delete(f.metric);
          this.resolvedCount++;
          events.push({ kind: 'resolved', metric: f.metric, level: was.level, value: f.value, n: f.n, op: f.op, threshold: f.threshold, window: w.index, sinceWindow: was.sinceWindow });
        }
        continue;
      }
      if (was && was.level === f.level) {
        was.value = f.value;
        continue;
      }
      this.active.set(f.metric, { metric: f.metric, level: f.level, sinceWindow: was?.sinceWindow ?? w.index, value: f.value, op: f.op, threshold: f.threshold });
      this.fired++;
      if (f.level === 'critical') {
        this.criticalFired++;
        this.criticalMetrics.add(f.metric);
      }
      events.push({ kind: 'fired', metric: f.metric, level: f.level, ...(was ? { previous: was.level } : {}), value: f.value, n: f.n, op: f.op, threshold: f.threshold, window: w.index });
    }
    const active = [...this.active.values()];
    const worst = Math.max(0, ...active.map((a) => RANK[a.level]));
    const status: Status = worst === 2 ? 'unhealthy' : worst === 1 ? 'degraded' : 'healthy';
    this.counts[status]++;
    if (w.partial) this.partial++;

    let rollback: RollbackEvent | undefined;
    if (status === 'healthy') this.streakStart = undefined;
    else {
      this.streakStart ??= { time: w.start, window: w.index };
      const forMs = w.end - this.streakStart.time;
      if (!this.rollbackFired && forMs > this.rollbackAfterMs) {
        this.rollbackFired = true;
        rollback = { window: w.index, since: this.streakStart.time, sinceWindow: this.streakStart.window, forMs, limitMs: this.rollbackAfterMs, active: active.map((a) => ({ ...a })) };
      }
    }
    return { window: w, readings, findings, status, events, rollback, active: active.map((a) => ({ ...a })) };
  }

  summary(): JudgeSummary {
    return {
      windows: { ...this.counts },
      partialWindows: this.partial,
      windowsWithData: this.withData,
      alertsFired: this.fired,
      criticalFired: this.criticalFired,
      resolved: this.resolvedCount,
      criticalMetrics: [...this.criticalMetrics],
      rollbackRecommended: this.rollbackFired,
      active: [...this.active.values()].map((a) => ({ ...a })),
    };
  }
}

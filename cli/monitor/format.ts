/**
 * What a person reads: one line per window, one per alert change, one for a rollback. Times are UTC
 * (HH:MM:SS), percentages have one decimal, and a metric without samples says n/a. Pure module.
 *
 *   12:00:30 window 3  healthy    conn 100.0% (41)  events 100.0% (40)  errors 0.0%  auth-fail 0.0%  isolation 0  drops 0  40 runs/min  p50 31 ms p95 55 ms
 *   ALERT critical agent_event_completion 50.0% < 85% (window 4)
 *   RESOLVED critical agent_event_completion 100.0% (window 7, alerting since window 4)
 */
import type { ActiveAlert, AlertEvent, Judgement, JudgedMetric, RollbackEvent } from './judge.ts';
import { NO_DATA } from './judge.ts';
import type { WindowStats } from './windows.ts';
import { percentile } from './windows.ts';

/** HH:MM:SS in UTC. */
export function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** 0.5 -> "50.0%"; undefined -> "n/a". */
export function pct(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${(value * 100).toFixed(1)}%`;
}

/** A limit as written: 0.85 -> "85%", 0.925 -> "92.5%". */
export function limitPct(value: number): string {
  return `${Number((value * 100).toFixed(2))}%`;
}

/** A duration in ms as "10m", "10m 30s", "45s". */
export function span(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const parts = [h ? `${h}h` : '', m ? `${m}m` : '', r || (!h && !m) ? `${r}s` : ''].filter(Boolean);
  return parts.join(' ');
}

/** Agent runs per minute over the window's length (at least one second). */
export function runsPerMinute(w: WindowStats): number {
  return w.agentRuns.n / (Math.max(1000, w.end - w.start) / 60_000);
}

function rpm(value: number): string {
  return value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1);
}

function withCount(value: number | undefined, n: number): string {
  return value === undefined ? 'n/a' : `${pct(value)} (${n})`;
}

export function formatWindow(j: Judgement): string {
  const w = j.window;
  const r = j.readings;
  const p50 = percentile(w.latenciesMs, 50);
  const p95 = percentile(w.latenciesMs, 95);
  const latency = p50 === undefined || p95 === undefined ? 'p50 n/a p95 n/a' : `p50 ${Math.round(p50)} ms p95 ${Math.round(p95)} ms`;
  const parts = [
    `${clockTime(w.end)} window ${w.index}  ${j.status.padEnd(9)}`,
    `conn ${withCount(r.connection_success.value, r.connection_success.n)}`,
    `events ${withCount(r.agent_event_completion.value, r.agent_event_completion.n)}`,
    `errors ${pct(r.error_rate.value)}`,
    `auth-fail ${pct(r.auth_failure_rate.value)}`,
    `isolation ${r.isolation_violations.value ?? 'n/a'}`,
    `drops ${w.drops}`,
    `${rpm(runsPerMinute(w))} runs/min`,
    latency,
  ];
  if (w.partial) parts.push(`(partial: ${span(w.end - w.start)})`);
  return parts.join('  ');
}

/** A reading with its limit: "50.0% < 85%", "3 > 0". */
function reading(metric: JudgedMetric, value: number | undefined, op: string, threshold: number): string {
  if (metric === NO_DATA) return 'none: no connection attempt and no agent run in a full window';
  if (metric === 'isolation_violations') return `${value ?? 'n/a'} ${op} ${threshold}`;
  return `${pct(value)} ${op} ${limitPct(threshold)}`;
}

export function formatAlert(e: AlertEvent): string {
  if (e.kind === 'resolved') {
    const now = e.metric === NO_DATA ? 'probe results again' : e.metric === 'isolation_violations' ? `${e.value ?? 'n/a'}` : pct(e.value);
    return `RESOLVED ${e.level} ${e.metric} ${now} (window ${e.window}, alerting since window ${e.sinceWindow ?? e.window})`;
  }
  const was = e.previous ? `, was ${e.previous}` : '';
  return `ALERT ${e.level} ${e.metric} ${reading(e.metric, e.value, e.op, e.threshold)} (window ${e.window}${was})`;
}

export function describeActive(a: readonly ActiveAlert[]): string {
  return a.map((x) => `${x.level} ${x.metric} ${reading(x.metric, x.value, x.op, x.threshold)}`).join('; ');
}

export function formatRollback(r: RollbackEvent): string {
  return `ROLLBACK RECOMMENDED: degraded or worse for ${span(r.forMs)} (since window ${r.sinceWindow}, ${clockTime(r.since)} UTC), longer than the ${span(r.limitMs)} limit; active: ${describeActive(r.active)}`;
}

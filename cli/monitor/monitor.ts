/**
 * The monitor's core, free of processes and files: bytes of k6's JSON output go in, and out come the
 * console lines, timeline records and webhook notifications, through three sinks. The command
 * (command.ts) feeds it from the growing file and ticks it with the wall clock; tests feed it
 * synthetic streams with a fake clock.
 */
import type { JudgeSummary, Judgement } from './judge.ts';
import { Judge, NO_DATA } from './judge.ts';
import { clockTime, describeActive, formatAlert, formatRollback, formatWindow, limitPct, pct, runsPerMinute, span } from './format.ts';
import type { AlertLimits, Sensitivity } from './policy.ts';
import { LineSplitter, parseLine } from './samples.ts';
import type { TimelineRecord } from './timeline.ts';
import type { Notification } from './webhook.ts';
import { DEFAULT_LATENESS_MS, WindowAggregator, percentile } from './windows.ts';
import type { WindowStats } from './windows.ts';

export interface MonitorSettings {
  env: string;
  sensitivity: Sensitivity;
  limits: AlertLimits;
  windowMs: number;
  rollbackAfterMs: number;
  latenessMs?: number;
}

export interface MonitorSinks {
  /** One console line (stdout). */
  print(line: string): void;
  record(r: TimelineRecord): void;
  notify(n: Notification): void;
}

export interface MonitorSummary extends JudgeSummary {
  windowsTotal: number;
  lateSamples: number;
  badLines: number;
  samples: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

export class Monitor {
  private readonly windows: WindowAggregator;
  private readonly judge: Judge;
  private readonly lines = new LineSplitter();
  private badLines = 0;
  private samples = 0;
  private total = 0;
  /** The last judgement, for callers that want the current status. */
  last: Judgement | undefined;

  constructor(
    private readonly settings: MonitorSettings,
    private readonly sinks: MonitorSinks,
  ) {
    this.windows = new WindowAggregator(settings.windowMs, settings.latenessMs ?? DEFAULT_LATENESS_MS);
    this.judge = new Judge(settings.limits, settings.rollbackAfterMs);
  }

  /** The stream's clock: the latest sample time seen. */
  get clock(): number | undefined {
    return this.windows.clock;
  }

  /** Bytes read from k6's JSON output (any chunking); closes the windows the stream has passed. */
  push(chunk: Buffer | string): void {
    for (const line of this.lines.push(chunk)) this.take(line);
    this.emit(this.windows.advance());
  }

  /**
   * Closes windows by another clock (ms since the epoch) when the stream has gone quiet, e.g. the wall
   * clock minus k6's flush delay. Does nothing before the first sample.
   */
  tick(clock: number): void {
    this.emit(this.windows.advance(clock));
  }

  /** The end of the stream: the last unterminated line, then every window left (the last one partial). */
  end(): MonitorSummary {
    for (const line of this.lines.end()) this.take(line);
    this.emit(this.windows.finish());
    return this.summary();
  }

  summary(): MonitorSummary {
    return { ...this.judge.summary(), windowsTotal: this.total, lateSamples: this.windows.late, badLines: this.badLines, samples: this.samples };
  }

  private take(line: string): void {
    const parsed = parseLine(line);
    if (parsed.kind === 'bad') this.badLines++;
    else if (parsed.kind === 'skip') {
      if (parsed.time !== undefined) this.windows.observe(parsed.time);
    } else {
      this.samples++;
      this.windows.add(parsed.sample);
    }
  }

  private emit(closed: WindowStats[]): void {
    for (const w of closed) this.judgeWindow(w);
  }

  private judgeWindow(w: WindowStats): void {
    const j = this.judge.judge(w);
    this.last = j;
    this.total++;
    const { env } = this.settings;
    this.sinks.print(formatWindow(j));
    const readings = Object.fromEntries(Object.entries(j.readings).map(([k, r]) => [k, { value: r.value === undefined ? null : round(r.value), n: r.n }]));
    const p50 = percentile(w.latenciesMs, 50);
    const p95 = percentile(w.latenciesMs, 95);
    this.sinks.record({
      type: 'window',
      index: w.index,
      start: iso(w.start),
      end: iso(w.end),
      partial: w.partial,
      status: j.status,
      readings: readings as Extract<TimelineRecord, { type: 'window' }>['readings'],
      drops: w.drops,
      runs_per_min: round(runsPerMinute(w), 1),
      latency_ms: { p50: p50 === undefined ? null : round(p50, 1), p95: p95 === undefined ? null : round(p95, 1), n: w.latenciesMs.length },
      active: j.active,
    });
    const range = `${w.index} (${clockTime(w.start)}–${clockTime(w.end)} UTC${w.partial ? ', partial' : ''})`;
    for (const e of j.events) {
      const line = formatAlert(e);
      this.sinks.print(line);
      this.sinks.record({
        type: 'alert',
        state: e.kind,
        level: e.level,
        ...(e.previous ? { previous: e.previous } : {}),
        metric: e.metric,
        value: e.value === undefined ? null : round(e.value),
        n: e.n,
        op: e.op,
        threshold: e.threshold,
        window: e.window,
        ...(e.sinceWindow !== undefined ? { since_window: e.sinceWindow } : {}),
        at: iso(w.end),
        line,
      });
      const limit = e.metric === NO_DATA ? 'probe results in every full window' : e.metric === 'isolation_violations' ? `${e.op} ${e.threshold} is ${e.level}` : `${e.op} ${limitPct(e.threshold)} is ${e.level}`;
      this.sinks.notify({
        kind: e.kind === 'fired' ? 'alert' : 'resolved',
        level: e.kind === 'fired' ? e.level : 'ok',
        text: line,
        at: w.end,
        fields: [
          { title: 'Environment', value: env, short: true },
          { title: 'Status', value: j.status, short: true },
          { title: 'Metric', value: e.metric, short: true },
          { title: 'Value', value: e.metric === 'isolation_violations' ? String(e.value ?? 'n/a') : e.metric === NO_DATA ? 'none' : `${pct(e.value)} (${e.n} samples)`, short: true },
          { title: 'Limit', value: limit, short: true },
          { title: 'Window', value: range, short: true },
        ],
      });
    }
    if (j.rollback) {
      const r = j.rollback;
      const line = formatRollback(r);
      this.sinks.print(line);
      this.sinks.record({
        type: 'rollback',
        window: r.window,
        since: iso(r.since),
        since_window: r.sinceWindow,
        degraded_for_s: Math.round(r.forMs / 1000),
        limit_s: Math.round(r.limitMs / 1000),
        active: r.active,
        at: iso(w.end),
        line,
      });
      this.sinks.notify({
        kind: 'rollback',
        level: 'critical',
        text: line,
        at: w.end,
        fields: [
          { title: 'Environment', value: env, short: true },
          { title: 'Degraded for', value: `${span(r.forMs)} (limit ${span(r.limitMs)})`, short: true },
          { title: 'Since', value: `window ${r.sinceWindow}, ${clockTime(r.since)} UTC`, short: true },
          { title: 'Active alerts', value: describeActive(r.active) || 'none', short: false },
        ],
      });
    }
  }
}

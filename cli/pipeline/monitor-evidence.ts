/**
 * Reads a `wsgate monitor` timeline (JSON Lines: header, windows, alerts, rollback, summary) for the
 * rollback policy's fifth trigger: degraded-or-worse health for longer than the policy allows. The
 * policy file decides, so the longest such stretch is measured here from the windows themselves; the
 * monitor's own recommendation (made with its own limit) is reported beside it.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../lib/core/errors.ts';
import type { WindowRecord } from '../monitor/timeline.ts';

export interface MonitorEvidence {
  file: string;
  env: string | null;
  windows: { healthy: number; degraded: number; unhealthy: number; total: number };
  /** Longest run of consecutive degraded or unhealthy windows, in seconds (window start to end). */
  longestDegradedS: number;
  /** When that stretch began (ISO), if there was one. */
  longestDegradedSince: string | null;
  /** Whether the monitor itself recommended a rollback (its summary line, or a rollback record). */
  monitorRecommendedRollback: boolean;
  /** False when the timeline has no summary line (the monitor was killed). */
  complete: boolean;
}

/** The fields read from the monitor's window records (cli/monitor/timeline.ts writes them). */
type WindowLine = Pick<WindowRecord, 'type' | 'start' | 'end' | 'status'>;

export function readMonitorTimeline(file: string): MonitorEvidence {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--monitor-timeline ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass the timeline wsgate monitor wrote`);
  }
  return parseMonitorTimeline(text, file);
}

/** Parses timeline text; lines that are not JSON are skipped (a line cut by a kill). */
export function parseMonitorTimeline(text: string, file: string): MonitorEvidence {
  const records: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as unknown;
      if (typeof r === 'object' && r !== null) records.push(r as Record<string, unknown>);
    } catch {
      // a partial last line
    }
  }
  const header = records.find((r) => r['type'] === 'header');
  if (!header) throw new ConfigError(`--monitor-timeline ${file} has no header line; it is not a wsgate monitor timeline`);
  const windows = records.filter((r): r is Record<string, unknown> & WindowLine => r['type'] === 'window' && typeof r['start'] === 'string' && typeof r['end'] === 'string');
  const counts = { healthy: 0, degraded: 0, unhealthy: 0, total: windows.length };
  let longest = 0;
  let longestSince: string | null = null;
  let streakStart: string | null = null;
  for (const w of windows) {
    if (w.status in counts) counts[w.status] += 1;
    if (w.status === 'healthy') {
      streakStart = null;
      continue;
    }
    streakStart ??= w.start;
    const s = (Date.parse(w.end) - Date.parse(streakStart)) / 1000;
    if (s > longest) {
      longest = s;
      longestSince = streakStart;
    }
  }
  const summary = records.find((r) => r['type'] === 'summary');
  const recommended = records.some((r) => r['type'] === 'rollback') || summary?.['rollback_recommended'] === true;
  return {
    file,
    env: typeof header['env'] === 'string' ? header['env'] : null,
    windows: counts,
    longestDegradedS: Math.round(longest),
    longestDegradedSince: longestSince,
    monitorRecommendedRollback: recommended,
    complete: summary !== undefined,
  };
}

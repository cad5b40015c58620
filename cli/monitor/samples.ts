/**
 * k6's live JSON output (`k6 run --out json=FILE`) as samples. k6 writes one JSON object per line and
 * flushes about every 200 ms, so a read of the growing file can end in the middle of a line, or in the
 * middle of a UTF-8 character: {@link LineSplitter} hands out complete lines only. Pure module.
 */
import { StringDecoder } from 'node:string_decoder';
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';

/** k6's own metric names the monitor reads (ours are in lib/core/vocabulary.ts). */
export const K6_BUILTIN = {
  /** Trend per WebSocket handshake; its `status` tag is the handshake's HTTP status. */
  wsConnecting: 'ws_connecting',
  /** Rate: 1/0 per check. */
  checks: 'checks',
} as const;

/** The metrics a window is made of; every other line of the stream is skipped. */
const MONITORED_METRICS: ReadonlySet<string> = new Set([
  CLIENT_METRICS.connectionSuccess,
  CLIENT_METRICS.agentEventCompletion,
  CLIENT_METRICS.eventLatency,
  CLIENT_METRICS.isolationViolations,
  CLIENT_METRICS.connectionDrops,
  K6_BUILTIN.checks,
  K6_BUILTIN.wsConnecting,
]);

export interface Sample {
  metric: string;
  /** Milliseconds since the epoch (k6's clock, which is this machine's). */
  time: number;
  value: number;
  /** Only the tags the monitor reads: `status` (handshakes) and `event` (latency). */
  tags: { status?: string; event?: string };
}

/** Splits a byte stream into complete lines; the unfinished tail waits for the next chunk. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  /** The complete lines in `chunk` plus whatever was held back before it. */
  push(chunk: Buffer | string): string[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((l) => l.trim() !== '');
  }

  /** At the end of the stream: the last line if it was not newline-terminated. */
  end(): string[] {
    const text = this.rest + this.decoder.end();
    this.rest = '';
    return text.trim() === '' ? [] : [text];
  }

  /** Characters held back, waiting for the end of their line. */
  get pending(): number {
    return this.rest.length;
  }
}

/**
 * `time` on a skipped line is the time of a sample the monitor does not read: it still moves the
 * stream's clock (k6 samples `vus` every second, so the clock runs even when no probe reports).
 */
export type ParsedLine = { kind: 'sample'; sample: Sample } | { kind: 'skip'; time?: number } | { kind: 'bad' };

/**
 * One line of k6's JSON output. `skip` for metric definitions and metrics the monitor does not read,
 * `bad` for a line that is not the JSON k6 writes (counted, never fatal).
 */
export function parseLine(line: string): ParsedLine {
  // Cheap filter first: most lines are samples of metrics the monitor ignores.
  const name = /"metric":"([^"]*)"/.exec(line)?.[1];
  if (name !== undefined && !MONITORED_METRICS.has(name)) {
    if (!line.includes('"type":"Point"')) return { kind: 'skip' };
    const time = Date.parse(/"time":"([^"]+)"/.exec(line)?.[1] ?? '');
    return Number.isFinite(time) ? { kind: 'skip', time } : { kind: 'skip' };
  }
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return { kind: 'bad' };
  }
  if (typeof o !== 'object' || o === null) return { kind: 'bad' };
  const rec = o as { type?: unknown; metric?: unknown; data?: unknown };
  if (rec.type !== 'Point') return typeof rec.type === 'string' ? { kind: 'skip' } : { kind: 'bad' };
  if (typeof rec.metric !== 'string' || typeof rec.data !== 'object' || rec.data === null) return { kind: 'bad' };
  if (!MONITORED_METRICS.has(rec.metric)) return { kind: 'skip' };
  const data = rec.data as { time?: unknown; value?: unknown; tags?: unknown };
  const time = typeof data.time === 'string' ? Date.parse(data.time) : Number.NaN;
  if (!Number.isFinite(time) || typeof data.value !== 'number' || !Number.isFinite(data.value)) return { kind: 'bad' };
  const tags: Sample['tags'] = {};
  if (typeof data.tags === 'object' && data.tags !== null) {
    const t = data.tags as Record<string, unknown>;
    if (typeof t['status'] === 'string') tags.status = t['status'];
    if (typeof t['event'] === 'string') tags.event = t['event'];
  }
  return { kind: 'sample', sample: { metric: rec.metric, time, value: data.value, tags } };
}

/**
 * Synthetic k6 JSON output for the monitor's tests: lines exactly as `k6 run --out json=FILE` writes
 * them (checked against a real k6 v2.2 run), at chosen times.
 */
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';

/** 2026-11-24T12:00:00Z: a whole second, so window 1 starts exactly here. */
export const T0 = Date.parse('2026-11-24T12:00:00Z');

export function point(metric: string, atMs: number, value: number, tags: Record<string, string> = {}): string {
  // k6 writes nanoseconds; the monitor must cope with them.
  const time = new Date(atMs).toISOString().replace('Z', '123456Z');
  return JSON.stringify({ metric, type: 'Point', data: { time, value, tags: { group: '', scenario: 'probes', ...tags } } });
}

export function metricDefinition(name: string, type: string): string {
  return JSON.stringify({ type: 'Metric', data: { name, type, contains: 'default', thresholds: [], submetrics: null }, metric: name });
}

/** One probe as k6 reports it: handshake, connection success, checks, an agent run with its latencies. */
export function probe(atMs: number, o: { connected?: boolean; status?: string; completed?: boolean; latencyMs?: number } = {}): string[] {
  const connected = o.connected ?? true;
  const status = o.status ?? (connected ? '101' : '403');
  const lines = [
    point('ws_connecting', atMs, 2.5, { status, name: 'ws://127.0.0.1:1/ws', url: 'ws://127.0.0.1:1/ws' }),
    point(CLIENT_METRICS.connectionSuccess, atMs + 1, connected ? 1 : 0),
    point('checks', atMs + 1, connected ? 1 : 0, { check: 'probes: probe connection opens' }),
  ];
  if (!connected) return lines;
  const completed = o.completed ?? true;
  const latency = o.latencyMs ?? 50;
  for (const [i, event] of ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'].entries()) {
    if (!completed && event === 'agent_thinking') continue;
    lines.push(point(CLIENT_METRICS.eventLatency, atMs + 2 + i, (latency * (i + 1)) / 5, { event }));
  }
  lines.push(point(CLIENT_METRICS.agentEventCompletion, atMs + 10, completed ? 1 : 0));
  lines.push(point('checks', atMs + 10, completed ? 1 : 0, { check: 'probes: agent run delivers all five events' }));
  lines.push(point('iteration_duration', atMs + 11, 60));
  return lines;
}

/** k6's once-a-second `vus` sample, which moves the stream's clock even when no probe reports. */
export function vus(atMs: number): string {
  return point('vus', atMs, 3, {});
}

export const toText = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

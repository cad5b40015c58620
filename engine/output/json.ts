/**
 * `--out json=FILE`: every sample as a line of k6's JSON output schema, so `wsgate monitor`, `wsgate
 * merge` and anything else that reads k6's stream read the engine's unchanged:
 *   {"type":"Metric","data":{"name":..,"type":..,"contains":..,"thresholds":[..],"submetrics":null},"metric":..}
 *   {"type":"Point","data":{"time":"<RFC 3339>","value":..,"tags":{..}},"metric":..}
 * Every worker appends to the same file (opened O_APPEND); each write is whole lines, flushed about
 * every 200 ms like k6, so readers tailing the file never see two workers' lines interleaved.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { MetricType, Tags } from '../contracts.ts';

const FLUSH_MS = 200;
/** A buffer this large is written at once rather than waiting for the timer. */
const FLUSH_BYTES = 1 << 20;

export class JsonOutput {
  private readonly fd: number;
  private buffer: string[] = [];
  private bytes = 0;
  private readonly declared = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  /**
   * @param types every metric's type, for the Metric line written before its first Point
   * @param thresholds threshold expressions per metric, as k6 lists them in the Metric line
   */
  constructor(
    path: string,
    private readonly types: (name: string) => { type: MetricType; isTime: boolean } | undefined,
    private readonly thresholds: Record<string, string[]> = {},
  ) {
    this.fd = openSync(path, 'a');
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  sample(metric: string, value: number, tags: Tags): void {
    if (!this.declared.has(metric)) this.declare(metric);
    const line = `{"type":"Point","data":{"time":"${new Date().toISOString()}","value":${Number.isFinite(value) ? value : 0},"tags":${JSON.stringify(tags)}},"metric":${JSON.stringify(metric)}}\n`;
    this.push(line);
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('');
    this.buffer = [];
    this.bytes = 0;
    writeSync(this.fd, text);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    closeSync(this.fd);
  }

  private declare(metric: string): void {
    this.declared.add(metric);
    const t = this.types(metric);
    const data = {
      name: metric,
      type: t?.type ?? 'counter',
      contains: t?.isTime ? 'time' : metric.startsWith('data_') ? 'data' : 'default',
      thresholds: this.thresholds[metric] ?? [],
      submetrics: null,
    };
    this.push(JSON.stringify({ type: 'Metric', data, metric }) + '\n');
  }

  private push(line: string): void {
    this.buffer.push(line);
    this.bytes += line.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
  }
}

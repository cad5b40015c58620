/**
 * One FlushPoint (engine/contracts.ts) from the merged registry: what the progress line, the HTML
 * report and the Prometheus output read every second.
 */
import type { FlushPoint, RegistrySnapshot } from './contracts.ts';
import type { IntervalSnapshot } from './metrics/registry.ts';
import { valuesOf } from './metrics/registry.ts';

const STATS = ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(95)', 'p(99)'];

export function flushPoint(total: RegistrySnapshot, interval: IntervalSnapshot, time: number, elapsedMs: number, intervalMs: number, withSeries: boolean): FlushPoint {
  return {
    time,
    interval: valuesOf(interval.sinks, STATS, intervalMs),
    total: valuesOf(total.sinks, STATS, elapsedMs),
    ...(withSeries && total.series ? { series: total.series } : {}),
  };
}

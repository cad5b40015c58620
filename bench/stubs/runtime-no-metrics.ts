/**
 * Experiment stub (bench/overhead.ts, variant no-metrics-no-checks): stands in for the runtime port
 * inside lib/metrics.ts only. Each metric is still declared (thresholds name them) but add() records
 * nothing, which takes every custom sample out of wsgate's cost, on either engine.
 */
import { runtime as real } from '#runtime';
import type { MetricHandle, MetricKind, Runtime } from '../../lib/runtime/port.ts';

/** The real runtime (its getters stay live) with metric() handing out handles that record nothing. */
export const runtime: Runtime = Object.assign(Object.create(real) as Runtime, {
  metric(kind: MetricKind, name: string, isTime?: boolean): MetricHandle {
    real.metric(kind, name, isTime);
    return { name, add: () => undefined };
  },
});

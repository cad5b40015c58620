/**
 * Experiment stub (bench/overhead.ts, variant no-metrics-no-checks): stands in for the runtime port
 * inside lib/observe.ts only, so wsgate's expect() still decides but no check sample is recorded.
 */
import { runtime as real } from '#runtime';
import type { Runtime } from '../../lib/runtime/port.ts';

export const runtime: Runtime = Object.assign(Object.create(real) as Runtime, { check: () => undefined });

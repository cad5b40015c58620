/**
 * Experiment stub (bench/overhead.ts): stands in for the 'k6' module inside lib/observe.ts only, so
 * wsgate's expect() still decides but no k6 check sample is recorded.
 */
export function check(): boolean {
  return true;
}

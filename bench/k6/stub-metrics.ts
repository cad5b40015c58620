/**
 * Experiment stub (bench/overhead.ts): stands in for k6/metrics inside lib/metrics.ts only. Each
 * metric is still registered with k6 (thresholds name them) but add() records nothing, which takes
 * every custom sample out of wsgate's cost.
 */
import { Counter as K6Counter, Rate as K6Rate, Trend as K6Trend } from 'k6/metrics';

export class Rate {
  constructor(name: string) {
    new K6Rate(name);
  }
  add(..._sample: unknown[]): void {}
}
export class Counter {
  constructor(name: string) {
    new K6Counter(name);
  }
  add(..._sample: unknown[]): void {}
}
export class Trend {
  constructor(name: string, isTime?: boolean) {
    new K6Trend(name, isTime);
  }
  add(..._sample: unknown[]): void {}
}

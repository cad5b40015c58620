/**
 * The scenarios of a script's options, in k6's terms: named scenarios as given, or k6's shortcuts
 * (`vus`, `iterations`, `duration`) turned into the one scenario "default" the way k6 does it.
 */
import type { Options, Scenario } from '../lib/runtime/options.ts';
import type { ScenarioPlan } from './contracts.ts';
import { parseDuration } from './metrics/duration.ts';

function scenariosOf(options: Options): Record<string, Scenario> {
  if (options.scenarios && Object.keys(options.scenarios).length > 0) return options.scenarios;
  const vus = options.vus ?? 1;
  if (options.duration !== undefined && options.iterations === undefined) {
    return { default: { executor: 'constant-vus', vus, duration: options.duration } };
  }
  return { default: { executor: 'shared-iterations', vus, iterations: options.iterations ?? 1, ...(options.duration ? { maxDuration: options.duration } : {}) } };
}

/** The most VUs a scenario can have at once, the size of its block of VU ids. */
function maxVusOf(s: Scenario): number {
  switch (s.executor) {
    case 'per-vu-iterations':
    case 'shared-iterations':
    case 'constant-vus':
      return s.vus ?? 1;
    case 'ramping-vus':
      return Math.max(s.startVUs ?? 1, ...s.stages.map((st) => st.target));
    case 'constant-arrival-rate':
    case 'ramping-arrival-rate':
      return Math.max(s.preAllocatedVUs, s.maxVUs ?? s.preAllocatedVUs);
  }
}

/** Plans in option order, each with its block of VU ids (k6 numbers VUs across the whole test). */
export function planScenarios(options: Options): ScenarioPlan[] {
  let offset = 0;
  return Object.entries(scenariosOf(options)).map(([name, config]) => {
    const plan = { name, config, vuIdOffset: offset };
    offset += maxVusOf(config);
    return plan;
  });
}

/** Longest a scenario can last from the test start (startTime + run + gracefulStop), for progress. */
export function scenarioLengthMs(s: Scenario): number {
  const start = parseDuration(s.startTime ?? '0s');
  const grace = parseDuration(s.gracefulStop ?? '30s');
  switch (s.executor) {
    case 'per-vu-iterations':
    case 'shared-iterations':
      return start + parseDuration(s.maxDuration ?? '10m') + grace;
    case 'constant-vus':
    case 'constant-arrival-rate':
      return start + parseDuration(s.duration) + grace;
    case 'ramping-vus':
    case 'ramping-arrival-rate':
      return start + s.stages.reduce((sum, st) => sum + parseDuration(st.duration), 0) + grace;
  }
}

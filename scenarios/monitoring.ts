/**
 * Continuous monitoring: a pool of long-lived connections that must stay up, and synthetic probes at
 * a fixed arrival rate (connect, run an agent, check all five events, disconnect), for
 * WSGATE_MONITOR_DURATION. `wsgate monitor` reads k6's live JSON output and judges rolling windows
 * against thresholds/monitoring.json. The k6 thresholds here only make a run that checked nothing fail:
 * a failed probe is a sample for the windows, not a verdict on the whole run.
 *
 *   wsgate monitor --env staging --duration 30m [--alert-threshold high] [--webhook URL]
 *   k6 run --out json=live.json dist/monitoring.js   (WSGATE_MONITOR_DURATION=30m)
 */
import '../lib/polyfills.ts';
import { runtime } from '#runtime';
import type { Options, Scenario } from '../lib/runtime/options.ts';
import { holdPoolConnection, syntheticProbe } from '../lib/checks/monitor.ts';
import { durationMs } from '../lib/core/config.ts';
import type { Config } from '../lib/core/config.ts';
import { writeSummary } from '../lib/k6-summary.ts';
import { loadSuite, preflight } from '../lib/suite.ts';
import type { SetupData } from '../lib/suite.ts';
import type { K6SummaryData } from '../lib/core/summary.ts';

const SUITE = 'monitoring';
/** Pool connections are renewed at least this often, so no iteration outlives the run. */
const POOL_HOLD_MAX_MS = 60_000;

let scenarios: string[] = [];
// Monitoring has no suite-wide k6 thresholds: its verdict is the CLI's window timeline.
const NO_SUITE_THRESHOLDS = { local: {}, staging: {}, production: {} };
const suite = loadSuite(SUITE, NO_SUITE_THRESHOLDS, (c) => (scenarios = c.monitorPoolConnections > 0 ? ['pool', 'probes'] : ['probes']), {
  everyCheckMustPass: false,
});
const { config } = suite;

export const options: Options = suite.options(schedule(config));

export function setup(): Promise<SetupData> {
  return preflight(suite);
}

export const pool = suite.step((c, tokens) => {
  const left = runtime.vu().scenarioStartTime + durationMs(c.monitorDuration) - Date.now();
  return holdPoolConnection(c, tokens, Math.max(0, Math.min(POOL_HOLD_MAX_MS, left)));
});

export const probes = suite.step((c, tokens) => syntheticProbe(c, tokens));

export function handleSummary(data: K6SummaryData): Record<string, string> {
  return writeSummary(SUITE, config, scenarios, data);
}

function schedule(c: Config | undefined): Record<string, Scenario> {
  if (!c) return {};
  const out: Record<string, Scenario> = {
    probes: {
      executor: 'constant-arrival-rate',
      exec: 'probes',
      rate: c.monitorProbesPerMin,
      timeUnit: '1m',
      duration: c.monitorDuration,
      // A probe takes about one agent run; room for slow ones without starving the schedule.
      preAllocatedVUs: Math.max(2, Math.ceil((c.monitorProbesPerMin / 60) * (c.agentDeadlineMs / 1000))),
      maxVUs: Math.max(10, Math.ceil((c.monitorProbesPerMin / 60) * (c.agentDeadlineMs / 1000) * 4)),
      gracefulStop: `${Math.ceil(c.agentDeadlineMs / 1000) + 5}s`,
    },
  };
  if (c.monitorPoolConnections > 0) {
    out['pool'] = {
      executor: 'constant-vus',
      exec: 'pool',
      vus: c.monitorPoolConnections,
      duration: c.monitorDuration,
      gracefulStop: `${POOL_HOLD_MAX_MS / 1000 + 10}s`,
    };
  }
  return out;
}

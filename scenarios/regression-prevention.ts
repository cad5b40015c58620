/**
 * Regression prevention: the seven staging failures that must never come back, one named scenario
 * each, with the original design's names (lib/core/regressions.ts says what each guards against). Each
 * has its own thresholds, so each is its own JUnit test case, and any failure makes k6 exit 99.
 *
 *   k6 run dist/regression-prevention.js   (WSGATE_TESTS=a,b selects; WSGATE_CRITICAL_ONLY=true narrows)
 *   wsgate regression --env local --embedded-target [--critical-only] [--test NAME[,NAME]]
 *
 * The connection-leak test reads the service's global connection count, so it runs alone in the
 * first time slot; every other test starts when that slot ends and runs alongside the rest.
 */
import '../lib/polyfills.ts';
import { runtime } from '#runtime';
import type { Options, Scenario } from '../lib/runtime/options.ts';
import { checkAgentEvents } from '../lib/checks/agents.ts';
import { checkWebsocketConnection } from '../lib/checks/connection.ts';
import { checkIdleSurvival } from '../lib/checks/idle.ts';
import { checkCohortIsolation, checkPersonalStreamGuard } from '../lib/checks/isolation.ts';
import { checkJwtSynchronization } from '../lib/checks/jwt.ts';
import { checkConnectionLeak } from '../lib/checks/leak.ts';
import { checkTokenRefresh } from '../lib/checks/refresh.ts';
import type { Config } from '../lib/core/config.ts';
import { writeSummary } from '../lib/k6-summary.ts';
import { applicable } from '../lib/capabilities.ts';
import type { Need } from '../lib/core/needs.ts';
import { REGRESSIONS, selectRegressions } from '../lib/core/regressions.ts';
import { loadSuite, preflight } from '../lib/suite.ts';
import type { SetupData } from '../lib/suite.ts';
import type { K6SummaryData } from '../lib/core/summary.ts';
import { CLIENT_METRICS } from '../lib/core/vocabulary.ts';
import THRESHOLDS from '../thresholds/regression-prevention.json';

const SUITE = 'regression-prevention';

let selected: string[] = [];
const suite = loadSuite(SUITE, THRESHOLDS, () => {
  selected = selectRegressions(runtime.env).map((r) => r.name);
  return selected;
});

/** A test's needs (lib/core/regressions.ts): without them it is "not applicable", and the others still run. */
const needs = (name: string): Need[] => REGRESSIONS.find((r) => r.name === name)?.needs ?? [];
const { config } = suite;

export const options: Options = suite.options(schedule(config, selected));

export function setup(): Promise<SetupData> {
  return preflight(suite);
}

export const jwt_secret_synchronization_regression = suite.step((c) => checkJwtSynchronization(c, c.jwtSyncUsers), needs('jwt_secret_synchronization_regression'));

export const websocket_403_handshake_regression = suite.step((c, tokens) => checkWebsocketConnection(c, tokens), needs('websocket_403_handshake_regression'));

export const load_balancer_timeout_regression = suite.step((c, tokens) => checkIdleSurvival(c, tokens), needs('load_balancer_timeout_regression'));

// Where users have personal streams, each member also asks for another's and must be refused.
export const multi_user_isolation_regression = suite.step(async (c, tokens, data) => {
  await checkCohortIsolation(c, tokens, { index: runtime.vu().iterationInTest, size: c.regressionUsers, nonce: data.nonce }, 3);
  if (applicable(c, ['personal-channel-guard'])) await checkPersonalStreamGuard(c, tokens);
}, needs('multi_user_isolation_regression'));

export const agent_events_missing_regression = suite.step((c, tokens) => checkAgentEvents(c, tokens, c.agentRegressionRuns), needs('agent_events_missing_regression'));

export const connection_leak_regression = suite.step((c, tokens) => checkConnectionLeak(c, tokens), needs('connection_leak_regression'));

export const auth_token_refresh_regression = suite.step((c) => checkTokenRefresh(c), needs('auth_token_refresh_regression'));

export function handleSummary(data: K6SummaryData): Record<string, string> {
  // Every session in the run guards isolation, and a leaked event lands on whichever user the
  // service picks, often one of another test: any violation is this regression's failure.
  return writeSummary(SUITE, config, selected, data, { [CLIENT_METRICS.isolationViolations]: 'multi_user_isolation_regression' });
}

/** One scenario per selected regression, each running its export of the same name. */
function schedule(c: Config | undefined, names: string[]): Record<string, Scenario> {
  if (!c) return {};
  // The leak test waits for closes and drops (leak settle) and, meanwhile, for black-holed clients to be reaped.
  const leakWaitMs = Math.max(c.leakSettleMs, c.heartbeatTimeoutMs + c.reapMarginMs);
  const leakSlotS = names.includes('connection_leak_regression') ? Math.ceil((leakWaitMs + 3000) / 1000) : 0;
  const maxDuration = `${c.idleHoldS + c.refreshTtlS + Math.ceil(c.agentDeadlineMs / 1000) + 60}s`;
  const vus: Record<string, number> = {
    multi_user_isolation_regression: c.regressionUsers,
    agent_events_missing_regression: 4,
  };
  const out: Record<string, Scenario> = {};
  for (const name of names) {
    out[name] = {
      executor: 'per-vu-iterations',
      vus: vus[name] ?? 1,
      iterations: 1,
      exec: name,
      maxDuration,
      startTime: name === 'connection_leak_regression' ? '0s' : `${leakSlotS}s`,
    };
  }
  return out;
}

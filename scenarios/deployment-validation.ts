/**
 * Deployment validation: can users connect, do auth and backend agree on the secret, do idle
 * connections survive the load balancer, does every agent run deliver its five events, does each
 * user see only their own events, and does /health tell the truth. One named scenario per question,
 * all running at once; each has its own checks threshold, and the environment's thresholds
 * (thresholds/deployment-validation.json) judge the run.
 *
 *   k6 run dist/deployment-validation.js          (configure with WSGATE_* environment variables)
 *   wsgate validate --env local --embedded-target (the CLI sets them)
 */
import '../lib/polyfills.ts';
import type { Options } from '../lib/runtime/options.ts';
import { checkAgentEvents } from '../lib/checks/agents.ts';
import { checkConnectionSample, checkWebsocketConnection } from '../lib/checks/connection.ts';
import { checkHealth } from '../lib/checks/health.ts';
import { checkIdleSurvival } from '../lib/checks/idle.ts';
import { checkIsolation, checkPersonalStreamGuard } from '../lib/checks/isolation.ts';
import { checkJwtSynchronization } from '../lib/checks/jwt.ts';
import { applicable } from '../lib/capabilities.ts';
import { loadSuite, preflight } from '../lib/suite.ts';
import type { SetupData } from '../lib/suite.ts';
import { writeSummary } from '../lib/k6-summary.ts';
import type { K6SummaryData } from '../lib/core/summary.ts';
import THRESHOLDS from '../thresholds/deployment-validation.json';

const SUITE = 'deployment-validation';
const SCENARIOS = [
  'websocket_connection',
  'jwt_synchronization',
  'load_balancer_timeout',
  'agent_events',
  'multi_user_isolation',
  'health_endpoint',
];

const suite = loadSuite(SUITE, THRESHOLDS, SCENARIOS);
const { config } = suite;

/**
 * The health check compares the server's connection count before, during and after its own
 * connections, so it runs alone first; every other scenario then runs once per VU, all starting
 * together, and the idle hold sets the wall time.
 */
const healthSlotS = config ? Math.max(1, Math.round(config.leakSettleMs / 3000)) : 1;
const once = (exec: string, vus = 1, startS = healthSlotS) => ({
  executor: 'per-vu-iterations' as const,
  vus,
  iterations: 1,
  exec,
  maxDuration: suite.maxDuration,
  startTime: `${startS}s`,
});

export const options: Options = suite.options({
  health_endpoint: once('healthEndpoint', 1, 0),
  websocket_connection: once('websocketConnection'),
  jwt_synchronization: once('jwtSynchronization'),
  load_balancer_timeout: once('loadBalancerTimeout'),
  agent_events: once('agentEvents', 2),
  multi_user_isolation: once('multiUserIsolation', config?.isolationUsers ?? 1),
});

export function setup(): Promise<SetupData> {
  return preflight(suite);
}

// The handshake contract, then the connection sample the detection floor asks for.
export const websocketConnection = suite.step(async (config, tokens) => {
  await checkWebsocketConnection(config, tokens);
  await checkConnectionSample(config, tokens, config.sampleConnections);
});

export const jwtSynchronization = suite.step((config) => checkJwtSynchronization(config), ['auth-service']);

export const loadBalancerTimeout = suite.step((config, tokens) => checkIdleSurvival(config, tokens));

// The configured runs are split over the scenario's two VUs (two connections).
export const agentEvents = suite.step((config, tokens) => checkAgentEvents(config, tokens, Math.ceil(config.agentRuns / 2)), ['agent-runs']);

// Where users have personal streams, each user also asks for another's and must be refused.
export const multiUserIsolation = suite.step(async (config, tokens) => {
  await checkIsolation(config, tokens, 2);
  if (applicable(config, ['personal-channel-guard'])) await checkPersonalStreamGuard(config, tokens);
}, ['agent-runs']);

export const healthEndpoint = suite.step((config, tokens) => checkHealth(config, tokens), ['health']);

export function handleSummary(data: K6SummaryData): Record<string, string> {
  // Validation answers for the evidence its floor asks of it: agent runs, connections, isolation.
  return writeSummary(SUITE, config, SCENARIOS, data, undefined, ['agent_runs', 'connections', 'isolation']);
}

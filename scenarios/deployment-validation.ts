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
import type { Options } from 'k6/options';
import { checkAgentEvents } from '../lib/checks/agents.ts';
import { checkWebsocketConnection } from '../lib/checks/connection.ts';
import { checkHealth } from '../lib/checks/health.ts';
import { checkIdleSurvival } from '../lib/checks/idle.ts';
import { checkIsolation } from '../lib/checks/isolation.ts';
import { checkJwtSynchronization } from '../lib/checks/jwt.ts';
import { loadSuite, preflight } from '../lib/suite.ts';
import { writeSummary } from '../lib/k6-summary.ts';
import type { K6SummaryData } from '../lib/summary.ts';
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
const { config, tokens } = suite;

/** Every scenario runs once per VU, all starting together; the idle hold sets the wall time. */
const once = (exec: string, vus = 1) => ({ executor: 'per-vu-iterations' as const, vus, iterations: 1, exec, maxDuration: suite.maxDuration });

export const options: Options = suite.options({
  websocket_connection: once('websocketConnection'),
  jwt_synchronization: once('jwtSynchronization'),
  load_balancer_timeout: once('loadBalancerTimeout'),
  agent_events: once('agentEvents', 2),
  multi_user_isolation: once('multiUserIsolation', config?.isolationUsers ?? 1),
  health_endpoint: once('healthEndpoint'),
});

export function setup(): void {
  preflight(suite);
}

export async function websocketConnection(): Promise<void> {
  await checkWebsocketConnection(suite.need(config), suite.need(tokens));
}

export async function jwtSynchronization(): Promise<void> {
  await checkJwtSynchronization(suite.need(config));
}

export async function loadBalancerTimeout(): Promise<void> {
  await checkIdleSurvival(suite.need(config), suite.need(tokens));
}

export async function agentEvents(): Promise<void> {
  const c = suite.need(config);
  // Split the configured runs over the scenario's two VUs (connections).
  await checkAgentEvents(c, suite.need(tokens), Math.ceil(c.agentRuns / 2));
}

export async function multiUserIsolation(): Promise<void> {
  await checkIsolation(suite.need(config), suite.need(tokens), 2);
}

export async function healthEndpoint(): Promise<void> {
  await checkHealth(suite.need(config), suite.need(tokens));
}

export function handleSummary(data: K6SummaryData): Record<string, string> {
  return writeSummary(SUITE, config, SCENARIOS, data);
}

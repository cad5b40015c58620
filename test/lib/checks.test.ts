/**
 * Every check of lib/checks/, called as its scenario calls it, against the reference service started
 * in this process (each test has its own, so a check that reads the global connection count has it to
 * itself, and the tests run side by side). Healthy: the check records exactly its checks, all passing.
 * Under each fault the reference service can play: the check that exists to catch it fails, with the
 * observation that names the fault. CAUGHT is the table of those faults; a fault with no row here says
 * why (the last test), so a new fault cannot slip by.
 *
 * Timings come from test/helpers/engine-host.ts (a 1 s idle hold, a 1.5 s heartbeat timeout, 2 s
 * tokens), so nothing waits on a production-sized deadline; the file takes about 7 s.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NEEDS_TEXT } from '../../lib/core/needs.ts';
import { REGRESSIONS } from '../../lib/core/regressions.ts';
import { NOT_APPLICABLE } from '../../lib/core/summary.ts';
import { CLIENT_METRICS } from '../../lib/core/vocabulary.ts';
import { ALL_FAULT_NAMES, CHAT_SUBPROTOCOL } from '../../reference-service/service.ts';
import type { FaultName } from '../../reference-service/service.ts';
import { assertChecks, assertFailed, installEngineHost, rateOf, SECRET, startReference } from '../helpers/engine-host.ts';
import type { Recorded, Reference } from '../helpers/engine-host.ts';

const engine = installEngineHost({ WSGATE_JWT_SECRET: SECRET });
const { checkAgentEvents } = await import('../../lib/checks/agents.ts');
const { checkConnectionSample, checkWebsocketConnection } = await import('../../lib/checks/connection.ts');
const { checkHealth } = await import('../../lib/checks/health.ts');
const { checkIdleSurvival } = await import('../../lib/checks/idle.ts');
const { checkCohortIsolation, checkIsolation } = await import('../../lib/checks/isolation.ts');
const { checkJwtSynchronization } = await import('../../lib/checks/jwt.ts');
const { checkConnectionLeak } = await import('../../lib/checks/leak.ts');
const { holdPoolConnection, syntheticProbe } = await import('../../lib/checks/monitor.ts');
const { checkTokenRefresh } = await import('../../lib/checks/refresh.ts');

// ---- the checks, as the scenarios call them ----------------------------------------------------------

/**
 * A check as a scenario step runs it: `vus` VUs of one scenario, each calling `run` with its index and
 * the nonce all of them share (setup()'s).
 */
interface Step {
  /** The check module, for test titles. */
  name: string;
  run: (r: Reference, vu: number, nonce: string) => Promise<void>;
  vus?: number;
  /** Whether the step needs the drop relay (validation starts one with an embedded target). */
  relay?: boolean;
}

/** A rare fault hits exactly one trial in each 33 (RARE_PERIOD), so a sample of 33 holds exactly one hit. */
const RARE_SAMPLE = 33;

const STEPS = {
  // scenarios/deployment-validation.ts websocketConnection, without its sample (below)
  connection: { name: 'connection', run: (r) => checkWebsocketConnection(r.config, r.tokens) },
  sample: { name: 'connection sample', run: (r) => checkConnectionSample(r.config, r.tokens, RARE_SAMPLE) },
  // scenarios/regression-prevention.ts: jwtSyncUsers users
  jwt: { name: 'jwt', run: (r) => checkJwtSynchronization(r.config, r.config.jwtSyncUsers) },
  idle: { name: 'idle', run: (r) => checkIdleSurvival(r.config, r.tokens) },
  agents: { name: 'agents', run: (r) => checkAgentEvents(r.config, r.tokens, 4) },
  agentSample: { name: 'agents (33 runs)', run: (r) => checkAgentEvents(r.config, r.tokens, RARE_SAMPLE) },
  // deployment-validation: two runs per user, one VU per user
  isolation: { name: 'isolation', run: (r) => checkIsolation(r.config, r.tokens, 2), vus: 2 },
  // regression-prevention: a cohort of regressionUsers (3 here), each one VU, three runs each
  cohort: { name: 'cohort isolation', run: (r, vu, nonce) => checkCohortIsolation(r.config, r.tokens, { index: vu, size: 3, nonce }, 3), vus: 3 },
  health: { name: 'health', run: (r) => checkHealth(r.config, r.tokens), relay: true },
  leak: { name: 'leak', run: (r) => checkConnectionLeak(r.config, r.tokens), relay: true },
  refresh: { name: 'refresh', run: (r) => checkTokenRefresh(r.config) },
  pool: { name: 'monitor pool', run: (r) => holdPoolConnection(r.config, r.tokens, 1500) },
  // Two probes in turn: missing_agent_events breaks every second run of the service.
  probe: {
    name: 'monitor probes',
    run: async (r) => {
      await syntheticProbe(r.config, r.tokens);
      await syntheticProbe(r.config, r.tokens);
    },
  },
} satisfies Record<string, Step>;

let plays = 0;
/** Runs `step` against a reference service of its own with `faults` on. */
async function play(t: { after(fn: () => Promise<void>): void }, step: Step, faults: readonly FaultName[]): Promise<Recorded<void>> {
  const r = await startReference(t, faults, { relay: step.relay === true });
  const nonce = `${Date.now().toString(36)}-${++plays}`;
  return engine.record(step.name.replace(/\W+/g, '-'), (vu) => step.run(r, vu, nonce), { vus: step.vus ?? 1 });
}

// ---- healthy: exactly the checks, all passing ----------------------------------------------------------

const AGENT_RUN = 'agent run delivers all five events in order, one run id, rising seq, within the deadline';
const BLACKHOLED = "a user's connection, then 2 more of the same user through the drop relay to be black-holed, open";
const BLACKHOLING = 'drop relay black-holes 2 connections (both sockets kept open, nothing forwarded)';
const REAPED = 'a client that vanishes without a packet is reaped within the heartbeat timeout of 1500 ms + 1000 ms';
const SIBLING = "the vanished client's user keeps its other connection: reaping closes only the silent ones";
const LEAK_BASELINE = 'connection count returns to its baseline within 1000 ms of 2 clean closes and 2 drops';
const HEALTH_SETTLE = 'the count returns to where it was within 1000 ms of closing them';
const COHORT_FOREIGN = 'user receives nothing meant for other users or rooms';

type Counts = Record<string, [passes: number, fails: number]>;
/** What checkHealth records before it black-holes anything: the reading, and the count's deltas. */
const HEALTH_COUNTS: Counts = {
  'the health endpoint reports healthy': [1, 0],
  'the health endpoint reports a version': [1, 0],
  'the count rises by the 3 connections this check holds': [1, 0],
  [HEALTH_SETTLE]: [1, 0],
};
/** What black-holing records around its reaping verdict (lib/checks/reaping.ts). */
const BLACKHOLING_STEPS: Counts = { [BLACKHOLED]: [1, 0], [BLACKHOLING]: [1, 0], [SIBLING]: [1, 0] };

const HEALTHY: { step: Step; checks: Counts; also?: (run: Recorded<void>) => void }[] = [
  {
    step: STEPS.connection,
    checks: {
      'valid token (header) is accepted and greeted as its user': [1, 0],
      'valid token (subprotocol) is accepted and greeted as its user': [1, 0],
      [`server selects the ${CHAT_SUBPROTOCOL} subprotocol, never echoing the token`]: [1, 0],
      'missing token is refused with 401': [1, 0],
      'malformed token is refused with 403': [1, 0],
      'valid token from a foreign Origin is refused with 403': [1, 0],
    },
  },
  {
    step: STEPS.sample,
    checks: { 'a sampled connection opens, is greeted as its user and stays alive': [RARE_SAMPLE, 0] },
    also: (run) => assert.deepEqual(rateOf(run, CLIENT_METRICS.connectionSuccess), [RARE_SAMPLE, RARE_SAMPLE]),
  },
  {
    step: STEPS.jwt,
    checks: { 'auth service issues a token': [2, 0], 'backend accepts the auth service token': [2, 0], 'backend refuses a token signed with another secret': [1, 0] },
  },
  {
    step: STEPS.idle,
    checks: { 'connection opens before the idle hold': [1, 0], 'connection idle for 1 s is still open and alive': [1, 0] },
    also: (run) => assert.deepEqual(rateOf(run, CLIENT_METRICS.idleSurvival), [1, 1]),
  },
  {
    step: STEPS.agentSample,
    checks: { 'connection opens for agent runs': [1, 0], [AGENT_RUN]: [RARE_SAMPLE, 0] },
    also: (run) => assert.deepEqual(rateOf(run, CLIENT_METRICS.agentEventCompletion), [RARE_SAMPLE, RARE_SAMPLE]),
  },
  {
    step: STEPS.isolation,
    checks: { 'connection opens for the isolation check': [2, 0], [AGENT_RUN]: [4, 0], 'user receives only their own events': [2, 0] },
    also: (run) => assert.equal(run.metric(CLIENT_METRICS.isolationViolations), undefined),
  },
  {
    step: STEPS.cohort,
    checks: {
      'connection opens for the isolation check': [3, 0],
      'user receives exactly the one direct message sent to them': [3, 0],
      "user receives each of their room's messages once": [3, 0],
      [AGENT_RUN]: [9, 0],
      [COHORT_FOREIGN]: [3, 0],
    },
  },
  {
    step: STEPS.health,
    checks: { ...HEALTH_COUNTS, ...BLACKHOLING_STEPS, [REAPED]: [1, 0] },
    also: (run) => assert.equal(run.metric(CLIENT_METRICS.reapSeconds)?.count, 2, 'both black-holed connections were reaped'),
  },
  {
    step: { ...STEPS.health, name: 'health without a relay', relay: false },
    checks: {
      ...HEALTH_COUNTS,
      [`${NOT_APPLICABLE}a client that vanishes without a packet is reaped (needs ${NEEDS_TEXT['drop-relay']})`]: [1, 0],
    },
  },
  {
    step: STEPS.leak,
    checks: {
      'GET /health reports a baseline connection count': [1, 0],
      ...BLACKHOLING_STEPS,
      'service counts the 4 connections opened': [1, 0],
      'drop relay cut 2 connections without a close frame': [1, 0],
      [LEAK_BASELINE]: [1, 0],
      [`${REAPED} and the connection count returns to its baseline`]: [1, 0],
    },
  },
  {
    step: STEPS.refresh,
    checks: {
      'an expired token is refused at the handshake': [1, 0],
      'connection with a short-lived token opens': [2, 0],
      'a forged in-band refresh is refused': [1, 0],
      'an in-band refresh is accepted': [1, 0],
      'a refreshed connection outlives its first token by 1500 ms and is still alive': [1, 0],
      "an unrefreshed connection is closed with 4001 within 3000 ms of its token's expiry": [1, 0],
      'auth service issues a refresh token': [1, 0],
      'auth service trades a refresh token for a new access token (200)': [1, 0],
      'the refreshed access token opens a connection': [1, 0],
      'a spent refresh token is refused (401)': [1, 0],
    },
  },
  { step: STEPS.pool, checks: { 'pool connection opens': [1, 0], 'pool connection stays open until the monitor closes it': [1, 0] } },
  { step: STEPS.probe, checks: { 'probe connection opens': [2, 0], [AGENT_RUN]: [2, 0] } },
];

// ---- faults: the check that exists to catch each one fails, saying what it saw ------------------------

interface Catch {
  fault: FaultName;
  step: Step;
  /** The check that must fail, and what its observation must say. */
  check: string;
  observed: RegExp;
  /** Its exact passes and fails, where the fault hits a known number of trials. */
  counts?: [number, number];
  also?: (run: Recorded<void>) => void;
}

const CAUGHT: Catch[] = [
  // the seven regressions (lib/core/regressions.ts), each by the check of its regression test
  { fault: 'jwt_secret_desync', step: STEPS.jwt, check: 'backend accepts the auth service token', counts: [0, 2], observed: /^user wsgate-jwt-\S+: HTTP 403; claims match the configuration, so the backend verifies with a different secret$/ },
  { fault: 'handshake_403', step: STEPS.connection, check: 'valid token (header) is accepted and greeted as its user', counts: [0, 1], observed: /HTTP 403/ },
  { fault: 'idle_timeout', step: STEPS.idle, check: 'connection idle for 1 s is still open and alive', counts: [0, 1], observed: /^closed after [01]\.\d s idle with code 1006$/ },
  {
    fault: 'isolation_leak',
    step: STEPS.cohort,
    check: COHORT_FOREIGN,
    observed: /^user wsgate-cohort-\S+ received \d+ foreign message\(s\), first agent_\w+ .*belonging to wsgate-cohort-/,
    also: (run) => assert.ok((run.metric(CLIENT_METRICS.isolationViolations)?.sum ?? 0) > 0, 'violations counted'),
  },
  { fault: 'missing_agent_events', step: STEPS.agents, check: AGENT_RUN, counts: [2, 2], observed: /of message wsgate-agent-\S+: missing (agent|tool)_\w+$/ },
  { fault: 'connection_leak', step: STEPS.leak, check: LEAK_BASELINE, counts: [0, 1], observed: /^count is [1-9]\d* \(baseline \d+, peak \d+\), users [1-9]\d* \(baseline/ },
  { fault: 'no_reaping', step: STEPS.leak, check: `${REAPED} and the connection count returns to its baseline`, counts: [0, 1], observed: /; 2 still open at the server / },
  { fault: 'token_refresh_broken', step: STEPS.refresh, check: 'an in-band refresh is accepted', counts: [0, 1], observed: /^answered error refresh_rejected$/ },
  // validation's faults: the same checks, with a sample large enough for a fault that hits 1 in 33
  { fault: 'rare_event_loss', step: STEPS.agentSample, check: AGENT_RUN, counts: [32, 1], observed: /: missing (agent|tool)_\w+$/ },
  { fault: 'rare_duplicate_event', step: STEPS.agentSample, check: AGENT_RUN, counts: [32, 1], observed: /: (agent|tool)_\w+ received 2 times/ },
  { fault: 'rare_reorder', step: STEPS.agentSample, check: AGENT_RUN, counts: [32, 1], observed: /: out of order: .*; seq does not rise/ },
  { fault: 'rare_mislabel', step: STEPS.agentSample, check: AGENT_RUN, counts: [32, 1], observed: /: (2 run ids|1 event\(s\) carry user)/ },
  { fault: 'rare_late_run', step: STEPS.agentSample, check: AGENT_RUN, counts: [32, 1], observed: /: missing agent_completed; no agent_completed within 3000 ms$/ },
  { fault: 'rare_stop_midway', step: STEPS.agentSample, check: AGENT_RUN, counts: [32, 1], observed: /: missing tool_executing; missing tool_completed; missing agent_completed; no agent_completed within/ },
  // one event in 33 of the 165: five lost, in up to five runs
  { fault: 'rare_message_loss', step: STEPS.agentSample, check: AGENT_RUN, observed: /: missing (agent|tool)_\w+/ },
  { fault: 'duplicate_final_event', step: STEPS.agents, check: AGENT_RUN, counts: [0, 4], observed: /: agent_completed received 2 times; seq does not rise \(5 then 5\)$/ },
  {
    fault: 'rare_connection_reset',
    step: STEPS.sample,
    check: 'a sampled connection opens, is greeted as its user and stays alive',
    counts: [RARE_SAMPLE - 1, 1],
    observed: /^user wsgate-sample-\S+: (refused with HTTP 503|greeted, then closed with 1006)/,
  },
  { fault: 'no_reaping', step: STEPS.health, check: REAPED, counts: [0, 1], observed: /^black-holed 2 connection\(s\) .*; 2 still open at the server / },
  // what else catches them: validation's health step sees a leak, the monitor's pool a cut, its probes a lost event
  { fault: 'connection_leak', step: STEPS.health, check: HEALTH_SETTLE, counts: [0, 1], observed: /^count is 3 \d+ ms after the close \(before: 0, while held: 3\)$/ },
  {
    fault: 'idle_timeout',
    step: STEPS.pool,
    check: 'pool connection stays open until the monitor closes it',
    counts: [0, 1],
    observed: /^closed with 1006 after [01] s$/,
    also: (run) => assert.equal(run.metric(CLIENT_METRICS.connectionDrops)?.sum, 1),
  },
  { fault: 'missing_agent_events', step: STEPS.probe, check: AGENT_RUN, counts: [1, 1], observed: /: missing agent_started$/ },
  { fault: 'isolation_leak', step: STEPS.isolation, check: 'user receives only their own events', observed: /^user wsgate-iso-\S+ received \d+ message\(s\) of other users, first agent_\w+ .*belonging to wsgate-iso-/ },
];

/** Faults no check here catches, and why (each is caught elsewhere). */
const ELSEWHERE: Partial<Record<FaultName, string>> = {
  slow_handshake: 'every handshake answered 3 s late: the wsgate_greeting_latency threshold of validation catches it, not a check (test/cli/matrix.e2e.test.ts)',
  hostile: 'an adversary, not a breakage: nothing wsgate prints or writes may carry its secrets (test/cli/secrets.e2e.test.ts)',
};

describe('the checks against the reference service', { concurrency: true, timeout: 60_000 }, () => {
  for (const { step, checks, also } of HEALTHY) {
    test(`${step.name}: healthy, every check passes`, async (t) => {
      const run = await play(t, step, []);
      assertChecks(run, checks);
      also?.(run);
    });
  }

  for (const c of CAUGHT) {
    test(`${c.step.name}: ${c.fault} fails "${c.check}"`, async (t) => {
      const run = await play(t, c.step, [c.fault]);
      assertFailed(run, c.check, c.observed);
      if (c.counts) assert.deepEqual(run.checks[c.check], { passes: c.counts[0], fails: c.counts[1] }, `passes and fails of "${c.check}"`);
      c.also?.(run);
    });
  }
});

test('every fault of the reference service has a check here that catches it, or is named with the test that does', () => {
  const caught = new Set(CAUGHT.map((c) => c.fault));
  assert.deepEqual(ALL_FAULT_NAMES.filter((f) => !caught.has(f) && ELSEWHERE[f] === undefined), []);
  assert.deepEqual(Object.keys(ELSEWHERE).filter((f) => caught.has(f as FaultName)), [], 'a fault caught here is not also excused');
  // Each regression's own faults are caught by the check of that regression's scenario.
  for (const r of REGRESSIONS) for (const f of r.reproducedBy) if (f !== 'nginx:broken') assert.ok(caught.has(f as FaultName), `${r.name}: ${f}`);
});

/**
 * Multi-user framework: many authenticated users at once, each checked to receive exactly what was
 * meant for them. The business scenario (WSGATE_MULTI_SCENARIO) picks what the users do:
 *   chat                           targeted, broadcast and sequential messaging inside groups
 *   agent_execution                every user runs agents; all five events, in order, only to them
 *   mixed                          groups split between chat and agents (multi_agent_percent)
 *   stress_concurrent_connections  connect everyone at the ramp rate and hold
 * One VU holds many users (multi_connections_per_vu) on its event loop; lib/core/multi-plan.ts says who
 * sends what to whom, so every VU knows what each of its users must receive.
 *
 *   wsgate multi-user --env local --scenario chat --users 200 --duration 30s
 *   k6 run dist/multi-user.js      (WSGATE_MULTI_* variables; see README)
 */
import '../lib/polyfills.ts';
import { runtime } from '#runtime';
import type { Options } from '../lib/runtime/options.ts';
import { durationMs } from '../lib/core/config.ts';
import type { Config } from '../lib/core/config.ts';
import { writeSummary } from '../lib/k6-summary.ts';
import { Plan } from '../lib/core/multi-plan.ts';
import { runUsers } from '../lib/multi/runner.ts';
import type { Timing } from '../lib/multi/runner.ts';
import { loadSuite, preflight } from '../lib/suite.ts';
import type { SetupData } from '../lib/suite.ts';
import type { K6SummaryData } from '../lib/core/summary.ts';
import THRESHOLDS from '../thresholds/multi-user.json';

const SUITE = 'multi-user';
/** Each sender's messages are spread over this many ms per message. */
const MS_PER_MESSAGE = 400;
/** Time after the last send before deliveries are judged. */
const SETTLE_MS = 2000;

let scenario = '';
const suite = loadSuite(SUITE, THRESHOLDS, (c) => [(scenario = c.multi.scenario)]);
const { config } = suite;

export const options: Options = suite.options(
  config
    ? {
        [scenario]: {
          executor: 'per-vu-iterations',
          exec: 'users',
          vus: Math.ceil(config.multi.users / config.multi.connectionsPerVu), // and users are striped over them
          iterations: 1,
          maxDuration: `${Math.ceil(timingFor(config, Date.now()).holdUntil / 1000 - Date.now() / 1000) + 120}s`,
        },
      }
    : {},
);

interface MultiSetup extends SetupData {
  timing: Timing;
}

export async function setup(): Promise<MultiSetup> {
  const data = await preflight(suite);
  // Several k6 processes running one plan (execution segments) must share the nonce and the clock:
  // the CLI passes both; a single process makes its own.
  const nonce = runtime.env['WSGATE_MULTI_NONCE'] || data.nonce;
  const rampStart = Number(runtime.env['WSGATE_MULTI_RAMP_START']) || Date.now() + 1000;
  return { nonce, timing: timingFor(config, rampStart) };
}

// What the plan needs of the dialect (agent runs, direct messages, rooms): a plan it cannot play is not applicable.
const planNeeds = config ? new Plan({ ...config.multi }, '').needs() : [];

export const users = suite.step(async (c, tokens, data) => {
  const { timing, nonce } = data as MultiSetup;
  const plan = new Plan({ ...c.multi }, nonce);
  // Users are striped over VUs (u mod VUs), so at every moment of the ramp all VUs, and all k6
  // processes of a segmented run, open connections side by side instead of one VU at a time.
  const vu = runtime.vu().iterationInTest;
  const vus = Math.ceil(c.multi.users / c.multi.connectionsPerVu);
  const mine: number[] = [];
  for (let u = vu; u < c.multi.users; u += vus) mine.push(u);
  await runUsers(c, tokens, plan, mine, timing);
}, planNeeds);

export function handleSummary(data: K6SummaryData): Record<string, string> {
  return writeSummary(SUITE, config, [scenario], data);
}

function timingFor(c: Config | undefined, rampStart: number): Timing {
  if (!c) return { rampStart, rampPerS: 1, startAt: rampStart, windowMs: 0, settleMs: 0, holdUntil: rampStart };
  const m = c.multi;
  const rampMs = (m.users / m.rampPerS) * 1000;
  // Sends begin once everyone is connected and has joined their rooms.
  const startAt = rampStart + rampMs + 2000;
  const windowMs = m.messages * MS_PER_MESSAGE;
  const holdUntil = Math.max(startAt + windowMs + SETTLE_MS, rampStart + rampMs + durationMs(m.duration));
  return { rampStart, rampPerS: m.rampPerS, startAt, windowMs, settleMs: SETTLE_MS, holdUntil };
}

/**
 * The minimal hand-written counterpart of `multi-user` with WSGATE_MULTI_SCENARIO=agent_execution: raw
 * k6/websockets, the same ramp and per-user token as minimal-hold.ts, then each user starts
 * BENCH_RUNS agent runs on the same schedule as wsgate's plan (one every BENCH_MS_PER_RUN ms, users
 * staggered by (user % 97) / 97 of a step), and records what a hand-written test would: the latency
 * of every agent event by type, and whether each run reached agent_completed. The iteration both
 * engines' scripts share is bench/lib/minimal.ts (bundled in); the I/O is k6's (./common.ts).
 */
import exec from 'k6/execution';
import { Rate, Trend } from 'k6/metrics';
import { AgentRuns, agentsIteration, agentsOptions, runSchedule, summaryFile, target, timeline, usersOf } from '../lib/minimal.ts';
import { env, k6Io } from './common.ts';

const t = timeline(env);
const schedule = runSchedule(env);
export const options = agentsOptions(t);

const io = k6Io(target(env), new Rate('bench_connected'));
const completed = new Rate('bench_run_completed');
const latency = new Trend('bench_event_latency', true);

export default function (): Promise<void> {
  return agentsIteration(io, t, schedule, usersOf(t, exec.scenario.iterationInTest), new AgentRuns(completed, latency));
}

export function handleSummary(data: Parameters<typeof summaryFile>[1]): Record<string, string> {
  return summaryFile(env, data);
}

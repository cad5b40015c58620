/**
 * The engine's minimal hand-written counterpart of `multi-user` with
 * WSGATE_MULTI_SCENARIO=agent_execution, bench/k6/minimal-agents.ts on the engine's API: the same ramp
 * and per-user token as minimal-hold.ts, then each user starts BENCH_RUNS agent runs on the same
 * schedule as wsgate's plan (one every BENCH_MS_PER_RUN ms, users staggered by (user % 97) / 97 of a
 * step), and records what a hand-written test would: the latency of every agent event by type, and
 * whether each run reached agent_completed. The iteration both engines' scripts share is
 * bench/lib/minimal.ts; the I/O is the engine's (./common.ts).
 */
import { runtime } from '#runtime';
import { AgentRuns, agentsIteration, agentsOptions, runSchedule, summaryFile, target, timeline, usersOf } from '../lib/minimal.ts';
import { engineIo, env } from './common.ts';

const t = timeline(env);
const schedule = runSchedule(env);
export const options = agentsOptions(t);

const io = engineIo(target(env), runtime.metric('rate', 'bench_connected'));
const completed = runtime.metric('rate', 'bench_run_completed');
const latency = runtime.metric('trend', 'bench_event_latency', true);

export default function (): Promise<void> {
  return agentsIteration(io, t, schedule, usersOf(t, runtime.vu().iterationInTest), new AgentRuns(completed, latency));
}

export function handleSummary(data: Parameters<typeof summaryFile>[1]): Record<string, string> {
  return summaryFile(env, data);
}

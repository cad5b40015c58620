/**
 * The engine's minimal hand-written counterpart of `multi-user` with
 * WSGATE_MULTI_SCENARIO=stress_concurrent_connections, bench/k6/minimal-hold.ts on the engine's API:
 * many users per VU on the worker's event loop, the same paced ramp, a per-user token in the
 * Authorization header, the same sparse keep-alive ping, and the two figures a load test of this
 * kind cannot do without: did each connection get its connection_established, and was it still open
 * at the end. The iteration both engines' scripts share is bench/lib/minimal.ts; the I/O is the
 * engine's (./common.ts).
 */
import { runtime } from '#runtime';
import { holdIteration, minimalOptions, summaryFile, target, timeline, usersOf } from '../lib/minimal.ts';
import { engineIo, env } from './common.ts';

const t = timeline(env);
export const options = minimalOptions('hold', t);

const io = engineIo(target(env), runtime.metric('rate', 'bench_connected'));
const held = runtime.metric('rate', 'bench_held');

export default function (): Promise<void> {
  return holdIteration(io, t, usersOf(t, runtime.vu().iterationInTest), held);
}

export function handleSummary(data: Parameters<typeof summaryFile>[1]): Record<string, string> {
  return summaryFile(env, data);
}

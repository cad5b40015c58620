/**
 * The minimal hand-written counterpart of `multi-user` with WSGATE_MULTI_SCENARIO=stress_concurrent_connections:
 * raw k6/websockets, many users per VU on its event loop, the same paced ramp, a per-user token in the
 * Authorization header, the same sparse keep-alive ping, and the two figures a load test of this kind
 * cannot do without: did each connection get its connection_established, and was it still open at the
 * end. The iteration both engines' scripts share is bench/lib/minimal.ts (bundled in); the I/O is
 * k6's (./common.ts).
 */
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';
import { holdIteration, minimalOptions, summaryFile, target, timeline, usersOf } from '../lib/minimal.ts';
import { env, k6Io } from './common.ts';

const t = timeline(env);
export const options = minimalOptions('hold', t);

const io = k6Io(target(env), new Rate('bench_connected'));
const held = new Rate('bench_held');

export default function (): Promise<void> {
  return holdIteration(io, t, usersOf(t, exec.scenario.iterationInTest), held);
}

export function handleSummary(data: Parameters<typeof summaryFile>[1]): Record<string, string> {
  return summaryFile(env, data);
}

/**
 * The engine's minimal hand-written counterpart of `multi-user` with
 * WSGATE_MULTI_SCENARIO=stress_concurrent_connections, line for line bench/k6/minimal-hold.ts on the
 * engine's API: many users per VU on the worker's event loop, the same paced ramp, a per-user token in
 * the Authorization header, the same sparse keep-alive ping, and the two figures a load test of this
 * kind cannot do without: did each connection get its connection_established, and was it still open
 * at the end.
 */
import { runtime } from '#runtime';
import type { RuntimeSocket } from '../../lib/runtime/port.ts';
import type { Options } from '../../lib/runtime/options.ts';
import { env, mint, sleep, summaryFile, timeline, usersOf, warn } from './common.ts';

const t = timeline();
const URL = env('BENCH_WS_URL');
const SECRET = env('BENCH_JWT_SECRET');
const ISS = env('BENCH_ISSUER');
const AUD = env('BENCH_AUDIENCE');
const KEEPALIVE_MS = 30_000;

export const options: Options = {
  scenarios: {
    hold: {
      executor: 'per-vu-iterations',
      vus: Math.ceil(t.users / t.perVu),
      iterations: 1,
      maxDuration: `${Math.ceil((t.holdUntil - Date.now()) / 1000) + 120}s`,
    },
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
};

const connected = runtime.metric('rate', 'bench_connected');
const held = runtime.metric('rate', 'bench_held');

export default async function (): Promise<void> {
  const mine = usersOf(t, runtime.vu().iterationInTest);
  const sockets: (RuntimeSocket | undefined)[] = [];
  const closed: Promise<void>[] = [];
  await Promise.all(
    mine.map(async (u, i) => {
      await sleep(t.rampStart + (u / t.rampPerS) * 1000 - Date.now());
      const token = await mint(SECRET, `bench-min-${u}`, ISS, AUD);
      let settled = false;
      let onClosed: () => void = () => undefined;
      closed.push(new Promise((r) => (onClosed = r)));
      sockets[i] = runtime.openSocket(URL, { headers: { Authorization: `Bearer ${token}`, Origin: 'http://localhost' } }, {
        onMessage(data) {
          if (settled) return;
          const type = (JSON.parse(data) as { type?: string }).type;
          if (type !== 'connection_established') return warn(`user ${u}: ${type} before connection_established`);
          settled = true;
          connected.add(true);
        },
        onRefused(status, error) {
          if (settled) return;
          settled = true;
          connected.add(false);
          warn(`user ${u}: refused before connection_established: ${status} ${error}`);
        },
        onClose: () => onClosed(),
      });
    }),
  );
  let turn = 0;
  while (Date.now() < t.holdUntil) {
    await sleep(Math.min(KEEPALIVE_MS / Math.max(1, sockets.length), t.holdUntil - Date.now()));
    const ws = sockets[turn++ % Math.max(1, sockets.length)];
    if (ws?.readyState === 1) ws.send(JSON.stringify({ type: 'ping', id: `keepalive-${turn}` }));
  }
  for (const ws of sockets) {
    held.add(ws?.readyState === 1);
    if (ws?.readyState === 1) ws.close();
  }
  await Promise.race([Promise.all(closed), sleep(5000)]);
}

export function handleSummary(data: Parameters<typeof summaryFile>[0]): Record<string, string> {
  return summaryFile(data);
}

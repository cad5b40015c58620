/**
 * The minimal hand-written counterpart of `multi-user` with WSGATE_MULTI_SCENARIO=stress_concurrent_connections:
 * raw k6/websockets, many users per VU on its event loop, the same paced ramp, a per-user token in the
 * Authorization header, the same sparse keep-alive ping, and the two figures a load test of this kind
 * cannot do without: did each connection get its connection_established, and was it still open at the end.
 */
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { WebSocket } from 'k6/websockets';
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

const connected = new Rate('bench_connected');
const held = new Rate('bench_held');

export default async function (): Promise<void> {
  const mine = usersOf(t, exec.scenario.iterationInTest);
  const sockets: (WebSocket | undefined)[] = [];
  const closed: Promise<void>[] = [];
  await Promise.all(
    mine.map(async (u, i) => {
      await sleep(t.rampStart + (u / t.rampPerS) * 1000 - Date.now());
      const token = mint(SECRET, `bench-min-${u}`, ISS, AUD);
      const ws = new WebSocket(URL, null, { headers: { Authorization: `Bearer ${token}`, Origin: 'http://localhost' } });
      sockets[i] = ws;
      let settled = false;
      closed.push(new Promise((r) => (ws.onclose = () => r())));
      ws.onmessage = (e) => {
        if (settled) return;
        const type = (JSON.parse(String(e?.data)) as { type?: string }).type;
        if (type !== 'connection_established') return warn(`user ${u}: ${type} before connection_established`);
        settled = true;
        connected.add(true);
      };
      ws.onerror = (e) => {
        if (settled) return;
        settled = true;
        connected.add(false);
        warn(`user ${u}: error before connection_established: ${JSON.stringify(e)}`);
      };
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

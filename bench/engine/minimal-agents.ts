/**
 * The engine's minimal hand-written counterpart of `multi-user` with
 * WSGATE_MULTI_SCENARIO=agent_execution, line for line bench/k6/minimal-agents.ts on the engine's API:
 * the same ramp and per-user token as minimal-hold.ts, then each user starts BENCH_RUNS agent runs on
 * the same schedule as wsgate's plan (one every BENCH_MS_PER_RUN ms, users staggered by (user % 97) /
 * 97 of a step), and records what a hand-written test would: the latency of every agent event by
 * type, and whether each run reached agent_completed.
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
const START_AT = Number(env('BENCH_START_AT'));
const RUNS = Number(env('BENCH_RUNS'));
const STEP_MS = Number(env('BENCH_MS_PER_RUN'));
const SETTLE_MS = Number(env('BENCH_SETTLE_MS'));
const TICK_MS = 10;
const KEEPALIVE_MS = 30_000;
const AGENT_EVENTS = new Set(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']);

export const options: Options = {
  scenarios: {
    agents: {
      executor: 'per-vu-iterations',
      vus: Math.ceil(t.users / t.perVu),
      iterations: 1,
      maxDuration: `${Math.ceil((t.holdUntil - Date.now()) / 1000) + 120}s`,
    },
  },
  // Always-true thresholds keep a sub-metric per event type, so the summary has each one's median.
  thresholds: Object.fromEntries([...AGENT_EVENTS].map((e) => [`bench_event_latency{event:${e}}`, ['max>=0']])),
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
};

const connected = runtime.metric('rate', 'bench_connected');
const completed = runtime.metric('rate', 'bench_run_completed');
const latency = runtime.metric('trend', 'bench_event_latency', true);

interface Run {
  at: number;
  user: number;
  ws: RuntimeSocket | undefined;
  id: string;
}

export default async function (): Promise<void> {
  const mine = usersOf(t, runtime.vu().iterationInTest);
  const sockets: (RuntimeSocket | undefined)[] = [];
  const closed: Promise<void>[] = [];
  /** message_id -> send time, for runs still waiting for agent_completed. */
  const pending = new Map<string, number>();
  await Promise.all(
    mine.map(async (u, i) => {
      await sleep(t.rampStart + (u / t.rampPerS) * 1000 - Date.now());
      const token = await mint(SECRET, `bench-min-${u}`, ISS, AUD);
      let settled = false;
      let onClosed: () => void = () => undefined;
      closed.push(new Promise((r) => (onClosed = r)));
      sockets[i] = runtime.openSocket(URL, { headers: { Authorization: `Bearer ${token}`, Origin: 'http://localhost' } }, {
        onMessage(data) {
          const m = JSON.parse(data) as { type?: string; message_id?: string };
          if (!settled && m.type === 'connection_established') {
            settled = true;
            connected.add(true);
            return;
          }
          if (!AGENT_EVENTS.has(m.type ?? '')) return;
          const sent = pending.get(m.message_id ?? '');
          if (sent === undefined) return;
          latency.add(Date.now() - sent, { event: m.type ?? '' });
          if (m.type === 'agent_completed') {
            completed.add(true);
            pending.delete(m.message_id ?? '');
          }
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

  // One time-ordered list of sends per VU, walked by one ticker, as wsgate's runner does.
  const jitterOf = (u: number): number => (u % 97) * (STEP_MS / 97);
  const due: Run[] = [];
  mine.forEach((u, i) => {
    for (let q = 0; q < RUNS; q++) due.push({ at: START_AT + q * STEP_MS + jitterOf(u), user: u, ws: sockets[i], id: `bench-min-${u}-m${q}` });
  });
  due.sort((a, b) => a.at - b.at);
  await sleep(START_AT - Date.now());
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = (): void => {
      const now = Date.now();
      while (next < due.length && (due[next]?.at ?? Infinity) <= now) {
        const r = due[next++];
        if (r?.ws?.readyState !== 1) continue;
        pending.set(r.id, Date.now());
        r.ws.send(JSON.stringify({ type: 'user_message', thread_id: `bench-min-${r.user}-t0`, message_id: r.id, content: 'bench run' }));
      }
      if (next >= due.length) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, TICK_MS);
    tick();
  });
  await sleep(START_AT + RUNS * STEP_MS + SETTLE_MS - Date.now());
  for (let i = 0; i < pending.size; i++) completed.add(false);
  pending.clear();

  let turn = 0;
  while (Date.now() < t.holdUntil) {
    await sleep(Math.min(KEEPALIVE_MS / Math.max(1, sockets.length), t.holdUntil - Date.now()));
    const ws = sockets[turn++ % Math.max(1, sockets.length)];
    if (ws?.readyState === 1) ws.send(JSON.stringify({ type: 'ping', id: `keepalive-${turn}` }));
  }
  for (const ws of sockets) if (ws?.readyState === 1) ws.close();
  await Promise.race([Promise.all(closed), sleep(5000)]);
}

export function handleSummary(data: Parameters<typeof summaryFile>[0]): Record<string, string> {
  return summaryFile(data);
}

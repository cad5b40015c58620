/**
 * What the minimal hand-written benchmark scripts share, whichever engine runs them:
 * bench/engine/minimal-*.ts on wsgate's engine and bench/k6/minimal-*.ts on k6 are both bundled
 * (bench/lib/harness.ts), so both import this. Pure: no k6 module, no Node, no `#runtime`; it runs
 * under either. Each script keeps its I/O native to its engine (the variables, sockets, metrics,
 * signing, sleeping) and hands it in; what lives here is the logic a hand-written script of either
 * kind would hold: the timeline the harness hands over in BENCH_* variables, which users a VU plays,
 * the token's claims, the options, how a connection's first frame and the agent events are judged,
 * the schedule of agent runs, the sparse keep-alive, the close, the summary file for the harness, and
 * the two iterations ({@link holdIteration}, {@link agentsIteration}) over the {@link Io} a script
 * hands in.
 */
import type { Options } from '../../lib/runtime/options.ts';

/** The run's variables (k6's __ENV, the runtime's env). */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Timeline {
  users: number;
  perVu: number;
  /** Epoch ms when user 0 connects; user u connects u / rampPerS seconds later. */
  rampStart: number;
  rampPerS: number;
  /** Epoch ms when the connections are closed. */
  holdUntil: number;
}

/** A variable the bench harness sets. */
function required(env: Env, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set; the bench harness sets it`);
  return v;
}

/** A numeric variable the bench harness sets. */
function num(env: Env, name: string): number {
  const v = Number(env[name]);
  if (!Number.isFinite(v)) throw new Error(`${name} is "${env[name]}"; the bench harness sets it to a number`);
  return v;
}

export function timeline(env: Env): Timeline {
  return {
    users: num(env, 'BENCH_USERS'),
    perVu: num(env, 'BENCH_CONNECTIONS_PER_VU'),
    rampStart: num(env, 'BENCH_RAMP_START'),
    rampPerS: num(env, 'BENCH_RAMP_PER_S'),
    holdUntil: num(env, 'BENCH_HOLD_UNTIL'),
  };
}

/** Epoch ms when user `u` connects. */
const connectAt = (t: Timeline, u: number): number => t.rampStart + (u / t.rampPerS) * 1000;

/** The users of this VU's iteration: [first, first + perVu), cut at `users`. */
export function usersOf(t: Timeline, vuIndex: number): number[] {
  const first = vuIndex * t.perVu;
  const n = Math.max(0, Math.min(t.users, first + t.perVu) - first);
  return Array.from({ length: n }, (_, i) => first + i);
}

/** The service and the token's secret and claims, from the harness. */
export interface Target {
  url: string;
  secret: string;
  issuer: string;
  audience: string;
}

export function target(env: Env): Target {
  return { url: required(env, 'BENCH_WS_URL'), secret: required(env, 'BENCH_JWT_SECRET'), issuer: required(env, 'BENCH_ISSUER'), audience: required(env, 'BENCH_AUDIENCE') };
}

/** The user id a benchmark user connects as. */
export const userId = (u: number): string => `bench-min-${u}`;

/**
 * `header.payload` of an HS256 access token for `sub`, shaped like the reference auth service's (the
 * claims wsgate's mint source signs: sub, iss, aud, iat, exp, jti); the script signs it natively.
 */
export function unsignedToken(to: Target, sub: string, base64url: (text: string) => string): string {
  const now = Math.floor(Date.now() / 1000);
  const jti = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  return `${header}.${base64url(JSON.stringify({ sub, iss: to.issuer, aud: to.audience, iat: now, exp: now + 900, jti }))}`;
}

/** The handshake's headers: the token as a Bearer, and the Origin the reference service allows. */
export const handshakeHeaders = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}`, Origin: 'http://localhost' });

/** One iteration per VU, each VU playing `perVu` users, bounded by the hold plus two minutes. */
export function minimalOptions(scenario: string, t: Timeline, extra: Omit<Options, 'scenarios' | 'summaryTrendStats'> = {}): Options {
  return {
    scenarios: {
      [scenario]: {
        executor: 'per-vu-iterations',
        vus: Math.ceil(t.users / t.perVu),
        iterations: 1,
        maxDuration: `${Math.ceil((t.holdUntil - Date.now()) / 1000) + 120}s`,
      },
    },
    ...extra,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  };
}

/**
 * The agents script's options: the minimal ones, plus an always-true threshold per agent event type,
 * so that the engine (and k6) keep a sub-metric per type and the summary has each one's median.
 */
export function agentsOptions(t: Timeline): Options {
  return minimalOptions('agents', t, { thresholds: Object.fromEntries([...AGENT_EVENTS].map((e) => [`bench_event_latency{event:${e}}`, ['max>=0']])) });
}

/** A socket as far as the scripts use it; k6's WebSocket and the runtime's socket both are one. */
export interface Socket {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
}

const OPEN = 1;

/** The native metric objects (k6's Rate and Trend, the runtime's handles): only `add` is used. */
export interface Rate {
  add(ok: boolean): void;
}
export interface Trend {
  add(value: number, tags?: Record<string, string>): void;
}

let warned = 0;
/** At most a few lines per VU or worker: enough to explain a failure, never a flood. */
function warn(line: string): void {
  if (++warned <= 3) console.warn(line);
}

/** What the scripts read of a frame. */
export interface Frame {
  type?: string;
  message_id?: string;
}

export function frameOf(data: string): Frame {
  return JSON.parse(data) as Frame;
}

/** Whether user `u`'s connection got its connection_established: recorded once, in `connected`. */
export function greeting(connected: Rate, u: number) {
  let settled = false;
  return {
    /** A frame of the connection; true when it settled the connection (nothing more to do with it). */
    frame(type: string | undefined): boolean {
      if (settled) return false;
      if (type !== 'connection_established') {
        warn(`user ${u}: ${type} before connection_established`);
        return false;
      }
      settled = true;
      connected.add(true);
      return true;
    },
    /** The connection failed (refused, errored) before its greeting. */
    failed(why: string): void {
      if (settled) return;
      settled = true;
      connected.add(false);
      warn(`user ${u}: ${why} before connection_established`);
    },
  };
}

export const AGENT_EVENTS = new Set(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']);

/** The agent runs one VU started: each event's latency since its run was sent, by type, and whether each run completed. */
export class AgentRuns {
  /** message_id -> send time, for runs still waiting for agent_completed. */
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly completed: Rate,
    private readonly latency: Trend,
  ) {}

  sent(id: string): void {
    this.pending.set(id, Date.now());
  }

  /** A frame of one of this VU's connections. */
  frame(m: Frame): void {
    if (!AGENT_EVENTS.has(m.type ?? '')) return;
    const sent = this.pending.get(m.message_id ?? '');
    if (sent === undefined) return;
    this.latency.add(Date.now() - sent, { event: m.type ?? '' });
    if (m.type === 'agent_completed') {
      this.completed.add(true);
      this.pending.delete(m.message_id ?? '');
    }
  }

  /** The settle time is over: a run still waiting never completed. */
  settle(): void {
    for (let i = 0; i < this.pending.size; i++) this.completed.add(false);
    this.pending.clear();
  }
}

/**
 * The agent runs' schedule, as wsgate's plan has it: from `startAt`, `runs` runs per user, one every
 * `stepMs`, users staggered by (user % 97) / 97 of a step; then `settleMs` for the last ones to end.
 */
export interface RunSchedule {
  startAt: number;
  runs: number;
  stepMs: number;
  settleMs: number;
}

export function runSchedule(env: Env): RunSchedule {
  return { startAt: num(env, 'BENCH_START_AT'), runs: num(env, 'BENCH_RUNS'), stepMs: num(env, 'BENCH_MS_PER_RUN'), settleMs: num(env, 'BENCH_SETTLE_MS') };
}

const TICK_MS = 10;

/**
 * Sends every user's runs on schedule (one time-ordered list per VU, walked by one ticker, as wsgate's
 * runner does), then waits out the settle time: a run still waiting then never completed.
 */
async function playRuns(s: RunSchedule, users: readonly number[], sockets: readonly (Socket | undefined)[], runs: AgentRuns, sleep: (ms: number) => Promise<void>): Promise<void> {
  const jitterOf = (u: number): number => (u % 97) * (s.stepMs / 97);
  const due: { at: number; user: number; ws: Socket | undefined; id: string }[] = [];
  users.forEach((u, i) => {
    for (let q = 0; q < s.runs; q++) due.push({ at: s.startAt + q * s.stepMs + jitterOf(u), user: u, ws: sockets[i], id: `${userId(u)}-m${q}` });
  });
  due.sort((a, b) => a.at - b.at);
  await sleep(s.startAt - Date.now());
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = (): void => {
      const now = Date.now();
      while (next < due.length && (due[next]?.at ?? Infinity) <= now) {
        const r = due[next++];
        if (r?.ws?.readyState !== OPEN) continue;
        runs.sent(r.id);
        r.ws.send(JSON.stringify({ type: 'user_message', thread_id: `${userId(r.user)}-t0`, message_id: r.id, content: 'bench run' }));
      }
      if (next >= due.length) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, TICK_MS);
    tick();
  });
  await sleep(s.startAt + s.runs * s.stepMs + s.settleMs - Date.now());
  runs.settle();
}

const KEEPALIVE_MS = 30_000;

/** Until `until`, one app ping per connection every 30 s, spread over the connections in turn. */
async function keepAlive(sockets: readonly (Socket | undefined)[], until: number, sleep: (ms: number) => Promise<void>): Promise<void> {
  let turn = 0;
  while (Date.now() < until) {
    await sleep(Math.min(KEEPALIVE_MS / Math.max(1, sockets.length), until - Date.now()));
    const ws = sockets[turn++ % Math.max(1, sockets.length)];
    if (ws?.readyState === OPEN) ws.send(JSON.stringify({ type: 'ping', id: `keepalive-${turn}` }));
  }
}

/** Closes the connections still open (recording in `held` whether each was), and waits up to 5 s for them to close. */
async function closeAll(sockets: readonly (Socket | undefined)[], closed: readonly Promise<void>[], sleep: (ms: number) => Promise<void>, held?: Rate): Promise<void> {
  for (const ws of sockets) {
    held?.add(ws?.readyState === OPEN);
    if (ws?.readyState === OPEN) ws.close();
  }
  await Promise.race([Promise.all(closed), sleep(5000)]);
}

/** The end-of-test metric values, for the harness to read from BENCH_SUMMARY_FILE. */
export function summaryFile(env: Env, data: { metrics: Record<string, { values?: Record<string, number> }> }): Record<string, string> {
  const out: Record<string, Record<string, number>> = {};
  for (const [name, m] of Object.entries(data.metrics)) if (m.values) out[name] = m.values;
  return { [required(env, 'BENCH_SUMMARY_FILE')]: JSON.stringify({ metrics: out }) };
}

/** A connection a script opened, and when it closed. */
export interface Opened<S extends Socket> {
  ws: S;
  closed: Promise<void>;
}

/** What a script hands in of its engine: opening a user's connection, and sleeping. */
export interface Io<S extends Socket> {
  /**
   * Opens user `u`'s connection now, with its own token: its greeting settles the script's
   * `bench_connected` ({@link greeting}), its later frames go to `onFrame`.
   */
  open(u: number, onFrame?: (m: Frame) => void): Opened<S> | Promise<Opened<S>>;
  sleep(ms: number): Promise<void>;
}

/** Opens each of `users` at its time in the ramp; resolves once every handshake has started. */
async function connectEach<S extends Socket>(io: Io<S>, t: Timeline, users: readonly number[], onFrame?: (m: Frame) => void): Promise<{ sockets: S[]; closed: Promise<void>[] }> {
  const sockets: S[] = [];
  const closed: Promise<void>[] = [];
  await Promise.all(
    users.map(async (u, i) => {
      await io.sleep(connectAt(t, u) - Date.now());
      const opened = await io.open(u, onFrame);
      sockets[i] = opened.ws;
      closed[i] = opened.closed;
    }),
  );
  return { sockets, closed };
}

/** The hold script's iteration: its users connect on the ramp, are kept alive to the end of the hold, and `held` says whether each still was. */
export async function holdIteration<S extends Socket>(io: Io<S>, t: Timeline, users: readonly number[], held: Rate): Promise<void> {
  const { sockets, closed } = await connectEach(io, t, users);
  await keepAlive(sockets, t.holdUntil, io.sleep);
  await closeAll(sockets, closed, io.sleep, held);
}

/** The agents script's iteration: its users connect on the ramp, play their agent runs on schedule into `runs`, and are kept alive to the end of the hold. */
export async function agentsIteration<S extends Socket>(io: Io<S>, t: Timeline, schedule: RunSchedule, users: readonly number[], runs: AgentRuns): Promise<void> {
  const { sockets, closed } = await connectEach(io, t, users, (m) => runs.frame(m));
  await playRuns(schedule, users, sockets, runs, io.sleep);
  await keepAlive(sockets, t.holdUntil, io.sleep);
  await closeAll(sockets, closed, io.sleep);
}

/**
 * Runs one VU's share of a multi-user plan. A VU holds many users' connections on its event loop
 * (one VU per connection would cost megabytes each). Phases, all on timers so the loop never blocks:
 *   1. ramp: user u opens at rampStart + u / rampPerS seconds, so the whole test ramps at rampPerS;
 *   2. at startAt every VU begins its users' sends from the shared plan (one ticker per VU);
 *   3. at startAt + window + settle each user's ledger is judged into delivery metrics and checks;
 *   4. connections are held (with a sparse keep-alive ping) until holdUntil, then closed.
 * Tokens are minted or fetched per user as it connects: nothing per user is kept in setup data,
 * which k6 would copy into every VU.
 */
import type { Config } from '../core/config.ts';
import { delivery, duplicates, isolationViolations, messageLatency, outOfOrder } from '../metrics.ts';
import { expect, sleepMs } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { runAgentsOn } from '../checks/agents.ts';
import { Ledger, asEnvelope } from '../core/multi-plan.ts';
import type { Plan, Send } from '../core/multi-plan.ts';
import { PATTERNS } from '../core/multi-plan.ts';

export interface Timing {
  /** Epoch ms when the first connection of the whole test opens. */
  rampStart: number;
  rampPerS: number;
  /** Epoch ms when sends begin (after the ramp, for every VU alike). */
  startAt: number;
  /** Milliseconds over which each user's sends are spread. */
  windowMs: number;
  /** Milliseconds after the window before ledgers are judged. */
  settleMs: number;
  /** Epoch ms when connections are closed. */
  holdUntil: number;
}

/** One tag object per pattern, made once: per-message samples allocate no tags. */
const PATTERN_TAGS = Object.fromEntries(PATTERNS.map((p) => [p, { pattern: p }])) as Record<string, { pattern: string } | undefined>;

/** Ticks of the VU's send scheduler. */
const TICK_MS = 10;
/** Keep-alive ping period while holding, so proxies see traffic and dead peers show. */
const KEEPALIVE_MS = 30_000;

interface User {
  index: number;
  session: Session | undefined;
  /** Only users in chat groups receive user-to-user messages, so only they keep a ledger. */
  ledger: Ledger | undefined;
}

export async function runUsers(config: Config, tokens: TokenProvider, plan: Plan, users: number[], timing: Timing): Promise<void> {
  const states: User[] = users.map((index) => ({
    index,
    session: undefined,
    ledger: plan.role(plan.group(index)) === 'chat' ? new Ledger(plan, index) : undefined,
  }));

  // 1. ramp: one ticker per VU opens each user when its time comes (no timer per user)
  await everyTick(states, (u) => timing.rampStart + (u.index / timing.rampPerS) * 1000, (u) => open(config, tokens, plan, u));

  // 2. sends, from one time-ordered list per VU
  const due: { at: number; user: User; send: Send }[] = [];
  for (const u of states) for (const send of plan.sendsOf(u.index, timing.windowMs)) due.push({ at: timing.startAt + send.at, user: u, send });
  due.sort((a, b) => a.at - b.at);
  let runNumber = 0;
  // Resolves once every send went out and every agent run started here has been judged.
  await everyTick(due, (d) => d.at, (d) => dispatch(d.user, d.send, Date.now()));
  /** Sends one planned message, or starts one agent run and returns it. */
  function dispatch(u: User, send: Send, now: number): Promise<unknown> | undefined {
    const s = u.session;
    if (!s || s.state !== 'open') return undefined;
    if (send.kind === 'agent') return runAgentsOn(s, config, { runs: 1, label: `r${++runNumber}-` });
    const e = send.envelope;
    if (!e) return undefined;
    const content = { ...e, t: now };
    const id = `${u.index}-${e.p}-${e.q}`;
    if (send.kind === 'direct') s.send(s.codec.direct(plan.userId(Number(send.to)), id, content));
    else s.send(s.codec.roomMessage(String(send.to), id, content));
    return undefined;
  }

  // 3. judge
  await sleepMs(Math.max(0, timing.startAt + timing.windowMs + timing.settleMs - Date.now()));
  for (const u of states) judge(u);

  // 4. hold, then close
  await holdAll(states, timing.holdUntil);
  await Promise.all(states.map((u) => u.session?.closeAndWait()));
}

/**
 * Runs `act` on each item (sorted by `at`) once its time has come, from one interval timer, and
 * resolves when every item has run and every promise an action returned has settled.
 */
function everyTick<T>(items: T[], at: (item: T) => number, act: (item: T) => Promise<unknown> | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    let next = 0;
    const pending: Promise<unknown>[] = [];
    const tick = (): void => {
      const now = Date.now();
      while (next < items.length && at(items[next] as T) <= now) {
        const p = act(items[next++] as T);
        if (p) pending.push(p);
      }
      if (next >= items.length) {
        clearInterval(timer);
        void Promise.all(pending).then(() => resolve());
      }
    };
    const timer = setInterval(tick, TICK_MS);
    tick();
  });
}

async function open(config: Config, tokens: TokenProvider, plan: Plan, u: User): Promise<void> {
  const me = plan.userId(u.index);
  const cred = await tokens.credentialFor(me);
  const s = new Session(config, { userId: cred.userId, token: cred.token, connectTimeoutMs: 30_000 });
  u.session = s;
  const ledger = u.ledger;
  if (ledger) s.onMessage((m) => {
    // Direct messages for someone else are already counted by the session's own isolation guard.
    const forMe = m.kind === 'room' || (m.kind === 'direct' && m.to === me);
    if (!forMe) return;
    const e = asEnvelope(m.content);
    if (!e) return;
    const outcome = ledger.receive(e, m.kind === 'direct' ? m.to : me);
    const tags = PATTERN_TAGS[e.p] ?? { pattern: String(e.p) };
    if (outcome === 'violation') isolationViolations.add(1, tags);
    else if (outcome === 'duplicate') duplicates.add(1, tags);
    else {
      if (outcome === 'out_of_order') outOfOrder.add(1, tags);
      messageLatency.add(Date.now() - e.t, tags);
    }
  });
  if (!(await s.opened())) return;
  for (const room of plan.roomsOf(u.index)) {
    // A dialect without rooms has nothing to wait for (a plan that needs rooms is not applicable there).
    if (!s.send(s.codec.joinRoom(room))) break;
    await s.next((m) => m.kind === 'room-joined' && m.room === room, 10_000);
  }
}

function judge(u: User): void {
  for (const v of u.ledger?.verdicts() ?? []) {
    const tags = PATTERN_TAGS[v.pattern] ?? { pattern: String(v.pattern) };
    for (let i = 0; i < v.expected; i++) delivery.add(i < v.delivered, tags);
    expect(
      v.delivered === v.expected && v.duplicates === 0 && v.outOfOrder === 0,
      `${v.pattern}: every message reaches its recipient exactly once, in order`,
      () => `user ${u.index} stream ${v.stream}: ${v.delivered} of ${v.expected} delivered, ${v.duplicates} duplicate(s), ${v.outOfOrder} out of order`,
    );
  }
  const foreign = u.session?.foreign ?? [];
  const f = foreign[0];
  expect((u.ledger?.violations ?? 0) === 0 && foreign.length === 0, 'user receives nothing addressed to others', () =>
    u.ledger?.firstViolation ??
    `user ${u.index} received ${foreign.length} message(s) of others, first ${f?.label ?? '?'} belonging to ${f?.owner ?? '?'}`,
  );
}

async function holdAll(states: User[], until: number): Promise<void> {
  // One timer per VU walks the sessions, instead of a timer per connection.
  let turn = 0;
  while (Date.now() < until) {
    await sleepMs(Math.min(KEEPALIVE_MS / Math.max(1, states.length), until - Date.now()));
    const u = states[turn++ % Math.max(1, states.length)];
    // Where the protocol has no application ping, the server's own heartbeats keep the connection busy.
    if (u?.session?.state === 'open') u.session.send(u.session.codec.ping(`keepalive-${turn}`));
  }
  for (const u of states) {
    expect(u.session?.state === 'open', 'connection stays open for the whole hold', () =>
      u.session ? `user ${u.index}: closed with ${u.session.closeInfo?.code} after ${Math.round((u.session.closeInfo?.afterMs ?? 0) / 1000)} s` : `user ${u.index}: never opened`,
    );
  }
}

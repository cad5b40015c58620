/**
 * Does every agent run deliver all its events, in order? Runs are started on one connection, all
 * in flight at once, and each is judged by RunTracker: five events, in order, one run id, rising
 * seq, before the deadline. Latency from the message that started the run to each event goes to a Trend per type.
 */
import type { Config } from '../core/config.ts';
import { agentEventCompletion, eventLatency } from '../metrics.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { AGENT_EVENTS } from '../dialects/dialect.ts';
import { RunTracker } from '../core/runs.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';

export interface AgentRunOptions {
  runs: number;
  /** Milliseconds between starting consecutive runs. */
  staggerMs?: number;
  /** Milliseconds to keep watching after the last run finished (at least config.agentSettleMs). */
  lingerMs?: number;
  /** Part of each run's message id; callers that start runs on one session more than once must vary it. */
  label?: string;
}

/** One tag object per event type, made once: a sample on the hot path allocates no tags. */
const EVENT_TAGS = Object.fromEntries(AGENT_EVENTS.map((e) => [e, { event: e }])) as Record<(typeof AGENT_EVENTS)[number], { event: string }>;

interface RunState {
  tracker: RunTracker;
  sentAt: number;
  /** ms from the start message to the first agent_completed. */
  tookMs: number | undefined;
}

/**
 * Runs `opts.runs` agent runs on one session and judges each; returns how many completed.
 *
 * Lean on purpose (thousands of runs per VU in stress runs): one listener per call, runs found by
 * message id in a map, and one timer for the deadline of them all, never a listener or timer per run.
 */
export async function runAgentsOn(session: Session, config: Config, opts: AgentRunOptions): Promise<number> {
  const runs = new Map<string, RunState>();
  let finished = 0;
  let allFinished: (() => void) | undefined;
  session.onMessage((m) => {
    if (m.kind !== 'agent-event') return;
    const e = m.event;
    const run = runs.get(e.runRef);
    if (!run) return;
    run.tracker.add(e);
    const elapsed = Date.now() - run.sentAt;
    eventLatency.add(elapsed, EVENT_TAGS[e.type]);
    if (e.type === 'agent_completed' && run.tookMs === undefined) {
      run.tookMs = elapsed;
      if (++finished === opts.runs) allFinished?.();
    }
  });
  const everyRunFinished = new Promise<void>((resolve) => (allFinished = resolve));
  const startedAt = Date.now();
  for (let i = 0; i < opts.runs; i++) {
    const messageId = `${session.userId}-${opts.label ?? 'm'}${i}`;
    runs.set(messageId, { tracker: new RunTracker(session.userId, messageId), sentAt: Date.now(), tookMs: undefined });
    session.send(session.codec.startRun(messageId, `${session.userId}-t${i % 2}`, `wsgate probe run ${i}`));
    if (opts.staggerMs) await sleepMs(opts.staggerMs);
  }
  let deadline: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    everyRunFinished,
    session.closed(),
    new Promise<void>((resolve) => (deadline = setTimeout(resolve, Math.max(0, startedAt + config.agentDeadlineMs + (opts.staggerMs ?? 0) * opts.runs - Date.now())))),
  ]);
  clearTimeout(deadline);
  // Judged only after the settle window: a duplicate or stray event after agent_completed must be seen.
  const settle = Math.max(opts.lingerMs ?? 0, config.agentSettleMs);
  if (settle > 0) await sleepMs(settle);
  let completed = 0;
  for (const { tracker: t, tookMs: took } of runs.values()) {
    const v = t.verdict();
    const inTime = took !== undefined && took <= config.agentDeadlineMs;
    const ok = v.complete && inTime;
    agentEventCompletion.add(ok);
    if (ok) completed++;
    expect(ok, 'agent run delivers all five events in order, one run id, rising seq, within the deadline', () => {
      const problems = [...v.problems];
      if (took === undefined) problems.push(`no agent_completed within ${config.agentDeadlineMs} ms`);
      else if (!inTime) problems.push(`completed after ${took} ms, deadline ${config.agentDeadlineMs} ms`);
      return `run ${v.runId ?? '(none)'} of message ${t.runRef}: ${problems.join('; ')}`;
    });
  }
  return completed;
}

export async function checkAgentEvents(config: Config, tokens: TokenProvider, runs: number): Promise<void> {
  const cred = await tokens.credentialFor(uniqueUser('agent'));
  const session = new Session(config, { userId: cred.userId, token: cred.token });
  if (!expect(await session.opened(), 'connection opens for agent runs', () => `close ${session.closeInfo?.code ?? 'none'}`)) {
    for (let i = 0; i < runs; i++) agentEventCompletion.add(false);
    return;
  }
  await runAgentsOn(session, config, { runs, staggerMs: 5 });
  await session.closeAndWait();
}

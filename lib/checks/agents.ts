/**
 * Does every agent run deliver all its events, in order? Runs are started on one connection, all
 * in flight at once, and each is judged by RunTracker: five events, in order, one run id, rising
 * seq, before the deadline. Latency from the user_message to each event goes to a Trend per type.
 */
import type { Config } from '../config.ts';
import { agentEventCompletion, eventLatency } from '../metrics.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { RunTracker, isAgentEvent, messages } from '../protocol/chat.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';

export interface AgentRunOptions {
  runs: number;
  /** Milliseconds between starting consecutive runs. */
  staggerMs?: number;
  /** Milliseconds to keep the connection open after the last run, so late strays are seen. */
  lingerMs?: number;
  /** Part of each run's message id; callers that start runs on one session more than once must vary it. */
  label?: string;
}

/** Runs `opts.runs` agent runs on one session and judges each; returns how many completed. */
export async function runAgentsOn(session: Session, config: Config, opts: AgentRunOptions): Promise<number> {
  const trackers: RunTracker[] = [];
  const sentAt: Record<string, number> = {};
  const tookMs: Record<string, number> = {};
  session.onMessage((m) => {
    if (!isAgentEvent(m)) return;
    const tracker = trackers.find((t) => t.accepts(m));
    if (!tracker) return;
    tracker.add(m);
    const elapsed = Date.now() - (sentAt[tracker.messageId] ?? Date.now());
    eventLatency.add(elapsed, { event: m.type });
    if (m.type === 'agent_completed') tookMs[tracker.messageId] = elapsed;
  });
  const done: Promise<unknown>[] = [];
  for (let i = 0; i < opts.runs; i++) {
    const messageId = `${session.userId}-${opts.label ?? 'm'}${i}`;
    const tracker = new RunTracker(session.userId, messageId);
    trackers.push(tracker);
    sentAt[messageId] = Date.now();
    session.send(messages.startRun(`${session.userId}-t${i % 2}`, messageId, `wsgate probe run ${i}`));
    done.push(session.next((m) => m.type === 'agent_completed' && m['message_id'] === messageId, config.agentDeadlineMs));
    if (opts.staggerMs) await sleepMs(opts.staggerMs);
  }
  await Promise.all(done);
  if (opts.lingerMs) await sleepMs(opts.lingerMs);
  let completed = 0;
  for (const t of trackers) {
    const v = t.verdict();
    const took = tookMs[t.messageId];
    const inTime = took !== undefined && took <= config.agentDeadlineMs;
    const ok = v.complete && inTime;
    agentEventCompletion.add(ok);
    if (ok) completed++;
    expect(ok, 'agent run delivers all five events in order, one run id, rising seq, within the deadline', () => {
      const problems = [...v.problems];
      if (took === undefined) problems.push(`no agent_completed within ${config.agentDeadlineMs} ms`);
      else if (!inTime) problems.push(`completed after ${took} ms, deadline ${config.agentDeadlineMs} ms`);
      return `run ${v.runId ?? '(none)'} of message ${t.messageId}: ${problems.join('; ')}`;
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

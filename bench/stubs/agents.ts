/**
 * Experiment stub (bench/overhead.ts, variant lean-agents; either engine): stands in for lib/checks/agents.ts inside
 * the multi-user runner. Same observable figures per run and per event (wsgate_event_latency by
 * type, wsgate_agent_event_completion) but one message listener per session and a Map of pending
 * runs, instead of a listener, a RunTracker, a waiter and a check per run. The CPU and memory it
 * saves is what wsgate's per-run machinery costs.
 */
import type { Config } from '../../lib/core/config.ts';
import { agentEventCompletion, eventLatency } from '../../lib/metrics.ts';
import type { Session } from '../../lib/session.ts';

export interface AgentRunOptions {
  runs: number;
  staggerMs?: number;
  lingerMs?: number;
  label?: string;
}

interface Pending {
  sentAt: number;
  done: (ok: boolean) => void;
}

const bySession = new WeakMap<Session, Map<string, Pending>>();

function pendingOf(session: Session): Map<string, Pending> {
  let pending = bySession.get(session);
  if (pending) return pending;
  const p = new Map<string, Pending>();
  bySession.set(session, p);
  session.onMessage((m) => {
    if (m.kind !== 'agent-event') return;
    const run = p.get(m.event.runRef);
    if (!run) return;
    eventLatency.add(Date.now() - run.sentAt, { event: m.event.type });
    if (m.event.type === 'agent_completed') {
      p.delete(m.event.runRef);
      run.done(true);
    }
  });
  return p;
}

export async function runAgentsOn(session: Session, config: Config, opts: AgentRunOptions): Promise<number> {
  const pending = pendingOf(session);
  const runs: Promise<boolean>[] = [];
  for (let i = 0; i < opts.runs; i++) {
    const messageId = `${session.userId}-${opts.label ?? 'm'}${i}`;
    runs.push(
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(messageId);
          resolve(false);
        }, config.agentDeadlineMs);
        pending.set(messageId, {
          sentAt: Date.now(),
          done: (ok) => {
            clearTimeout(timer);
            resolve(ok);
          },
        });
      }),
    );
    session.send(session.codec.startRun(messageId, `${session.userId}-t${i % 2}`, `wsgate probe run ${i}`));
  }
  let completed = 0;
  for (const ok of await Promise.all(runs)) {
    agentEventCompletion.add(ok);
    if (ok) completed++;
  }
  return completed;
}

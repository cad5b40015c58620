/**
 * Judging one agent run from its events, whatever the dialect: all five, in order, each once, one run
 * id, seq rising, every event for the expected user. Pure module.
 */
import { AGENT_EVENTS } from '../dialects/dialect.ts';
import type { AgentEvent } from '../dialects/dialect.ts';

export interface RunVerdict {
  complete: boolean;
  /** One short phrase per problem, e.g. "missing tool_completed". Empty when complete. */
  problems: string[];
  runId: string | undefined;
}

/** Collects the events of one run (matched by the reference that started it) and judges them. */
export class RunTracker {
  readonly events: AgentEvent[] = [];
  constructor(
    readonly userId: string,
    readonly runRef: string,
  ) {}

  add(e: AgentEvent): void {
    this.events.push(e);
  }

  get finished(): boolean {
    return this.events.some((e) => e.type === 'agent_completed');
  }

  verdict(): RunVerdict {
    const problems: string[] = [];
    const types = this.events.map((e) => e.type);
    for (const t of AGENT_EVENTS) {
      const n = types.filter((x) => x === t).length;
      if (n === 0) problems.push(`missing ${t}`);
      if (n > 1) problems.push(`${t} received ${n} times`);
    }
    if (problems.length === 0 && types.join() !== AGENT_EVENTS.join()) problems.push(`out of order: ${types.join(' > ')}`);
    const runIds = [...new Set(this.events.map((e) => e.runId))];
    if (runIds.length > 1) problems.push(`${runIds.length} run ids (${runIds.join(', ')})`);
    for (let i = 1; i < this.events.length; i++) {
      const prev = this.events[i - 1]?.seq ?? 0;
      const cur = this.events[i]?.seq ?? 0;
      if (!(cur > prev)) {
        problems.push(`seq does not rise (${prev} then ${cur})`);
        break;
      }
    }
    const foreign = this.events.filter((e) => e.userId !== this.userId);
    if (foreign.length > 0) problems.push(`${foreign.length} event(s) carry user ${foreign[0]?.userId}`);
    return { complete: problems.length === 0, problems, runId: runIds[0] };
  }
}

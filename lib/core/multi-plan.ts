/**
 * The multi-user plan: who is in which group, what each user sends and when, and what each user must
 * receive. Every VU computes the same plan from (users, groupSize, messages, role weights), so no VU
 * needs to talk to another to know what to expect. Pure module: unit-tested in Node.
 *
 * Users are numbered 0..users-1 and split into groups of `groupSize`. A group has one role:
 *   chat   - three messaging patterns inside the group:
 *            targeted   member i sends `messages` direct messages to member i+1 (mod size);
 *            broadcast  member 0 sends `messages` messages to the group's broadcast room;
 *            sequential members take turns: turn t (0..messages*size-1) is member t mod size's,
 *                       in the group's turn room, so every member sees every turn in order;
 *   agent  - each member runs `messages` agent runs;
 *   idle   - members connect and hold (stress_concurrent_connections).
 */
import type { Need } from './needs.ts';
import type { BusinessScenario } from './config.ts';

export const PATTERNS = ['targeted', 'broadcast', 'sequential'] as const;
type Pattern = (typeof PATTERNS)[number];
export type Role = 'chat' | 'agent' | 'idle';



export interface PlanOptions {
  users: number;
  groupSize: number;
  /** Messages per sender per pattern (and agent runs per user in agent groups). */
  messages: number;
  scenario: BusinessScenario;
  /** For `mixed`: the percentage of groups that run agents; the rest chat. */
  agentPercent: number;
}

/** What travels in `content`: sender, intended recipients, sequence number, send time. */
export interface Envelope {
  /** Pattern. */
  p: Pattern;
  /** Sender's user index. */
  s: number;
  /** Intended recipients: user indices for direct messages, the room name for room patterns. */
  r: number[] | string;
  /** Sequence number within the sender's stream (targeted, broadcast) or the turn (sequential). */
  q: number;
  /** Send time, ms since the epoch (same clock as the receiver: both are this k6 process). */
  t: number;
}

export interface Send {
  /** Milliseconds after the plan's start. */
  at: number;
  kind: 'direct' | 'room' | 'agent';
  envelope: Envelope | undefined;
  /** Recipient user index (direct) or room name (room). */
  to: number | string | undefined;
}

export class Plan {
  readonly groups: number;
  constructor(
    readonly o: PlanOptions,
    readonly nonce: string,
  ) {
    this.groups = Math.ceil(o.users / o.groupSize);
  }

  group(user: number): number {
    return Math.floor(user / this.o.groupSize);
  }

  /** Members of a group: [first, first + size). The last group may be smaller. */
  members(group: number): { first: number; size: number } {
    const first = group * this.o.groupSize;
    return { first, size: Math.min(this.o.groupSize, this.o.users - first) };
  }

  role(group: number): Role {
    switch (this.o.scenario) {
      case 'chat':
        return 'chat';
      case 'agent_execution':
        return 'agent';
      case 'stress_concurrent_connections':
        return 'idle';
      case 'mixed':
        // Spread agent groups evenly instead of clustering them at one end.
        return Math.floor(((group + 1) * this.o.agentPercent) / 100) > Math.floor((group * this.o.agentPercent) / 100) ? 'agent' : 'chat';
    }
  }

  /**
   * What the dialect must have for this plan: direct messages and rooms where a group chats, agent
   * runs where one runs agents. A dialect without them makes the run "not applicable", never a pass.
   */
  needs(): Need[] {
    const roles = new Set<Role>();
    for (let g = 0; g < this.groups; g++) roles.add(this.role(g));
    return [...(roles.has('agent') ? (['agent-runs'] as const) : []), ...(roles.has('chat') ? (['direct-messages', 'rooms'] as const) : [])];
  }

  userId(user: number): string {
    return `wsgate-mu-${this.nonce}-${user}`;
  }

  /** Inverse of userId for ids of this plan; undefined for anyone else's id. */
  userIndex(id: string): number | undefined {
    const prefix = `wsgate-mu-${this.nonce}-`;
    if (!id.startsWith(prefix)) return undefined;
    const n = Number(id.slice(prefix.length));
    return Number.isInteger(n) && n >= 0 && n < this.o.users ? n : undefined;
  }

  room(group: number, pattern: 'broadcast' | 'sequential'): string {
    return `wsgate-mu-${this.nonce}-${pattern === 'broadcast' ? 'b' : 's'}${group}`;
  }

  /** Rooms a user joins before the plan starts. */
  roomsOf(user: number): string[] {
    const g = this.group(user);
    return this.role(g) === 'chat' ? [this.room(g, 'broadcast'), this.room(g, 'sequential')] : [];
  }

  /**
   * Everything `user` sends, spread over `windowMs`, in time order. Users start at staggered
   * offsets so a large plan does not fire every send on the same millisecond.
   */
  sendsOf(user: number, windowMs: number): Send[] {
    const g = this.group(user);
    const { first, size } = this.members(g);
    const i = user - first;
    const k = this.o.messages;
    const step = windowMs / Math.max(1, k);
    const jitter = (user % 97) * (step / 97);
    const out: Send[] = [];
    const role = this.role(g);
    if (role === 'agent') {
      for (let q = 0; q < k; q++) out.push({ at: q * step + jitter, kind: 'agent', envelope: undefined, to: undefined });
    }
    if (role !== 'chat' || size < 1) return out;
    if (size > 1) {
      const to = first + ((i + 1) % size);
      for (let q = 0; q < k; q++) {
        out.push({ at: q * step + jitter, kind: 'direct', to, envelope: { p: 'targeted', s: user, r: [to], q, t: 0 } });
      }
    }
    if (i === 0) {
      const room = this.room(g, 'broadcast');
      for (let q = 0; q < k; q++) out.push({ at: q * step + step / 3, kind: 'room', to: room, envelope: { p: 'broadcast', s: user, r: room, q, t: 0 } });
    }
    const turns = this.room(g, 'sequential');
    const turnStep = windowMs / Math.max(1, k * size);
    for (let t = i; t < k * size; t += size) {
      out.push({ at: t * turnStep + (2 * turnStep) / 3, kind: 'room', to: turns, envelope: { p: 'sequential', s: user, r: turns, q: t, t: 0 } });
    }
    return out.sort((a, b) => a.at - b.at);
  }

  /** How many messages of each pattern `user` must receive, and from which streams. */
  expectedBy(user: number): Expectation[] {
    const g = this.group(user);
    if (this.role(g) !== 'chat') return [];
    const { first, size } = this.members(g);
    const i = user - first;
    const k = this.o.messages;
    const out: Expectation[] = [];
    if (size > 1) out.push({ pattern: 'targeted', stream: `t:${first + ((i - 1 + size) % size)}`, count: k });
    out.push({ pattern: 'broadcast', stream: `b:${g}`, count: k });
    out.push({ pattern: 'sequential', stream: `s:${g}`, count: k * size });
    return out;
  }

  /** The stream an envelope belongs to, for the receiver's ledger. */
  streamOf(e: Envelope): string {
    const g = this.group(e.s);
    return e.p === 'targeted' ? `t:${e.s}` : e.p === 'broadcast' ? `b:${g}` : `s:${g}`;
  }
}

export interface Expectation {
  pattern: Pattern;
  stream: string;
  /** Sequence numbers 0..count-1 must each arrive exactly once, in order. */
  count: number;
}

/** Parses a received message's content as an envelope of this plan; undefined otherwise. */
export function asEnvelope(content: unknown): Envelope | undefined {
  if (typeof content !== 'object' || content === null) return undefined;
  const e = content as Partial<Envelope>;
  if (typeof e.p !== 'string' || !(PATTERNS as readonly string[]).includes(e.p)) return undefined;
  if (typeof e.s !== 'number' || typeof e.q !== 'number' || typeof e.t !== 'number') return undefined;
  return e as Envelope;
}

export interface StreamVerdict {
  pattern: Pattern;
  stream: string;
  expected: number;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
}

/**
 * One receiver's ledger: counts each expected stream's messages as they arrive, exactly-once and
 * in-order; anything addressed to someone else is a violation.
 */
export class Ledger {
  private readonly seen = new Map<string, { last: number; got: Set<number>; dup: number; ooo: number; exp: Expectation }>();
  violations = 0;
  /** First violation, for the failure message. */
  firstViolation: string | undefined;

  constructor(
    readonly plan: Plan,
    readonly user: number,
  ) {
    for (const exp of plan.expectedBy(user)) this.seen.set(exp.stream, { last: -1, got: new Set(), dup: 0, ooo: 0, exp });
  }

  /** Records one envelope; returns 'ok', 'duplicate', 'out_of_order' or 'violation'. */
  receive(e: Envelope, deliveredTo: string): 'ok' | 'duplicate' | 'out_of_order' | 'violation' {
    const entry = this.seen.get(this.plan.streamOf(e));
    const addressedHere = e.p === 'targeted' ? Array.isArray(e.r) && e.r.includes(this.user) : this.plan.roomsOf(this.user).includes(String(e.r));
    if (!entry || !addressedHere || deliveredTo !== this.plan.userId(this.user)) {
      this.violations++;
      this.firstViolation ??= `user ${this.user} received ${e.p} message ${e.q} from user ${e.s} addressed to ${Array.isArray(e.r) ? 'user ' + e.r.join(',') : e.r}`;
      return 'violation';
    }
    if (entry.got.has(e.q)) {
      entry.dup++;
      return 'duplicate';
    }
    entry.got.add(e.q);
    if (e.q < entry.last) {
      entry.ooo++;
      return 'out_of_order';
    }
    entry.last = e.q;
    return 'ok';
  }

  verdicts(): StreamVerdict[] {
    return [...this.seen.values()].map((v) => ({
      pattern: v.exp.pattern,
      stream: v.exp.stream,
      expected: v.exp.count,
      delivered: [...v.got].filter((q) => q >= 0 && q < v.exp.count).length,
      duplicates: v.dup,
      outOfOrder: v.ooo,
    }));
  }
}

/**
 * Plays the chat service's agent backend behind Centrifugo. Centrifugo's RPC proxy POSTs each client
 * `rpc` command here (with the user Centrifugo authenticated); for method `agent_run` with
 * {message_id, thread_id, content} the driver answers the RPC with the run id, then publishes the
 * run's five events, in order, into that user's personal channel through Centrifugo's server HTTP API.
 *
 * Faults (switchable while running) make the run wrong the ways wsgate's checks must notice: an event
 * dropped, duplicated, two swapped, or the whole run published into another user's channel.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGENT_EVENTS, type AgentEventType } from '../../lib/dialects/dialect.ts';
import { callApi } from './server.ts';

export const AGENT_RUN_METHOD = 'agent_run';
const RPC_PATH = '/centrifugo/rpc';

type AgentFault =
  | { kind: 'none' }
  | { kind: 'drop'; event: AgentEventType }
  | { kind: 'duplicate'; event: AgentEventType }
  /** Swaps `event` with the one after it (default agent_thinking <-> tool_executing). */
  | { kind: 'reorder'; event?: AgentEventType }
  /** Publishes the run into `toUser`'s personal channel instead of the caller's. */
  | { kind: 'misroute'; toUser: string };

export interface AgentDriverOptions {
  /** Pause between the RPC answer and the first event. Default 0. */
  startDelayMs?: number;
  /**
   * Pause between events. Default 5. With 0 a run's events go to Centrifugo in one `batch` API call
   * (executed in order, so they arrive in order): one HTTP request per run instead of five, which is
   * what lets a driver on a small machine keep up with a validation's 300 runs in a burst.
   */
  eventDelayMs?: number;
  fault?: AgentFault;
}

/** Where and how to publish: a CentrifugoServer satisfies it. */
interface PublishTarget {
  apiUrl: string;
  apiKey: string;
  personalChannel(user: string): string;
}

/** One published agent event as it lands in `pub.data`. */
interface PublishedEvent {
  type: AgentEventType;
  run_id: string;
  seq: number;
  timestamp: number;
  user_id: string;
  message_id: string;
  thread_id: string;
}

interface RunRecord {
  runId: string;
  user: string;
  channel: string;
  messageId: string;
  /** What was published, in publish order, with the channel offset the API returned (history on). */
  published: Array<{ event: PublishedEvent; offset: number | undefined }>;
  /** Set when a publish failed; the run stopped there. */
  error?: string;
  done: boolean;
}

export interface AgentDriver {
  /** Give this to startCentrifugo({ rpcProxyUrl }). */
  rpcUrl: string;
  /** Tells the driver where to publish; RPCs before this get error 503-ish code 1503. */
  attach(target: PublishTarget): void;
  setFault(fault: AgentFault): void;
  setDelays(d: { startDelayMs?: number; eventDelayMs?: number }): void;
  /** Every run started, oldest first. */
  readonly runs: readonly RunRecord[];
  /** Resolves when every started run has finished publishing. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Application error codes sent back through the proxy; Centrifugo forwards them as reply errors. */
export const AGENT_ERRORS = {
  badRequest: { code: 1400, message: 'agent_run needs string message_id, thread_id and content' },
  unknownMethod: { code: 1404, message: 'unknown rpc method' },
  notAttached: { code: 1503, message: 'agent driver not attached to centrifugo' },
} as const;

interface RpcProxyRequest {
  client?: string;
  user?: string;
  method?: string;
  data?: unknown;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** The event order a run is published in under `fault` (the correct order when there is none). */
function eventPlan(fault: AgentFault): AgentEventType[] {
  const plan: AgentEventType[] = [...AGENT_EVENTS];
  if (fault.kind === 'drop') return plan.filter((e) => e !== fault.event);
  if (fault.kind === 'duplicate') return plan.flatMap((e) => (e === fault.event ? [e, e] : [e]));
  if (fault.kind === 'reorder') {
    const i = plan.indexOf(fault.event ?? 'agent_thinking');
    const j = Math.min(i + 1, plan.length - 1);
    const a = plan[i];
    const b = plan[j];
    if (a !== undefined && b !== undefined) [plan[i], plan[j]] = [b, a];
  }
  return plan;
}

/**
 * Publishes `events` into `channel` with one `batch` API call, executed in order; resolves with each
 * publication's offset (history on) or rejects naming the first error.
 */
async function publishBatch(to: PublishTarget, channel: string, events: PublishedEvent[]): Promise<Array<number | undefined>> {
  const res = await fetch(`${to.apiUrl}/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': to.apiKey },
    body: JSON.stringify({ commands: events.map((data) => ({ publish: { channel, data } })) }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`Centrifugo API batch answered HTTP ${res.status}.`);
  const replies = (JSON.parse(text || '{}') as { replies?: Array<{ publish?: { offset?: number }; error?: { code: number; message: string } }> }).replies ?? [];
  const failed = replies.find((r) => r.error);
  if (failed?.error) throw new Error(`Centrifugo API batch answered error ${failed.error.code} "${failed.error.message}".`);
  return events.map((_, i) => replies[i]?.publish?.offset);
}

/** What a running driver holds; the fault and the delays may change while it runs. */
interface DriverState {
  fault: AgentFault;
  startDelayMs: number;
  eventDelayMs: number;
  target: PublishTarget | undefined;
  readonly runs: RunRecord[];
  readonly inflight: Set<Promise<void>>;
}

/** Publishes a run's events (one batch call when eventDelayMs is 0); the run records what landed. */
async function publishRun(state: DriverState, run: RunRecord, threadId: string, plan: AgentEventType[], to: PublishTarget): Promise<void> {
  await sleep(state.startDelayMs);
  const eventOf = (type: AgentEventType, seq: number): PublishedEvent => ({
    type,
    run_id: run.runId,
    seq,
    timestamp: Date.now(),
    user_id: run.user,
    message_id: run.messageId,
    thread_id: threadId,
  });
  if (state.eventDelayMs === 0) {
    const events = plan.map((type, i) => eventOf(type, i + 1));
    try {
      const offsets = await publishBatch(to, run.channel, events);
      events.forEach((event, i) => run.published.push({ event, offset: offsets[i] }));
    } catch (err) {
      run.error = (err as Error).message;
    }
    run.done = true;
    return;
  }
  let seq = 0;
  for (const type of plan) {
    seq++;
    const event = eventOf(type, seq);
    try {
      const r = await callApi<{ offset?: number }>(to.apiUrl, to.apiKey, 'publish', { channel: run.channel, data: event });
      run.published.push({ event, offset: r.offset });
    } catch (err) {
      run.error = (err as Error).message;
      break;
    }
    if (seq < plan.length) await sleep(state.eventDelayMs);
  }
  run.done = true;
}

function answer(res: ServerResponse, body: unknown): Promise<void> {
  return new Promise((resolve) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body), () => resolve());
  });
}

/** One RPC from Centrifugo's proxy: answered with the run id, then the run is published. */
async function handleRpc(state: DriverState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== RPC_PATH) {
    res.writeHead(404).end();
    return;
  }
  let rpc: RpcProxyRequest;
  try {
    rpc = JSON.parse(await readBody(req)) as RpcProxyRequest;
  } catch {
    res.writeHead(400).end();
    return;
  }
  if (rpc.method !== AGENT_RUN_METHOD) return void (await answer(res, { error: AGENT_ERRORS.unknownMethod }));
  const d = rpc.data as { message_id?: unknown; thread_id?: unknown; content?: unknown } | undefined;
  if (typeof d?.message_id !== 'string' || typeof d.thread_id !== 'string' || typeof d.content !== 'string' || !rpc.user) {
    return void (await answer(res, { error: AGENT_ERRORS.badRequest }));
  }
  const to = state.target;
  if (!to) return void (await answer(res, { error: AGENT_ERRORS.notAttached }));

  // The user is the one Centrifugo authenticated, never something the client claims in data.
  const fault = state.fault;
  const owner = fault.kind === 'misroute' ? fault.toUser : rpc.user;
  const run: RunRecord = { runId: randomUUID(), user: rpc.user, channel: to.personalChannel(owner), messageId: d.message_id, published: [], done: false };
  state.runs.push(run);
  const plan = eventPlan(fault);
  // Answer the RPC first, so the reply precedes the first event on the client's socket.
  await answer(res, { result: { data: { run_id: run.runId, message_id: run.messageId, user_id: run.user } } });
  const p = publishRun(state, run, d.thread_id, plan, to);
  state.inflight.add(p);
  void p.finally(() => state.inflight.delete(p));
}

/** Starts the driver on 127.0.0.1 at a free port. */
export async function startAgentDriver(opts: AgentDriverOptions = {}): Promise<AgentDriver> {
  const state: DriverState = {
    fault: opts.fault ?? { kind: 'none' },
    startDelayMs: opts.startDelayMs ?? 0,
    eventDelayMs: opts.eventDelayMs ?? 5,
    target: undefined,
    runs: [],
    inflight: new Set(),
  };
  const server = createServer((req, res) => {
    handleRpc(state, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    rpcUrl: `http://127.0.0.1:${port}${RPC_PATH}`,
    attach: (t) => {
      state.target = t;
    },
    setFault: (f) => {
      state.fault = f;
    },
    setDelays: (d) => {
      state.startDelayMs = d.startDelayMs ?? state.startDelayMs;
      state.eventDelayMs = d.eventDelayMs ?? state.eventDelayMs;
    },
    runs: state.runs,
    idle: async () => {
      while (state.inflight.size > 0) await Promise.all([...state.inflight]);
    },
    close: async () => {
      await Promise.all([...state.inflight]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

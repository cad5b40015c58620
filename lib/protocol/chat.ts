/**
 * Everything wsgate knows about the chat protocol (docs/protocol.md) lives here: message names and
 * shapes, how a token rides on the handshake, where the owner of an event is, what a complete agent
 * run looks like. A service with another dialect gets a second module with the same exports.
 *
 * Pure module: no k6 imports, so Node unit tests exercise it directly.
 */

/** The five events of one agent run, in the order the protocol promises. */
export const AGENT_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
export type AgentEventType = (typeof AGENT_EVENTS)[number];

export const PATHS = { token: '/auth/token', refresh: '/auth/refresh', health: '/health', metrics: '/metrics' } as const;

/** Offered with the jwt.<token> subprotocol; the server selects it so browsers accept the handshake. */
export const CHAT_SUBPROTOCOL = 'wsgate.v1';

export const CLOSE_CODES = { normal: 1000, goingAway: 1001, tooBig: 1009, tokenExpired: 4001 } as const;

/** How a token travels on the handshake. */
export type TokenCarrier = 'header' | 'subprotocol';

export interface HandshakeParts {
  headers: Record<string, string>;
  protocols: string[];
}

/** Headers and subprotocols for a handshake carrying `token` (or none) from `origin`. */
export function handshakeParts(token: string | undefined, carrier: TokenCarrier, origin: string | undefined): HandshakeParts {
  const headers: Record<string, string> = {};
  if (origin) headers['Origin'] = origin;
  const protocols: string[] = [];
  if (token !== undefined) {
    if (carrier === 'header') headers['Authorization'] = `Bearer ${token}`;
    else protocols.push(CHAT_SUBPROTOCOL, `jwt.${token}`);
  }
  return { headers, protocols };
}

// ---- messages the client sends -------------------------------------------------------------

export type ClientMessage =
  | { type: 'user_message'; thread_id: string; message_id: string; content: string }
  | { type: 'refresh_token'; token: string }
  | { type: 'direct_message'; to_user_id: string; message_id: string; content: unknown }
  | { type: 'join_room' | 'leave_room'; room: string }
  | { type: 'room_message'; room: string; message_id: string; content: unknown }
  | { type: 'ping'; id?: unknown };

export const messages = {
  /** Starts one agent run; its events come back tagged with `messageId`. */
  startRun: (threadId: string, messageId: string, content: string): ClientMessage => ({
    type: 'user_message',
    thread_id: threadId,
    message_id: messageId,
    content,
  }),
  refresh: (token: string): ClientMessage => ({ type: 'refresh_token', token }),
  direct: (toUserId: string, messageId: string, content: unknown): ClientMessage => ({
    type: 'direct_message',
    to_user_id: toUserId,
    message_id: messageId,
    content,
  }),
  joinRoom: (room: string): ClientMessage => ({ type: 'join_room', room }),
  leaveRoom: (room: string): ClientMessage => ({ type: 'leave_room', room }),
  roomMessage: (room: string, messageId: string, content: unknown): ClientMessage => ({
    type: 'room_message',
    room,
    message_id: messageId,
    content,
  }),
  ping: (id: unknown): ClientMessage => ({ type: 'ping', id }),
};

// ---- messages the server sends -------------------------------------------------------------

export interface ServerMessage {
  type: string;
  [field: string]: unknown;
}

export interface AgentEvent extends ServerMessage {
  type: AgentEventType;
  user_id: string;
  thread_id: string;
  message_id: string;
  run_id: string;
  seq: number;
  timestamp: number;
}

/** Parses one text frame; undefined when it is not a JSON object with a string `type`. */
export function parseFrame(data: unknown): ServerMessage | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(data);
    if (typeof v === 'object' && v !== null && typeof (v as ServerMessage).type === 'string') return v as ServerMessage;
  } catch {
    // not JSON: the caller treats it as a protocol violation
  }
  return undefined;
}

export function isAgentEvent(m: ServerMessage): m is AgentEvent {
  return (AGENT_EVENTS as readonly string[]).includes(m.type);
}

export const isConnectionEstablished = (m: ServerMessage): boolean => m.type === 'connection_established';
export const isPong = (m: ServerMessage, id: unknown): boolean => m.type === 'pong' && m['id'] === id;
export const isTokenRefreshed = (m: ServerMessage): boolean => m.type === 'token_refreshed';
export const isError = (m: ServerMessage, code?: string): boolean => m.type === 'error' && (code === undefined || m['code'] === code);

/**
 * The user a server message belongs to, for isolation checks: agent events name their user;
 * direct messages name their recipient. Undefined for messages that are not per-user.
 */
export function ownerOf(m: ServerMessage): string | undefined {
  if (isAgentEvent(m)) return typeof m.user_id === 'string' ? m.user_id : '<missing user_id>';
  if (m.type === 'direct_message') return typeof m['to_user_id'] === 'string' ? (m['to_user_id'] as string) : '<missing to_user_id>';
  return undefined;
}

// ---- judging one agent run ------------------------------------------------------------------

export interface RunVerdict {
  complete: boolean;
  /** One short phrase per problem, e.g. "missing tool_completed". Empty when complete. */
  problems: string[];
  runId: string | undefined;
}

/**
 * Collects the events of one run (matched by the message_id that started it) and judges them:
 * all five, in order, one run_id, seq rising, owned by the expected user.
 */
export class RunTracker {
  readonly events: AgentEvent[] = [];
  constructor(
    readonly userId: string,
    readonly messageId: string,
  ) {}

  /** True when the event belongs to this run. */
  accepts(e: AgentEvent): boolean {
    return e.message_id === this.messageId;
  }

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
    const runIds = [...new Set(this.events.map((e) => e.run_id))];
    if (runIds.length > 1) problems.push(`${runIds.length} run ids (${runIds.join(', ')})`);
    for (let i = 1; i < this.events.length; i++) {
      const prev = this.events[i - 1]?.seq ?? 0;
      const cur = this.events[i]?.seq ?? 0;
      if (!(cur > prev)) {
        problems.push(`seq does not rise (${prev} then ${cur})`);
        break;
      }
    }
    const foreign = this.events.filter((e) => e.user_id !== this.userId);
    if (foreign.length > 0) problems.push(`${foreign.length} event(s) carry user ${foreign[0]?.user_id}`);
    return { complete: problems.length === 0, problems, runId: runIds[0] };
  }
}

// ---- HTTP side --------------------------------------------------------------------------------

export interface Health {
  status: string;
  active_connections: number;
  users: number;
  uptime_s: number;
  version: string;
}

/** Parses GET /health; undefined when the body is not the documented shape. */
export function parseHealth(body: unknown): Health | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const h = JSON.parse(body) as Partial<Health>;
    if (typeof h.status === 'string' && typeof h.active_connections === 'number' && typeof h.users === 'number') {
      return {
        status: h.status,
        active_connections: h.active_connections,
        users: h.users,
        uptime_s: typeof h.uptime_s === 'number' ? h.uptime_s : NaN,
        version: typeof h.version === 'string' ? h.version : '',
      };
    }
  } catch {
    // fall through
  }
  return undefined;
}

export const tokenRequest = (userId: string, password: string | undefined): string =>
  JSON.stringify(password === undefined ? { user_id: userId } : { user_id: userId, password });

/** Pulls the access token out of a /auth/token or /auth/refresh answer. */
export function parseTokenResponse(body: unknown): { accessToken: string; refreshToken: string | undefined } | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const v = JSON.parse(body) as { access_token?: unknown; refresh_token?: unknown };
    if (typeof v.access_token === 'string') {
      return { accessToken: v.access_token, refreshToken: typeof v.refresh_token === 'string' ? v.refresh_token : undefined };
    }
  } catch {
    // fall through
  }
  return undefined;
}

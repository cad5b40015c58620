/**
 * Centrifugo v6's JSON client protocol (protocol v2 over a bidirectional WebSocket), as the running
 * v6.9.1 server speaks it (docs/centrifugo.md lists what was checked against it): the commands a client
 * sends, the replies and pushes it gets back, and one command-id counter per connection.
 *
 * Framing: every text frame carries one or more JSON objects separated by "\n", both ways. A command is
 * `{"id":n,"<method>":{...}}`; a reply echoes the id with either `"<method>":{result}` or
 * `"error":{code,message}`; a push has no id: `{"push":{...}}`. An empty object is a server ping and
 * the client's pong alike.
 *
 * Pure module: no Node or k6 imports, so it runs in both and Node unit tests exercise it directly.
 */

// ---- codes --------------------------------------------------------------------------------------

/** Reply error codes (centrifuge errors.go); an error reply leaves the socket open. */
export const ERROR_CODES = {
  internal: 100,
  unauthorized: 101,
  unknownChannel: 102,
  permissionDenied: 103,
  methodNotFound: 104,
  alreadySubscribed: 105,
  limitExceeded: 106,
  badRequest: 107,
  notAvailable: 108,
  tokenExpired: 109,
  expired: 110,
  tooManyRequests: 111,
  unrecoverablePosition: 112,
} as const;

/**
 * WebSocket close codes the server disconnects with (centrifuge disconnect.go). Over a WebSocket a
 * disconnect is only a close frame with this code and the reason text; no disconnect push precedes it.
 */
export const CLOSE_CODES = {
  connectionClosed: 3000,
  shutdown: 3001,
  connectionExpired: 3005,
  subscriptionExpired: 3006,
  slow: 3008,
  forceReconnect: 3011,
  noPong: 3012,
  invalidToken: 3500,
  badRequest: 3501,
  stale: 3502,
  forceDisconnect: 3503,
  connectionLimit: 3504,
  channelLimit: 3505,
  permissionDenied: 3507,
} as const;

/** Codes 3500-3999 (and 4500-4999 for application codes) tell a client not to reconnect. */
export function isTerminalClose(code: number): boolean {
  return (code >= 3500 && code < 4000) || (code >= 4500 && code < 5000);
}

/** The default user boundary: a channel `ns:#42` (or `#42`) is limited to user 42. */
const USER_BOUNDARY = '#';

/** The personal channel of `user`: `<namespace>:#<user>`, or `#<user>` with no namespace. */
export function personalChannel(user: string, namespace = ''): string {
  return namespace ? `${namespace}:${USER_BOUNDARY}${user}` : `${USER_BOUNDARY}${user}`;
}

/** The user a personal channel belongs to, or undefined when `channel` is not one in `namespace`. */
export function userOfPersonalChannel(channel: string, namespace = ''): string | undefined {
  const prefix = namespace ? `${namespace}:${USER_BOUNDARY}` : USER_BOUNDARY;
  if (!channel.startsWith(prefix)) return undefined;
  const user = channel.slice(prefix.length);
  // "ns:#1,2" is limited to two users: it is no one's personal channel.
  return user && !user.includes(',') ? user : undefined;
}

// ---- commands the client sends ------------------------------------------------------------------

export interface ConnectRequest {
  token?: string;
  /** Client name shown in the server's logs and metrics (at most 16 characters). */
  name?: string;
  version?: string;
  data?: unknown;
}

export interface SubscribeRequest {
  channel: string;
  /** A subscription token, for `$`-private channels. */
  token?: string;
  /** Recovery: ask for the publications missed since offset/epoch (needs history + recovery). */
  recover?: boolean;
  offset?: number;
  epoch?: string;
}

export interface HistoryRequest {
  channel: string;
  limit?: number;
  since?: { offset: number; epoch: string };
  reverse?: boolean;
}

export interface CommandBodies {
  connect: ConnectRequest;
  subscribe: SubscribeRequest;
  unsubscribe: { channel: string };
  rpc: { method: string; data?: unknown };
  refresh: { token: string };
  publish: { channel: string; data: unknown };
  history: HistoryRequest;
  presence: { channel: string };
  presence_stats: { channel: string };
}
export type Method = keyof CommandBodies;

/** One encoded command: the text to send and the id its reply will carry. */
export interface Encoded<M extends Method = Method> {
  id: number;
  method: M;
  text: string;
}

/** The pong: an empty command, sent once per server ping and never otherwise. */
export const PONG = '{}';

/**
 * The client side of one connection: numbers commands from 1 (ids must be > 0 and unique per
 * connection), remembers which method each id was for, and decodes server frames against that, so an
 * error reply says which command failed. One instance per socket; a reconnect starts a new one.
 */
export class CentrifugoClientProtocol {
  private nextId = 1;
  private readonly pending = new Map<number, Method>();

  /** Encodes `{"id":n,"<method>":body}` and records it as awaiting a reply. */
  command<M extends Method>(method: M, body: CommandBodies[M]): Encoded<M> {
    const id = this.nextId++;
    this.pending.set(id, method);
    return { id, method, text: JSON.stringify({ id, [method]: dropUndefined(body) }) };
  }

  connect(req: ConnectRequest = {}): Encoded<'connect'> {
    return this.command('connect', req);
  }
  subscribe(channel: string, opts: Omit<SubscribeRequest, 'channel'> = {}): Encoded<'subscribe'> {
    return this.command('subscribe', { channel, ...opts });
  }
  unsubscribe(channel: string): Encoded<'unsubscribe'> {
    return this.command('unsubscribe', { channel });
  }
  rpc(method: string, data?: unknown): Encoded<'rpc'> {
    return this.command('rpc', { method, data });
  }
  refresh(token: string): Encoded<'refresh'> {
    return this.command('refresh', { token });
  }
  history(req: HistoryRequest): Encoded<'history'> {
    return this.command('history', req);
  }
  pong(): string {
    return PONG;
  }

  /** Commands sent and not yet answered, by id. */
  get awaiting(): ReadonlyMap<number, Method> {
    return this.pending;
  }

  /**
   * Decodes one text frame into its messages, in order. Replies are matched to the command that
   * asked (and forgotten); anything unparseable comes back as `{kind:'invalid'}` rather than throwing.
   */
  decode(frame: string): ServerMessage[] {
    return splitFrame(frame).map((line) => {
      const m = classify(line, this.pending);
      if ((m.kind === 'connected' || m.kind === 'reply' || m.kind === 'error') && m.id > 0) this.pending.delete(m.id);
      return m;
    });
  }
}

/** Several commands in one frame, newline-separated (the server reads them in order). */
export function batch(...texts: string[]): string {
  return texts.join('\n');
}

// ---- what the server sends ----------------------------------------------------------------------

interface ConnectResult {
  client: string;
  version: string;
  /** True when the connection expires (the token had exp); then `ttl` is seconds until it does. */
  expires: boolean;
  ttl: number | undefined;
  /** Server ping interval in seconds, and whether the client must answer pings. */
  ping: number | undefined;
  pong: boolean;
  /** Server-side subscriptions made at connect (e.g. the personal channel), channel -> result. */
  subs: Record<string, SubscribeResult>;
  data: unknown;
}

interface SubscribeResult {
  recoverable?: boolean;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  was_recovering?: boolean;
  positioned?: boolean;
  publications?: Publication[];
  expires?: boolean;
  ttl?: number;
}

export interface Publication {
  data: unknown;
  /** Present when the channel keeps history: rises by one per publication. */
  offset?: number;
  /** The stream epoch; the server sends it on the first publication after a (re)subscribe only. */
  epoch?: string;
  tags?: Record<string, string>;
  info?: { user: string; client: string };
}

export type ServerMessage =
  | { kind: 'ping' }
  | { kind: 'connected'; id: number; result: ConnectResult }
  | { kind: 'reply'; id: number; method: Method | undefined; result: Record<string, unknown> }
  | { kind: 'error'; id: number; method: Method | undefined; code: number; message: string; temporary: boolean }
  | { kind: 'publication'; channel: string; pub: Publication }
  | { kind: 'join' | 'leave'; channel: string; info: { user: string; client: string } }
  | { kind: 'subscribed'; channel: string; result: SubscribeResult }
  | { kind: 'unsubscribed'; channel: string; code: number; reason: string }
  | { kind: 'disconnect'; code: number; reason: string; reconnect: boolean }
  | { kind: 'refresh'; expires: boolean; ttl: number | undefined }
  | { kind: 'message'; data: unknown }
  | { kind: 'unknown'; raw: Record<string, unknown> }
  | { kind: 'invalid'; text: string };

/** Splits a frame into its non-empty lines. */
export function splitFrame(frame: string): string[] {
  return frame.split('\n').filter((l) => l.trim() !== '');
}

const METHODS: readonly Method[] = ['connect', 'subscribe', 'unsubscribe', 'rpc', 'refresh', 'publish', 'history', 'presence', 'presence_stats'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * Classifies one line of a server frame. `pending` (id -> method) names the method of an error reply,
 * which does not carry it; without it, `method` is whatever key the reply has.
 */
export function classify(line: string, pending?: ReadonlyMap<number, Method>): ServerMessage {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { kind: 'invalid', text: line };
  }
  if (!isObj(v)) return { kind: 'invalid', text: line };
  const id = num(v['id']) ?? 0;
  if (id === 0 && Object.keys(v).length === 0) return { kind: 'ping' };
  if (isObj(v['push'])) return classifyPush(v['push'], v);
  if (id > 0) {
    const err = v['error'];
    if (isObj(err)) {
      return { kind: 'error', id, method: pending?.get(id), code: num(err['code']) ?? 0, message: str(err['message']), temporary: err['temporary'] === true };
    }
    const method = METHODS.find((m) => m in v) ?? pending?.get(id);
    const result = method && isObj(v[method]) ? v[method] : {};
    if (method === 'connect') return { kind: 'connected', id, result: connectResult(result) };
    return { kind: 'reply', id, method, result };
  }
  return { kind: 'unknown', raw: v };
}

function connectResult(r: Obj): ConnectResult {
  return {
    client: str(r['client']),
    version: str(r['version']),
    expires: r['expires'] === true,
    ttl: num(r['ttl']),
    ping: num(r['ping']),
    pong: r['pong'] === true,
    subs: isObj(r['subs']) ? (r['subs'] as Record<string, SubscribeResult>) : {},
    data: r['data'],
  };
}

function classifyPush(p: Obj, raw: Obj): ServerMessage {
  const channel = str(p['channel']);
  const pub = p['pub'];
  if (isObj(pub)) return { kind: 'publication', channel, pub: pub as unknown as Publication };
  for (const k of ['join', 'leave'] as const) {
    const x = p[k];
    if (isObj(x) && isObj(x['info'])) return { kind: k, channel, info: { user: str(x['info']['user']), client: str(x['info']['client']) } };
  }
  if (isObj(p['subscribe'])) return { kind: 'subscribed', channel, result: p['subscribe'] as SubscribeResult };
  const unsub = p['unsubscribe'];
  if (isObj(unsub)) return { kind: 'unsubscribed', channel, code: num(unsub['code']) ?? 0, reason: str(unsub['reason']) };
  const d = p['disconnect'];
  if (isObj(d)) return { kind: 'disconnect', code: num(d['code']) ?? 0, reason: str(d['reason']), reconnect: d['reconnect'] === true };
  const r = p['refresh'];
  if (isObj(r)) return { kind: 'refresh', expires: r['expires'] === true, ttl: num(r['ttl']) };
  const msg = p['message'];
  if (isObj(msg)) return { kind: 'message', data: msg['data'] };
  return { kind: 'unknown', raw };
}

function dropUndefined<T extends object>(o: T): T {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

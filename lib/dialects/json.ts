/**
 * The json dialect: a team's own JSON protocol, described by a file (WSGATE_DIALECT_FILE; the format
 * is docs/dialects/README.md, docs/dialects/wsgate-chat.json describes the reference protocol). One
 * JSON object per frame, its kind in one field (`type_field`); the description names the message
 * types and field names, and the capabilities follow from the sections it has: no `ping` section,
 * no app-ping; no `health` section, no health checks.
 *
 * The description is checked once, when the dialect is built: unknown keys (typos), wrong types and
 * missing parts each fail with one sentence naming the key's path in the file.
 *
 * Pure module: runs on both engines and in Node tests (lib/dialects/index.ts reads the file).
 */
import { ConfigError } from '../core/errors.ts';
import { AGENT_EVENTS, NotSupportedError, jsonObject } from './dialect.ts';
import type { AgentEventType, Capability, Dialect, DialectCodec, HandshakePlan, HealthReading, Inbound, TokenCarrier } from './dialect.ts';

const CARRIERS: readonly TokenCarrier[] = ['header', 'subprotocol', 'first-frame', 'query'];
const REFUSALS = ['http-status', 'in-band'] as const;
const UNITS = ['ms', 's'] as const;
type Unit = (typeof UNITS)[number];

/** The description, checked and typed. Optional parts are undefined when the file leaves them out. */
interface JsonDescription {
  typeField: string;
  handshake: { refusal: (typeof REFUSALS)[number]; originCheck: boolean; refusedType: string | undefined; reasonField: string | undefined };
  token: {
    carriers: TokenCarrier[];
    header: { name: string; scheme: string | undefined } | undefined;
    subprotocol: { prefix: string; select: string | undefined } | undefined;
    query: { param: string } | undefined;
    firstFrame: { type: string; tokenField: string } | undefined;
  };
  greeting: { type: string; userField: string | undefined; expiresField: string | undefined; expiresUnit: Unit };
  run:
    | {
        start: { type: string; refField: string; threadField: string | undefined; contentField: string | undefined };
        events: Record<AgentEventType, string>;
        refField: string;
        runField: string | undefined;
        seqField: string | undefined;
        userField: string;
      }
    | undefined;
  ping: { type: string; idField: string; pongType: string } | undefined;
  refresh:
    | {
        type: string;
        tokenField: string;
        answerType: string;
        expiresField: string | undefined;
        expiresUnit: Unit;
        refusedType: string | undefined;
        refusedErrorCode: string | undefined;
      }
    | undefined;
  direct: { type: string; inboundType: string; toField: string; fromField: string | undefined; refField: string | undefined; contentField: string } | undefined;
  rooms:
    | {
        joinType: string;
        joinedType: string;
        messageType: string;
        inboundMessageType: string;
        roomField: string;
        fromField: string | undefined;
        refField: string | undefined;
        contentField: string;
      }
    | undefined;
  error: { type: string; codeField: string } | undefined;
  expiryCloseCode: number | undefined;
  health:
    | {
        path: string;
        statusField: string;
        healthyValue: string;
        connectionsField: string | undefined;
        usersField: string | undefined;
        versionField: string | undefined;
      }
    | undefined;
  auth:
    | {
        tokenPath: string;
        refreshPath: string;
        userField: string;
        passwordField: string | undefined;
        accessTokenField: string;
        refreshTokenField: string | undefined;
      }
    | undefined;
}

// What each kind of value is, for "it must be ..." in error sentences.
const FIELD = 'the name of a field, a non-empty string';
const TYPE = 'the message type the service uses, a non-empty string';
const PATH = 'an HTTP path starting with /';

type Obj = Record<string, unknown>;

function show(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string') return `"${value}"`;
  return JSON.stringify(value) ?? String(value);
}

/** Reads one description, failing with one sentence that names the key's path in the file. */
class Reader {
  constructor(private readonly origin: string) {}

  fail(sentence: string): never {
    throw new ConfigError(`dialect file ${this.origin}: ${sentence}`);
  }

  bad(path: string, value: unknown, must: string): never {
    return this.fail(`${path} is ${show(value)}; it must be ${must}`);
  }

  /** An object with only the given keys ("$comment" is allowed anywhere); undefined when optional and absent. */
  section(parent: Obj, key: string, path: string, keys: readonly string[], what: string, required: true): Obj;
  section(parent: Obj, key: string, path: string, keys: readonly string[], what: string, required: false): Obj | undefined;
  section(parent: Obj, key: string, path: string, keys: readonly string[], what: string, required: boolean): Obj | undefined {
    const v = parent[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.bad(path, v, `an object (${what})`);
    this.onlyKeys(v as Obj, path, keys);
    return v as Obj;
  }

  onlyKeys(o: Obj, path: string, keys: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (k === '$comment' || keys.includes(k)) continue;
      this.fail(`${path ? path + '.' : ''}${k} is not a key of ${path || 'the description'}; use one of ${keys.join(', ')}`);
    }
  }

  string(o: Obj, key: string, path: string, must: string): string {
    const v = o[key];
    if (typeof v !== 'string' || v.trim() === '') return this.bad(`${path}.${key}`, v, must);
    return v;
  }

  optString(o: Obj, key: string, path: string, must: string): string | undefined {
    return o[key] === undefined ? undefined : this.string(o, key, path, must);
  }

  httpPath(o: Obj, key: string, path: string): string {
    const v = this.string(o, key, path, PATH);
    if (!v.startsWith('/')) this.bad(`${path}.${key}`, v, PATH);
    return v;
  }

  oneOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[], fallback?: T): T {
    const v = o[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) return this.bad(`${path ? path + '.' : ''}${key}`, v, `one of ${allowed.join(', ')}`);
    return v as T;
  }
}

/** Checks a description (the parsed file) and types it; throws ConfigError with one sentence. */
function parseDescription(description: unknown, origin: string): JsonDescription {
  const r: Reader = new Reader(origin);
  if (typeof description !== 'object' || description === null || Array.isArray(description)) {
    return r.fail(`the description is ${show(description)}; it must be a JSON object (docs/dialects/README.md)`);
  }
  const top = description as Obj;
  r.onlyKeys(top, '', ['type_field', 'handshake', 'token', 'greeting', 'run', 'ping', 'refresh', 'direct', 'rooms', 'error', 'expiry_close_code', 'health', 'auth']);
  const typeField = top['type_field'];
  if (typeof typeField !== 'string' || typeField.trim() === '') r.bad('type_field', typeField, `the field that holds every message's type, a non-empty string`);

  const handshake = readHandshake(r, top);
  const token = readToken(r, top);
  const greeting = readGreeting(r, top);
  const run = readRun(r, top);

  const p = r.section(top, 'ping', 'ping', ['type', 'id_field', 'pong_type'], 'the application ping and its answer', false);
  const ping = p && { type: r.string(p, 'type', 'ping', TYPE), idField: r.string(p, 'id_field', 'ping', FIELD), pongType: r.string(p, 'pong_type', 'ping', TYPE) };

  const e = r.section(top, 'error', 'error', ['type', 'code_field'], 'the error message', false);
  const error = e && { type: r.string(e, 'type', 'error', TYPE), codeField: r.string(e, 'code_field', 'error', FIELD) };

  const refresh = readRefresh(r, top, error);
  const direct = readDirect(r, top);
  const rooms = readRooms(r, top);

  const code = top['expiry_close_code'];
  if (code !== undefined && (typeof code !== 'number' || !Number.isInteger(code) || code < 1000 || code > 4999)) {
    r.bad('expiry_close_code', code, 'the close code of an expired token, a whole number from 1000 to 4999');
  }

  const health = readHealth(r, top);
  const auth = readAuth(r, top);

  const desc: JsonDescription = {
    typeField,
    handshake,
    token,
    greeting,
    run,
    ping,
    refresh,
    direct,
    rooms,
    error,
    expiryCloseCode: code,
    health,
    auth,
  };
  distinctServerTypes(r, desc);
  return desc;
}

/** How the service refuses a connection. */
function readHandshake(r: Reader, top: Obj): JsonDescription['handshake'] {
  const hs = r.section(top, 'handshake', 'handshake', ['refusal', 'origin_check', 'refused_type', 'reason_field'], 'how the service refuses a connection', true);
  const originCheck = hs['origin_check'] ?? false;
  if (typeof originCheck !== 'boolean') r.bad('handshake.origin_check', originCheck, 'true when the service refuses a foreign Origin at the handshake, else false');
  const handshake: JsonDescription['handshake'] = {
    refusal: r.oneOf(hs, 'refusal', 'handshake', REFUSALS),
    originCheck,
    refusedType: r.optString(hs, 'refused_type', 'handshake', TYPE),
    reasonField: r.optString(hs, 'reason_field', 'handshake', FIELD),
  };
  if (handshake.reasonField !== undefined && handshake.refusedType === undefined) {
    r.fail('handshake.reason_field is given without handshake.refused_type; name the message that refuses a connection, or remove handshake.reason_field');
  }
  return handshake;
}

/** The message that accepts a connection. */
function readGreeting(r: Reader, top: Obj): JsonDescription['greeting'] {
  const g = r.section(top, 'greeting', 'greeting', ['type', 'user_field', 'expires_field', 'expires_unit'], 'the message that accepts a connection', true);
  return {
    type: r.string(g, 'type', 'greeting', TYPE),
    userField: r.optString(g, 'user_field', 'greeting', FIELD),
    expiresField: r.optString(g, 'expires_field', 'greeting', FIELD),
    expiresUnit: r.oneOf(g, 'expires_unit', 'greeting', UNITS, 'ms'),
  };
}

/** The in-band token refresh; a refused one must be recognisable (by type, or by an error code). */
function readRefresh(r: Reader, top: Obj, error: JsonDescription['error']): JsonDescription['refresh'] {
  const rf = r.section(
    top,
    'refresh',
    'refresh',
    ['type', 'token_field', 'answer_type', 'expires_field', 'expires_unit', 'refused_type', 'refused_error_code'],
    'the in-band token refresh',
    false,
  );
  const refresh = rf && {
    type: r.string(rf, 'type', 'refresh', TYPE),
    tokenField: r.string(rf, 'token_field', 'refresh', FIELD),
    answerType: r.string(rf, 'answer_type', 'refresh', TYPE),
    expiresField: r.optString(rf, 'expires_field', 'refresh', FIELD),
    expiresUnit: r.oneOf(rf, 'expires_unit', 'refresh', UNITS, 'ms'),
    refusedType: r.optString(rf, 'refused_type', 'refresh', TYPE),
    refusedErrorCode: r.optString(rf, 'refused_error_code', 'refresh', 'the error code of a refused refresh, a non-empty string'),
  };
  if (refresh) {
    if ((refresh.refusedType === undefined) === (refresh.refusedErrorCode === undefined)) {
      r.fail(
        `refresh has ${refresh.refusedType === undefined ? 'neither refused_type nor refused_error_code' : 'both refused_type and refused_error_code'}; give exactly one, so that a refused refresh can be recognised`,
      );
    }
    if (refresh.refusedErrorCode !== undefined && !error) {
      r.fail('refresh.refused_error_code needs the error section, which says which messages are errors; add error with type and code_field');
    }
  }
  return refresh;
}

/** Direct messages between users. */
function readDirect(r: Reader, top: Obj): JsonDescription['direct'] {
  const d = r.section(top, 'direct', 'direct', ['type', 'inbound_type', 'to_field', 'from_field', 'ref_field', 'content_field'], 'direct messages between users', false);
  return d && {
    type: r.string(d, 'type', 'direct', TYPE),
    inboundType: r.optString(d, 'inbound_type', 'direct', TYPE) ?? r.string(d, 'type', 'direct', TYPE),
    toField: r.string(d, 'to_field', 'direct', FIELD),
    fromField: r.optString(d, 'from_field', 'direct', FIELD),
    refField: r.optString(d, 'ref_field', 'direct', FIELD),
    contentField: r.string(d, 'content_field', 'direct', FIELD),
  };
}

/** Rooms and their messages. */
function readRooms(r: Reader, top: Obj): JsonDescription['rooms'] {
  const ro = r.section(
    top,
    'rooms',
    'rooms',
    ['join_type', 'joined_type', 'message_type', 'inbound_message_type', 'room_field', 'from_field', 'ref_field', 'content_field'],
    'rooms and their messages',
    false,
  );
  return ro && {
    joinType: r.string(ro, 'join_type', 'rooms', TYPE),
    joinedType: r.string(ro, 'joined_type', 'rooms', TYPE),
    messageType: r.string(ro, 'message_type', 'rooms', TYPE),
    inboundMessageType: r.optString(ro, 'inbound_message_type', 'rooms', TYPE) ?? r.string(ro, 'message_type', 'rooms', TYPE),
    roomField: r.string(ro, 'room_field', 'rooms', FIELD),
    fromField: r.optString(ro, 'from_field', 'rooms', FIELD),
    refField: r.optString(ro, 'ref_field', 'rooms', FIELD),
    contentField: r.string(ro, 'content_field', 'rooms', FIELD),
  };
}

/** The HTTP health endpoint. */
function readHealth(r: Reader, top: Obj): JsonDescription['health'] {
  const h = r.section(top, 'health', 'health', ['path', 'status_field', 'healthy_value', 'connections_field', 'users_field', 'version_field'], 'the HTTP health endpoint', false);
  return h && {
    path: r.httpPath(h, 'path', 'health'),
    statusField: r.string(h, 'status_field', 'health', FIELD),
    healthyValue: r.string(h, 'healthy_value', 'health', 'the status word of a healthy service, a non-empty string'),
    connectionsField: r.optString(h, 'connections_field', 'health', FIELD),
    usersField: r.optString(h, 'users_field', 'health', FIELD),
    versionField: r.optString(h, 'version_field', 'health', FIELD),
  };
}

/** The auth service that issues tokens. */
function readAuth(r: Reader, top: Obj): JsonDescription['auth'] {
  const a = r.section(
    top,
    'auth',
    'auth',
    ['token_path', 'refresh_path', 'user_field', 'password_field', 'access_token_field', 'refresh_token_field'],
    'the auth service that issues tokens',
    false,
  );
  return a && {
    tokenPath: r.httpPath(a, 'token_path', 'auth'),
    refreshPath: r.httpPath(a, 'refresh_path', 'auth'),
    userField: r.string(a, 'user_field', 'auth', FIELD),
    passwordField: r.optString(a, 'password_field', 'auth', FIELD),
    accessTokenField: r.string(a, 'access_token_field', 'auth', FIELD),
    refreshTokenField: r.optString(a, 'refresh_token_field', 'auth', FIELD),
  };
}

function readToken(r: Reader, top: Obj): JsonDescription['token'] {
  const t = r.section(top, 'token', 'token', ['carriers', 'header', 'subprotocol', 'query', 'first_frame'], 'how the token travels', true);
  const list = t['carriers'];
  const must = `a non-empty list of distinct carriers out of ${CARRIERS.join(', ')}, the usual one first`;
  if (!Array.isArray(list) || list.length === 0 || new Set(list).size !== list.length || !list.every((c) => (CARRIERS as readonly unknown[]).includes(c))) {
    return r.bad('token.carriers', list, must);
  }
  const carriers = list as TokenCarrier[];
  if (carriers.includes('first-frame') && carriers.length > 1) {
    r.fail(`token.carriers is ${show(carriers)}; first-frame must be the only carrier, because the opening frame is sent on every connection`);
  }
  // Each listed carrier has its section, and no section is there for a carrier that is not listed.
  const sectionOf: Record<TokenCarrier, string> = { header: 'header', subprotocol: 'subprotocol', query: 'query', 'first-frame': 'first_frame' };
  for (const c of CARRIERS) {
    const key = sectionOf[c];
    const listed = carriers.includes(c);
    if (listed && t[key] === undefined) r.fail(`token.${key} is missing; it must say how the token rides (${c}), since token.carriers lists ${c}`);
    if (!listed && t[key] !== undefined) r.fail(`token.${key} is given but token.carriers does not list ${c}; add ${c} to token.carriers or remove token.${key}`);
  }
  const hd = r.section(t, 'header', 'token.header', ['name', 'scheme'], 'the header that carries the token', false);
  const sp = r.section(t, 'subprotocol', 'token.subprotocol', ['prefix', 'select'], 'the subprotocol that carries the token', false);
  const q = r.section(t, 'query', 'token.query', ['param'], 'the query parameter that carries the token', false);
  const ff = r.section(t, 'first_frame', 'token.first_frame', ['type', 'token_field'], 'the first frame that carries the token', false);
  return {
    carriers,
    header: hd && { name: r.string(hd, 'name', 'token.header', 'an HTTP header name, a non-empty string'), scheme: r.optString(hd, 'scheme', 'token.header', 'the word before the token, such as Bearer, a non-empty string') },
    subprotocol: sp && {
      prefix: r.string(sp, 'prefix', 'token.subprotocol', 'what precedes the token in the subprotocol, such as jwt., a non-empty string'),
      select: r.optString(sp, 'select', 'token.subprotocol', 'the subprotocol the server selects, a non-empty string'),
    },
    query: q && { param: r.string(q, 'param', 'token.query', 'the query parameter name, a non-empty string') },
    firstFrame: ff && { type: r.string(ff, 'type', 'token.first_frame', TYPE), tokenField: r.string(ff, 'token_field', 'token.first_frame', FIELD) },
  };
}

function readRun(r: Reader, top: Obj): JsonDescription['run'] {
  const run = r.section(top, 'run', 'run', ['start', 'events', 'ref_field', 'run_field', 'seq_field', 'user_field'], 'the agent run and its events', false);
  if (!run) return undefined;
  const s = r.section(run, 'start', 'run.start', ['type', 'ref_field', 'thread_field', 'content_field'], 'the message that starts a run', true);
  const ev = r.section(run, 'events', 'run.events', AGENT_EVENTS, 'the service\'s name for each of the five events', true);
  const events = {} as Record<AgentEventType, string>;
  for (const name of AGENT_EVENTS) events[name] = r.string(ev, name, 'run.events', 'the name the service uses for the event, a string');
  return {
    start: {
      type: r.string(s, 'type', 'run.start', TYPE),
      refField: r.string(s, 'ref_field', 'run.start', FIELD),
      threadField: r.optString(s, 'thread_field', 'run.start', FIELD),
      contentField: r.optString(s, 'content_field', 'run.start', FIELD),
    },
    events,
    refField: r.string(run, 'ref_field', 'run', FIELD),
    runField: r.optString(run, 'run_field', 'run', FIELD),
    seqField: r.optString(run, 'seq_field', 'run', FIELD),
    userField: r.string(run, 'user_field', 'run', FIELD),
  };
}

/** Every message the server sends needs a type of its own, or decoding could not tell them apart. */
function distinctServerTypes(r: Reader, d: JsonDescription): void {
  const named: [string, string | undefined][] = [
    ['greeting.type', d.greeting.type],
    ...AGENT_EVENTS.map((e): [string, string | undefined] => [`run.events.${e}`, d.run?.events[e]]),
    ['ping.pong_type', d.ping?.pongType],
    ['refresh.answer_type', d.refresh?.answerType],
    ['refresh.refused_type', d.refresh?.refusedType],
    [d.direct && d.direct.inboundType !== d.direct.type ? 'direct.inbound_type' : 'direct.type', d.direct?.inboundType],
    ['rooms.joined_type', d.rooms?.joinedType],
    [d.rooms && d.rooms.inboundMessageType !== d.rooms.messageType ? 'rooms.inbound_message_type' : 'rooms.message_type', d.rooms?.inboundMessageType],
    ['error.type', d.error?.type],
  ];
  const seen = new Map<string, string>();
  for (const [path, type] of named) {
    if (type === undefined) continue;
    const first = seen.get(type);
    if (first !== undefined) r.fail(`${path} is "${type}", which ${first} also names; every message the server sends needs a type of its own`);
    seen.set(type, path);
  }
  // A refusal before the greeting may be the protocol's error message; it may not be any other message.
  const refused = d.handshake.refusedType;
  const clash = refused === undefined ? undefined : seen.get(refused);
  if (clash !== undefined && clash !== 'error.type') {
    r.fail(`handshake.refused_type is "${refused}", which ${clash} also names; a refusal needs a type of its own, or the error type`);
  }
}

/** What the description says the dialect (with its target) can do. */
function capabilitiesOf(d: JsonDescription): Set<Capability> {
  const caps = new Set<Capability>();
  const add = (c: Capability, has: unknown) => {
    if (has) caps.add(c);
  };
  add('handshake-status', d.handshake.refusal === 'http-status');
  add('origin-check', d.handshake.originCheck);
  add('agent-runs', d.run);
  add('direct-messages', d.direct);
  add('rooms', d.rooms);
  add('app-ping', d.ping);
  add('in-band-refresh', d.refresh);
  add('expiry-close', d.expiryCloseCode !== undefined);
  add('health', d.health);
  add('connection-count', d.health?.connectionsField);
  add('auth-service', d.auth);
  return caps;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const inMs = (v: unknown, unit: Unit): number | undefined => {
  const n = num(v);
  return n === undefined ? undefined : unit === 's' ? n * 1000 : n;
};

type Decoder = (m: Obj, type: string, greeted: boolean) => Inbound;

/** One decoder per server message type, built once per dialect. */
function decoders(d: JsonDescription): Map<string, Decoder> {
  const map = new Map<string, Decoder>();
  const g = d.greeting;
  map.set(g.type, (m, type) => {
    const userId = g.userField === undefined ? undefined : str(m[g.userField]);
    return { kind: 'connected', userId, expiresAt: g.expiresField === undefined ? undefined : inMs(m[g.expiresField], g.expiresUnit), label: `${type} for ${userId ?? '?'}` };
  });
  const run = d.run;
  if (run) {
    for (const canonical of AGENT_EVENTS) {
      map.set(run.events[canonical], (m, type) => {
        const userId = str(m[run.userField]) ?? `<missing ${run.userField}>`;
        const runId = run.runField === undefined ? '' : (str(m[run.runField]) ?? '');
        // Without a seq field, an event's place in the canonical order stands in for it (order is judged anyway).
        const seq = run.seqField === undefined ? AGENT_EVENTS.indexOf(canonical) + 1 : (num(m[run.seqField]) ?? 0);
        return {
          kind: 'agent-event',
          event: { type: canonical, runRef: str(m[run.refField]) ?? '', runId, seq, userId },
          owner: userId,
          label: `${type}${runId ? ' of run ' + runId : ''}`,
        };
      });
    }
  }
  const dm = d.direct;
  if (dm) {
    map.set(dm.inboundType, (m, type) => {
      const to = str(m[dm.toField]) ?? `<missing ${dm.toField}>`;
      return { kind: 'direct', to, from: dm.fromField === undefined ? undefined : str(m[dm.fromField]), content: m[dm.contentField], owner: to, label: `${type} to ${to}` };
    });
  }
  const rooms = d.rooms;
  if (rooms) {
    map.set(rooms.inboundMessageType, (m, type) => {
      const room = str(m[rooms.roomField]);
      return {
        kind: 'room',
        room: room ?? '',
        from: rooms.fromField === undefined ? undefined : str(m[rooms.fromField]),
        content: m[rooms.contentField],
        label: `${type} in ${room ?? '?'}`,
      };
    });
    map.set(rooms.joinedType, (m, type) => ({ kind: 'room-joined', room: str(m[rooms.roomField]) ?? '', label: type }));
  }
  const ping = d.ping;
  if (ping) map.set(ping.pongType, (m, type) => ({ kind: 'pong', id: String(m[ping.idField]), label: type }));
  const refresh = d.refresh;
  if (refresh) {
    map.set(refresh.answerType, (m, type) => ({
      kind: 'refreshed',
      expiresAt: refresh.expiresField === undefined ? undefined : inMs(m[refresh.expiresField], refresh.expiresUnit),
      label: type,
    }));
    if (refresh.refusedType !== undefined) map.set(refresh.refusedType, (_m, type) => ({ kind: 'refresh-refused', reason: type, label: type }));
  }
  const error = d.error;
  if (error) {
    map.set(error.type, (m, type) => {
      const code = str(m[error.codeField]) ?? '';
      if (refresh?.refusedErrorCode !== undefined && code === refresh.refusedErrorCode) return { kind: 'refresh-refused', reason: code, label: `${type} ${code}` };
      return { kind: 'error', code, label: `${type} ${code}` };
    });
  }
  // A refusal counts only before the greeting; afterwards the same type is whatever else it names.
  const hs = d.handshake;
  const refusedType = hs.refusedType;
  if (refusedType !== undefined) {
    const after = map.get(refusedType);
    map.set(refusedType, (m, type, greeted) => {
      if (!greeted) return { kind: 'refused', reason: (hs.reasonField === undefined ? undefined : str(m[hs.reasonField])) ?? type, label: type };
      return after ? after(m, type, greeted) : { kind: 'other', label: type };
    });
  }
  return map;
}

class JsonCodec implements DialectCodec {
  /** Whether the greeting came: a refusal message counts only before it. */
  private greeted = false;
  constructor(
    private readonly d: JsonDescription,
    private readonly decoders: Map<string, Decoder>,
  ) {}

  private frame(type: string, fields: [string | undefined, unknown][]): string {
    const o: Obj = { [this.d.typeField]: type };
    for (const [k, v] of fields) if (k !== undefined) o[k] = v;
    return JSON.stringify(o);
  }

  opening(token: string | undefined): string[] {
    const ff = this.d.token.firstFrame;
    return ff && token !== undefined ? [this.frame(ff.type, [[ff.tokenField, token]])] : [];
  }

  decode(frame: string): Inbound[] {
    const m = jsonObject(frame);
    const type = str(m?.[this.d.typeField]);
    if (!m || type === undefined) return [{ kind: 'other', label: `a frame that is not a JSON object with a string ${this.d.typeField}` }];
    const decoder = this.decoders.get(type);
    const msg: Inbound = decoder ? decoder(m, type, this.greeted) : { kind: 'other', label: type };
    if (msg.kind === 'connected') this.greeted = true;
    return [msg];
  }

  startRun(runRef: string, threadId: string, content: string): string {
    const run = this.d.run;
    if (!run) throw new NotSupportedError('the json dialect has no run section, so it cannot start an agent run');
    return this.frame(run.start.type, [
      [run.start.threadField, threadId],
      [run.start.refField, runRef],
      [run.start.contentField, content],
    ]);
  }

  ping(id: string): string | undefined {
    const p = this.d.ping;
    return p && this.frame(p.type, [[p.idField, id]]);
  }

  refresh(token: string): string | undefined {
    const r = this.d.refresh;
    return r && this.frame(r.type, [[r.tokenField, token]]);
  }

  direct(to: string, ref: string, content: unknown): string | undefined {
    const dm = this.d.direct;
    return dm && this.frame(dm.type, [[dm.toField, to], [dm.refField, ref], [dm.contentField, content]]);
  }

  joinRoom(room: string): string | undefined {
    const ro = this.d.rooms;
    return ro && this.frame(ro.joinType, [[ro.roomField, room]]);
  }

  roomMessage(room: string, ref: string, content: unknown): string | undefined {
    const ro = this.d.rooms;
    return ro && this.frame(ro.messageType, [[ro.roomField, room], [ro.refField, ref], [ro.contentField, content]]);
  }

  subscribeUser(): undefined {
    // A described protocol has no personal streams to ask for (no personal-channel-guard).
    return undefined;
  }
}

/**
 * The json dialect for a description (the parsed file). Pure: `origin` names where the description
 * came from (the file's path) in error sentences. Throws ConfigError with one sentence.
 */
export function jsonDialect(description: unknown, origin: string): Dialect {
  const d = parseDescription(description, origin);
  const table = decoders(d);
  const t = d.token;

  const handshake = (url: string, token: string | undefined, carrier: TokenCarrier, originHeader: string | undefined): HandshakePlan => {
    const headers: Record<string, string> = {};
    if (originHeader) headers['Origin'] = originHeader;
    const protocols: string[] = [];
    if (!t.carriers.includes(carrier)) throw new NotSupportedError(`the json dialect of ${origin} does not carry tokens by ${carrier}; its carriers are ${t.carriers.join(', ')}`);
    if (token !== undefined) {
      if (carrier === 'header' && t.header) headers[t.header.name] = t.header.scheme === undefined ? token : `${t.header.scheme} ${token}`;
      else if (carrier === 'subprotocol' && t.subprotocol) {
        if (t.subprotocol.select !== undefined) protocols.push(t.subprotocol.select);
        protocols.push(`${t.subprotocol.prefix}${token}`);
      } else if (carrier === 'query' && t.query) {
        url = `${url}${url.includes('?') ? '&' : '?'}${encodeURIComponent(t.query.param)}=${encodeURIComponent(token)}`;
      }
      // first-frame: the codec's opening frame carries it
    }
    return { url, headers, protocols };
  };

  const health = d.health;
  const parseHealth = (body: string): HealthReading | undefined => {
    if (!health) return undefined;
    const h = jsonObject(body);
    const status = h?.[health.statusField];
    if (!h || typeof status !== 'string') return undefined;
    const count = (field: string | undefined): number | undefined | null => {
      if (field === undefined) return undefined;
      return typeof h[field] === 'number' ? h[field] : null;
    };
    const connections = count(health.connectionsField);
    const users = count(health.usersField);
    // A count the description names but the body lacks makes the reading unusable, as a wrong shape does.
    if (connections === null || users === null) return undefined;
    return { healthy: status === health.healthyValue, status, connections, users, version: (health.versionField === undefined ? undefined : str(h[health.versionField])) ?? '' };
  };

  const auth = d.auth;
  return {
    name: 'json',
    capabilities: capabilitiesOf(d),
    carriers: t.carriers,
    tokenExpiredClose: d.expiryCloseCode,
    selectedSubprotocol: t.subprotocol?.select,
    handshake,
    codec: () => new JsonCodec(d, table),
    async readHealth(http, target) {
      if (!health) return { reading: undefined, status: 0, error: `the json dialect of ${origin} has no health section` };
      const res = await http.request({ method: 'GET', url: target.httpUrl + health.path });
      return { reading: res.status === 200 ? parseHealth(res.body) : undefined, status: res.status, error: res.error };
    },
    auth: auth && {
      tokenPath: auth.tokenPath,
      refreshPath: auth.refreshPath,
      tokenRequest(userId, password) {
        const body: Obj = { [auth.userField]: userId };
        if (password !== undefined && auth.passwordField !== undefined) body[auth.passwordField] = password;
        return JSON.stringify(body);
      },
      // The refresh token travels back under the name the service gave it (refresh_token_field).
      refreshRequest: (refreshToken) => JSON.stringify({ [auth.refreshTokenField ?? 'refresh_token']: refreshToken }),
      parseTokenResponse(body) {
        const v = jsonObject(body);
        const access = v?.[auth.accessTokenField];
        if (typeof access !== 'string') return undefined;
        return { accessToken: access, refreshToken: auth.refreshTokenField === undefined ? undefined : str(v?.[auth.refreshTokenField]) };
      },
    },
  };
}

/** The json dialect from a description file's text; `path` names the file in error sentences. */
export function jsonDialectFromText(text: string, path: string): Dialect {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `dialect file ${path} is not JSON (${e instanceof Error ? e.message : String(e)}); it must hold one JSON object describing the protocol (docs/dialects/README.md)`,
    );
  }
  return jsonDialect(parsed, path);
}

/**
 * The json dialect named by WSGATE_DIALECT_FILE, read with `read` (the runtime's readFile on the
 * engines, node:fs in the CLI, which checks the file before anything starts).
 */
export function jsonDialectFromFile(path: string | undefined, read: (path: string) => string): Dialect {
  if (path === undefined) {
    throw new ConfigError(
      'WSGATE_DIALECT=json needs WSGATE_DIALECT_FILE, the path of a JSON file describing the protocol; set it (docs/dialects/README.md has the format, docs/dialects/wsgate-chat.json an example)',
    );
  }
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
    throw new ConfigError(`WSGATE_DIALECT_FILE "${path}" cannot be read (${why}); give the path of a JSON file describing the protocol`);
  }
  return jsonDialectFromText(text, path);
}

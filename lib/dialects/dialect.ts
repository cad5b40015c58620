/**
 * The dialect seam: everything wsgate must know about a service's WebSocket protocol, behind one
 * interface (crossws's adapters are the model: one interface, one folder of implementations, one
 * conformance suite that every implementation passes). Session, the checks and the multi-user plan
 * speak only this vocabulary; message names and field names live in the implementations:
 *   wsgate-chat.ts   the reference service's protocol (docs/protocol.md)
 *   json.ts          a team's own JSON protocol, described by a file
 *   centrifugo.ts    Centrifugo v6's JSON client protocol
 *
 * A dialect declares its capabilities; a check that needs one the dialect (or target) lacks is "not
 * applicable", never passed and never a configuration error (lib/capabilities.ts).
 *
 * Pure module: runs on both engines and in Node tests.
 */

/** The five events of one agent run, in the order every dialect must deliver them. */
export const AGENT_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
export type AgentEventType = (typeof AGENT_EVENTS)[number];

const DIALECT_NAMES = ['wsgate-chat', 'json', 'centrifugo'] as const;
export type DialectName = (typeof DIALECT_NAMES)[number];

/** How a token travels to the server. */
export type TokenCarrier = 'header' | 'subprotocol' | 'first-frame' | 'query';

/**
 * What a dialect, with the target behind it, can do. Checks declare what they need.
 *   handshake-status    refusals are HTTP statuses at the upgrade (exactly 401 for a missing token,
 *                       403 for a bad one); without it a refusal is in-band (an error or a close)
 *   origin-check        a foreign Origin is refused at the handshake
 *   agent-runs          the client can start an agent run and receive its five events
 *   direct-messages     user-to-user messages
 *   rooms               group messages (join a room, send to it)
 *   app-ping            an application-level ping the server answers
 *   in-band-refresh     a new token can be sent over the open connection
 *   expiry-close        the server closes a connection whose token expired
 *   health              an HTTP health endpoint
 *   connection-count    the server's count of open connections can be read
 *   personal-channel-guard  subscribing to another user's personal stream is refused
 *   auth-service        an HTTP service issues tokens (token source "auth", the JWT agreement check)
 */
export type Capability =
  | 'handshake-status'
  | 'origin-check'
  | 'agent-runs'
  | 'direct-messages'
  | 'rooms'
  | 'app-ping'
  | 'in-band-refresh'
  | 'expiry-close'
  | 'health'
  | 'connection-count'
  | 'personal-channel-guard'
  | 'auth-service';

/** One agent event, in the canonical shape every dialect decodes to. */
export interface AgentEvent {
  type: AgentEventType;
  /** The client's reference that started the run (a message id), so events find their run. */
  runRef: string;
  runId: string;
  seq: number;
  /** The user the event says it belongs to. */
  userId: string;
}

/**
 * A server message, decoded and classified. `owner` is the user the message belongs to, when it is
 * per-user (the isolation guard compares it with the session's user); `label` names it in sentences
 * ("agent_started of run r7").
 */
export type Inbound = (
  | { kind: 'connected'; userId: string | undefined; expiresAt: number | undefined }
  | { kind: 'refused'; reason: string }
  | { kind: 'agent-event'; event: AgentEvent }
  | { kind: 'direct'; to: string; from: string | undefined; content: unknown }
  | { kind: 'room'; room: string; from: string | undefined; content: unknown }
  | { kind: 'room-joined'; room: string }
  | { kind: 'pong'; id: string }
  | { kind: 'refreshed'; expiresAt: number | undefined }
  | { kind: 'refresh-refused'; reason: string }
  | { kind: 'subscribe-refused'; stream: string; reason: string }
  | { kind: 'subscribed'; stream: string }
  | { kind: 'error'; code: string }
  | { kind: 'other' }
) & { owner?: string | undefined; label: string };

/** The handshake of one connection: where to connect, with which headers and subprotocols. */
export interface HandshakePlan {
  url: string;
  headers: Record<string, string>;
  protocols: string[];
}

/** Per-connection encoding and decoding (a dialect may number its commands per connection). */
export interface DialectCodec {
  /** Frames to send as soon as the socket opens (a token in the first frame, a subscription). */
  opening(token: string | undefined): string[];
  /**
   * Every message in one frame (a frame may hold several). Heartbeats the server expects answered
   * are not returned as messages: their answers are pushed to `replies`, which the session sends.
   */
  decode(frame: string, replies: string[]): Inbound[];
  /** Starts an agent run; its events come back with `runRef`. */
  startRun(runRef: string, threadId: string, content: string): string;
  ping(id: string): string | undefined;
  refresh(token: string): string | undefined;
  direct(to: string, ref: string, content: unknown): string | undefined;
  joinRoom(room: string): string | undefined;
  roomMessage(room: string, ref: string, content: unknown): string | undefined;
  /** Asks for another user's personal stream (the security half of isolation); undefined if there is none. */
  subscribeUser(userId: string): string | undefined;
}

/** What /health (or its equivalent) says. */
export interface HealthReading {
  healthy: boolean;
  /** The status word as the service says it, for sentences. */
  status: string;
  connections: number | undefined;
  users: number | undefined;
  version: string;
}

/** An HTTP request the dialect wants made (through the runtime port, so both engines can). */
export interface DialectHttp {
  request(req: { method: 'GET' | 'POST'; url: string; body?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string; error: string | undefined }>;
}

/** The target's addresses and secrets a dialect may need for its HTTP side. */
export interface DialectTarget {
  httpUrl: string;
  authUrl: string;
  /** A server API key (Centrifugo's HTTP API), from the environment; never printed. */
  apiKey: string | undefined;
  apiUrl: string | undefined;
}

export interface Dialect {
  readonly name: DialectName;
  readonly capabilities: ReadonlySet<Capability>;
  /** The carriers this dialect can put a token in, the first being its usual one. */
  readonly carriers: readonly TokenCarrier[];
  /** The close code a server uses for an expired token, if the protocol has one. */
  readonly tokenExpiredClose: number | undefined;
  /** The subprotocol the server must select when the token rides as one (never the token itself). */
  readonly selectedSubprotocol: string | undefined;
  handshake(url: string, token: string | undefined, carrier: TokenCarrier, origin: string | undefined): HandshakePlan;
  codec(userId: string): DialectCodec;
  /** The health reading, if the target has one. */
  readHealth(http: DialectHttp, target: DialectTarget): Promise<{ reading: HealthReading | undefined; status: number; error: string | undefined }>;
  /** Auth service: token for a user (token source "auth"); undefined when the dialect has none. */
  readonly auth:
    | {
        tokenPath: string;
        refreshPath: string;
        tokenRequest(userId: string, password: string | undefined): string;
        /** The body that trades a refresh token for a new access token at refreshPath. */
        refreshRequest(refreshToken: string): string;
        parseTokenResponse(body: string): { accessToken: string; refreshToken: string | undefined } | undefined;
      }
    | undefined;
}

/** Thrown when a dialect cannot do what was asked (the caller should have checked the capability). */
export class NotSupportedError extends Error {
  readonly code = 'ERR_DIALECT_NOT_SUPPORTED';
}

/** Parses JSON text into an object, or undefined. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const isAgentEventType = (t: unknown): t is AgentEventType => typeof t === 'string' && (AGENT_EVENTS as readonly string[]).includes(t);

/**
 * The wsgate-chat dialect: the reference service's protocol (docs/protocol.md), the only module that
 * knows its message names and fields. One JSON object per frame with a `type`; the token rides in the
 * Authorization header or as a `jwt.<token>` subprotocol; refusals are HTTP statuses at the upgrade.
 *
 * Pure module: runs on both engines and in Node tests.
 */
import { isAgentEventType, jsonObject } from './dialect.ts';
import type { Capability, Dialect, DialectCodec, HandshakePlan, HealthReading, Inbound, TokenCarrier } from './dialect.ts';

const PATHS = { token: '/auth/token', refresh: '/auth/refresh', health: '/health', metrics: '/metrics' } as const;

/** Offered with the jwt.<token> subprotocol; the server selects it so browsers accept the handshake. */
const CHAT_SUBPROTOCOL = 'wsgate.v1';

const CLOSE_CODES = { normal: 1000, goingAway: 1001, tooBig: 1009, tokenExpired: 4001 } as const;

const CAPABILITIES: readonly Capability[] = [
  'handshake-status',
  'origin-check',
  'agent-runs',
  'direct-messages',
  'rooms',
  'app-ping',
  'in-band-refresh',
  'expiry-close',
  'health',
  'connection-count',
  'auth-service',
];

/** Headers and subprotocols for a handshake carrying `token` (or none) from `origin`. */
export function chatHandshake(url: string, token: string | undefined, carrier: TokenCarrier, origin: string | undefined): HandshakePlan {
  const headers: Record<string, string> = {};
  if (origin) headers['Origin'] = origin;
  const protocols: string[] = [];
  if (token !== undefined) {
    if (carrier === 'subprotocol') protocols.push(CHAT_SUBPROTOCOL, `jwt.${token}`);
    else headers['Authorization'] = `Bearer ${token}`;
  }
  return { url, headers, protocols };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** Decodes one frame of the chat protocol (always one message). */
export function decodeChat(frame: string): Inbound[] {
  const m = jsonObject(frame);
  const type = str(m?.['type']);
  if (!m || type === undefined) return [{ kind: 'other', label: 'a frame that is not a chat message' }];
  if (isAgentEventType(type)) {
    const userId = str(m['user_id']) ?? '<missing user_id>';
    const runId = str(m['run_id']) ?? '';
    return [
      {
        kind: 'agent-event',
        event: { type, runRef: str(m['message_id']) ?? '', runId, seq: num(m['seq']) ?? 0, userId },
        owner: userId,
        label: `${type}${runId ? ' of run ' + runId : ''}`,
      },
    ];
  }
  switch (type) {
    case 'connection_established':
      return [{ kind: 'connected', userId: str(m['user_id']), expiresAt: num(m['expires_at']), label: `connection_established for ${str(m['user_id']) ?? '?'}` }];
    case 'direct_message': {
      const to = str(m['to_user_id']) ?? '<missing to_user_id>';
      return [{ kind: 'direct', to, from: str(m['from_user_id']), content: m['content'], owner: to, label: `direct_message to ${to}` }];
    }
    case 'room_message':
      return [{ kind: 'room', room: str(m['room']) ?? '', from: str(m['from_user_id']), content: m['content'], label: `room_message in ${str(m['room']) ?? '?'}` }];
    case 'room_joined':
      return [{ kind: 'room-joined', room: str(m['room']) ?? '', label: 'room_joined' }];
    case 'pong':
      return [{ kind: 'pong', id: String(m['id']), label: 'pong' }];
    case 'token_refreshed':
      return [{ kind: 'refreshed', expiresAt: num(m['expires_at']), label: 'token_refreshed' }];
    case 'error': {
      const code = str(m['code']) ?? '';
      if (code === 'refresh_rejected') return [{ kind: 'refresh-refused', reason: code, label: `error ${code}` }];
      return [{ kind: 'error', code, label: `error ${code}` }];
    }
    default:
      return [{ kind: 'other', label: type }];
  }
}

class ChatCodec implements DialectCodec {
  opening(): string[] {
    return [];
  }
  decode(frame: string): Inbound[] {
    return decodeChat(frame);
  }
  startRun(runRef: string, threadId: string, content: string): string {
    return JSON.stringify({ type: 'user_message', thread_id: threadId, message_id: runRef, content });
  }
  ping(id: string): string {
    return JSON.stringify({ type: 'ping', id });
  }
  refresh(token: string): string {
    return JSON.stringify({ type: 'refresh_token', token });
  }
  direct(to: string, ref: string, content: unknown): string {
    return JSON.stringify({ type: 'direct_message', to_user_id: to, message_id: ref, content });
  }
  joinRoom(room: string): string {
    return JSON.stringify({ type: 'join_room', room });
  }
  roomMessage(room: string, ref: string, content: unknown): string {
    return JSON.stringify({ type: 'room_message', room, message_id: ref, content });
  }
  subscribeUser(): undefined {
    // Streams are not subscribable in this protocol: a user gets their own events and nothing else.
    return undefined;
  }
}

const CODEC = new ChatCodec();

/** Parses GET /health; undefined when the body is not the documented shape. */
export function parseChatHealth(body: string): HealthReading | undefined {
  const h = jsonObject(body);
  if (!h || typeof h['status'] !== 'string' || typeof h['active_connections'] !== 'number' || typeof h['users'] !== 'number') return undefined;
  return { healthy: h['status'] === 'healthy', status: h['status'], connections: h['active_connections'], users: h['users'], version: str(h['version']) ?? '' };
}

export const wsgateChat: Dialect = {
  name: 'wsgate-chat',
  capabilities: new Set(CAPABILITIES),
  carriers: ['header', 'subprotocol'],
  tokenExpiredClose: CLOSE_CODES.tokenExpired,
  selectedSubprotocol: CHAT_SUBPROTOCOL,
  handshake: chatHandshake,
  // The protocol keeps no per-connection state: every connection shares one codec.
  codec: () => CODEC,
  async readHealth(http, target) {
    const res = await http.request({ method: 'GET', url: target.httpUrl + PATHS.health });
    return { reading: res.status === 200 ? parseChatHealth(res.body) : undefined, status: res.status, error: res.error };
  },
  auth: {
    tokenPath: PATHS.token,
    refreshPath: PATHS.refresh,
    tokenRequest: (userId, password) => JSON.stringify(password === undefined ? { user_id: userId } : { user_id: userId, password }),
    refreshRequest: (refreshToken) => JSON.stringify({ refresh_token: refreshToken }),
    parseTokenResponse(body) {
      const v = jsonObject(body);
      if (typeof v?.['access_token'] !== 'string') return undefined;
      return { accessToken: v['access_token'], refreshToken: str(v['refresh_token']) };
    },
  },
};

/**
 * The centrifugo dialect: Centrifugo v6's JSON client protocol (lib/dialects/centrifugo/protocol.ts)
 * in wsgate's vocabulary, as the running v6.9.1 server speaks it (docs/centrifugo.md). What a
 * deployment must provide, besides Centrifugo itself:
 *   - connection JWTs (HS256, `sub` = the user) that Centrifugo verifies with its HMAC secret;
 *   - personal channels `<ns>:#<user>` (client.subscribe_to_user_personal_channel; the namespace is
 *     learned from the connect reply, `personal` when the reply has none), user-limited;
 *   - an agent backend behind Centrifugo's RPC proxy: the client's `rpc` `agent_run` with
 *     {message_id, thread_id, content} starts a run, whose five events the backend publishes into the
 *     caller's personal channel as {type, run_id, seq, user_id, message_id, ...}
 *     (third-party/centrifugo/agent-driver.ts plays that backend in wsgate's tests);
 *   - `/health` and, for connection counts and the version, Prometheus `/metrics` at WSGATE_HTTP_URL
 *     (health.enabled, prometheus.enabled), or the server API at WSGATE_SERVER_API_URL with
 *     WSGATE_SERVER_API_KEY.
 *
 * How it differs from the reference protocol: the token rides in the first frame (a `connect`
 * command), so every refusal comes after HTTP 101, in-band: a close 3500 "invalid token", 3501 "bad
 * request" (no token) or 3507, or an error 109 reply to connect (token expired). A frame may hold
 * several messages, newline-separated. The server pings with `{}` and closes a client that does not
 * answer each one exactly once (3012), so answers go out through `replies`; there is no client ping,
 * so `ping()` is undefined and a connection's liveness is its staying open. The connect reply does not
 * name the user: the key of the personal channel in its `subs` does.
 *
 * Pure module: runs on both engines and in Node tests.
 */
import { CLOSE_CODES, CentrifugoClientProtocol, ERROR_CODES, PONG, personalChannel } from './centrifugo/protocol.ts';
import type { Publication, ServerMessage } from './centrifugo/protocol.ts';
import { isAgentEventType, jsonObject } from './dialect.ts';
import type { Capability, Dialect, DialectCodec, DialectHttp, DialectTarget, HandshakePlan, HealthReading, Inbound, TokenCarrier } from './dialect.ts';

/** The RPC method the agent backend answers (through Centrifugo's RPC proxy). */
const AGENT_RUN_RPC = 'agent_run';
/** Personal channels' namespace when the connect reply does not show it (Centrifugo's usual name). */
const DEFAULT_PERSONAL_NAMESPACE = 'personal';
/** Sent as the connect command's `name` (Centrifugo allows 16 characters). */
const CLIENT_NAME = 'wsgate';

const PATHS = { health: '/health', metrics: '/metrics', info: '/info' } as const;

/**
 * Prometheus series the health reading uses: the live gauge of connected clients (only connections
 * that completed `connect`; it follows a close within milliseconds), and the build's version.
 */
const METRICS = { connections: 'centrifugo_client_connections_inflight', build: 'centrifugo_node_build' } as const;

const CAPABILITIES: readonly Capability[] = [
  // With client.allowed_origins set, a foreign Origin gets HTTP 403 at the upgrade (checked on v6.9.1).
  'origin-check',
  'agent-runs',
  'in-band-refresh',
  'expiry-close',
  'health',
  'connection-count',
  'personal-channel-guard',
];

/** The token is never in the handshake: it rides in the first frame. The Origin is sent as a browser would. */
export function centrifugoHandshake(url: string, _token: string | undefined, _carrier: TokenCarrier, origin: string | undefined): HandshakePlan {
  return { url, headers: origin ? { Origin: origin } : {}, protocols: [] };
}

const PERSONAL = /^(?:([^:#]*):)?#([^,]+)$/;

/** The user a channel is limited to when it is one user's (`ns:#u` or `#u`), else undefined. */
export function userOfChannel(channel: string): string | undefined {
  return PERSONAL.exec(channel)?.[2];
}

/**
 * The personal channel among a connect reply's server-side subscriptions: the one in `preferredNs`
 * if there is one, else the only channel limited to one user. Undefined when there is none.
 */
export function personalSub(subs: Record<string, unknown>, preferredNs = DEFAULT_PERSONAL_NAMESPACE): { channel: string; user: string; namespace: string } | undefined {
  const found = Object.keys(subs)
    .map((channel) => ({ channel, m: PERSONAL.exec(channel) }))
    .filter((x): x is { channel: string; m: RegExpExecArray } => x.m !== null)
    .map(({ channel, m }) => ({ channel, user: m[2] ?? '', namespace: m[1] ?? '' }));
  return found.find((f) => f.namespace === preferredNs) ?? (found.length === 1 ? found[0] : undefined);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** Per connection: command ids, the channel each subscribe was for, and the personal namespace. */
export class CentrifugoCodec implements DialectCodec {
  private readonly proto = new CentrifugoClientProtocol();
  private readonly subscribing = new Map<number, string>();
  private namespace = DEFAULT_PERSONAL_NAMESPACE;

  constructor(private readonly userId: string) {}

  opening(token: string | undefined): string[] {
    // Without a token the server closes with 3501: that is the in-band refusal of a missing token.
    return [this.proto.connect(token === undefined ? { name: CLIENT_NAME } : { token, name: CLIENT_NAME }).text];
  }

  decode(frame: string, replies: string[]): Inbound[] {
    const out: Inbound[] = [];
    for (const m of this.proto.decode(frame)) {
      if (m.kind === 'ping') {
        // One pong per ping, never more: an unasked `{}` is closed with 3501.
        replies.push(PONG);
        continue;
      }
      out.push(this.classify(m, replies));
    }
    return out;
  }

  private classify(m: ServerMessage, replies: string[]): Inbound {
    switch (m.kind) {
      case 'connected': {
        const personal = personalSub(m.result.subs);
        if (personal) this.namespace = personal.namespace;
        // Without a server-side personal subscription the client subscribes itself, before anything
        // else goes out; the server accepts it only if this connection's user owns the channel.
        else replies.push(this.subscribe(personalChannel(this.userId, this.namespace)));
        const expiresAt = m.result.expires && m.result.ttl !== undefined ? Date.now() + m.result.ttl * 1000 : undefined;
        return { kind: 'connected', userId: personal?.user, expiresAt, label: `connect reply${personal ? ' for ' + personal.user : ''}` };
      }
      case 'error': {
        const what = `error ${m.code} ${m.message}`.trim();
        const { method } = m;
        if (method === 'connect') return { kind: 'refused', reason: `${what} in reply to connect`, label: what };
        if (method === 'refresh') return { kind: 'refresh-refused', reason: what, label: what };
        if (method === 'subscribe') {
          const stream = this.subscribing.get(m.id) ?? '?';
          this.subscribing.delete(m.id);
          // "already subscribed" means the stream is this connection's already.
          if (m.code === ERROR_CODES.alreadySubscribed) return { kind: 'subscribed', stream, label: `${what} to ${stream}` };
          return { kind: 'subscribe-refused', stream, reason: what, label: `${what} to ${stream}` };
        }
        return { kind: 'error', code: String(m.code), label: `${what}${method ? ' in reply to ' + method : ''}` };
      }
      case 'reply': {
        if (m.method === 'refresh') {
          const ttl = num(m.result['ttl']);
          return { kind: 'refreshed', expiresAt: m.result['expires'] === true && ttl !== undefined ? Date.now() + ttl * 1000 : undefined, label: 'refresh reply' };
        }
        if (m.method === 'subscribe') {
          const stream = this.subscribing.get(m.id) ?? '?';
          this.subscribing.delete(m.id);
          return { kind: 'subscribed', stream, label: `subscribed to ${stream}` };
        }
        return { kind: 'other', label: `${m.method ?? 'unknown'} reply` };
      }
      case 'publication':
        return this.publication(m.channel, m.pub);
      case 'refresh':
        return { kind: 'refreshed', expiresAt: m.expires && m.ttl !== undefined ? Date.now() + m.ttl * 1000 : undefined, label: 'refresh push' };
      case 'invalid':
        return { kind: 'other', label: 'a line that is not JSON' };
      default:
        return { kind: 'other', label: `${m.kind} push` };
    }
  }

  /**
   * A publication belongs to the user its channel is limited to; an agent event in this user's own
   * channel that names another user belongs to that user (a backend that published into the wrong
   * channel). Either way a foreign owner is an isolation violation in the session's guard.
   */
  private publication(channel: string, pub: Publication): Inbound {
    const channelUser = userOfChannel(channel);
    const data = typeof pub.data === 'object' && pub.data !== null && !Array.isArray(pub.data) ? (pub.data as Record<string, unknown>) : undefined;
    const type = data?.['type'];
    if (data && isAgentEventType(type)) {
      const userId = str(data['user_id']) ?? '<missing user_id>';
      const runId = str(data['run_id']) ?? '';
      const owner = channelUser !== undefined && channelUser !== this.userId ? channelUser : userId;
      return {
        kind: 'agent-event',
        event: { type, runRef: str(data['message_id']) ?? '', runId, seq: num(data['seq']) ?? 0, userId },
        owner,
        label: `${type}${runId ? ' of run ' + runId : ''} in ${channel}`,
      };
    }
    return { kind: 'other', owner: channelUser, label: `a publication in ${channel}` };
  }

  private subscribe(channel: string): string {
    const cmd = this.proto.subscribe(channel);
    this.subscribing.set(cmd.id, channel);
    return cmd.text;
  }

  startRun(runRef: string, threadId: string, content: string): string {
    return this.proto.rpc(AGENT_RUN_RPC, { message_id: runRef, thread_id: threadId, content }).text;
  }
  ping(): undefined {
    // The server pings and the client answers (decode); a client cannot ping.
    return undefined;
  }
  refresh(token: string): string {
    return this.proto.refresh(token).text;
  }
  direct(): undefined {
    return undefined;
  }
  joinRoom(): undefined {
    return undefined;
  }
  roomMessage(): undefined {
    return undefined;
  }
  subscribeUser(userId: string): string {
    return this.subscribe(personalChannel(userId, this.namespace));
  }
}

/** Sums a Prometheus text series over its label sets; undefined when the series is absent. */
export function promSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** The `version` label of centrifugo_node_build, e.g. "6.9.1" or "0.0.0 OSS". */
export function promVersion(text: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(METRICS.build + '{'));
  return line ? /version="([^"]*)"/.exec(line)?.[1] : undefined;
}

/**
 * Centrifugo's health, as wsgate reads it: GET /health answering 200 is "healthy"; the connection
 * count is the live `centrifugo_client_connections_inflight` gauge and the version the build series,
 * both from /metrics. Only where /metrics lacks them does the server API's `info` fill them in: its
 * counts are a snapshot refreshed about every 3 s, so a check reading them right after connecting
 * or closing sees the past. `users` stays undefined: Centrifugo has no live count of users.
 */
async function readCentrifugoHealth(http: DialectHttp, target: DialectTarget): Promise<{ reading: HealthReading | undefined; status: number; error: string | undefined }> {
  const health = await http.request({ method: 'GET', url: target.httpUrl + PATHS.health });
  if (health.status !== 200) return { reading: undefined, status: health.status, error: health.error ?? `GET ${PATHS.health} answered HTTP ${health.status}` };
  const metrics = await http.request({ method: 'GET', url: target.httpUrl + PATHS.metrics });
  let connections = metrics.status === 200 ? promSum(metrics.body, METRICS.connections) : undefined;
  let version = metrics.status === 200 ? promVersion(metrics.body) : undefined;
  // The gauge appears with the first connection; a Prometheus answer without it means none yet.
  if (connections === undefined && metrics.status === 200 && version !== undefined) connections = 0;
  if ((connections === undefined || version === undefined) && target.apiUrl && target.apiKey) {
    const info = await http.request({ method: 'POST', url: target.apiUrl + PATHS.info, body: '{}', headers: { 'Content-Type': 'application/json', 'X-API-Key': target.apiKey } });
    const nodes = info.status === 200 ? jsonObject(info.body)?.['result'] : undefined;
    const list = typeof nodes === 'object' && nodes !== null ? (nodes as Record<string, unknown>)['nodes'] : undefined;
    if (Array.isArray(list)) {
      const ns = list.filter((n): n is Record<string, unknown> => typeof n === 'object' && n !== null);
      version ??= str(ns[0]?.['version']);
      connections ??= ns.reduce((s, n) => s + (num(n['num_clients']) ?? 0), 0);
    }
  }
  return { reading: { healthy: true, status: 'ok', connections, users: undefined, version: version ?? '' }, status: health.status, error: undefined };
}

export const centrifugo: Dialect = {
  name: 'centrifugo',
  capabilities: new Set(CAPABILITIES),
  carriers: ['first-frame'],
  tokenExpiredClose: CLOSE_CODES.connectionExpired,
  selectedSubprotocol: undefined,
  handshake: centrifugoHandshake,
  codec: (userId) => new CentrifugoCodec(userId),
  readHealth: readCentrifugoHealth,
  // Centrifugo verifies tokens; it does not issue them.
  auth: undefined,
};

/**
 * The chat backend: authenticates the upgrade, then runs the message protocol of docs/protocol.md
 * ("Chat backend") for every connection, and plays the faults that concern it.
 *
 * Built for tens of thousands of connections: per-user and per-room indexes instead of scans, one
 * JSON.stringify per outgoing frame however many sockets receive it, no logging on message paths.
 */
import { randomUUID } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import type { TargetConfig } from './config.ts';
import { RARE_RUN_FAULTS } from './faults.ts';
import type { FaultName } from './faults.ts';
import { isPlainObject, pathOf, rejectUpgrade, sendJson, sendText } from './http.ts';
import { HOSTILE_CLOSE_CODE, HOSTILE_REFUSE_EVERY, HOSTILE_STRAY_EVERY, closeReasonWith, echoedSubprotocol, hostileHealthStatus, hostileRefusal, noteUpgrade } from './hostile.ts';
import { AGENT_EVENTS } from './metrics.ts';
import type { Metrics } from './metrics.ts';
import { RareDice, planRun, seededRandom } from './rare.ts';
import type { Emission, RareRunFault } from './rare.ts';
import { verifyAccessToken } from './tokens.ts';
import type { VerifiedToken } from './tokens.ts';

/** The subprotocol a browser-style client offers next to `jwt.<token>`; the only one ever selected. */
export const CHAT_SUBPROTOCOL = 'wsgate.v1';

/** setTimeout turns longer delays into 1 ms; longer expiries are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long shutdown waits for clients to answer the 1001 close before cutting them off. */
const SHUTDOWN_GRACE_MS = 2000;
const MAX_ROOM_NAME = 256;
const RUN_TOOL = 'search';
/** slow_handshake: how late every handshake is answered. */
const SLOW_HANDSHAKE_MS = 3000;

export interface BackendDeps {
  readonly config: TargetConfig;
  readonly faults: ReadonlySet<FaultName>;
  readonly metrics: Metrics;
  /** Key the backend verifies with: its own secret, or a different one under `jwt_secret_desync`. */
  readonly verifyKey: () => webcrypto.CryptoKey;
  readonly uptimeSeconds: () => number;
  /** Prefix of connection and run ids; a cluster worker passes its own (`w1-…`). Default: random. */
  readonly idPrefix?: string;
  /** Set in a cluster worker only (reference-service/cluster.ts): the other workers, reached through the primary. */
  readonly peers?: BackendPeers;
}

/**
 * What a backend in a cluster worker tells, and asks, the rest of the cluster. Without it (one
 * process) the backend behaves exactly as before. Promises resolve once the primary has recorded the
 * change, so a client that has seen the answer can rely on every worker routing accordingly.
 */
export interface BackendPeers {
  /** A connection of `userId` opened here; resolves before connection_established is sent. */
  opened(userId: string): Promise<void>;
  closed(userId: string): void;
  /** A connection here joined `room` (`added`: it was not a member yet); resolves with the cluster's member count. */
  joined(room: string, added: boolean): Promise<number>;
  left(room: string): void;
  /** Delivers a direct message frame to `toUserId`'s connections on the other workers. */
  direct(toUserId: string, frame: string): void;
  /** Delivers a room message frame to `room`'s members on the other workers. */
  room(room: string, frame: string): void;
  /** isolation_leak with no other user on this worker: sends the frame to another user elsewhere. */
  leak(userId: string, frame: string): void;
  /** Cluster-wide figures for `/health`. */
  stats(): Promise<BackendStats>;
  /** Cluster-wide `/metrics` text. */
  metricsText(): Promise<string>;
}

export interface BackendStats {
  readonly active_connections: number;
  readonly users: number;
}

/** Mirrors ws's CONNECTING/OPEN/CLOSING/CLOSED for our side of one connection. */
type ConnectionState = 'open' | 'closing' | 'closed';

class Connection {
  state: ConnectionState = 'open';
  /** Frames waiting behind an answer the cluster has not given yet (see later()); undefined when none. */
  private queue: { frame: string | undefined; ready: boolean }[] | undefined;
  readonly rooms = new Set<string>();
  readonly runs = new Set<AgentRun>();
  expiryTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  lastFrameAt = Date.now();
  /** The heartbeat: when the client was last heard from (any frame, ping or pong), and last pinged. */
  heartbeatTimer: NodeJS.Timeout | undefined;
  lastHeardAt = Date.now();
  pingedAt = 0;

  constructor(
    readonly id: string,
    readonly userId: string,
    readonly ws: WebSocket,
    public expiresAtMs: number,
  ) {}

  send(frame: string): void {
    if (this.queue !== undefined) this.queue.push({ frame, ready: true });
    else if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /**
   * Reserves the next place in this connection's outgoing order for a frame that needs an answer
   * from the cluster first; frames sent meanwhile wait behind it, so the client sees the same order
   * as from a single process. A rejected promise (the cluster is gone) just frees the place.
   */
  later(frame: Promise<string>): void {
    const slot: { frame: string | undefined; ready: boolean } = { frame: undefined, ready: false };
    (this.queue ??= []).push(slot);
    const settle = (text: string | undefined): void => {
      slot.frame = text;
      slot.ready = true;
      this.flush();
    };
    frame.then(settle, () => settle(undefined));
  }

  private flush(): void {
    const queue = this.queue;
    while (queue !== undefined && queue[0]?.ready === true) {
      const text = queue.shift()?.frame;
      if (text !== undefined && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    }
    if (queue?.length === 0) this.queue = undefined;
  }
}

interface AgentRun {
  readonly conn: Connection;
  readonly id: string;
  readonly threadId: string;
  readonly messageId: string;
  readonly content: string;
  /** The frames this run sends (rare/planRun: healthy, or bent by a fault). */
  readonly plan: readonly Emission[];
  /** Position in `plan` of the next frame. */
  step: number;
  timer: NodeJS.Timeout | undefined;
}

function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function tokenFrom(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (match?.[1] !== undefined) return match[1];
  }
  const offered = req.headers['sec-websocket-protocol'];
  if (offered !== undefined) {
    for (const part of offered.split(',')) {
      const protocol = part.trim();
      if (protocol.startsWith('jwt.') && protocol.length > 4) return protocol.slice(4);
    }
  }
  return undefined;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isRoomName = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_ROOM_NAME;

export class ChatBackend {
  private readonly users = new Map<string, Set<Connection>>();
  private readonly rooms = new Map<string, Set<Connection>>();
  private readonly wss: WebSocketServer;
  private readonly claims: { issuer: string; audience: string };
  private readonly idPrefix: string;
  private state: 'running' | 'closing' | 'closed' = 'running';
  /** Connections in the registry (the user index): open ones, plus closed ones connection_leak keeps. */
  private registered = 0;
  private connectionCounter = 0;
  private runCounter = 0;
  private skipRotation = 0;
  private leakEventCounter = 0;
  // The rare faults: one seeded generator, one dice per fault (rare.ts).
  private readonly random: () => number;
  private readonly dice = new Map<FaultName, RareDice>();
  /** slow_handshake: upgrades waiting for their late answer, cut off at shutdown. */
  private readonly slowUpgrades = new Map<NodeJS.Timeout, Duplex>();
  // hostile: each connection's raw token, to hand back; counters for the periodic refusals and strays.
  private readonly hostileTokens = new WeakMap<Connection, string>();
  private hostileCounter = 0;

  constructor(private readonly deps: BackendDeps) {
    this.claims = { issuer: deps.config.issuer, audience: deps.config.audience };
    this.idPrefix = deps.idPrefix ?? randomUUID().slice(0, 8);
    this.random = seededRandom(deps.config.faultSeed);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false, // the user index already tracks every connection
      maxPayload: deps.config.maxFrameBytes,
      perMessageDeflate: false,
      // Never echo `jwt.<token>`: only our own subprotocol is ever selected.
      handleProtocols: (protocols) =>
        (deps.faults.has('hostile') ? echoedSubprotocol(protocols) : undefined) ?? (protocols.has(CHAT_SUBPROTOCOL) ? CHAT_SUBPROTOCOL : false),
    });
    // Handshakes ws itself refuses (bad key, bad version) get the same JSON answer and are counted.
    this.wss.on('wsClientError', (_error, socket) => this.refuse(socket, 400, { error: 'bad_handshake' }));
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req.url);
    const peers = this.deps.peers;
    if (peers !== undefined && (path === '/health' || path === '/metrics') && (req.method === 'GET' || req.method === 'HEAD')) {
      return this.clusterFigures(peers, path, res);
    }
    if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      const stats = this.stats();
      sendJson(res, 200, {
        status: this.deps.faults.has('hostile') ? hostileHealthStatus(this.deps.config.backendSecret) : 'healthy',
        active_connections: stats.active_connections,
        users: stats.users,
        uptime_s: this.deps.uptimeSeconds(),
        version: this.deps.config.version,
      });
      return;
    }
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      const stats = this.stats();
      void this.deps.metrics
        .render({ activeConnections: stats.active_connections, users: stats.users, uptimeSeconds: this.deps.uptimeSeconds() })
        .then((text) => sendText(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text));
      return;
    }
    if (path === '/ws') {
      this.deps.metrics.rejectHandshake(426);
      sendJson(res, 426, { error: 'upgrade_required' }, { upgrade: 'websocket', connection: 'Upgrade' });
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  };

  /** `/health` and `/metrics` in a cluster worker: the primary's cluster-wide figures. */
  private clusterFigures(peers: BackendPeers, path: string, res: ServerResponse): void {
    const answer =
      path === '/health'
        ? peers.stats().then((stats) =>
            sendJson(res, 200, {
              status: 'healthy',
              active_connections: stats.active_connections,
              users: stats.users,
              uptime_s: this.deps.uptimeSeconds(),
              version: this.deps.config.version,
            }),
          )
        : peers.metricsText().then((text) => sendText(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text));
    answer.catch(() => sendJson(res, 503, { error: 'cluster_unavailable' }));
  }

  private refuse(socket: Duplex, status: number, body: unknown, headers?: Record<string, string>): void {
    this.deps.metrics.rejectHandshake(status);
    if (this.deps.faults.has('hostile')) ({ body, headers } = hostileRefusal(socket, body, headers));
    rejectUpgrade(socket, status, body, headers);
  }

  /** The `upgrade` listener; under slow_handshake the answer (whatever it is) comes SLOW_HANDSHAKE_MS late. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!this.deps.faults.has('slow_handshake')) return this.answerUpgrade(req, socket, head);
    const onEarlyError = (): void => {
      socket.destroy();
    };
    socket.on('error', onEarlyError);
    const timer = setTimeout(() => {
      this.slowUpgrades.delete(timer);
      socket.removeListener('error', onEarlyError);
      if (!socket.destroyed) this.answerUpgrade(req, socket, head);
    }, SLOW_HANDSHAKE_MS);
    this.slowUpgrades.set(timer, socket);
  };

  /** Answers an upgrade: every refusal is an HTTP status written here, before any WebSocket exists. */
  private answerUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until ws owns the socket, a reset client must not become an unhandled 'error'.
    const onEarlyError = (): void => {
      socket.destroy();
    };
    socket.on('error', onEarlyError);
    if (this.deps.faults.has('hostile')) noteUpgrade(socket, req);

    if (this.state !== 'running') return this.refuse(socket, 503, { error: 'shutting_down' });
    if (pathOf(req.url) !== '/ws') return this.refuse(socket, 404, { error: 'not_found' });
    if (req.method !== 'GET') return this.refuse(socket, 405, { error: 'method_not_allowed' });
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      return this.refuse(socket, 426, { error: 'upgrade_required' }, { Upgrade: 'websocket' });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.deps.config.allowedOrigins.has(origin)) {
      return this.refuse(socket, 403, { error: 'origin_not_allowed' });
    }
    const token = tokenFrom(req);
    if (token === undefined) {
      return this.refuse(socket, 401, { error: 'missing_token' }, { 'WWW-Authenticate': 'Bearer' });
    }
    verifyAccessToken(this.deps.verifyKey(), this.claims, token).then(
      (verified) => {
        if (socket.destroyed) return; // the client gave up while we were verifying
        if (this.state !== 'running') return this.refuse(socket, 503, { error: 'shutting_down' });
        if (verified === undefined) return this.refuse(socket, 403, { error: 'invalid_token' });
        if (this.deps.faults.has('handshake_403')) return this.refuse(socket, 403, { error: 'forbidden' });
        // rare_connection_reset: one accepted handshake in 33 is refused with 503, or reset right after its greeting.
        const reset = this.rolls('rare_connection_reset');
        if (reset && this.random() < 0.5) return this.refuse(socket, 503, { error: 'unavailable' });
        socket.removeListener('error', onEarlyError);
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          this.accept(ws, verified, token);
          // The greeting is written by now (a cluster worker may still wait for the primary: then the reset comes first).
          if (reset) setImmediate(() => ws.terminate());
        });
      },
      () => this.refuse(socket, 403, { error: 'invalid_token' }),
    );
  }

  /** Rolls `fault`'s dice when the fault is on: true for the one trial in 33 it hits. */
  private rolls(fault: FaultName): boolean {
    if (!this.deps.faults.has(fault)) return false;
    let dice = this.dice.get(fault);
    if (dice === undefined) this.dice.set(fault, (dice = new RareDice(this.random)));
    return dice.hit();
  }

  // ---- Connections --------------------------------------------------------------------------

  private accept(ws: WebSocket, token: VerifiedToken, raw: string): void {
    const conn = new Connection(`${this.idPrefix}-c${++this.connectionCounter}`, token.userId, ws, token.expiresAtMs);
    let userConnections = this.users.get(conn.userId);
    if (userConnections === undefined) {
      userConnections = new Set();
      this.users.set(conn.userId, userConnections);
    }
    userConnections.add(conn);
    this.registered++;
    this.deps.metrics.connectionsTotal++;

    ws.on('message', (data) => this.onFrame(conn, data));
    ws.on('ping', () => {
      conn.lastFrameAt = conn.lastHeardAt = Date.now();
    });
    // A pong answers the heartbeat; it is no traffic for idle_timeout, which plays a load balancer that pings nothing.
    ws.on('pong', () => {
      conn.lastHeardAt = Date.now();
    });
    // Protocol errors (e.g. 1009 on an oversized frame) are closed by ws itself; 'close' follows.
    ws.on('error', () => {});
    ws.on('close', () => this.release(conn));

    this.armExpiry(conn);
    if (this.deps.faults.has('idle_timeout')) this.armIdle(conn);
    if (!this.deps.faults.has('no_reaping')) this.armHeartbeat(conn);
    if (this.deps.faults.has('hostile')) {
      this.hostileTokens.set(conn, raw);
      if (++this.hostileCounter % HOSTILE_REFUSE_EVERY === 0) {
        this.sendError(conn, 'forbidden', `refused after the upgrade: token ${raw}`);
        return this.closeConnection(conn, HOSTILE_CLOSE_CODE, 'refused');
      }
    }
    const established = (): string =>
      JSON.stringify({
        type: 'connection_established',
        user_id: conn.userId,
        connection_id: conn.id,
        expires_at: conn.expiresAtMs,
        timestamp: Date.now(),
      });
    const peers = this.deps.peers;
    if (peers === undefined) conn.send(established());
    else conn.later(peers.opened(conn.userId).then(established));
  }

  private stopTimers(conn: Connection): void {
    if (conn.expiryTimer !== undefined) clearTimeout(conn.expiryTimer);
    if (conn.idleTimer !== undefined) clearTimeout(conn.idleTimer);
    if (conn.heartbeatTimer !== undefined) clearTimeout(conn.heartbeatTimer);
    conn.expiryTimer = undefined;
    conn.idleTimer = undefined;
    conn.heartbeatTimer = undefined;
    for (const run of conn.runs) {
      if (run.timer !== undefined) clearTimeout(run.timer);
    }
    conn.runs.clear();
  }

  private closeConnection(conn: Connection, code: number, reason: string): void {
    if (conn.state !== 'open') return;
    conn.state = 'closing';
    this.stopTimers(conn);
    const token = this.hostileTokens.get(conn);
    conn.ws.close(code, token !== undefined && this.deps.faults.has('hostile') ? closeReasonWith(reason, `jwt.${token}`) : reason);
  }

  private release(conn: Connection): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    this.stopTimers(conn);
    for (const room of conn.rooms) this.removeFromRoom(conn, room);
    // connection_leak: the closed connection stays in the registry, its socket with it, and is counted
    // from there (in a cluster the primary's registry keeps it too); nothing is delivered to it.
    if (this.deps.faults.has('connection_leak')) return;
    const userConnections = this.users.get(conn.userId);
    if (userConnections !== undefined) {
      userConnections.delete(conn);
      if (userConnections.size === 0) this.users.delete(conn.userId);
    }
    this.registered--;
    // In a cluster the primary keeps the counts.
    this.deps.peers?.closed(conn.userId);
  }

  private armHeartbeat(conn: Connection, delay = this.deps.config.heartbeatIntervalS * 1000): void {
    if (conn.heartbeatTimer !== undefined) clearTimeout(conn.heartbeatTimer);
    conn.heartbeatTimer = setTimeout(this.onHeartbeat, delay, conn);
  }

  /**
   * The heartbeat, one timer per connection re-armed for the remainder: a connection silent for the
   * interval is pinged once; one still silent at the timeout, and at least timeout - interval after an
   * unanswered ping, is reaped: closed without a close frame (its client vanished: a close handshake
   * would wait on nobody). Off under no_reaping.
   */
  private readonly onHeartbeat = (conn: Connection): void => {
    conn.heartbeatTimer = undefined;
    if (conn.state !== 'open' || this.deps.faults.has('no_reaping')) return;
    const interval = this.deps.config.heartbeatIntervalS * 1000;
    const timeout = this.deps.config.heartbeatTimeoutS * 1000;
    const grace = timeout - interval;
    const now = Date.now();
    const silent = now - conn.lastHeardAt;
    if (silent < interval) return this.armHeartbeat(conn, interval - silent);
    if (conn.pingedAt <= conn.lastHeardAt) {
      conn.pingedAt = now;
      conn.ws.ping();
      return this.armHeartbeat(conn, Math.max(grace, timeout - silent));
    }
    const waited = now - conn.pingedAt;
    if (silent >= timeout && waited >= grace) {
      conn.state = 'closing';
      this.stopTimers(conn);
      conn.ws.terminate();
      return;
    }
    this.armHeartbeat(conn, Math.max(timeout - silent, grace - waited, 1));
  };

  private armExpiry(conn: Connection): void {
    if (conn.expiryTimer !== undefined) clearTimeout(conn.expiryTimer);
    const delay = Math.min(Math.max(0, conn.expiresAtMs - Date.now()), MAX_TIMER_MS);
    conn.expiryTimer = setTimeout(this.onExpiry, delay, conn);
  }

  private readonly onExpiry = (conn: Connection): void => {
    conn.expiryTimer = undefined;
    if (conn.state !== 'open') return;
    if (Date.now() < conn.expiresAtMs) return this.armExpiry(conn);
    this.closeConnection(conn, 4001, 'token_expired');
  };

  private armIdle(conn: Connection, delay = this.deps.config.idleTimeoutS * 1000): void {
    if (conn.idleTimer !== undefined) clearTimeout(conn.idleTimer);
    conn.idleTimer = setTimeout(this.onIdle, delay, conn);
  }

  // One timer per connection, re-armed for the remainder, instead of a clearTimeout per frame.
  private readonly onIdle = (conn: Connection): void => {
    conn.idleTimer = undefined;
    if (conn.state !== 'open' || !this.deps.faults.has('idle_timeout')) return;
    const limit = this.deps.config.idleTimeoutS * 1000;
    const idle = Date.now() - conn.lastFrameAt;
    if (idle < limit) return this.armIdle(conn, limit - idle);
    // A load balancer drops the TCP connection: no close frame.
    conn.state = 'closing';
    this.stopTimers(conn);
    conn.ws.terminate();
  };

  /** Applies a fault toggled at runtime to the connections already open. */
  faultChanged(name: FaultName, on: boolean): void {
    if (name === 'no_reaping') {
      for (const connections of this.users.values()) {
        for (const conn of connections) {
          if (conn.state !== 'open') continue;
          if (!on) this.armHeartbeat(conn);
          else if (conn.heartbeatTimer !== undefined) {
            clearTimeout(conn.heartbeatTimer);
            conn.heartbeatTimer = undefined;
          }
        }
      }
      return;
    }
    if (name !== 'idle_timeout') return;
    for (const connections of this.users.values()) {
      for (const conn of connections) {
        if (conn.state !== 'open') continue;
        if (on) this.armIdle(conn);
        else if (conn.idleTimer !== undefined) {
          clearTimeout(conn.idleTimer);
          conn.idleTimer = undefined;
        }
      }
    }
  }

  /** This process's figures (in a cluster worker: this worker's share; the primary adds them up). */
  stats(): BackendStats {
    return { active_connections: this.registered, users: this.users.size };
  }

  /** Closes every connection with 1001 and resolves when all are gone (cut off after a grace period). */
  async shutdown(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'closing';
    for (const [timer, socket] of this.slowUpgrades) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.slowUpgrades.clear();
    const closed: Promise<void>[] = [];
    const all: Connection[] = [];
    for (const connections of this.users.values()) all.push(...connections);
    for (const conn of all) {
      if (conn.ws.readyState === WebSocket.CLOSED) continue;
      closed.push(new Promise((resolve) => conn.ws.once('close', () => resolve())));
      if (conn.state === 'open') this.closeConnection(conn, 1001, 'server shutting down');
    }
    let grace: NodeJS.Timeout | undefined;
    const cutOff = new Promise<void>((resolve) => {
      grace = setTimeout(() => {
        for (const conn of all) conn.ws.terminate();
        resolve();
      }, SHUTDOWN_GRACE_MS);
    });
    await Promise.race([Promise.all(closed), cutOff]);
    clearTimeout(grace);
    await Promise.all(closed);
    this.wss.close();
    this.state = 'closed';
  }

  // ---- Messages -----------------------------------------------------------------------------

  private sendError(conn: Connection, code: string, message: string, refType?: string): void {
    const token = this.hostileTokens.get(conn);
    if (token !== undefined && this.deps.faults.has('hostile')) message += ` (your token: ${token}; see https://wsgate:${token}@hostile.invalid/?token=${token})`;
    conn.send(
      JSON.stringify(
        refType === undefined
          ? { type: 'error', code, message }
          : { type: 'error', code, message, ref_type: refType },
      ),
    );
  }

  private invalid(conn: Connection, type: string, needs: string): void {
    this.sendError(conn, 'invalid_message', `${type} needs ${needs}`, type);
  }

  private onFrame(conn: Connection, data: RawData): void {
    this.deps.metrics.messagesReceivedTotal++;
    conn.lastFrameAt = conn.lastHeardAt = Date.now();
    if (conn.state !== 'open') return;
    let message: unknown;
    try {
      message = JSON.parse(frameText(data));
    } catch {
      return this.sendError(conn, 'invalid_json', 'frame is not valid JSON');
    }
    if (!isPlainObject(message)) return this.sendError(conn, 'invalid_json', 'frame is not a JSON object');
    const type = message['type'];
    if (typeof type !== 'string') return this.sendError(conn, 'invalid_message', 'frame has no string "type" field');

    switch (type) {
      case 'user_message': {
        const { thread_id: threadId, message_id: messageId, content } = message;
        if (!isString(threadId) || !isString(messageId) || !isString(content)) {
          return this.invalid(conn, type, 'string fields thread_id, message_id and content');
        }
        return this.startRun(conn, threadId, messageId, content);
      }
      case 'refresh_token': {
        const token = message['token'];
        if (!isString(token) || token === '') return this.invalid(conn, type, 'a string field token');
        return this.refresh(conn, token);
      }
      case 'direct_message': {
        const { to_user_id: to, message_id: messageId } = message;
        if (!isString(to) || to === '' || !isString(messageId) || !('content' in message)) {
          return this.invalid(conn, type, 'string fields to_user_id and message_id, and a content field');
        }
        return this.directMessage(conn, to, messageId, message['content']);
      }
      case 'join_room':
      case 'leave_room': {
        const room = message['room'];
        if (!isRoomName(room)) return this.invalid(conn, type, `a string field room of 1 to ${MAX_ROOM_NAME} characters`);
        if (type === 'join_room') return this.joinRoom(conn, room);
        this.removeFromRoom(conn, room);
        return conn.send(JSON.stringify({ type: 'room_left', room }));
      }
      case 'room_message': {
        const { room, message_id: messageId } = message;
        if (!isRoomName(room) || !isString(messageId) || !('content' in message)) {
          return this.invalid(conn, type, 'string fields room and message_id, and a content field');
        }
        return this.roomMessage(conn, room, messageId, message['content']);
      }
      case 'ping': {
        const pong = 'id' in message ? { type: 'pong', id: message['id'], timestamp: Date.now() } : { type: 'pong', timestamp: Date.now() };
        return conn.send(JSON.stringify(pong));
      }
      default:
        return this.sendError(conn, 'unknown_type', `unknown message type "${type.slice(0, 64)}"`, type);
    }
  }

  private refresh(conn: Connection, token: string): void {
    const verified = this.deps.faults.has('token_refresh_broken')
      ? Promise.resolve(undefined)
      : verifyAccessToken(this.deps.verifyKey(), this.claims, token);
    void verified.then((result) => {
      if (conn.state !== 'open') return;
      if (result === undefined || result.userId !== conn.userId) {
        this.deps.metrics.tokenRefreshes.rejected++;
        const what = this.deps.faults.has('hostile') ? `the token ${token}` : 'the token';
        return this.sendError(conn, 'refresh_rejected', `${what} does not verify or is for another user`, 'refresh_token');
      }
      this.deps.metrics.tokenRefreshes.accepted++;
      conn.expiresAtMs = result.expiresAtMs;
      this.armExpiry(conn);
      conn.send(JSON.stringify({ type: 'token_refreshed', expires_at: conn.expiresAtMs, timestamp: Date.now() }));
    });
  }

  private directMessage(conn: Connection, to: string, messageId: string, content: unknown): void {
    const recipients = this.users.get(to);
    const peers = this.deps.peers;
    if (recipients === undefined && peers === undefined) return;
    const frame = JSON.stringify({
      type: 'direct_message',
      from_user_id: conn.userId,
      to_user_id: to,
      message_id: messageId,
      content,
      timestamp: Date.now(),
    });
    for (const recipient of recipients ?? []) if (recipient !== conn) recipient.send(frame);
    peers?.direct(to, frame);
  }

  /** A direct message frame from another worker: to every connection of `to` here. */
  deliverDirect(to: string, frame: string): void {
    for (const recipient of this.users.get(to) ?? []) recipient.send(frame);
  }

  /** A room message frame from another worker: to every member connection here. */
  deliverRoom(room: string, frame: string): void {
    for (const member of this.rooms.get(room) ?? []) member.send(frame);
  }

  /** isolation_leak from another worker: to the first open connection here of a user other than `userId`. */
  deliverLeak(userId: string, frame: string): boolean {
    const conn = this.connectionOfAnotherUser(userId);
    conn?.send(frame);
    return conn !== undefined;
  }

  private joinRoom(conn: Connection, room: string): void {
    let members = this.rooms.get(room);
    if (members === undefined) {
      members = new Set();
      this.rooms.set(room, members);
    }
    const added = !members.has(conn);
    members.add(conn);
    conn.rooms.add(room);
    const peers = this.deps.peers;
    if (peers === undefined) conn.send(JSON.stringify({ type: 'room_joined', room, members: members.size }));
    else conn.later(peers.joined(room, added).then((count) => JSON.stringify({ type: 'room_joined', room, members: count })));
  }

  private removeFromRoom(conn: Connection, room: string): void {
    if (conn.rooms.delete(room)) this.deps.peers?.left(room);
    const members = this.rooms.get(room);
    if (members === undefined) return;
    members.delete(conn);
    if (members.size === 0) this.rooms.delete(room);
  }

  private roomMessage(conn: Connection, room: string, messageId: string, content: unknown): void {
    const members = this.rooms.get(room);
    if (members === undefined || !conn.rooms.has(room)) {
      return this.sendError(conn, 'not_in_room', `not a member of room "${room.slice(0, 64)}"`, 'room_message');
    }
    const frame = JSON.stringify({
      type: 'room_message',
      room,
      from_user_id: conn.userId,
      message_id: messageId,
      content,
      timestamp: Date.now(),
    });
    for (const member of members) member.send(frame);
    this.deps.peers?.room(room, frame);
  }

  // ---- Agent runs ---------------------------------------------------------------------------

  private startRun(conn: Connection, threadId: string, messageId: string, content: string): void {
    const runNumber = ++this.runCounter;
    const skipIndex =
      this.deps.faults.has('missing_agent_events') && runNumber % 2 === 0
        ? this.skipRotation++ % AGENT_EVENTS.length
        : -1;
    // Every active rare run fault rolls its own dice (so each hits 1 run in 33); the first hit plays.
    let rare: RareRunFault | undefined;
    for (const fault of RARE_RUN_FAULTS) if (this.rolls(fault) && rare === undefined) rare = fault;
    const id = `${this.idPrefix}-r${runNumber}`;
    const plan = planRun({
      events: AGENT_EVENTS.length,
      stepDelayMs: this.deps.config.stepDelayMs,
      skipIndex,
      rare,
      duplicateFinal: this.deps.faults.has('duplicate_final_event'),
      lateRunMs: this.deps.config.lateRunMs,
      random: this.random,
      otherRunId: `${id}-other`,
      otherUserId: this.otherUserId(conn.userId),
    });
    const run: AgentRun = { conn, id, threadId, messageId, content, plan, step: 0, timer: undefined };
    this.deps.metrics.agentRunsTotal++;
    conn.runs.add(run);
    run.timer = setTimeout(this.stepRun, plan[0]?.delayMs ?? 0, run);
  }

  /** Another connected user's id (rare_mislabel), or a made-up one when nobody else is here. */
  private otherUserId(userId: string): string {
    for (const otherId of this.users.keys()) if (otherId !== userId) return otherId;
    return `${userId}-other`;
  }

  private readonly stepRun = (run: AgentRun): void => {
    run.timer = undefined;
    const conn = run.conn;
    if (conn.state !== 'open') {
      conn.runs.delete(run);
      return;
    }
    const emission = run.plan[run.step++];
    // A lost event's slot (missing_agent_events, rare_event_loss) still passes, so the rest keep their timing.
    if (emission !== undefined && emission.index >= 0) this.emitEvent(run, emission.index, emission.mislabel);
    const next = run.plan[run.step];
    if (next !== undefined) run.timer = setTimeout(this.stepRun, next.delayMs, run);
    else conn.runs.delete(run);
  };

  private emitEvent(run: AgentRun, index: number, mislabel?: Emission['mislabel']): void {
    const type = AGENT_EVENTS[index];
    if (type === undefined) return;
    // rare_message_loss: one agent event in 33 never leaves the server.
    if (this.rolls('rare_message_loss')) return;
    const event: Record<string, unknown> = {
      type,
      user_id: mislabel?.userId ?? run.conn.userId,
      thread_id: run.threadId,
      message_id: run.messageId,
      run_id: mislabel?.runId ?? run.id,
      seq: index + 1,
      timestamp: Date.now(),
    };
    if (type === 'tool_executing' || type === 'tool_completed') event['tool'] = RUN_TOOL;
    if (type === 'agent_completed') event['result'] = `processed ${run.content.length} characters`;
    const frame = JSON.stringify(event);
    run.conn.send(frame);
    this.deps.metrics.agentEvents[type]++;
    const token = this.hostileTokens.get(run.conn);
    if (token !== undefined && index === 0 && this.deps.faults.has('hostile') && this.runCounter % HOSTILE_STRAY_EVERY === 0) {
      // A stray event whose user and run id are the token: it reaches isolation and run verdicts.
      run.conn.send(JSON.stringify({ ...event, user_id: `jwt.${token}`, run_id: token }));
    }
    if (this.deps.faults.has('isolation_leak') && ++this.leakEventCounter % 3 === 0) {
      const other = this.connectionOfAnotherUser(run.conn.userId);
      if (other !== undefined) other.send(frame);
      else this.deps.peers?.leak(run.conn.userId, frame);
    }
  }

  /** Cheap by construction: stops at the first open connection of the first other user in the index. */
  private connectionOfAnotherUser(userId: string): Connection | undefined {
    for (const [otherId, connections] of this.users) {
      if (otherId === userId) continue;
      for (const conn of connections) if (conn.state === 'open') return conn;
    }
    return undefined;
  }
}

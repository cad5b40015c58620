/**
 * The reference service split over processes, for more connections than one process may hold (the
 * open-files limit is per process). {@link startTargetCluster} returns what startTarget does; with
 * one worker it *is* startTarget.
 *
 * The primary (the calling process) runs the auth listener, the admin endpoint and the backend's
 * listening socket. It accepts each TCP connection without reading from it and hands the socket to
 * the next worker, round robin: what node:cluster does by default, done by hand because node:cluster
 * keys its shared listeners by address and port, so two clusters on port 0 in one process would
 * share one. Each worker (this module, forked) runs a ChatBackend on the sockets it is handed and
 * holds them: the primary keeps none.
 *
 * The protocol holds across workers because the primary keeps the registry: which workers hold
 * connections of each user and members of each room, and the connection counts. A worker reports a
 * connection and a room join before it answers the client (connection_established, room_joined), so
 * once a client has the answer every worker can reach it. Direct and room messages are delivered
 * locally by the sender's worker and sent once to the primary, which forwards them to each other
 * worker that holds a recipient: exactly once per recipient connection, in order per sender (IPC
 * channels are FIFO). /health and /metrics, answered by whichever worker gets the request, ask the
 * primary: connection and user counts come from its registry (which a worker under connection_leak never tells of a close), the
 * counters are the sum of every worker's. Faults are switched in the primary and sent to every
 * worker; counters that faults use (isolation_leak's every third event, missing_agent_events' every
 * second run) count per worker.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { checkAdminOptions, startAdmin } from './admin.ts';
import type { RunningAdmin } from './admin.ts';
import { createAuthService } from './auth.ts';
import { ChatBackend } from './chat.ts';
import type { BackendPeers, BackendStats } from './chat.ts';
import { normalizeOptions } from './config.ts';
import type { TargetConfig, TargetOptions } from './config.ts';
import { TargetConfigError, TargetStartError } from './errors.ts';
import { ALL_FAULT_NAMES } from './faults.ts';
import type { FaultName } from './faults.ts';
import { AGENT_EVENTS, Metrics } from './metrics.ts';
import type { AgentEventType } from './metrics.ts';
import { DESYNC_SUFFIX, checkFaultName, closeServer, createListener, listen, startTarget, targetUrls } from './service.ts';
import type { RunningTarget, StartTargetOptions } from './service.ts';
import { hmacKey } from './tokens.ts';

/** Set in a worker's environment: this module then runs as that worker. */
const WORKER_ENV = 'WSGATE_CLUSTER_WORKER';
export const MAX_WORKERS = 64;
/** How long a worker may take to load and start. */
const WORKER_START_MS = 30_000;
/** How long a worker may take to close its connections (the backend's own grace is 2 s) before it is killed. */
const WORKER_STOP_MS = 6_000;
/** How long the primary waits for each worker's counters when building /metrics. */
const SNAPSHOT_MS = 2_000;

export interface StartClusterOptions extends StartTargetOptions {
  /** Worker processes (default 1: a single process, exactly startTarget). */
  readonly workers?: number;
}

export interface WorkerInfo {
  /** 1-based; connection ids of this worker start with `w<index>-`. */
  readonly index: number;
  readonly pid: number | undefined;
  /** Open connections the worker holds, by the registry. */
  readonly connections: number;
  readonly state: 'starting' | 'ready' | 'gone';
}

export interface RunningCluster extends RunningTarget {
  /** How many worker processes serve the backend (1: the single-process service). */
  readonly workers: number;
  /** As RunningTarget's; resolves once every worker has the change. */
  setFault(name: FaultName, on: boolean): Promise<void>;
  /** The workers and what each holds (one entry, the calling process, for a single process). */
  workerInfo(): WorkerInfo[];
}

// ---- The wire between primary and workers ------------------------------------------------------

/** TargetOptions as they cross the IPC channel (JSON: no Buffers, no Sets). */
interface WorkerOptions extends TargetOptions {
  readonly index: number;
  readonly idPrefix: string;
  /** The primary's start, epoch ms, so every worker reports the same uptime. */
  readonly startedAt: number;
}

interface MetricsSnapshot {
  connectionsTotal: number;
  agentRunsTotal: number;
  messagesReceivedTotal: number;
  handshakeRejections: [number, number][];
  agentEvents: Record<AgentEventType, number>;
  tokenRefreshes: { accepted: number; rejected: number };
}

type ToWorker =
  | { t: 'config'; options: WorkerOptions }
  | { t: 'socket' }
  | { t: 'dm'; to: string; frame: string }
  | { t: 'room'; room: string; frame: string }
  | { t: 'leak'; user: string; frame: string }
  | { t: 'fault'; id: number; name: FaultName; on: boolean }
  | { t: 'snapshot'; id: number }
  | { t: 're'; id: number; v: unknown }
  | { t: 'shutdown' };

type ToPrimary =
  | { t: 'hello' }
  | { t: 'ready' }
  | { t: 'failed'; message: string; config: boolean }
  | { t: 'open'; id: number; user: string }
  | { t: 'close'; user: string }
  | { t: 'join'; id: number; room: string; add: boolean }
  | { t: 'leave'; room: string }
  | { t: 'dm'; to: string; frame: string }
  | { t: 'room'; room: string; frame: string }
  | { t: 'leak'; user: string; frame: string }
  | { t: 'stats'; id: number }
  | { t: 'metrics'; id: number }
  | { t: 're'; id: number; v: unknown };

// ---- Primary -----------------------------------------------------------------------------------

/** Counts per worker under a key (user or room). */
class Placement {
  private readonly byKey = new Map<string, Map<number, number>>();

  add(key: string, worker: number): void {
    let per = this.byKey.get(key);
    if (per === undefined) this.byKey.set(key, (per = new Map()));
    per.set(worker, (per.get(worker) ?? 0) + 1);
  }

  remove(key: string, worker: number): void {
    const per = this.byKey.get(key);
    const n = per?.get(worker);
    if (per === undefined || n === undefined) return;
    if (n > 1) per.set(worker, n - 1);
    else {
      per.delete(worker);
      if (per.size === 0) this.byKey.delete(key);
    }
  }

  workers(key: string): IterableIterator<number> | [] {
    return this.byKey.get(key)?.keys() ?? [];
  }

  total(key: string): number {
    let n = 0;
    for (const c of this.byKey.get(key)?.values() ?? []) n += c;
    return n;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  get size(): number {
    return this.byKey.size;
  }

  entries(): IterableIterator<[string, Map<number, number>]> {
    return this.byKey.entries();
  }

  /** Forgets a worker that is gone. */
  drop(worker: number): void {
    for (const [key, per] of this.byKey) {
      per.delete(worker);
      if (per.size === 0) this.byKey.delete(key);
    }
  }
}

class Worker {
  state: 'starting' | 'ready' | 'gone' = 'starting';
  connections = 0;
  private seq = 0;
  private readonly pending = new Map<number, (value: unknown) => void>();
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  send(message: ToWorker, handle?: Socket): boolean {
    if (this.state === 'gone' || !this.child.connected) return false;
    if (handle === undefined) this.child.send(message);
    else this.child.send(message, handle, { keepOpen: false }, (error) => error && handle.destroy());
    return true;
  }

  /** A request the worker answers with `re`; undefined when it is gone or does not answer in `ms`. */
  ask(make: (id: number) => ToWorker, ms: number): Promise<unknown> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, undefined), ms);
      this.pending.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
      if (!this.send(make(id))) this.settle(id, undefined);
    });
  }

  settle(id: number, value: unknown): void {
    const resolve = this.pending.get(id);
    this.pending.delete(id);
    resolve?.(value);
  }

  gone(): void {
    this.state = 'gone';
    for (const id of [...this.pending.keys()]) this.settle(id, undefined);
  }

  /** Asks the worker to shut down, SIGKILL after WORKER_STOP_MS; kills one that cannot be asked. */
  async stop(): Promise<void> {
    if (this.state !== 'gone' && this.send({ t: 'shutdown' })) {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), WORKER_STOP_MS);
      await this.exited;
      clearTimeout(timer);
    } else if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** The file a worker runs: this module (inside the CLI bundle, the bundle itself). */
function workerModule(): string {
  return fileURLToPath(import.meta.url);
}

/** Node flags that would make a worker something else than this module, with how many values they take. */
const FOREIGN_FLAGS: Record<string, number> = { '-e': 1, '--eval': 1, '-p': 1, '--print': 1, '-i': 0, '--interactive': 0, '-c': 0, '--check': 0 };

/** The primary's Node flags a worker needs (a TypeScript loader), without -e, test-runner and debugger ones. */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const skip = FOREIGN_FLAGS[arg];
    if (skip !== undefined) i += skip;
    else if (!/^--(test|inspect|debug|watch|eval=|print=)/.test(arg)) out.push(arg);
  }
  return out;
}

function workerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: '1' };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

function wireOptions(config: TargetConfig, faults: readonly FaultName[], index: number, startedAt: number): WorkerOptions {
  return {
    host: config.host,
    authSecret: config.authSecret,
    backendSecret: config.backendSecret,
    issuer: config.issuer,
    audience: config.audience,
    tokenTtlS: config.tokenTtlS,
    stepDelayMs: config.stepDelayMs,
    idleTimeoutS: config.idleTimeoutS,
    heartbeatIntervalS: config.heartbeatIntervalS,
    heartbeatTimeoutS: config.heartbeatTimeoutS,
    lateRunMs: config.lateRunMs,
    // Each worker its own dice sequence, still reproducible from the one seed.
    faultSeed: (config.faultSeed + index) % 2 ** 31,
    maxFrameBytes: config.maxFrameBytes,
    allowedOrigins: [...config.allowedOrigins],
    faults: [...faults],
    version: config.version,
    ...(config.tls === undefined ? {} : { tls: { cert: String(config.tls.cert), key: String(config.tls.key) } }),
    index,
    idPrefix: `w${index}-${randomUUID().slice(0, 6)}`,
    startedAt,
  };
}

/** Adds a wrapper's extra members to the single-process service. */
function single(target: RunningTarget): RunningCluster {
  const setFault = target.setFault.bind(target);
  return Object.assign(target, {
    workers: 1,
    setFault: async (name: FaultName, on: boolean): Promise<void> => setFault(name, on),
    workerInfo: (): WorkerInfo[] => [{ index: 1, pid: process.pid, connections: target.stats().active_connections, state: 'ready' as const }],
  });
}

/**
 * The primary's registry and its workers: which worker holds connections of each user and members of
 * each room, the connection count, and the messages workers send it.
 */
class Primary {
  readonly workers: Worker[] = [];
  private readonly users = new Placement();
  private readonly rooms = new Placement();
  private connections = 0;
  private turn = 0;

  constructor(
    private readonly config: TargetConfig,
    readonly faults: Set<FaultName>,
    private readonly startedAt: number,
  ) {}

  uptimeSeconds(): number {
    return Math.round(Date.now() - this.startedAt) / 1000;
  }

  // connection_leak is played by the workers: a leaking worker never reports the close, so the
  // connection stays in this registry too.
  stats(): BackendStats {
    return { active_connections: this.connections, users: this.users.size };
  }

  /** Hands an accepted, unread socket to the next ready worker, round robin. */
  handOver(socket: Socket): void {
    for (let tries = 0; tries < this.workers.length; tries++) {
      const worker = this.workers[this.turn++ % this.workers.length];
      if (worker?.state === 'ready' && worker.send({ t: 'socket' }, socket)) return;
    }
    socket.destroy();
  }

  activeFaults(): readonly FaultName[] {
    return ALL_FAULT_NAMES.filter((name) => this.faults.has(name));
  }

  /** Switches a fault here and in every worker; resolves once each has it (or is gone). */
  async setFault(name: FaultName, on: boolean): Promise<void> {
    checkFaultName(name);
    if (on) this.faults.add(name);
    else this.faults.delete(name);
    await Promise.all(this.workers.map((w) => w.ask((id) => ({ t: 'fault', id, name, on }), WORKER_STOP_MS)));
  }

  workerInfo(): WorkerInfo[] {
    return this.workers.map((w) => ({ index: w.index, pid: w.child.pid, connections: w.connections, state: w.state }));
  }

  /** /metrics: every worker's counters summed, the connection and user counts from the registry. */
  async metricsText(): Promise<string> {
    const snapshots = await Promise.all(this.workers.map((w) => w.ask((id) => ({ t: 'snapshot', id }), SNAPSHOT_MS)));
    const total = new Metrics();
    for (const s of snapshots as (MetricsSnapshot | undefined)[]) {
      if (s === undefined) continue;
      total.connectionsTotal += s.connectionsTotal;
      total.agentRunsTotal += s.agentRunsTotal;
      total.messagesReceivedTotal += s.messagesReceivedTotal;
      for (const [status, n] of s.handshakeRejections) total.handshakeRejections.set(status, (total.handshakeRejections.get(status) ?? 0) + n);
      for (const event of AGENT_EVENTS) total.agentEvents[event] += s.agentEvents[event];
      total.tokenRefreshes.accepted += s.tokenRefreshes.accepted;
      total.tokenRefreshes.rejected += s.tokenRefreshes.rejected;
    }
    const { active_connections, users } = this.stats();
    return total.render({ activeConnections: active_connections, users, uptimeSeconds: this.uptimeSeconds() });
  }

  /** Forks worker `index` and resolves once it serves; rejects with TargetConfigError or TargetStartError. */
  startWorker(index: number): Promise<Worker> {
    return new Promise((resolve, reject) => {
      const child = fork(workerModule(), [], { execArgv: workerExecArgv(), env: workerEnv(), serialization: 'json' });
      const worker = new Worker(index, child);
      this.workers.push(worker);
      const timer = setTimeout(() => fail(new TargetStartError(`backend worker ${index} did not start within ${WORKER_START_MS / 1000} s.`)), WORKER_START_MS);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      child.on('message', (raw) => {
        const m = raw as ToPrimary;
        if (worker.state === 'starting') {
          if (m.t === 'hello') worker.send({ t: 'config', options: wireOptions(this.config, [...this.faults], index, this.startedAt) });
          else if (m.t === 'ready') {
            clearTimeout(timer);
            worker.state = 'ready';
            resolve(worker);
          } else if (m.t === 'failed') fail(m.config ? new TargetConfigError(m.message) : new TargetStartError(m.message));
          return;
        }
        this.onMessage(worker, m);
      });
      child.once('error', (error) => fail(new TargetStartError(`backend worker ${index} could not be started (${error.message}).`, { cause: error })));
      child.once('exit', (code, signal) => {
        if (worker.state === 'starting') fail(new TargetStartError(`backend worker ${index} exited while starting (${signal ?? `code ${code}`}).`));
        this.onExit(worker);
      });
    });
  }

  /** Stops every worker: a goodbye to its WebSockets first, SIGKILL after WORKER_STOP_MS. */
  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }

  private onMessage(from: Worker, m: ToPrimary): void {
    const reply = (id: number, v: unknown): void => void from.send({ t: 're', id, v });
    switch (m.t) {
      case 'open':
        this.users.add(m.user, from.index);
        this.connections++;
        from.connections++;
        return reply(m.id, null);
      case 'close':
        this.users.remove(m.user, from.index);
        this.connections--;
        from.connections--;
        return;
      case 'join':
        if (m.add) this.rooms.add(m.room, from.index);
        return reply(m.id, this.rooms.total(m.room));
      case 'leave':
        return this.rooms.remove(m.room, from.index);
      case 'dm':
        for (const w of this.users.workers(m.to)) if (w !== from.index) this.workers[w - 1]?.send(m);
        return;
      case 'room':
        for (const w of this.rooms.workers(m.room)) if (w !== from.index) this.workers[w - 1]?.send(m);
        return;
      case 'leak':
        for (const [userId, per] of this.users.entries()) {
          if (userId === m.user) continue;
          for (const w of per.keys()) if (w !== from.index) return void this.workers[w - 1]?.send(m);
        }
        return;
      case 'stats':
        return reply(m.id, this.stats());
      case 'metrics':
        void this.metricsText().then((text) => reply(m.id, text));
        return;
      case 're':
        return from.settle(m.id, m.v);
      case 'hello':
      case 'ready':
      case 'failed':
        return; // handled while starting
    }
  }

  private onExit(worker: Worker): void {
    worker.gone();
    this.connections -= worker.connections;
    worker.connections = 0;
    this.users.drop(worker.index);
    this.rooms.drop(worker.index);
  }
}

/**
 * Starts the reference service with `workers` backend processes (default 1: {@link startTarget}
 * itself). Resolves once every worker serves; throws TargetConfigError for bad options and
 * TargetStartError when a port cannot be bound or a worker does not start.
 */
export async function startTargetCluster(options: StartClusterOptions = {}): Promise<RunningCluster> {
  const { workers: workerCount = 1, ...targetOptions } = options;
  if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > MAX_WORKERS) {
    throw new TargetConfigError(`workers is ${String(workerCount)}; it must be a whole number from 1 to ${MAX_WORKERS}.`);
  }
  if (workerCount === 1) return single(await startTarget(targetOptions));

  const config = normalizeOptions(targetOptions);
  if (targetOptions.admin !== undefined) checkAdminOptions(targetOptions.admin);
  const primary = new Primary(config, new Set<FaultName>(config.faults), Date.now());
  const auth = createAuthService({ config, faults: primary.faults, signKey: await hmacKey(config.authSecret, 'sign'), uptimeSeconds: () => primary.uptimeSeconds() });
  const authServer = createListener(config.tls, auth.handle);
  // Sockets are handed over unread (pauseOnConnect), so TLS and HTTP happen in the worker.
  const backendServer = createNetServer({ pauseOnConnect: true }, (socket) => primary.handOver(socket));

  let authPort: number;
  let backendPort: number;
  let admin: RunningAdmin | undefined;
  try {
    authPort = await listen(authServer, config.authPort, config.host, 'auth');
    backendPort = await listen(backendServer, config.backendPort, config.host, 'backend');
    await Promise.all(Array.from({ length: workerCount }, (_, i) => primary.startWorker(i + 1)));
    if (targetOptions.admin !== undefined) {
      admin = await startAdmin(targetOptions.admin, { faults: () => primary.activeFaults(), setFault: (name, on) => void primary.setFault(name, on) });
    }
  } catch (error) {
    await Promise.all([closeServer(authServer), closeServer(backendServer), primary.stopWorkers()]);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    ...targetUrls(config, authPort, backendPort),
    adminUrl: admin?.url,
    workers: workerCount,
    get faults(): readonly FaultName[] {
      return primary.activeFaults();
    },
    setFault: (name, on) => primary.setFault(name, on),
    stats: () => primary.stats(),
    workerInfo: () => primary.workerInfo(),
    close(): Promise<void> {
      closing ??= (async () => {
        // Stop accepting, let every worker say goodbye (1001) to its WebSockets, then the rest.
        backendServer.close();
        const listenersClosed = Promise.all([closeServer(authServer), admin?.close()]);
        await primary.stopWorkers();
        authServer.closeAllConnections();
        await listenersClosed;
        auth.clear();
      })();
      return closing;
    },
  };
}

// ---- Worker ------------------------------------------------------------------------------------

/** The worker's side of the IPC channel: requests to the primary and their answers. */
function workerLink(): { send: (m: ToPrimary) => void; ask: (make: (id: number) => ToPrimary) => Promise<unknown>; settle: (id: number, v: unknown) => void } {
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const send = (m: ToPrimary): void => {
    if (process.connected) process.send?.(m);
  };
  process.once('disconnect', () => {
    for (const p of pending.values()) p.reject(new Error('the cluster primary is gone'));
    pending.clear();
  });
  return {
    send,
    ask: (make) =>
      new Promise((resolve, reject) => {
        if (!process.connected) return reject(new Error('the cluster primary is gone'));
        const id = ++seq;
        pending.set(id, { resolve, reject });
        send(make(id));
      }),
    settle: (id, v) => {
      pending.get(id)?.resolve(v);
      pending.delete(id);
    },
  };
}

function snapshot(metrics: Metrics): MetricsSnapshot {
  return {
    connectionsTotal: metrics.connectionsTotal,
    agentRunsTotal: metrics.agentRunsTotal,
    messagesReceivedTotal: metrics.messagesReceivedTotal,
    handshakeRejections: [...metrics.handshakeRejections.entries()],
    agentEvents: { ...metrics.agentEvents },
    tokenRefreshes: { ...metrics.tokenRefreshes },
  };
}

async function startWorkerBackend(options: WorkerOptions, link: ReturnType<typeof workerLink>): Promise<void> {
  const config = normalizeOptions(options);
  const faults = new Set<FaultName>(config.faults);
  const metrics = new Metrics();
  const [verifyKey, desyncedKey] = await Promise.all([
    hmacKey(config.backendSecret, 'verify'),
    hmacKey(config.backendSecret + DESYNC_SUFFIX, 'verify'),
  ]);
  const peers: BackendPeers = {
    opened: async (user) => void (await link.ask((id) => ({ t: 'open', id, user }))),
    closed: (user) => link.send({ t: 'close', user }),
    joined: async (room, add) => Number(await link.ask((id) => ({ t: 'join', id, room, add }))),
    left: (room) => link.send({ t: 'leave', room }),
    direct: (to, frame) => link.send({ t: 'dm', to, frame }),
    room: (room, frame) => link.send({ t: 'room', room, frame }),
    leak: (user, frame) => link.send({ t: 'leak', user, frame }),
    stats: async () => (await link.ask((id) => ({ t: 'stats', id }))) as BackendStats,
    metricsText: async () => String(await link.ask((id) => ({ t: 'metrics', id }))),
  };
  const backend = new ChatBackend({
    config,
    faults,
    metrics,
    verifyKey: () => (faults.has('jwt_secret_desync') ? desyncedKey : verifyKey),
    uptimeSeconds: () => Math.round(Date.now() - options.startedAt) / 1000,
    idPrefix: options.idPrefix,
    peers,
  });
  // Never listens: the primary hands it accepted sockets.
  const server = createListener(config.tls, backend.handleRequest);
  server.on('upgrade', backend.handleUpgrade);

  process.on('message', (raw, handle) => {
    const m = raw as ToWorker;
    switch (m.t) {
      case 'socket':
        if (handle !== undefined) server.emit('connection', handle);
        return;
      case 'dm':
        return backend.deliverDirect(m.to, m.frame);
      case 'room':
        return backend.deliverRoom(m.room, m.frame);
      case 'leak':
        return void backend.deliverLeak(m.user, m.frame);
      case 'fault':
        if (faults.has(m.name) !== m.on) {
          if (m.on) faults.add(m.name);
          else faults.delete(m.name);
          backend.faultChanged(m.name, m.on);
        }
        return link.send({ t: 're', id: m.id, v: null });
      case 'snapshot':
        return link.send({ t: 're', id: m.id, v: snapshot(metrics) });
      case 're':
        return link.settle(m.id, m.v);
      case 'shutdown':
        void backend.shutdown().then(() => {
          server.closeAllConnections();
          process.exit(0);
        });
        return;
      case 'config':
        return;
    }
  });
  link.send({ t: 'ready' });
}

/** Runs this process as a backend worker: waits for its options, serves, exits with the primary. */
function runWorker(): void {
  const link = workerLink();
  // A worker never outlives its primary.
  process.once('disconnect', () => process.exit(0));
  process.once('message', (raw) => {
    const m = raw as ToWorker;
    if (m.t !== 'config') return;
    startWorkerBackend(m.options, link).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      link.send({ t: 'failed', message, config: error instanceof TargetConfigError });
    });
  });
  link.send({ t: 'hello' });
}

if (process.env[WORKER_ENV] === '1' && typeof process.send === 'function') {
  delete process.env[WORKER_ENV];
  runWorker();
}

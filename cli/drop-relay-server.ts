/**
 * A loopback TCP relay that can make connections vanish without a close frame, as lost mobile
 * clients do. k6 always closes a WebSocket with a clean close frame (even when an iteration is cut
 * off), so the connection-leak regression routes connections through this relay and drops them here.
 *
 * It can also play a client that vanishes without a packet (a phone that lost its network): a
 * black-holed connection is no longer forwarded in either direction, and both of its sockets stay
 * open, so neither side is told anything. The server can only find out by its own heartbeat; when it
 * closes its side, the relay notes how long that took (and still tells the client nothing).
 *
 * Bytes pass through untouched (no TLS termination), so it works in front of ws and wss alike.
 * With `jitterMs` it also plays an unsteady network: every chunk it forwards waits a random 0..J ms,
 * and never overtakes the chunk before it (TCP keeps order; only the timing wobbles), in both
 * directions, for any protocol on top (WebSocket, HTTP).
 * A separate HTTP control listener, bound to 127.0.0.1 only:
 *   POST /drop        destroys every connection still relayed, on both sides at once -> {"dropped": N}
 *   POST /blackhole   black-holes every connection still relayed -> {"blackholed": N}
 *   GET  /blackholes  -> {"connections": [{"held_ms", "server_closed_after_ms" (null while open), "client_open"}]}
 *   POST /release     destroys every black-holed connection (the client then sees 1006) -> {"released": N}
 *   GET  /stats       -> {"open": N (relayed and black-holed), "total": M}
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { TargetConfigError, TargetStartError } from '../reference-service/errors.ts';
import { pathOf, sendJson } from '../reference-service/http.ts';

const CONTROL_HOST = '127.0.0.1';

export interface DropRelayOptions {
  /** Where to relay to: `host:port`, `[v6]:port`, or a ws/wss/http/https URL to take host and port from. */
  readonly upstream: string;
  /** Interface of the data listener. Default 127.0.0.1. */
  readonly host?: string;
  /** Delay every forwarded chunk by a random 0..jitterMs ms, order kept per direction. Default 0 (none). */
  readonly jitterMs?: number;
}

/** The largest --jitter-ms / jitterMs: beyond a few seconds it is an outage, not jitter. */
export const MAX_JITTER_MS = 10_000;

interface DropRelayStats {
  /** Connections open right now: relayed, or black-holed with a side still open. */
  readonly open: number;
  /** Connections accepted since the start. */
  readonly total: number;
}

/** One black-holed connection, as GET /blackholes reports it. */
interface BlackHole {
  /** Milliseconds since it was black-holed. */
  readonly held_ms: number;
  /** Milliseconds from the black-holing until the server closed its side; null while it has not. */
  readonly server_closed_after_ms: number | null;
  /** Whether the client's side is still open (the relay never closes it by itself). */
  readonly client_open: boolean;
}

export interface RunningRelay {
  /** host:port of the data listener, e.g. `127.0.0.1:40123`; connect there instead of the upstream. */
  readonly address: string;
  /** Base URL of the control listener, e.g. `http://127.0.0.1:40124` (POST /drop, GET /stats). */
  readonly controlUrl: string;
  /** Destroys every connection still relayed on both sides, as POST /drop does; returns how many. */
  drop(): number;
  /** Black-holes every connection still relayed, as POST /blackhole does; returns how many. */
  blackhole(): number;
  /** The black-holed connections, as GET /blackholes reports them. */
  blackholes(): BlackHole[];
  /** Destroys every black-holed connection, as POST /release does; returns how many. */
  release(): number;
  /** Ends the client side of every black-holed connection; the server's side stays held. Returns how many. */
  cutClients(): number;
  stats(): DropRelayStats;
  /** Closes both listeners and destroys every relayed connection. */
  close(): Promise<void>;
}

/** Moves one direction's bytes from `from` to `to` until stopped. */
interface Forward {
  /** Stops forwarding: nothing more is written to `to`, whatever was waiting is discarded. */
  stop(): void;
  /** Calls `fn` once everything read so far has been written (at once when nothing waits). */
  whenFlushed(fn: () => void): void;
}

/** Straight through: the stream's own pipe (a half-close passes on as one). */
function pipeForward(from: Socket, to: Socket): Forward {
  from.pipe(to);
  return { stop: () => void from.unpipe(to), whenFlushed: (fn) => fn() };
}

/**
 * Through a delay line: each chunk is due a random 0..jitterMs ms after it arrived, but never before
 * the chunk ahead of it, so the bytes keep their order and only their timing changes. One timer per
 * direction serves the queue head. A half-close (end) is passed on after the last chunk; a `to` that
 * cannot keep up pauses `from` (backpressure as with pipe).
 */
function jitterForward(from: Socket, to: Socket, jitterMs: number): Forward {
  const queue: { due: number; chunk: Buffer }[] = [];
  const flushed: (() => void)[] = [];
  let lastDue = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  let stopped = false;

  const release = (): void => {
    timer = undefined;
    const now = Date.now();
    while (!stopped && queue.length > 0 && (queue[0] as { due: number }).due <= now) {
      const { chunk } = queue.shift() as { chunk: Buffer };
      // A side the peer already closed takes nothing more; the bytes are lost as on a real network.
      if (!to.writable) continue;
      if (!to.write(chunk) && !from.isPaused()) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    }
    if (stopped) return;
    const head = queue[0];
    if (head) {
      timer = setTimeout(release, Math.max(0, head.due - now));
      return;
    }
    if (ended && to.writable) to.end();
    for (const fn of flushed.splice(0)) fn();
  };
  const onData = (chunk: Buffer): void => {
    const due = Math.max(Date.now() + Math.random() * jitterMs, lastDue);
    lastDue = due;
    queue.push({ due, chunk });
    timer ??= setTimeout(release, Math.max(0, due - Date.now()));
  };
  const onEnd = (): void => {
    ended = true;
    if (queue.length === 0 && timer === undefined) release();
  };
  from.on('data', onData);
  from.on('end', onEnd);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      queue.length = 0;
      flushed.length = 0;
      from.off('data', onData);
      from.off('end', onEnd);
    },
    whenFlushed(fn) {
      if (queue.length === 0 && timer === undefined) fn();
      else flushed.push(fn);
    },
  };
}

/** A relayed connection: relaying, black-holed (held, forwarding nothing), or done (destroyed). */
interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  /** Client to server, and server to client, while relaying. */
  readonly up: Forward;
  readonly down: Forward;
  state: 'relaying' | 'black-holed' | 'done';
  blackholedAt: number;
  serverClosedAt: number | undefined;
  clientOpen: boolean;
}

const discard = (): void => {};

interface Upstream {
  readonly host: string;
  readonly port: number;
}

const DEFAULT_PORTS: Record<string, number> = { 'ws:': 80, 'http:': 80, 'wss:': 443, 'https:': 443 };

/** `host:port`, `[::1]:port` or a URL -> where to connect. Throws TargetConfigError. */
export function parseUpstream(value: string): Upstream {
  const bad = (): TargetConfigError =>
    new TargetConfigError(`the relay upstream is "${value}"; give host:port or a URL, e.g. 127.0.0.1:8080 or ws://127.0.0.1:8080/ws.`);
  let host: string;
  let port: number;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw bad();
    }
    const fallback = DEFAULT_PORTS[url.protocol];
    if (fallback === undefined) throw bad();
    host = url.hostname;
    port = url.port === '' ? fallback : Number(url.port);
  } else {
    const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
    if (match === null) throw bad();
    host = match[1] as string;
    port = Number(match[2]);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) throw bad();
  return { host, port };
}

function listen(server: Server | HttpServer, host: string, role: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new TargetStartError(`the drop relay's ${role} listener on ${host} cannot be opened (${error.code ?? error.message}); pass a local interface such as 127.0.0.1.`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(0, host, () => {
      server.removeListener('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

function closeServer(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

/**
 * Starts the relay and its control listener; resolves once both accept connections. Throws
 * TargetConfigError for a bad upstream and TargetStartError when a listener cannot be bound.
 */
export async function startDropRelay(options: DropRelayOptions): Promise<RunningRelay> {
  const upstream = parseUpstream(options.upstream);
  const host = options.host ?? '127.0.0.1';
  const jitterMs = options.jitterMs ?? 0;
  if (!(Number.isFinite(jitterMs) && jitterMs >= 0 && jitterMs <= MAX_JITTER_MS)) {
    throw new TargetConfigError(`the relay's jitter is ${jitterMs} ms; give 0 (none) to ${MAX_JITTER_MS} ms.`);
  }
  const forward = (from: Socket, to: Socket): Forward => (jitterMs > 0 ? jitterForward(from, to, jitterMs) : pipeForward(from, to));
  /** Each relayed connection as its pair of sockets, with what became of it. */
  const pairs = new Set<Pair>();
  let total = 0;

  const data = createServer({ noDelay: true }, (client) => {
    total++;
    const server = connect({ host: upstream.host, port: upstream.port, noDelay: true });
    // Half-closes pass through (the forward ends the other side); an error or a full close ends both.
    const pair: Pair = { client, server, up: forward(client, server), down: forward(server, client), state: 'relaying', blackholedAt: 0, serverClosedAt: undefined, clientOpen: true };
    pairs.add(pair);
    const finish = (): void => {
      if (pair.state !== 'relaying') return;
      pair.state = 'done';
      pairs.delete(pair);
      pair.up.stop();
      pair.down.stop();
      client.destroy();
      server.destroy();
    };
    // A side that closed cleanly may still have bytes on their way to the other (a close frame
    // delayed by jitter): they are delivered first. An error ends both at once.
    const closed = (from: Forward, hadError: boolean): void => (hadError ? finish() : from.whenFlushed(finish));
    // Black-holed, a side that closes closes alone: the other is told nothing.
    const serverGone = (hadError = true): void => {
      if (pair.state === 'black-holed') pair.serverClosedAt ??= Date.now();
      else closed(pair.down, hadError);
    };
    const clientGone = (hadError = true): void => {
      if (pair.state === 'black-holed') pair.clientOpen = false;
      else closed(pair.up, hadError);
    };
    client.on('error', () => clientGone(true));
    server.on('error', () => serverGone(true));
    client.on('close', (hadError: boolean) => clientGone(hadError));
    server.on('close', (hadError: boolean) => serverGone(hadError));
  });

  const destroy = (pair: Pair): void => {
    pair.state = 'done';
    pairs.delete(pair);
    pair.up.stop();
    pair.down.stop();
    // destroy(): the sockets close at once, nothing more is written: the peers see no close frame.
    pair.client.destroy();
    pair.server.destroy();
  };
  const inState = (state: Pair['state']): Pair[] => [...pairs].filter((p) => p.state === state);
  const drop = (): number => {
    const relayed = inState('relaying');
    for (const pair of relayed) destroy(pair);
    return relayed.length;
  };
  const blackhole = (): number => {
    const relayed = inState('relaying');
    const now = Date.now();
    for (const pair of relayed) {
      pair.state = 'black-holed';
      pair.blackholedAt = now;
      const { client, server } = pair;
      pair.up.stop();
      pair.down.stop();
      // Read and discard, never write: nothing reaches the other side, and a close is still noticed
      // (a paused socket would not see its peer's FIN).
      client.on('data', discard);
      server.on('data', discard);
      client.resume();
      server.resume();
    }
    return relayed.length;
  };
  const blackholes = (): BlackHole[] => {
    const now = Date.now();
    return inState('black-holed').map((p) => ({
      held_ms: now - p.blackholedAt,
      server_closed_after_ms: p.serverClosedAt === undefined ? null : p.serverClosedAt - p.blackholedAt,
      client_open: p.clientOpen,
    }));
  };
  const release = (): number => {
    const held = inState('black-holed');
    for (const pair of held) destroy(pair);
    return held.length;
  };
  // An interrupted k6 iteration closes its sockets with a close frame and waits for the answer with no
  // time limit: through a black hole none comes, so the run would hang. The server must not notice.
  const cutClients = (): number => {
    const held = inState('black-holed').filter((p) => p.clientOpen);
    for (const pair of held) pair.client.destroy();
    return held.length;
  };
  // Black-holed pairs count while either side is still open.
  const stats = (): DropRelayStats => ({
    open: [...pairs].filter((p) => p.state === 'relaying' || p.clientOpen || p.serverClosedAt === undefined).length,
    total,
  });

  const control = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    req.resume();
    if (path === '/drop' || path === '/blackhole' || path === '/release') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
      if (path === '/drop') return sendJson(res, 200, { dropped: drop() });
      if (path === '/blackhole') return sendJson(res, 200, { blackholed: blackhole() });
      return sendJson(res, 200, { released: release() });
    }
    if (path === '/blackholes') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
      return sendJson(res, 200, { connections: blackholes() });
    }
    if (path === '/stats') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
      return sendJson(res, 200, stats());
    }
    sendJson(res, 404, { error: 'not_found' });
  });

  let dataPort: number;
  let controlPort: number;
  try {
    dataPort = await listen(data, host, 'data');
    controlPort = await listen(control, CONTROL_HOST, 'control');
  } catch (error) {
    await Promise.all([closeServer(data), closeServer(control)]);
    throw error;
  }

  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    address: `${hostPart}:${dataPort}`,
    controlUrl: `http://${CONTROL_HOST}:${controlPort}`,
    drop,
    blackhole,
    blackholes,
    release,
    cutClients,
    stats,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = Promise.all([closeServer(data), closeServer(control)]);
        for (const pair of [...pairs]) destroy(pair);
        control.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

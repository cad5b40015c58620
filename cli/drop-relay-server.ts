/**
 * A loopback TCP relay that can make connections vanish without a close frame, as lost mobile
 * clients do. k6 always closes a WebSocket with a clean close frame (even when an iteration is cut
 * off), so the connection-leak regression routes connections through this relay and drops them here.
 *
 * Bytes pass through untouched (no TLS termination), so it works in front of ws and wss alike.
 * A separate HTTP control listener, bound to 127.0.0.1 only:
 *   POST /drop   destroys every relayed connection on both sides at once -> {"dropped": N}
 *   GET  /stats  -> {"open": N, "total": M}
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
}

export interface DropRelayStats {
  /** Relayed connections open right now. */
  readonly open: number;
  /** Connections accepted since the start. */
  readonly total: number;
}

export interface RunningRelay {
  /** host:port of the data listener, e.g. `127.0.0.1:40123`; connect there instead of the upstream. */
  readonly address: string;
  /** Base URL of the control listener, e.g. `http://127.0.0.1:40124` (POST /drop, GET /stats). */
  readonly controlUrl: string;
  /** Destroys every relayed connection on both sides, as POST /drop does; returns how many. */
  drop(): number;
  stats(): DropRelayStats;
  /** Closes both listeners and destroys every relayed connection. */
  close(): Promise<void>;
}

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
  /** Each relayed connection as its pair of sockets. */
  const pairs = new Set<readonly [Socket, Socket]>();
  let total = 0;

  const data = createServer({ noDelay: true }, (client) => {
    total++;
    const server = connect({ host: upstream.host, port: upstream.port, noDelay: true });
    const pair = [client, server] as const;
    pairs.add(pair);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    // Half-closes pass through (pipe ends the other side); an error or a full close ends both.
    client.pipe(server);
    server.pipe(client);
    client.on('error', finish);
    server.on('error', finish);
    client.on('close', finish);
    server.on('close', finish);
  });

  const drop = (): number => {
    const all = [...pairs];
    pairs.clear();
    // destroy(): the sockets close at once, nothing more is written: the peers see no close frame.
    for (const [client, server] of all) {
      client.destroy();
      server.destroy();
    }
    return all.length;
  };
  const stats = (): DropRelayStats => ({ open: pairs.size, total });

  const control = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    req.resume();
    if (path === '/drop') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
      return sendJson(res, 200, { dropped: drop() });
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
    stats,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = Promise.all([closeServer(data), closeServer(control)]);
        drop();
        control.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

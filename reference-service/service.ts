/**
 * The reference chat service: an auth listener and a chat backend, as production has them
 * (docs/protocol.md). Tests start it in-process with {@link startTarget}; the CLI wraps it in main.ts.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as NetServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkAdminOptions, startAdmin } from './admin.ts';
import type { AdminOptions, RunningAdmin } from './admin.ts';
import { createAuthService } from './auth.ts';
import { ChatBackend } from './chat.ts';
import { normalizeOptions } from './config.ts';
import type { TargetConfig, TargetOptions, TargetTls } from './config.ts';
import { TargetConfigError, TargetStartError } from './errors.ts';
import { ALL_FAULT_NAMES, isFaultName } from './faults.ts';
import type { FaultName } from './faults.ts';
import { Metrics } from './metrics.ts';
import { hmacKey } from './tokens.ts';

export { ALL_FAULT_NAMES, FAULT_NAMES, RARE_FAULT_NAMES, VALIDATION_FAULT_NAMES, isFaultName } from './faults.ts';
export type { FaultName } from './faults.ts';
export type { TargetOptions, TargetTls } from './config.ts';
export { CHAT_SUBPROTOCOL } from './chat.ts';
export { TargetConfigError } from './errors.ts';

/** Appended to the backend secret under `jwt_secret_desync`, so the backend's key never matches the signer's. */
export const DESYNC_SUFFIX = ':desynced';

interface TargetStats {
  /** Open WebSocket connections (plus the ones `connection_leak` keeps counting). */
  readonly active_connections: number;
  /** Distinct users with at least one open connection (likewise). */
  readonly users: number;
}

/** startTarget's options: the service's own, plus the admin endpoint that can change it. */
export interface StartTargetOptions extends TargetOptions {
  /** Start the admin endpoint (reference-service/admin.ts) on 127.0.0.1 with this bearer token. */
  readonly admin?: AdminOptions;
}

export interface RunningTarget {
  /** Base URL of the auth listener, e.g. `http://127.0.0.1:41234`. */
  readonly authUrl: string;
  /** Base URL of the chat backend's HTTP side (`/health`, `/metrics`). */
  readonly httpUrl: string;
  /** The WebSocket endpoint, e.g. `ws://127.0.0.1:41235/ws`. */
  readonly wsUrl: string;
  /** Base URL of the admin endpoint (`http://127.0.0.1:N/admin`), when it was asked for. */
  readonly adminUrl: string | undefined;
  /** Faults active right now. */
  readonly faults: readonly FaultName[];
  /** Turns a fault on or off while running; applies to connections already open where it can. */
  setFault(name: FaultName, on: boolean): void;
  stats(): TargetStats;
  /** Closes every WebSocket with 1001, then both listeners; resolves when everything is closed. */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// The helpers below are shared with reference-service/cluster.ts, which runs the same listeners split over processes.

export function createListener(tls: TargetTls | undefined, handler: Handler): Server {
  if (tls === undefined) return createHttpServer(handler);
  try {
    return createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TargetConfigError(`the TLS certificate or key could not be loaded (${reason}); pass a PEM certificate and its matching private key.`, { cause: error });
  }
}

export function listen(server: NetServer, port: number, host: string, role: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why = error.code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${error.code ?? error.message})`;
      reject(new TargetStartError(`the ${role} port ${host}:${port} ${why}; choose another port or free this one.`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

export function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The service's three URLs once both listeners have their ports. */
export function targetUrls(config: TargetConfig, authPort: number, backendPort: number): Pick<RunningTarget, 'authUrl' | 'httpUrl' | 'wsUrl'> {
  const host = urlHost(config.host);
  const httpScheme = config.tls === undefined ? 'http' : 'https';
  const wsScheme = config.tls === undefined ? 'ws' : 'wss';
  return {
    authUrl: `${httpScheme}://${host}:${authPort}`,
    httpUrl: `${httpScheme}://${host}:${backendPort}`,
    wsUrl: `${wsScheme}://${host}:${backendPort}/ws`,
  };
}

/** Throws TargetConfigError for a name that is no fault (setFault takes whatever a caller passes). */
export function checkFaultName(name: FaultName): void {
  if (!isFaultName(name)) {
    throw new TargetConfigError(`unknown fault "${String(name)}"; valid faults are ${ALL_FAULT_NAMES.join(', ')}.`);
  }
}

/**
 * Starts both listeners and resolves once they accept connections.
 * Throws {@link TargetConfigError} for bad options and {@link TargetStartError} when a port cannot be bound.
 */
export async function startTarget(options: StartTargetOptions = {}): Promise<RunningTarget> {
  const config = normalizeOptions(options);
  if (options.admin !== undefined) checkAdminOptions(options.admin);
  const faults = new Set<FaultName>(config.faults);
  const metrics = new Metrics();
  const startedAt = performance.now();
  const uptimeSeconds = (): number => Math.round(performance.now() - startedAt) / 1000;

  const [signKey, verifyKey, desyncedKey] = await Promise.all([
    hmacKey(config.authSecret, 'sign'),
    hmacKey(config.backendSecret, 'verify'),
    hmacKey(config.backendSecret + DESYNC_SUFFIX, 'verify'),
  ]);

  const auth = createAuthService({ config, faults, signKey, uptimeSeconds });
  const backend = new ChatBackend({
    config,
    faults,
    metrics,
    verifyKey: () => (faults.has('jwt_secret_desync') ? desyncedKey : verifyKey),
    uptimeSeconds,
  });

  const authServer = createListener(config.tls, auth.handle);
  const backendServer = createListener(config.tls, backend.handleRequest);
  backendServer.on('upgrade', backend.handleUpgrade);

  let authPort: number;
  let backendPort: number;
  try {
    authPort = await listen(authServer, config.authPort, config.host, 'auth');
    backendPort = await listen(backendServer, config.backendPort, config.host, 'backend');
  } catch (error) {
    await Promise.all([closeServer(authServer), closeServer(backendServer)]);
    throw error;
  }

  let closing: Promise<void> | undefined;
  const activeFaults = (): readonly FaultName[] => ALL_FAULT_NAMES.filter((name) => faults.has(name));
  const setFault = (name: FaultName, on: boolean): void => {
    checkFaultName(name);
    if (faults.has(name) === on) return;
    if (on) faults.add(name);
    else faults.delete(name);
    backend.faultChanged(name, on);
  };

  let admin: RunningAdmin | undefined;
  if (options.admin !== undefined) {
    try {
      admin = await startAdmin(options.admin, { faults: activeFaults, setFault });
    } catch (error) {
      await Promise.all([closeServer(authServer), closeServer(backendServer)]);
      throw error;
    }
  }

  return {
    ...targetUrls(config, authPort, backendPort),
    adminUrl: admin?.url,
    get faults(): readonly FaultName[] {
      return activeFaults();
    },
    setFault,
    stats: () => backend.stats(),
    close(): Promise<void> {
      closing ??= (async () => {
        // Stop accepting first, then say goodbye (1001) to every WebSocket, then drop idle HTTP sockets.
        const serversClosed = Promise.all([closeServer(authServer), closeServer(backendServer), admin?.close()]);
        await backend.shutdown();
        authServer.closeAllConnections();
        backendServer.closeAllConnections();
        await serversClosed;
        auth.clear();
      })();
      return closing;
    },
  };
}

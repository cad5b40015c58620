/**
 * The admin endpoint of the reference service: switches faults while it runs, so a monitor can be
 * shown a deployment that breaks and recovers (docs/protocol.md, "Admin endpoint").
 *
 * It is a listener of its own, always on 127.0.0.1 and plain HTTP: it changes how the service
 * behaves, so nothing off the machine may reach it, whatever interface the chat backend serves.
 * Every request needs `Authorization: Bearer <admin token>`; the token is compared in constant time
 * and never appears in an answer or a message.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { TargetConfigError, TargetStartError } from './errors.ts';
import { ALL_FAULT_NAMES, isFaultName } from './faults.ts';
import type { FaultName } from './faults.ts';
import { pathOf, sendJson } from './http.ts';

/** The only interface the admin listener binds to. */
export const ADMIN_HOST = '127.0.0.1';
/** Shortest admin token accepted: guessing one must not be practical even on loopback. */
export const MIN_ADMIN_TOKEN_CHARS = 16;
/** Where the endpoint's routes live; {@link RunningAdmin.url} ends with it. */
const ADMIN_PATH = '/admin';

export interface AdminOptions {
  /** The bearer token every request must carry (at least {@link MIN_ADMIN_TOKEN_CHARS} characters). */
  readonly token: string;
  /** Port on 127.0.0.1; `0` (default) picks a free one. */
  readonly port?: number;
  /** Must be 127.0.0.1 when given; anything else is refused. */
  readonly host?: string;
}

/** What the endpoint controls: the running service's fault set. */
export interface FaultSwitch {
  faults(): readonly FaultName[];
  setFault(name: FaultName, on: boolean): void;
}

export interface RunningAdmin {
  /** Base URL of the routes, e.g. `http://127.0.0.1:41236/admin`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Checks the options before anything listens; throws {@link TargetConfigError} with one sentence. */
export function checkAdminOptions(options: AdminOptions): void {
  if (options.host !== undefined && options.host !== ADMIN_HOST) {
    throw new TargetConfigError(`the admin endpoint binds only to ${ADMIN_HOST}, not to "${options.host}"; drop the host, it is reachable from this machine only by design.`);
  }
  if (typeof options.token !== 'string' || options.token.length < MIN_ADMIN_TOKEN_CHARS) {
    // The length only: the token never goes into a message.
    const length = typeof options.token === 'string' ? options.token.length : 0;
    throw new TargetConfigError(
      `the admin token is ${length} characters long; it must be at least ${MIN_ADMIN_TOKEN_CHARS} (e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)).`,
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TargetConfigError(`the admin port is ${String(options.port)}; it must be a whole number from 0 to 65535.`);
  }
}

/** Constant-time equality of two strings of any lengths (both are hashed to 32 bytes first). */
function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The bearer token of a request, or undefined when it carries none. */
function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

function handler(token: string, target: FaultSwitch): (req: IncomingMessage, res: ServerResponse) => void {
  const faultsBody = (): { faults: FaultName[] } => ({ faults: [...target.faults()] });
  return (req, res) => {
    // Bodies are not used; read them away so keep-alive connections stay usable.
    req.resume();
    const given = bearerToken(req);
    if (given === undefined) {
      sendJson(res, 401, { error: 'missing_token' }, { 'www-authenticate': 'Bearer realm="wsgate-admin"' });
      return;
    }
    if (!sameToken(given, token)) {
      sendJson(res, 403, { error: 'invalid_token' });
      return;
    }
    const path = pathOf(req.url);
    if (path === `${ADMIN_PATH}/faults`) {
      if (req.method !== 'GET') {
        sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
        return;
      }
      sendJson(res, 200, faultsBody());
      return;
    }
    const prefix = `${ADMIN_PATH}/faults/`;
    if (path.startsWith(prefix)) {
      let name: string;
      try {
        name = decodeURIComponent(path.slice(prefix.length));
      } catch {
        name = path.slice(prefix.length);
      }
      if (req.method !== 'PUT' && req.method !== 'DELETE') {
        sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'PUT, DELETE' });
        return;
      }
      if (!isFaultName(name)) {
        sendJson(res, 404, { error: 'unknown_fault', fault: name, valid: [...ALL_FAULT_NAMES] });
        return;
      }
      target.setFault(name, req.method === 'PUT');
      sendJson(res, 200, faultsBody());
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Starts the admin listener on 127.0.0.1. Throws {@link TargetConfigError} for bad options and
 * {@link TargetStartError} when the port cannot be bound.
 */
export async function startAdmin(options: AdminOptions, target: FaultSwitch): Promise<RunningAdmin> {
  checkAdminOptions(options);
  const server = createServer(handler(options.token, target));
  const requested = options.port ?? 0;
  const port = await new Promise<number>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const why = error.code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${error.code ?? error.message})`;
      reject(new TargetStartError(`the admin port ${ADMIN_HOST}:${requested} ${why}; choose another port or free this one.`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(requested, ADMIN_HOST, () => {
      server.removeListener('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : requested);
    });
  });
  // Belt and braces: whatever the options said, the listener must be on loopback.
  const address = server.address();
  if (typeof address !== 'object' || address === null || address.address !== ADMIN_HOST) {
    await closeServer(server);
    throw new TargetStartError(`the admin listener came up on ${JSON.stringify(address)}, not on ${ADMIN_HOST}; it was closed.`);
  }
  return {
    url: `http://${ADMIN_HOST}:${port}${ADMIN_PATH}`,
    close: () => closeServer(server),
  };
}

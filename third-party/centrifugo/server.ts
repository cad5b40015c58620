/**
 * Starts a real Centrifugo v6.9.1 on loopback for wsgate's tests: a generated JSON config (random
 * secrets, random free port, personal channels, optional history and an RPC proxy to the agent
 * driver), readiness by its health endpoint, and a handle to stop it gracefully or kill it mid-run.
 *
 * Secrets never reach the config file, a log or a message: they go to the child through Centrifugo's
 * own environment variables (CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY, CENTRIFUGO_HTTP_API_KEY), and
 * Centrifugo's output goes to `logFile` or nowhere.
 *
 * The "break it" switches are the misconfigurations wsgate must catch: a token secret the server does
 * not share, personal channels anyone may subscribe to, no history, an aggressive ping/pong.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentrifugoError, findCentrifugo } from './binary.ts';

export interface CentrifugoOptions {
  /** Path to the binary; default: findCentrifugo() (which checks the version). */
  binary?: string;
  /** Namespace of personal channels `<ns>:#<user>`; '' means bare `#<user>` channels. Default 'personal'. */
  personalNamespace?: string;
  /**
   * Subscribe every connection to its personal channel server-side at connect
   * (client.subscribe_to_user_personal_channel): the connect reply then lists it in `subs`, which is
   * the only place the reply names the user. Default true. With false, clients subscribe themselves.
   */
  serverSidePersonal?: boolean;
  /** History and recovery on personal channels (offsets, `history`, recover on subscribe). Default true. */
  history?: boolean;
  /** Presence on personal channels (needed for the server-side single-connection mode). Default true. */
  presence?: boolean;
  /** Server-to-client ping interval; must exceed pongTimeoutMs (Centrifugo refuses to start otherwise). Default 25000. */
  pingIntervalMs?: number;
  /** How long the server waits for the client's `{}` pong before closing with 3012. Default 8000. */
  pongTimeoutMs?: number;
  /** Grace after a connection's token `exp` before close 3005 without a refresh. Default 25000. */
  expiredCloseDelayMs?: number;
  /** How long a socket may stay without a successful connect before close 3502. Default 10000. */
  staleCloseDelayMs?: number;
  /** Where Centrifugo proxies client `rpc` commands (the agent driver's rpcUrl); none: rpc answers 108. */
  rpcProxyUrl?: string;
  /** Proxy call timeout. Default 2000. */
  rpcProxyTimeoutMs?: number;
  /** Origin globs allowed on the upgrade; [] (default) admits only handshakes without an Origin. */
  allowedOrigins?: string[];
  /** Centrifugo log level. Default 'info'. (No 'trace': at trace Centrifugo logs commands verbatim, tokens included.) */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'none';
  /** Append Centrifugo's output here; default: discarded. */
  logFile?: string;
  /** Readiness deadline. Default 15000. */
  readyTimeoutMs?: number;
  /** Misconfigurations for fault tests. */
  faults?: CentrifugoFaults;
}

interface CentrifugoFaults {
  /** The server verifies tokens with another secret than the `hmacSecret` handed to the token issuer. */
  hmacMismatch?: boolean;
  /**
   * Personal channels are not user-limited: `<ns>:#<user>` is an ordinary name and any authenticated
   * user may subscribe to anyone's (allow_subscribe_for_client without allow_user_limited_channels).
   */
  openPersonalChannels?: boolean;
}

export interface CentrifugoServer {
  /** ws://127.0.0.1:<port>/connection/websocket */
  wsUrl: string;
  /** http://127.0.0.1:<port>/api (methods are POST <apiUrl>/<method>) */
  apiUrl: string;
  httpUrl: string;
  port: number;
  /** The secret the token issuer signs connection JWTs with (HS256). Never log it. */
  hmacSecret: string;
  /** The server API key (X-API-Key). Never log it. */
  apiKey: string;
  personalNamespace: string;
  /** The personal channel of `user` under this config. */
  personalChannel(user: string): string;
  /** The generated config, secrets excluded (they travel in the environment). */
  config: Record<string, unknown>;
  /** Calls the server HTTP API; throws CentrifugoError WSGATE_CENTRIFUGO_API on an error answer. */
  api<T = Record<string, unknown>>(method: string, body?: unknown): Promise<T>;
  pid: number | undefined;
  /** SIGTERM (clients get close 3001 "shutdown"), wait for exit, remove the temp dir. Idempotent. */
  close(): Promise<void>;
  /** SIGKILL: the server vanishes without close frames, as in "server stopped during a run". */
  kill(): Promise<void>;
}

// A test runner that dies mid-test must not leave servers behind holding ports.
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

const secret = (bytes: number): string => randomBytes(bytes).toString('base64url');
const dur = (ms: number): string => `${ms}ms`;

/** A port free on 127.0.0.1 right now (bound, read, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The personal channel of `user` in namespace `ns` ('' = no namespace). */
function personalChannelName(user: string, ns: string): string {
  return ns ? `${ns}:#${user}` : `#${user}`;
}

/** Builds the Centrifugo JSON config for `opts`, without secrets. Exported for tests and docs. */
function centrifugoConfig(opts: CentrifugoOptions, port: number): Record<string, unknown> {
  const ns = opts.personalNamespace ?? 'personal';
  const history = opts.history ?? true;
  const open = opts.faults?.openPersonalChannels === true;
  const channelOptions: Record<string, unknown> = {
    presence: opts.presence ?? true,
    // The isolation switch: with it, only the users named after `#` may subscribe client-side.
    allow_user_limited_channels: !open,
    // Without user-limiting, this makes `#<user>` an ordinary channel any user may join.
    allow_subscribe_for_client: open,
    ...(history
      ? { history_size: 100, history_ttl: '300s', force_recovery: true, allow_history_for_subscriber: true }
      : {}),
  };
  const ping = opts.pingIntervalMs ?? 25_000;
  const pong = opts.pongTimeoutMs ?? 8_000;
  if (!(ping > pong)) {
    throw new CentrifugoError('WSGATE_CENTRIFUGO_START', `pingIntervalMs is ${ping} and pongTimeoutMs is ${pong}; Centrifugo requires the ping interval to exceed the pong timeout.`);
  }
  return {
    http_server: { address: '127.0.0.1', port },
    log: { level: opts.logLevel ?? 'info' },
    usage_stats: { disabled: true },
    health: { enabled: true },
    prometheus: { enabled: true },
    client: {
      allowed_origins: opts.allowedOrigins ?? [],
      allow_anonymous_connect_without_token: false,
      // A validly signed token without `sub` is a rejection, not an anonymous user.
      disallow_anonymous_connection_tokens: true,
      ping_interval: dur(ping),
      pong_timeout: dur(pong),
      expired_close_delay: dur(opts.expiredCloseDelayMs ?? 25_000),
      stale_close_delay: dur(opts.staleCloseDelayMs ?? 10_000),
      subscribe_to_user_personal_channel: { enabled: opts.serverSidePersonal ?? true, personal_channel_namespace: ns },
    },
    channel: ns ? { namespaces: [{ name: ns, ...channelOptions }] } : { without_namespace: channelOptions },
    ...(opts.rpcProxyUrl
      ? {
          rpc: {
            proxy: { endpoint: opts.rpcProxyUrl, timeout: dur(opts.rpcProxyTimeoutMs ?? 2_000) },
            without_namespace: { proxy_enabled: true },
          },
        }
      : {}),
  };
}

/** POST <apiUrl>/<method> with the API key; the `result` or a CentrifugoError. */
export async function callApi<T = Record<string, unknown>>(apiUrl: string, apiKey: string, method: string, body: unknown = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${apiUrl}/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    throw new CentrifugoError('WSGATE_CENTRIFUGO_API', `Centrifugo API ${method} at ${apiUrl} is unreachable (${(cause as Error).message}).`, { cause });
  }
  const text = await res.text();
  if (res.status !== 200) throw new CentrifugoError('WSGATE_CENTRIFUGO_API', `Centrifugo API ${method} answered HTTP ${res.status}.`);
  const v = JSON.parse(text || '{}') as { result?: T; error?: { code: number; message: string } };
  if (v.error) throw new CentrifugoError('WSGATE_CENTRIFUGO_API', `Centrifugo API ${method} answered error ${v.error.code} "${v.error.message}".`);
  return (v.result ?? {}) as T;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

async function waitReady(url: string, child: ChildProcess, deadline: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new CentrifugoError('WSGATE_CENTRIFUGO_START', `Centrifugo exited (${child.exitCode ?? child.signalCode}) before ${url} answered; rerun with logFile set to see why.`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new CentrifugoError('WSGATE_CENTRIFUGO_START', `Centrifugo did not answer ${url} with 200 in time.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts Centrifugo per `opts` and resolves once GET /health answers 200. */
export async function startCentrifugo(opts: CentrifugoOptions = {}): Promise<CentrifugoServer> {
  const binary = opts.binary ?? (await findCentrifugo()).path;
  const hmacSecret = secret(32);
  const serverSecret = opts.faults?.hmacMismatch ? secret(32) : hmacSecret;
  const apiKey = secret(24);
  const ns = opts.personalNamespace ?? 'personal';
  const dir = await mkdtemp(join(tmpdir(), 'wsgate-centrifugo-'));

  // Another process can take the port between freePort() and Centrifugo's bind: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = centrifugoConfig(opts, port);
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });

    const env: NodeJS.ProcessEnv = {};
    // Only what Centrifugo needs: no stray CENTRIFUGO_* from the caller's shell overrides the config.
    for (const k of ['PATH', 'HOME', 'TMPDIR', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
    env['CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY'] = serverSecret;
    env['CENTRIFUGO_HTTP_API_KEY'] = apiKey;

    const logFd = opts.logFile ? openSync(opts.logFile, 'a') : undefined;
    const out = logFd ?? 'ignore';
    const child = spawn(binary, ['--config', configPath], { env, stdio: ['ignore', out, out] });
    if (logFd !== undefined) closeSync(logFd);
    track(child);
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (cause) => reject(new CentrifugoError('WSGATE_CENTRIFUGO_START', `Centrifugo at ${binary} could not be started (${cause.message}).`, { cause }))),
    );
    spawnError.catch(() => {});

    const httpUrl = `http://127.0.0.1:${port}`;
    try {
      await Promise.race([waitReady(`${httpUrl}/health`, child, Date.now() + (opts.readyTimeoutMs ?? 15_000)), spawnError]);
    } catch (err) {
      child.kill('SIGKILL');
      await exited(child);
      if (attempt < 3 && err instanceof CentrifugoError && /exited/.test(err.message)) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }

    let closing: Promise<void> | undefined;
    const stop = (signal: NodeJS.Signals): Promise<void> =>
      (closing ??= (async () => {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited(child);
        clearTimeout(timer);
        await rm(dir, { recursive: true, force: true });
      })());
    const apiUrl = `${httpUrl}/api`;
    return {
      wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
      apiUrl,
      httpUrl,
      port,
      hmacSecret,
      apiKey,
      personalNamespace: ns,
      personalChannel: (user) => personalChannelName(user, ns),
      config,
      api: (method, body) => callApi(apiUrl, apiKey, method, body),
      pid: child.pid,
      close: () => stop('SIGTERM'),
      kill: () => stop('SIGKILL'),
    };
  }
}

/**
 * A Centrifugo v6.9.1 with the agent driver behind its RPC proxy, configured the way wsgate validates
 * it (`wsgate demo centrifugo`, test/dialects/*): loopback, the given Origin allowed, quick server
 * pings (so an idle hold of a few seconds sees several answered), a short grace after a token's
 * expiry (so the refresh test sees the close within its 3 s), personal channels with history. Plus
 * the WSGATE_* variables that point wsgate's centrifugo dialect at it.
 */
import { startAgentDriver } from './agent-driver.ts';
import type { AgentDriver, AgentDriverOptions } from './agent-driver.ts';
import { startCentrifugo } from './server.ts';
import type { CentrifugoOptions, CentrifugoServer } from './server.ts';

export interface StackOptions extends CentrifugoOptions {
  /** The Origin wsgate sends (config.origin); allowed unless allowedOrigins says otherwise. */
  origin?: string;
  /** false: no RPC proxy, so `agent_run` has nowhere to go (a breakage). Default true. */
  rpc?: boolean;
  agent?: AgentDriverOptions;
}

export interface CentrifugoStack {
  cf: CentrifugoServer;
  driver: AgentDriver;
  /**
   * WSGATE_DIALECT, WSGATE_WS_URL, WSGATE_HTTP_URL, WSGATE_ORIGIN, WSGATE_JWT_SECRET,
   * WSGATE_SERVER_API_URL/KEY and WSGATE_HEARTBEAT_TIMEOUT_MS. Secrets: never print them.
   */
  vars: Record<string, string>;
  /** Stops Centrifugo (SIGTERM) and the driver. Idempotent. */
  close(): Promise<void>;
}

/** How long Centrifugo holds a socket after its close frame when the client never answers it. */
const CLOSE_FRAME_WAIT_MS = 5000;

/** Settings the demo and the tests share; each can be overridden. */
export const STACK_DEFAULTS = { pingIntervalMs: 2000, pongTimeoutMs: 1000, expiredCloseDelayMs: 500 } as const;

export async function startCentrifugoStack(opts: StackOptions = {}): Promise<CentrifugoStack> {
  const { origin = 'http://localhost', rpc = true, agent, ...cfOpts } = opts;
  // One batch publish per run (eventDelayMs 0): a validation starts some 300 runs in a burst.
  const driver = await startAgentDriver({ eventDelayMs: 0, ...agent });
  let cf: CentrifugoServer;
  try {
    cf = await startCentrifugo({
      ...STACK_DEFAULTS,
      allowedOrigins: [origin],
      ...(rpc ? { rpcProxyUrl: driver.rpcUrl } : {}),
      ...cfOpts,
    });
  } catch (err) {
    await driver.close();
    throw err;
  }
  driver.attach(cf);
  const ping = cfOpts.pingIntervalMs ?? STACK_DEFAULTS.pingIntervalMs;
  const pong = cfOpts.pongTimeoutMs ?? STACK_DEFAULTS.pongTimeoutMs;
  let closing: Promise<void> | undefined;
  return {
    cf,
    driver,
    vars: {
      WSGATE_DIALECT: 'centrifugo',
      WSGATE_WS_URL: cf.wsUrl,
      WSGATE_HTTP_URL: cf.httpUrl,
      WSGATE_ORIGIN: origin,
      WSGATE_JWT_SECRET: cf.hmacSecret,
      WSGATE_SERVER_API_URL: cf.apiUrl,
      WSGATE_SERVER_API_KEY: cf.apiKey,
      // A client that vanished is found dead one ping and one pong timeout later (close 3012), and its
      // socket is let go after Centrifugo's 5 s wait for the close frame to be answered (docs/centrifugo.md).
      WSGATE_HEARTBEAT_TIMEOUT_MS: String(ping + pong + CLOSE_FRAME_WAIT_MS),
    },
    close: () =>
      (closing ??= (async () => {
        await cf.close();
        await driver.close();
      })()),
  };
}

/**
 * Warms the path an agent event takes (the driver's HTTP client to Centrifugo's API, Centrifugo's
 * publish path) with `n` publications into a channel nobody reads, so the first seconds of a
 * validation measure the server and not a cold process.
 */
export async function warmUp(stack: CentrifugoStack, n = 300): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => stack.cf.api('publish', { channel: 'wsgate-warmup', data: { i } })));
}

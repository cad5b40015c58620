/**
 * `wsgate drop-relay`: the drop relay connection_leak_regression needs (cli/drop-relay-server.ts), as a
 * command of its own, for whoever runs the bundle with plain `wsgate run` or `k6 run` instead of `wsgate regression`
 * (which starts one by itself).
 */
import { MAX_JITTER_MS, parseUpstream, startDropRelay } from './drop-relay-server.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, parseOptions, say } from './io.ts';

export const DROP_RELAY_USAGE = `Usage: wsgate drop-relay --upstream HOST:PORT|URL [--jitter-ms MS]

Runs the drop relay connection_leak_regression cuts connections through, for plain \`wsgate run\` and \`k6 run\` users
(wsgate regression and wsgate validate --embedded-target start their own). It listens on a free port of
127.0.0.1 and relays every connection to the upstream byte for byte. On its control URL:
  POST /drop        destroys every relayed connection on both sides, without a close frame
  POST /blackhole   black-holes every relayed connection: nothing forwarded either way, both sockets kept
                    open (a client that vanished without a packet; the server's heartbeat must reap it)
  GET  /blackholes  how long each black-holed connection has been held, and when the server closed its side
  POST /release     destroys the black-holed connections
  GET  /stats       {"open", "total"}
Prints one JSON ready line on stdout, then relays until SIGINT or SIGTERM (exit 0):

  {"event":"ready","upstream":"chat.internal:8080","address":"127.0.0.1:40123",
   "control_url":"http://127.0.0.1:40124","ws_url":"ws://127.0.0.1:40123/ws"}

ws_url is there when --upstream is a ws:// or wss:// URL; otherwise take WSGATE_WS_URL and replace
its host:port with address. Then run k6 with
  WSGATE_DROP_RELAY_WS_URL=<ws_url> WSGATE_DROP_RELAY_CONTROL_URL=<control_url>

For a wss:// service, k6 checks the service's certificate against the host in WSGATE_DROP_RELAY_WS_URL,
which is 127.0.0.1 here: it works only if the certificate covers that name (or a name you point at
this machine); otherwise run the leak test against a ws:// endpoint of the service.

Options:
  --upstream HOST:PORT   where to relay: host:port, [v6]:port, or the service's ws(s):// URL
  --jitter-ms MS         delay every chunk it forwards by a random 0..MS ms, in both directions,
                         without reordering bytes (an unsteady network; default 0, at most ${MAX_JITTER_MS})
  -h, --help             print this help
`;

const OPTIONS = {
  upstream: { type: 'string' },
  'jitter-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * A --jitter-ms / --network-jitter value in milliseconds: a whole number from 0 to MAX_JITTER_MS;
 * anything else is a usage error naming `flag`.
 */
export function parseJitterMs(flag: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(ms >= 0 && ms <= MAX_JITTER_MS)) throw new UsageError(`${flag} is "${value}"; give whole milliseconds from 0 to ${MAX_JITTER_MS}, e.g. ${flag} 20`);
  return ms;
}

/** Resolves on SIGINT, SIGTERM or `stop`, with the handlers removed again. */
function untilStopped(stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const finish = (): void => {
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      stop?.removeEventListener('abort', finish);
      resolve();
    };
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
    if (stop?.aborted) return finish();
    stop?.addEventListener('abort', finish, { once: true });
  });
}

/** Runs `wsgate drop-relay <argv...>`; `stop` ends it like SIGTERM (for in-process callers). */
export async function dropRelay(argv: string[], io: Io, stop?: AbortSignal): Promise<number> {
  const values = parseOptions(argv, OPTIONS, 'drop-relay');
  if (values.help) {
    io.stdout.write(DROP_RELAY_USAGE);
    return EXIT.PASS;
  }
  const upstream = values.upstream;
  if (upstream === undefined) throw new UsageError('wsgate drop-relay needs --upstream HOST:PORT (or the service\'s ws:// URL); run wsgate drop-relay --help');
  const target = parseUpstream(upstream); // a bad value is a TargetConfigError: exit 2
  const jitterMs = values['jitter-ms'] === undefined ? 0 : parseJitterMs('--jitter-ms', values['jitter-ms']);
  const relay = await startDropRelay({ upstream, jitterMs });
  try {
    // Only scheme and path of a ws URL are kept: user info or a ?token= must never be printed.
    const ws = /^wss?:\/\//i.test(upstream) ? new URL(upstream) : undefined;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    io.stdout.write(
      `${JSON.stringify({
        event: 'ready',
        upstream: `${host}:${target.port}`,
        address: relay.address,
        control_url: relay.controlUrl,
        ...(jitterMs > 0 ? { jitter_ms: jitterMs } : {}),
        ...(ws ? { ws_url: `${ws.protocol}//${relay.address}${ws.pathname === '/' ? '' : ws.pathname}` } : {}),
      })}\n`,
    );
    await untilStopped(stop);
    say(io.stderr, `drop relay stopped after ${relay.stats().total} relayed connection(s)`);
    return EXIT.PASS;
  } finally {
    await relay.close();
  }
}

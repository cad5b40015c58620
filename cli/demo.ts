/**
 * `wsgate demo centrifugo`: one command for a newcomer. It finds the Centrifugo v6.9.1 binary (or
 * says in one sentence how to build it), starts Centrifugo on loopback with an agent backend behind
 * its RPC proxy (third-party/centrifugo/stack.ts), validates it through the centrifugo dialect with
 * exactly what `wsgate validate --env local` does against a deployed service, prints the verdict and
 * stops everything, on Ctrl-C too. `--break NAME` plays one misconfiguration, to watch it caught.
 */
import { CentrifugoError, buildCommand, findCentrifugo } from '../third-party/centrifugo/binary.ts';
import { STACK_DEFAULTS, startCentrifugoStack, warmUp } from '../third-party/centrifugo/stack.ts';
import type { CentrifugoStack, StackOptions } from '../third-party/centrifugo/stack.ts';
import { redactUrl } from '../lib/core/url.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, parseOptions, say } from './io.ts';
import { validate } from './validate.ts';

/** Misconfigurations the demo can play, each made with Centrifugo's own configuration, and the check that catches it. */
const BREAKAGES: Record<string, { what: string; options: StackOptions; caughtBy: string }> = {
  'hmac-mismatch': { what: 'the token issuer signs with another secret than Centrifugo verifies with', options: { faults: { hmacMismatch: true } }, caughtBy: 'websocket_connection' },
  'open-personal-channels': { what: "personal channels are not user-limited: anyone may subscribe to anyone's", options: { faults: { openPersonalChannels: true } }, caughtBy: 'multi_user_isolation' },
  'any-origin': { what: 'client.allowed_origins is ["*"]: any web page may connect as its visitor', options: { allowedOrigins: ['*'] }, caughtBy: 'websocket_connection' },
  'no-rpc': { what: 'no RPC proxy: agent_run has no backend', options: { rpc: false }, caughtBy: 'agent_events' },
};

export const DEMO_USAGE = `Usage: wsgate demo centrifugo [options]

Validates a real Centrifugo, start to finish, in about 10 seconds: starts Centrifugo v6.9.1 on
127.0.0.1 with an agent backend behind its RPC proxy (five events per agent run, published into
the user's personal channel), runs wsgate validate --env local against it through the centrifugo
dialect, prints the verdict and stops everything (Ctrl-C too). Exits with the verdict's code.

It needs the Centrifugo binary: $WSGATE_CENTRIFUGO, else wsgate's tools cache, else centrifugo on
PATH. Build it once (Go >= 1.26; about 2.5 minutes on a cold 2-core machine, a 92 MB binary):
  ${buildCommand()}

Options:
  --break NAME           play a misconfiguration and watch the validation catch it; one of:
${Object.entries(BREAKAGES).map(([name, b]) => `                           ${name.padEnd(23)} ${b.what}`).join('\n')}
  --results-dir DIR      where the JSON and JUnit results go (default: ./results)
  --centrifugo-log FILE  append Centrifugo's own log to FILE
  -h, --help             print this help
`;

const OPTIONS = {
  break: { type: 'string' },
  'results-dir': { type: 'string' },
  'centrifugo-log': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What the demo keeps of the caller's environment: nothing that configures a suite (the demo's target is its own). */
function baseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('WSGATE_') || k === 'WSGATE_DEBUG' || k === 'WSGATE_RESULTS_DIR') out[k] = v;
  return out;
}

/** Runs `wsgate demo <argv...>`; resolves with the exit code (EXIT in io.ts). */
export async function demo(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const [which, ...rest] = argv;
  if (which === '-h' || which === '--help' || which === undefined) {
    (which === undefined ? io.stderr : io.stdout).write(DEMO_USAGE);
    return which === undefined ? EXIT.USAGE : EXIT.PASS;
  }
  if (which !== 'centrifugo') throw new UsageError(`there is no demo "${which}"; the one demo is centrifugo (wsgate demo centrifugo)`);
  const values = parseOptions(rest, OPTIONS, 'demo centrifugo');
  if (values.help) {
    io.stdout.write(DEMO_USAGE);
    return EXIT.PASS;
  }
  const breakage = values.break === undefined ? undefined : BREAKAGES[values.break];
  if (values.break !== undefined && !breakage) throw new UsageError(`--break is "${values.break}"; choose one of ${Object.keys(BREAKAGES).join(', ')}`);

  let binary;
  try {
    binary = await findCentrifugo(env);
  } catch (err) {
    if (!(err instanceof CentrifugoError)) throw err;
    // The error's sentence names where it looked and the build command; the rest says what that costs.
    say(io.stderr, `${err.message.replace(/\.$/, '')}; the build takes about 2.5 minutes on a cold 2-core machine, then rerun wsgate demo centrifugo.`);
    return EXIT.ERROR;
  }

  // Signals are ours for the whole demo: Centrifugo must never outlive it.
  let signal: NodeJS.Signals | undefined;
  const onInt = (): void => void (signal ??= 'SIGINT');
  const onTerm = (): void => void (signal ??= 'SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let stack: CentrifugoStack | undefined;
  try {
    say(io.stderr, `demo: Centrifugo v${binary.version} (${binary.path}) on 127.0.0.1, server pings every ${STACK_DEFAULTS.pingIntervalMs / 1000} s, with an agent backend behind its RPC proxy`);
    if (breakage) say(io.stderr, `demo: breaking it on purpose: ${breakage.what} (the check that should catch it: ${breakage.caughtBy})`);
    stack = await startCentrifugoStack({
      binary: binary.path,
      ...(values['centrifugo-log'] ? { logFile: values['centrifugo-log'] } : {}),
      ...breakage?.options,
    });
    if (signal) return interrupted(io, signal);
    await warmUp(stack);
    if (signal) return interrupted(io, signal);
    say(io.stderr, `demo: Centrifugo is up at ${redactUrl(stack.cf.wsUrl)}; validating it as wsgate validate --env local would, with WSGATE_DIALECT=centrifugo (about 6 s)`);
    const vars = { ...baseEnv(env), ...stack.vars, ...(values['results-dir'] ? { WSGATE_RESULTS_DIR: values['results-dir'] } : {}) };
    const code = await validate(['--env', 'local'], vars, io);
    if (breakage && code === EXIT.FAIL) say(io.stdout, `demo: caught, as it should be: look for ${breakage.caughtBy} above`);
    else if (breakage && code === EXIT.PASS) say(io.stdout, `demo: the breakage was NOT caught: ${breakage.caughtBy} should have failed`);
    return code;
  } finally {
    if (stack) {
      await stack.close();
      say(io.stderr, 'demo: Centrifugo and the agent backend stopped');
    }
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

function interrupted(io: Io, signal: NodeJS.Signals): number {
  say(io.stdout, `INTERRUPTED demo: ${signal} arrived before the validation started, so nothing was run`);
  return EXIT.INTERRUPTED;
}

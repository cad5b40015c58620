/**
 * The `wsgate` command line. bin/wsgate.mjs builds this file into dist/node/cli.mjs and calls
 * {@link main}; tests call it directly with captured streams. Every failure is one sentence on stderr
 * with the `wsgate: ` prefix and an exit code from EXIT (io.ts); never a stack trace (unless
 * WSGATE_DEBUG=1), never a token or secret.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WsgateError } from '../lib/core/errors.ts';
import { TargetError } from '../reference-service/errors.ts';
import { runTargetCli } from '../reference-service/main.ts';
import { DEMO_USAGE, demo } from './demo.ts';
import { DROP_RELAY_USAGE, dropRelay } from './drop-relay.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, loadBuilder, packageRoot, parseOptions, say } from './io.ts';
import { MATRIX_USAGE, matrix } from './matrix.ts';
import { MULTI_USER_USAGE, multiUser } from './multi-user.ts';
import { MONITOR_USAGE, monitor } from './monitor/command.ts';
import { POST_USAGE, PRE_USAGE, pipeline } from './pipeline/command.ts';
import { MERGE_USAGE, merge } from './merge/command.ts';
import { REGRESSION_USAGE, regression } from './regression.ts';
import { RUN_USAGE, run } from './run.ts';
import { VALIDATE_USAGE, validate } from './validate.ts';

export { EXIT } from './io.ts';
export type { Io } from './io.ts';

export const USAGE = `Usage: wsgate <command> [options]

Gates deployments of JWT-authenticated WebSocket chat services, on wsgate's own engine (or your k6).

Commands:
  validate     run the deployment-validation scenario against an environment and exit with its verdict
  regression   run the regression-prevention suite (seven named regressions, or a selection)
  pre          before a deploy: validation + regression suite; saves the environment's baseline
  post         after a deploy: the same, compared with the baseline; report and rollback recommendation
  merge        judge a run split over several instances (execution segments) from their merged samples
  multi-user   many authenticated users at once (chat, agents, mixed, or a connection stress test)
  monitor      monitor an environment for a duration: rolling windows, alerts (console, webhook), rollback trigger
  reference    run the reference chat service (for local runs and demos)
  drop-relay   run the drop relay the connection-leak regression needs, for plain wsgate run / k6 run users
  matrix       prove the regression suite here: every fault of the reference service against every test
  run          one test on an engine, like k6 run: a suite, an engine bundle or a scenario source
  build        bundle the scenarios (engine and k6 bundles), the engine and the CLI into dist/
  demo         wsgate demo centrifugo: start a real Centrifugo with an agent backend, validate it, stop it
  help [CMD]   print this help, or a command's

Run wsgate <command> --help for a command's options.

Exit codes: 0 pass (post: proceed), 1 verdict fail (post: hold), 2 usage or configuration error,
            3 target unreachable, 4 no verdict (script error, aborted, k6 asked for but unavailable),
            5 rollback recommended (post), 130 interrupted. 2, 3, 4 and 130: could not run.
`;

const BUILD_USAGE = `Usage: wsgate build

Bundles scenarios/*.ts twice (dist/engine/<name>.mjs for the engine, dist/<name>.js for k6), the
engine into dist/node/engine.mjs and the CLI into dist/node/cli.mjs, and prints each output with its size. (wsgate rebuilds by itself when a source changed; this forces it.)
`;

const COMMANDS = 'validate, regression, pre, post, merge, multi-user, monitor, reference, drop-relay, matrix, run, build, demo and help';

const TARGET_HELP_NOTE = 'Run wsgate reference --help for its options.\n';

/** Parses a command that takes no options except --help; true when help was asked for. */
function noOptions(argv: string[], command: string): boolean {
  return parseOptions(argv, { help: { type: 'boolean', short: 'h' } }, command).help === true;
}

function version(): string {
  try {
    return String((JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version);
  } catch {
    return 'unknown';
  }
}

async function dispatch(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      io.stderr.write(USAGE);
      return EXIT.USAGE;
    case 'help':
    case '--help':
    case '-h': {
      const topic = rest[0];
      const help: Record<string, string> = {
        validate: VALIDATE_USAGE,
        regression: REGRESSION_USAGE,
        pre: PRE_USAGE,
        post: POST_USAGE,
        merge: MERGE_USAGE,
        'multi-user': MULTI_USER_USAGE,
        monitor: MONITOR_USAGE,
        reference: TARGET_HELP_NOTE,
        'drop-relay': DROP_RELAY_USAGE,
        matrix: MATRIX_USAGE,
        build: BUILD_USAGE,
        demo: DEMO_USAGE,
        run: RUN_USAGE,
      };
      if (topic === undefined) io.stdout.write(USAGE);
      else if (help[topic]) io.stdout.write(help[topic]);
      else throw new UsageError(`there is no command "${topic}"; the commands are ${COMMANDS}`);
      return EXIT.PASS;
    }
    case '--version':
    case '-V':
      io.stdout.write(`wsgate ${version()}\n`);
      return EXIT.PASS;
    case 'validate':
      return validate(rest, env, io);
    case 'regression':
      return regression(rest, env, io);
    case 'pre':
    case 'post':
      return pipeline(command, rest, env, io);
    case 'merge':
      return merge(rest, env, io);
    case 'multi-user':
      return multiUser(rest, env, io);
    case 'monitor':
      return monitor(rest, env, io);
    case 'drop-relay':
      return dropRelay(rest, io);
    case 'matrix':
      return matrix(rest, env, io);
    case 'run':
      return run(rest, env, io);
    case 'reference':
      // The reference service's own CLI owns its flags, messages and exit codes.
      return runTargetCli(rest, env, { stdout: (t) => io.stdout.write(t), stderr: (t) => io.stderr.write(t) });
    case 'demo':
      return demo(rest, env, io);
    case 'build': {
      if (noOptions(rest, 'build')) {
        io.stdout.write(BUILD_USAGE);
        return EXIT.PASS;
      }
      const { ms, outputs } = await (await loadBuilder(packageRoot())).build();
      for (const o of outputs) io.stdout.write(`${o.file.padEnd(34)} ${(o.bytes / 1024).toFixed(1).padStart(8)} KiB\n`);
      io.stdout.write(`built ${outputs.length} bundles in ${ms} ms\n`);
      return EXIT.PASS;
    }
    default:
      throw new UsageError(
        command.startsWith('-')
          ? `unknown option ${command}; put options after a command, e.g. wsgate validate --env local (run wsgate help)`
          : `unknown command "${command}"; the commands are ${COMMANDS}`,
      );
  }
}

/** Which exit code a failure means; the sentence printed is the error's message. */
function exitCodeOf(err: unknown): number | undefined {
  if (err instanceof WsgateError) {
    switch (err.code) {
      case 'WSGATE_USAGE':
      case 'WSGATE_CONFIG':
      case 'WSGATE_TOKEN':
        return EXIT.USAGE;
      case 'WSGATE_UNREACHABLE':
        return EXIT.UNREACHABLE;
      case 'WSGATE_K6_UNAVAILABLE':
      case 'WSGATE_K6_FAILED':
        return EXIT.ERROR;
    }
  }
  if (err instanceof TargetError) return err.code === 'WSGATE_TARGET_CONFIG' ? EXIT.USAGE : EXIT.ERROR;
  return undefined;
}

/**
 * Runs `wsgate <argv...>` and resolves with the exit code (see EXIT). `env` is the environment to read
 * configuration from and to hand to the engine; `io` receives everything printed, the engine's output included.
 */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    return await dispatch(argv, env, io);
  } catch (err) {
    const code = exitCodeOf(err);
    if (code !== undefined) {
      say(io.stderr, (err as Error).message);
      return code;
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    say(io.stderr, `unexpected error: ${message} (set WSGATE_DEBUG=1 for details)`);
    if (env['WSGATE_DEBUG'] === '1' && err instanceof Error && err.stack) io.stderr.write(err.stack + '\n');
    return EXIT.ERROR;
  }
}

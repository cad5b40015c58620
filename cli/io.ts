/**
 * Small shared pieces of the CLI: where its output goes, where the package lives, how a failure becomes
 * an exit code. Nothing here prints a secret: URLs go through redactUrl before they reach a message.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

/** Where the CLI writes; tests pass PassThrough streams to capture everything, k6's output included. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Exit codes of `wsgate` (the README's table is copied from here). Callers (CI) switch on these, so they
 * never change meaning.
 */
export const EXIT = {
  /** The deployment passed every check and threshold. */
  PASS: 0,
  /** k6 ran to the end and the deployment failed a threshold (k6 99, or 110 from exec.test.fail()). */
  FAIL: 1,
  /** Bad command line or configuration: nothing was run. */
  USAGE: 2,
  /** The target did not answer the pre-flight check: nothing was run. */
  UNREACHABLE: 3,
  /** wsgate or k6 could not produce a verdict: no k6, script exception (107), abort (108), anything else. */
  ERROR: 4,
  /** `wsgate post`: a rollback trigger of the rollback policy fired (thresholds/rollback-policy.json). */
  ROLLBACK: 5,
  /** Stopped by SIGINT/SIGTERM (k6 105); the summary written so far is partial. */
  INTERRUPTED: 130,
} as const;

/** Writes one line with the `wsgate: ` prefix. */
export function say(stream: NodeJS.WritableStream, line: string): void {
  stream.write(`wsgate: ${line}\n`);
}

/** The checkout (or installed package) root: the nearest directory above this module with build.mjs. */
export function packageRoot(): string {
  // Source (cli/main.ts under tsx) and bundle (dist/node/cli.mjs) sit at different depths.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'build.mjs'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the wsgate package root (no package.json with build.mjs above the CLI)');
    dir = up;
  }
}

/** The shape of build.mjs, which stays plain JS outside the bundle (it finds sources relative to itself). */
export interface Builder {
  isStale(): boolean;
  build(): Promise<{ ms: number; outputs: { file: string; bytes: number }[] }>;
  /** Bundles one scenario source for the engine (wsgate run my-scenario.ts). */
  bundleEngine(entry: string, outfile: string): Promise<void>;
}

/** Loads build.mjs at run time; a computed specifier keeps esbuild from inlining it into the CLI bundle. */
export async function loadBuilder(root: string): Promise<Builder> {
  const specifier = pathToFileURL(join(root, 'build.mjs')).href;
  return (await import(specifier)) as Builder;
}

/** A filesystem-safe UTC time stamp, e.g. 20261124T010203Z, used in result file names. */
export function runStamp(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** Turns node:util parseArgs' errors into one sentence that points at the command's help. */
/** A command's options, parsed strictly (no positionals); a bad flag is one sentence (argumentError). */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw argumentError(err, command);
  }
}

/** {@link parseOptions} for commands that also take positional arguments. */
export function parseOptionsAndArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw argumentError(err, command);
  }
}

export function argumentError(err: unknown, command: string): UsageError {
  const e = err as { code?: string; message?: string };
  const subject = /'([^']+)'/.exec(e.message ?? '')?.[1] ?? '';
  const help = `run wsgate ${command} --help for the options`;
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${subject} for wsgate ${command}; ${help}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument "${subject}" for wsgate ${command}; ${help}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(e.message ?? '')
        ? new UsageError(`option ${subject.split(' ')[0]} needs a value; ${help}`)
        : new UsageError(`option ${subject.split(' ')[0]} takes no value; ${help}`);
    default:
      return new UsageError(`${(e.message ?? String(err)).replace(/\.$/, '')}; ${help}`);
  }
}

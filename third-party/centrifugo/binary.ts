/**
 * Finds the Centrifugo binary wsgate's tests run as a third-party target, and checks it is the pinned
 * release. wsgate never downloads or builds it at run time: a developer or CI builds it once with
 * `go install` into wsgate's tools cache (the error messages say how).
 *
 * Precedence: $WSGATE_CENTRIFUGO (a path; if set it must work, no fallback) > the tools cache
 * ($XDG_CACHE_HOME/wsgate/tools/centrifugo-v6.9.1/centrifugo, else ~/.cache/...) > `centrifugo` on PATH.
 */
import { execFile } from 'node:child_process';
import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { CodedError } from '../../lib/core/errors.ts';

const CENTRIFUGO_VERSION = '6.9.1';
const MODULE = 'github.com/centrifugal/centrifugo/v6';

export type CentrifugoErrorCode =
  | 'WSGATE_CENTRIFUGO_MISSING'
  | 'WSGATE_CENTRIFUGO_VERSION'
  | 'WSGATE_CENTRIFUGO_START'
  | 'WSGATE_CENTRIFUGO_API';

/** Anything that goes wrong finding, starting or talking to Centrifugo. One sentence; switch on `code`. */
export class CentrifugoError extends CodedError<CentrifugoErrorCode> {}

/** Where the pinned build lives: <tools cache>/centrifugo-v6.9.1 (XDG_CACHE_HOME honoured if absolute). */
function centrifugoCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'wsgate', 'tools', `centrifugo-v${CENTRIFUGO_VERSION}`);
}

/** The one command that builds the pinned binary where findCentrifugo() looks for it. */
export function buildCommand(env: NodeJS.ProcessEnv = process.env): string {
  return `GOBIN=${centrifugoCacheDir(env)} go install ${MODULE}@v${CENTRIFUGO_VERSION}`;
}

export interface CentrifugoBinary {
  path: string;
  /** Which rule found it. */
  source: 'env' | 'cache' | 'path';
  /** Always CENTRIFUGO_VERSION once checked. */
  version: string;
  /**
   * Where the version came from: `cli` when `centrifugo version` names it (release builds inject it
   * with -ldflags), `buildinfo` when the CLI says 0.0.0 (a plain `go install`) and the Go build info
   * embedded in the binary names the module version instead.
   */
  versionSource: 'cli' | 'buildinfo';
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return undefined;
}

/** Locates the binary without checking its version; undefined when none of the three places has one. */
async function locateCentrifugo(env: NodeJS.ProcessEnv = process.env): Promise<{ path: string; source: CentrifugoBinary['source'] } | undefined> {
  const explicit = env['WSGATE_CENTRIFUGO'];
  if (explicit) {
    if (!(await isExecutable(explicit))) {
      throw new CentrifugoError(
        'WSGATE_CENTRIFUGO_MISSING',
        `WSGATE_CENTRIFUGO is "${explicit}", which is not an executable file; point it at a Centrifugo v${CENTRIFUGO_VERSION} binary or unset it and build one with \`${buildCommand(env)}\`.`,
      );
    }
    return { path: explicit, source: 'env' };
  }
  const cached = join(centrifugoCacheDir(env), 'centrifugo');
  if (await isExecutable(cached)) return { path: cached, source: 'cache' };
  const found = await onPath('centrifugo', env);
  return found ? { path: found, source: 'path' } : undefined;
}

function run(path: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, args, { timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/**
 * The module version recorded in the binary's Go build info (the `mod\t<module>\t<version>` line
 * that `go version -m` prints), read without needing Go. Undefined when absent.
 */
async function embeddedModuleVersion(path: string): Promise<string | undefined> {
  const needle = Buffer.from(`mod\t${MODULE}\t`);
  let carry = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf = Buffer.concat([carry, chunk]);
    const at = buf.indexOf(needle);
    if (at >= 0 && at + needle.length + 32 <= buf.length) {
      const m = /^v([0-9A-Za-z.+-]+)/.exec(buf.subarray(at + needle.length, at + needle.length + 32).toString('latin1'));
      return m?.[1];
    }
    // Keep a tail so a needle split across chunks is still found.
    carry = buf.subarray(Math.max(0, buf.length - needle.length - 32));
  }
  return undefined;
}

/**
 * Finds the binary and checks it is Centrifugo v6.9.1. Throws CentrifugoError
 * WSGATE_CENTRIFUGO_MISSING (nowhere to be found, or not runnable) or WSGATE_CENTRIFUGO_VERSION.
 */
export async function findCentrifugo(env: NodeJS.ProcessEnv = process.env): Promise<CentrifugoBinary> {
  const located = await locateCentrifugo(env);
  if (!located) {
    throw new CentrifugoError(
      'WSGATE_CENTRIFUGO_MISSING',
      `Centrifugo v${CENTRIFUGO_VERSION} was not found in WSGATE_CENTRIFUGO, ${join(centrifugoCacheDir(env), 'centrifugo')} or PATH; build it once with \`${buildCommand(env)}\` (Go >= 1.26).`,
    );
  }
  let answer: string;
  try {
    answer = await run(located.path, ['version']);
  } catch (cause) {
    throw new CentrifugoError(
      'WSGATE_CENTRIFUGO_MISSING',
      `${located.path} did not answer \`version\` (${(cause as Error).message.split('\n')[0]}); rebuild it with \`${buildCommand(env)}\`.`,
      { cause },
    );
  }
  // "Centrifugo v6.9.1 (Go version: go1.26.5)" for a release, "Centrifugo v0.0.0 (...)" for go install.
  const cli = /Centrifugo v(\S+)/.exec(answer)?.[1];
  if (cli === CENTRIFUGO_VERSION) return { ...located, version: cli, versionSource: 'cli' };
  if (cli === '0.0.0') {
    const embedded = await embeddedModuleVersion(located.path);
    if (embedded === CENTRIFUGO_VERSION) return { ...located, version: embedded, versionSource: 'buildinfo' };
    throw new CentrifugoError(
      'WSGATE_CENTRIFUGO_VERSION',
      `${located.path} is a development build of Centrifugo ${embedded ? `v${embedded}` : '(module version unknown)'}, not v${CENTRIFUGO_VERSION}; build the pinned one with \`${buildCommand(env)}\`.`,
    );
  }
  throw new CentrifugoError(
    'WSGATE_CENTRIFUGO_VERSION',
    `${located.path} answers \`version\` with "${answer.trim().slice(0, 80)}", not Centrifugo v${CENTRIFUGO_VERSION}; build the pinned one with \`${buildCommand(env)}\`.`,
  );
}

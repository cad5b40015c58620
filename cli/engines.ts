/**
 * Which engine runs a suite, and how to start it. wsgate's own engine is the default everywhere; k6
 * runs a suite when asked (`--engine k6` or WSGATE_ENGINE=k6) and only if the user already has one:
 * wsgate never builds, downloads or ships k6 (it is AGPL-3.0; wsgate is MIT).
 *
 * Both engines take the same argument list (k6's spelling: --quiet, --out json=FILE,
 * --execution-segment, ...) and exit with k6's codes, so everything after the start is shared.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { K6UnavailableError } from './errors.ts';
import { UsageError } from './errors.ts';

export type EngineKind = 'wsgate' | 'k6';
const ENGINE_KINDS: readonly EngineKind[] = ['wsgate', 'k6'];

/** k6's official installation page, named whenever k6 is asked for and not found. */
export const K6_INSTALL_DOCS = 'https://grafana.com/docs/k6/latest/set-up/install-k6/';

/** The k6 minor version the k6 bundles are written against (docs/k6.md: summary shape, exit codes). */
const K6_MINOR = 'v2.2';

type Vars = Readonly<Record<string, string | undefined>>;

export interface Engine {
  kind: EngineKind;
  /** Program and leading arguments; the bundle and the run's flags follow. */
  command: string;
  baseArgs: string[];
  /** "wsgate engine" or "k6 v2.2.0 (/usr/local/bin/k6)", for the line that says what runs. */
  label: string;
  /** The bundle of `suite` this engine runs. */
  bundle(root: string, suite: string): string;
  /** Variables that only this engine needs (CA certificates, usage reports). */
  extraEnv(caFile: string | undefined, env: Vars): Record<string, string>;
}

/** --engine, else WSGATE_ENGINE, else the engine; anything else is a usage error naming both. */
export function engineKind(flag: string | undefined, env: Vars): EngineKind {
  const raw = flag ?? (env['WSGATE_ENGINE'] || 'wsgate');
  if (raw === 'engine') return 'wsgate';
  if (!(ENGINE_KINDS as readonly string[]).includes(raw)) {
    throw new UsageError(`${flag !== undefined ? '--engine' : 'WSGATE_ENGINE'} is "${raw}"; use wsgate (the default) or k6`);
  }
  return raw as EngineKind;
}

export function wsgateEngine(root: string): Engine {
  return {
    kind: 'wsgate',
    command: process.execPath,
    baseArgs: [join(root, 'dist', 'node', 'engine.mjs'), 'run'],
    label: 'wsgate engine',
    bundle: (r, suite) => join(r, 'dist', 'engine', `${suite}.mjs`),
    // Node reads extra roots from NODE_EXTRA_CA_CERTS; the system's roots stay trusted.
    extraEnv: (caFile): Record<string, string> => (caFile ? { NODE_EXTRA_CA_CERTS: caFile } : {}),
  };
}

/** The user's k6: WSGATE_K6, else `k6` on PATH, checked to be v2.2.x. */
export async function userK6(env: Vars): Promise<Engine> {
  const path = findK6(env);
  const version = await k6Version(path, env);
  if (!version.startsWith(`${K6_MINOR}.`)) {
    throw new K6UnavailableError(`the k6 at ${path} is ${version}, but the k6 bundles are written for k6 ${K6_MINOR}.x; point WSGATE_K6 at a k6 ${K6_MINOR}.x (${K6_INSTALL_DOCS}) or run on the wsgate engine`);
  }
  return {
    kind: 'k6',
    command: path,
    baseArgs: ['run'],
    label: `k6 ${version} (${path})`,
    bundle: (r, suite) => join(r, 'dist', `${suite}.js`),
    extraEnv: (caFile, e) => ({
      // k6 is Go: Go's TLS reads extra roots from SSL_CERT_FILE.
      ...(caFile ? { SSL_CERT_FILE: caFile } : {}),
      // A gate should not phone home; whoever wants k6's usage report can set this to false.
      K6_NO_USAGE_REPORT: e['K6_NO_USAGE_REPORT'] ?? 'true',
    }),
  };
}

export function engineFor(kind: EngineKind, root: string, env: Vars): Promise<Engine> {
  return kind === 'k6' ? userK6(env) : Promise.resolve(wsgateEngine(root));
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** WSGATE_K6 if set (it must be a k6), else the first `k6` on PATH. */
export function findK6(env: Vars): string {
  const chosen = env['WSGATE_K6'];
  if (chosen) {
    if (!isExecutable(chosen)) throw new K6UnavailableError(`WSGATE_K6 is "${chosen}", which is not an executable file; point it at your k6 binary (${K6_INSTALL_DOCS})`);
    return chosen;
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'k6'))) return join(dir, 'k6');
  }
  throw new K6UnavailableError(`--engine k6 needs a k6 ${K6_MINOR}.x, and there is none on PATH and WSGATE_K6 is not set; install k6 (${K6_INSTALL_DOCS}) and set WSGATE_K6 to its path, or drop --engine k6 to run on the wsgate engine`);
}

/** `k6 version` -> "v2.2.0"; a program that does not answer like k6 is refused with one sentence. */
export function k6Version(path: string, env: Vars): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn(path, ['version'], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new K6UnavailableError(`the k6 at ${path} cannot be run (${err.code ?? err.message}); point WSGATE_K6 at your k6 binary (${K6_INSTALL_DOCS})`));
    });
    child.once('close', () => {
      clearTimeout(timer);
      const version = /\bk6 (v\d+\.\d+\.\d+[\w.+-]*)/.exec(out)?.[1];
      if (version) resolve(version);
      else reject(new K6UnavailableError(`${path} does not answer \`version\` like k6 (it printed "${out.trim().split('\n')[0]?.slice(0, 80) ?? ''}"); point WSGATE_K6 at your k6 binary (${K6_INSTALL_DOCS})`));
    });
  });
}

/**
 * Finds or builds the one k6 wsgate runs: v2.2.x, pinned, because the bundles, the summary shape and the
 * exit codes are read against that version (../shared/K6-NOTES.md).
 *
 * Resolution order, first hit wins:
 *   1. WSGATE_K6, a path to a binary the user chose (wrong version is an error, not a fallback);
 *   2. the per-version cache outside the checkout, so a fresh clone or `git clean` costs no rebuild;
 *   3. a `k6` on PATH that reports v2.2.x;
 *   4. a build with Go >= 1.25: xk6 first, then plain `go build` of go.k6.io/k6/v2, which is what
 *      `xk6 build` does with no `--with` (the module proxy refuses xk6 in some networks).
 * Builds go to a temporary file beside the cache entry and are renamed into place, under a mkdir lock,
 * so a concurrent run either waits for the build or finds its result, and never sees half a binary.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { K6UnavailableError } from './errors.ts';

export const K6_VERSION = 'v2.2.0';
export const XK6_VERSION = 'v1.4.0';
/** Oldest Go that builds k6 v2.2 (its go.mod's `go` line). */
export const MIN_GO = { major: 1, minor: 25 } as const;

export type K6Source = 'env' | 'cache' | 'path' | 'built';

export interface K6Runtime {
  path: string;
  /** As `k6 version` reports it, e.g. `v2.2.0`. */
  version: string;
  source: K6Source;
}

type Vars = Readonly<Record<string, string | undefined>>;

export interface EnsureK6Options {
  /** The environment to resolve from and to run Go with (PATH, HOME, GOPATH, proxies...). */
  env: Vars;
  /** Receives progress lines (without the `wsgate: ` prefix); default: stderr. */
  log?: (line: string) => void;
  /** How long to wait for another process's build before giving up. Default 20 minutes. */
  lockTimeoutMs?: number;
  /** A lock older than this is abandoned whoever holds it. Default 30 minutes. */
  staleLockMs?: number;
}

const MAJOR_MINOR = K6_VERSION.split('.').slice(0, 2).join('.'); // "v2.2"

/** The directory that holds k6-<version>/ entries. */
export function k6CacheRoot(env: Vars): string {
  if (env['WSGATE_K6_CACHE']) return env['WSGATE_K6_CACHE'];
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env['XDG_CACHE_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'wsgate');
}

/** Where the pinned build lives: `<cache root>/k6-v2.2.0/k6`. */
export function k6CachePath(env: Vars): string {
  return join(k6CacheRoot(env), `k6-${K6_VERSION}`, 'k6');
}

/** `k6 v2.2.0 (go1.26.8, linux/amd64)` -> `v2.2.0`. */
export function parseK6Version(output: string): string | undefined {
  return /\bk6 (v\d+\.\d+\.\d+[\w.+-]*)/.exec(output)?.[1];
}

/** True for any v2.2.x: patch releases keep the summary shape and exit codes. */
export function isAcceptedK6Version(version: string): boolean {
  return version === MAJOR_MINOR || version.startsWith(MAJOR_MINOR + '.');
}

/** `go version go1.26.8 linux/amd64` -> {major: 1, minor: 26, text: 'go1.26.8'}. */
export function parseGoVersion(output: string): { major: number; minor: number; text: string } | undefined {
  const m = /\bgo(\d+)\.(\d+)(?:[.\w-]*)?/.exec(output);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), text: m[0] };
}

/**
 * The line of Go's output that says what went wrong: the last one that is neither progress
 * (`go: downloading ...`) nor an indented continuation, shortened to fit in one sentence.
 */
export function meaningfulGoErrorLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const progress = /^go: (downloading|finding|extracting|added|upgraded|found)\b/;
  const candidates = lines.filter((l) => !/^\s/.test(l) && !progress.test(l));
  let line = (candidates.at(-1) ?? lines.at(-1) ?? 'no output').trim();
  // `go: go.k6.io/xk6@v1.4.0: go.k6.io/xk6@v1.4.0: reading ...` -> `go.k6.io/xk6@v1.4.0: reading ...`
  line = line.replace(/^go: /, '').replace(/^(\S+: )\1+/, '$1');
  return line.length > 300 ? line.slice(0, 297) + '...' : line;
}

interface RunResult {
  code: number | null;
  /** stdout and stderr interleaved, last 64 KiB. */
  output: string;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  spawnError: NodeJS.ErrnoException | undefined;
  timedOut: boolean;
}

function run(cmd: string, args: string[], opts: { env: Vars; cwd?: string; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-65536);
    };
    const child = spawn(cmd, args, { env: opts.env as NodeJS.ProcessEnv, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, output, spawnError: err, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, spawnError: undefined, timedOut });
    });
  });
}

/** Runs `<bin> version`; returns the version, or why it could not be read. */
export async function probeK6(bin: string, env: Vars): Promise<{ version: string } | { problem: string }> {
  const r = await run(bin, ['version'], { env, timeoutMs: 15_000 });
  if (r.spawnError) return { problem: `cannot be run (${r.spawnError.code ?? r.spawnError.message})` };
  if (r.timedOut) return { problem: 'did not answer `version` within 15 s' };
  const version = parseK6Version(r.output);
  if (r.code !== 0 || !version) return { problem: `is not k6 (\`version\` printed "${r.output.trim().split('\n')[0]?.slice(0, 80) ?? ''}")` };
  return { version };
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Returns a k6 v2.2.x, building and caching one when none is found. */
export async function ensureK6(opts: EnsureK6Options): Promise<K6Runtime> {
  const { env } = opts;
  const log = opts.log ?? ((line: string) => process.stderr.write(`wsgate: ${line}\n`));

  // 1. An explicit choice is honoured or refused, never silently replaced by another binary.
  const chosen = env['WSGATE_K6'];
  if (chosen) {
    const probe = await probeK6(chosen, env);
    if ('problem' in probe) throw new K6UnavailableError(`WSGATE_K6 points at ${chosen}, which ${probe.problem}; point it at a k6 ${MAJOR_MINOR}.x binary or unset it`);
    if (!isAcceptedK6Version(probe.version)) {
      throw new K6UnavailableError(`WSGATE_K6 points at k6 ${probe.version} (${chosen}), but wsgate needs k6 ${MAJOR_MINOR}.x; point it at a k6 ${MAJOR_MINOR}.x binary or unset it to let wsgate build one`);
    }
    return { path: chosen, version: probe.version, source: 'env' };
  }

  // 2. The per-version cache.
  const cached = await fromCache(env, log);
  if (cached) return cached;

  // 3. PATH.
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'k6');
    if (!isExecutableFile(candidate)) continue;
    const probe = await probeK6(candidate, env);
    if ('version' in probe && isAcceptedK6Version(probe.version)) return { path: candidate, version: probe.version, source: 'path' };
    log(`ignoring ${candidate}: it ${'version' in probe ? `is k6 ${probe.version}, not ${MAJOR_MINOR}.x` : probe.problem}`);
  }

  // 4. Build, once, under the lock.
  return buildUnderLock(env, log, opts.lockTimeoutMs ?? 20 * 60_000, opts.staleLockMs ?? 30 * 60_000);
}

async function fromCache(env: Vars, log: (line: string) => void): Promise<K6Runtime | undefined> {
  const path = k6CachePath(env);
  if (!existsSync(path)) return undefined;
  const probe = await probeK6(path, env);
  if ('version' in probe && isAcceptedK6Version(probe.version)) return { path, version: probe.version, source: 'cache' };
  log(`the cached k6 at ${path} ${'version' in probe ? `is ${probe.version}` : probe.problem}; rebuilding it`);
  return undefined;
}

async function buildUnderLock(env: Vars, log: (line: string) => void, timeoutMs: number, staleMs: number): Promise<K6Runtime> {
  const versionDir = join(k6CacheRoot(env), `k6-${K6_VERSION}`);
  try {
    mkdirSync(versionDir, { recursive: true });
  } catch (err) {
    throw new K6UnavailableError(`cannot create the k6 cache directory ${versionDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}); set WSGATE_K6_CACHE to a writable directory`);
  }
  const release = await acquireLock(join(versionDir, '.lock'), log, timeoutMs, staleMs);
  try {
    // Another process may have built it while this one waited.
    const cached = await fromCache(env, log);
    if (cached) return cached;
    const path = await build(env, versionDir, log);
    const probe = await probeK6(path, env);
    if (!('version' in probe)) throw new K6UnavailableError(`the k6 just built at ${path} ${probe.problem}; remove ${versionDir} and try again`);
    return { path, version: probe.version, source: 'built' };
  } finally {
    release();
  }
}

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

function readOwner(lockDir: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(join(lockDir, 'owner.json'), 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') return { pid: owner.pid, host: owner.host, started: String(owner.started) };
  } catch {
    // Missing or half-written: the caller judges by the lock's age.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a held lock may be taken over, or undefined when its holder looks alive. */
function staleReason(lockDir: string, staleMs: number): string | undefined {
  let ageMs: number;
  try {
    ageMs = Date.now() - statSync(lockDir).mtimeMs;
  } catch {
    return 'it vanished';
  }
  if (ageMs > staleMs) return `it is ${duration(ageMs)} old`;
  const owner = readOwner(lockDir);
  // mkdir and the owner file are two steps; give a live holder a few seconds between them.
  if (!owner) return ageMs > 10_000 ? 'it names no owner' : undefined;
  if (owner.host === hostname() && !isAlive(owner.pid)) return `its process ${owner.pid} is gone`;
  return undefined;
}

/** mkdir is atomic on every filesystem Node runs on: exactly one process creates the directory. */
async function acquireLock(lockDir: string, log: (line: string) => void, timeoutMs: number, staleMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
      writeFileSync(join(lockDir, 'owner.json'), JSON.stringify(owner) + '\n');
      return () => rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new K6UnavailableError(`cannot create the build lock ${lockDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}); set WSGATE_K6_CACHE to a writable directory`);
      }
    }
    const stale = staleReason(lockDir, staleMs);
    if (stale) {
      log(`taking over the k6 build lock ${lockDir}: ${stale}`);
      // Rename first so that two processes judging the same stale lock cannot delete a fresh one.
      const grave = `${lockDir}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        renameSync(lockDir, grave);
        rmSync(grave, { recursive: true, force: true });
      } catch {
        // Someone else took it over first; go round again.
      }
      continue;
    }
    if (!announced) {
      const owner = readOwner(lockDir);
      log(`waiting for another wsgate (pid ${owner?.pid ?? 'unknown'}) that is building k6 ${K6_VERSION}`);
      announced = true;
    }
    if (Date.now() > deadline) {
      throw new K6UnavailableError(
        `another process has held the k6 build lock ${lockDir} for over ${duration(timeoutMs)}; remove that directory if no build is running and try again`,
      );
    }
    await sleep(250);
  }
}

function duration(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 100) / 10} s`;
}

async function checkGo(env: Vars): Promise<string> {
  const r = await run('go', ['version'], { env, timeoutMs: 30_000 });
  const need = `Go >= ${MIN_GO.major}.${MIN_GO.minor}`;
  if (r.spawnError) {
    throw new K6UnavailableError(
      `k6 ${K6_VERSION} is not installed and cannot be built because Go is not installed (no \`go\` on PATH); install ${need} from https://go.dev/dl/ and run \`wsgate install-k6\`, or set WSGATE_K6 to a k6 ${MAJOR_MINOR}.x binary`,
    );
  }
  const v = parseGoVersion(r.output);
  if (!v || r.code !== 0) {
    throw new K6UnavailableError(`k6 ${K6_VERSION} cannot be built because \`go version\` failed (${meaningfulGoErrorLine(r.output)}); install ${need} or set WSGATE_K6 to a k6 ${MAJOR_MINOR}.x binary`);
  }
  if (v.major < MIN_GO.major || (v.major === MIN_GO.major && v.minor < MIN_GO.minor)) {
    throw new K6UnavailableError(
      `k6 ${K6_VERSION} needs ${need} to build, but found ${v.text}; install ${need} from https://go.dev/dl/ and run \`wsgate install-k6\`, or set WSGATE_K6 to a k6 ${MAJOR_MINOR}.x binary`,
    );
  }
  return v.text;
}

const GO_MOD = `module wsgate-k6-build

go 1.25

require go.k6.io/k6/v2 ${K6_VERSION}
`;

const TOOLS_GO = `//go:build tools

// Pins k6 as a dependency so that \`go mod tidy\` resolves its whole module graph.
package tools

import _ "go.k6.io/k6/v2"
`;

/** Builds k6 into a temporary directory beside the cache entry and renames it into place. */
async function build(env: Vars, versionDir: string, log: (line: string) => void): Promise<string> {
  const goText = await checkGo(env);
  const final = join(versionDir, 'k6');
  const work = join(versionDir, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(work, { recursive: true });
  const out = join(work, 'k6');
  const goEnv: Vars = { ...env, CGO_ENABLED: '0', GOFLAGS: `${env['GOFLAGS'] ?? ''} -mod=mod`.trim() };
  const started = Date.now();
  log(`building k6 ${K6_VERSION} with ${goText} into ${final} (once per machine; about a minute on a cold Go cache)`);
  const ticker = setInterval(() => log(`still building k6 (${Math.round((Date.now() - started) / 1000)} s)`), 20_000);
  ticker.unref();
  try {
    if (!(await buildWithXk6(goEnv, work, out, log))) await buildWithGo(goEnv, work, out);
    chmodSync(out, 0o755);
    renameSync(out, final);
    log(`built k6 ${K6_VERSION} in ${Math.round((Date.now() - started) / 1000)} s`);
    return final;
  } finally {
    clearInterval(ticker);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The documented way; false (after one line saying why) when xk6 cannot be installed or fails. */
async function buildWithXk6(goEnv: Vars, work: string, out: string, log: (line: string) => void): Promise<boolean> {
  const gobin = join(work, 'gobin');
  const install = await run('go', ['install', `go.k6.io/xk6@${XK6_VERSION}`], { env: { ...goEnv, GOBIN: gobin }, cwd: work, timeoutMs: 5 * 60_000 });
  if (install.code !== 0) {
    const why = install.timedOut ? 'go install timed out after 5 min' : meaningfulGoErrorLine(install.output);
    log(`xk6 is not available from the Go module proxy (${why}); building plain k6 ${K6_VERSION} from go.k6.io/k6/v2 instead, which is what xk6 does without extensions`);
    return false;
  }
  const xk6 = await run(join(gobin, 'xk6'), ['build', K6_VERSION, '--output', out], { env: goEnv, cwd: work, timeoutMs: 20 * 60_000 });
  if (xk6.code !== 0 || !existsSync(out)) {
    const why = xk6.timedOut ? 'timed out after 20 min' : meaningfulGoErrorLine(xk6.output);
    log(`xk6 build failed (${why}); building plain k6 ${K6_VERSION} from go.k6.io/k6/v2 instead, which is what xk6 does without extensions`);
    rmSync(out, { force: true });
    return false;
  }
  return true;
}

/** `xk6 build <version>` without `--with`, by hand: a module that requires k6, tidied, then built. */
async function buildWithGo(goEnv: Vars, work: string, out: string): Promise<void> {
  const mod = join(work, 'mod');
  mkdirSync(mod, { recursive: true });
  writeFileSync(join(mod, 'go.mod'), GO_MOD);
  writeFileSync(join(mod, 'tools.go'), TOOLS_GO);
  const steps: [string, string[], number][] = [
    ['go mod tidy', ['mod', 'tidy'], 10 * 60_000],
    ['go build', ['build', '-trimpath', '-o', out, 'go.k6.io/k6/v2'], 20 * 60_000],
  ];
  for (const [name, args, timeoutMs] of steps) {
    const r = await run('go', args, { env: goEnv, cwd: mod, timeoutMs });
    if (r.code !== 0) {
      const why = r.timedOut ? `timed out after ${timeoutMs / 60_000} min` : meaningfulGoErrorLine(r.output);
      throw new K6UnavailableError(`building k6 ${K6_VERSION} failed at \`${name}\` (${why}); fix that and run \`wsgate install-k6\` again, or set WSGATE_K6 to a k6 ${MAJOR_MINOR}.x binary`);
    }
  }
  if (!existsSync(out)) throw new K6UnavailableError(`\`go build\` reported success but wrote no binary at ${out}; run \`wsgate install-k6\` again`);
}

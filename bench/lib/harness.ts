/**
 * What every benchmark needs: the bundles, the generators (wsgate's own engine always; k6 only when
 * WSGATE_K6 names one, since wsgate never builds or downloads k6), the reference service in processes
 * of its own, generator runs whose CPU time is read exactly (bash's `times` after the generator exits,
 * which includes the engine's worker processes) and whose memory is sampled from /proc while they run,
 * and the summaries they write. Everything runs on loopback and every wait is bounded.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, bundleEngine, bundleK6, isStale } from '../../build.mjs';
import { userK6, wsgateEngine } from '../../cli/engines.ts';
import { childrenOf, descendants } from './proc.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The claims the reference service checks by default. */
export const ISSUER = 'wsgate-reference-auth';
export const AUDIENCE = 'wsgate-reference-chat';

/** A throwaway HS256 secret shared by the service and the generator of one benchmark. */
export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

/** A fresh scratch directory for one benchmark's files. */
export function scratch(name: string): string {
  return mkdtempSync(join(tmpdir(), `wsgate-bench-${name}-`));
}

/**
 * Where benchmarks keep tools they install for themselves (Artillery): wsgate's tools cache,
 * $XDG_CACHE_HOME/wsgate/tools, else ~/.cache/wsgate/tools (test/helpers/tools.ts for the tests').
 */
export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache'), 'wsgate', 'tools');
}

// ---- the generators ----------------------------------------------------------------------------

export type GeneratorKind = 'wsgate' | 'k6';

/** A load generator wsgate's scenarios run on: wsgate's engine, or the user's k6. */
export interface Generator {
  kind: GeneratorKind;
  /** For tables: "engine" or "k6". */
  name: string;
  /** For headers: "wsgate engine (Node v20.19.0)" or "k6 v2.2.0 (/usr/local/bin/k6)". */
  label: string;
  /** Program and leading arguments; the run's flags and the script follow. */
  command: string;
  baseArgs: string[];
  /** Flags every benchmark run gets (no progress output, no colour). */
  quietFlags: string[];
  /** A suite's bundle (dist/engine/<name>.mjs or dist/<name>.js). */
  suite(name: string): string;
  /** A benchmark script's bundle (dist/bench/engine/<name>.mjs or dist/bench/<name>.js). */
  benchScript(name: string): string;
}

export interface Generators {
  engine: Generator;
  /** The k6 WSGATE_K6 names, checked to be v2.2.x; undefined when WSGATE_K6 is not set. */
  k6: Generator | undefined;
  /** The engine, then k6 when there is one: what a benchmark runs on. */
  all: Generator[];
}

/** The engine's own benchmark scripts (bench/engine/), and the scenario wrappers both engines run (bench/k6/). */
const ENGINE_SCRIPTS = ['bench/engine/minimal-hold.ts', 'bench/engine/minimal-agents.ts', 'bench/k6/multi-user-by-event.ts'];

let prepared: Promise<Generators> | undefined;

/**
 * Builds dist/ when stale, bundles the benchmark scripts for the engine (dist/bench/engine/) and, when
 * WSGATE_K6 is set, for k6 (bench/k6/*.ts to dist/bench/<name>.js), and returns the generators. Without
 * WSGATE_K6 it prints one line saying the k6 figures are skipped.
 */
export function prepare(): Promise<Generators> {
  prepared ??= (async () => {
    if (isStale()) await build();
    for (const f of ENGINE_SCRIPTS) await bundleEngine(join(ROOT, f), join(ROOT, 'dist', 'bench', 'engine', basename(f).replace(/\.ts$/, '.mjs')));
    const root = wsgateEngine(ROOT);
    const engine: Generator = {
      kind: 'wsgate',
      name: 'engine',
      label: `wsgate engine (Node ${process.version})`,
      command: root.command,
      baseArgs: root.baseArgs,
      quietFlags: ['--quiet'],
      suite: (name) => root.bundle(ROOT, name),
      benchScript: (name) => join(ROOT, 'dist', 'bench', 'engine', `${name}.mjs`),
    };
    let k6: Generator | undefined;
    if (process.env['WSGATE_K6']) {
      const user = await userK6(process.env);
      const dir = join(ROOT, 'bench', 'k6');
      for (const f of readdirSync(dir)) {
        if (!f.endsWith('.ts') || f === 'common.ts') continue;
        await bundleK6(join(dir, f), join(ROOT, 'dist', 'bench', f.replace(/\.ts$/, '.js')));
      }
      k6 = {
        kind: 'k6',
        name: 'k6',
        label: user.label,
        command: user.command,
        baseArgs: user.baseArgs,
        quietFlags: ['--quiet', '--no-color'],
        suite: (name) => user.bundle(ROOT, name),
        benchScript: (name) => join(ROOT, 'dist', 'bench', `${name}.js`),
      };
    } else {
      console.log('bench: k6 figures skipped: WSGATE_K6 is not set (the k6 variants run on a k6 v2.2 you provide; wsgate never builds one)');
    }
    return { engine, k6, all: k6 ? [engine, k6] : [engine] };
  })();
  return prepared;
}

// ---- the reference service -------------------------------------------------------------------

export interface BenchService {
  wsUrls: string[];
  httpUrls: string[];
  authUrls: string[];
  /** Every process of the service (launchers and their workers). */
  pids(): number[];
  /** How it runs, for the report: "1 process", "3 processes", "cluster of 3 workers". */
  shape: string;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  secret: string;
  /** Separate service processes (each its own port), for more than one process can hold. */
  processes?: number;
  /** Workers of helper-7's cluster inside one launcher, when reference-service/cluster.ts exists. */
  workers?: number;
  stepDelayMs?: number;
}

/** True once helper-7's multi-process service has landed. */
export const clusterAvailable = (): boolean => existsSync(join(ROOT, 'target', 'cluster.ts'));

export async function startService(o: ServiceOptions): Promise<BenchService> {
  const n = o.processes ?? 1;
  const started: { child: ChildProcess; ready: { ws_url: string; http_url: string; auth_url: string } }[] = [];
  try {
    for (let i = 0; i < n; i++) started.push(await startOne(o));
  } catch (e) {
    for (const s of started) s.child.kill('SIGKILL');
    throw e;
  }
  const roots = started.map((s) => s.child.pid ?? 0);
  return {
    wsUrls: started.map((s) => s.ready.ws_url),
    httpUrls: started.map((s) => s.ready.http_url),
    authUrls: started.map((s) => s.ready.auth_url),
    pids: () => roots.flatMap((r) => [r, ...descendants(r).map((d) => d.pid)]),
    shape: (o.workers ?? 1) > 1 && clusterAvailable() ? `cluster of ${o.workers} workers` : n === 1 ? '1 process' : `${n} processes`,
    stop: async () => {
      await Promise.all(
        started.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.child.exitCode !== null) return resolve();
              const kill = setTimeout(() => s.child.kill('SIGKILL'), 8000);
              s.child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              s.child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

async function startOne(o: ServiceOptions): Promise<{ child: ChildProcess; ready: { ws_url: string; http_url: string; auth_url: string } }> {
  const args = ['--import', 'tsx', join(ROOT, 'bench', 'lib', 'service-main.ts')];
  if (o.stepDelayMs !== undefined) args.push('--step-delay-ms', String(o.stepDelayMs));
  if ((o.workers ?? 1) > 1) args.push('--workers', String(o.workers));
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, BENCH_JWT_SECRET: o.secret }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const ready = await new Promise<{ ws_url: string; http_url: string; auth_url: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the reference service did not start within 30 s: ${err.trim()}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { ws_url: string; http_url: string; auth_url: string });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the reference service exited with ${code} before it was ready: ${err.trim()}`));
    });
  });
  return { child, ready };
}

// ---- generator runs ------------------------------------------------------------------------------

export interface RunResult {
  code: number;
  /** user + system CPU seconds of the generator and every process it waited for, exact (from the shell that waited for it). */
  cpuS: number;
  stdoutFile: string;
  stderrFile: string;
}

export interface GeneratorRun {
  /** Every process of the generator (found under their wrapper shells; empty until they start). */
  pids(): number[];
  done: Promise<RunResult[]>;
  /** SIGINT to every generator process (graceful stop), for a run that overstays its bound. */
  interrupt(): void;
}

export interface RunOptions {
  gen: Generator;
  script: string;
  /** Environment of instance i (merged over process.env). */
  env: (instance: number) => Record<string, string>;
  /** Generator processes splitting the test by execution segments. Default 1. */
  instances?: number;
  outDir: string;
  /** Hard bound: the run is interrupted after this many ms. */
  timeoutMs: number;
  /** Extra arguments of instance i. */
  args?: (instance: number) => string[];
}

/** Starts `instances` generator processes on equal execution segments of one test. */
export function startRun(o: RunOptions): GeneratorRun {
  const n = o.instances ?? 1;
  const bounds = Array.from({ length: n + 1 }, (_, i) => (i === 0 ? '0' : i === n ? '1' : `${i}/${n}`));
  const shells: ChildProcess[] = [];
  const results: Promise<RunResult>[] = [];
  mkdirSync(o.outDir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const segment = n === 1 ? [] : ['--execution-segment', `${bounds[i]}:${bounds[i + 1]}`, '--execution-segment-sequence', bounds.join(',')];
    const base = join(o.outDir, `${basename(o.script).replace(/\.m?js$/, '')}-${o.gen.kind}-${i}`);
    const timesFile = `${base}.times`;
    const stdoutFile = `${base}.stdout`;
    const stderrFile = `${base}.stderr`;
    // bash waits for the generator and prints its children's CPU times: exact, unlike a last /proc
    // sample, and including the engine's workers (the coordinator waits for them).
    const argv = [o.gen.command, ...o.gen.baseArgs, ...o.gen.quietFlags, ...segment, ...(o.args?.(i) ?? []), o.script];
    const shell = spawn('bash', ['-c', '"$@"; rc=$?; times > "$BENCH_TIMES_FILE"; exit $rc', 'bench-run', ...argv], {
      cwd: ROOT,
      env: { ...process.env, ...o.env(i), BENCH_TIMES_FILE: timesFile },
      stdio: ['ignore', openSync(stdoutFile, 'w'), openSync(stderrFile, 'w')],
    });
    shells.push(shell);
    results.push(
      new Promise((resolve) => {
        shell.once('exit', (code) => resolve({ code: code ?? -1, cpuS: childCpu(timesFile), stdoutFile, stderrFile }));
      }),
    );
  }
  const pids = (): number[] => shells.flatMap((s) => (s.pid ? descendants(s.pid).map((d) => d.pid) : []));
  /** Signals go to the generator processes the shells started (the engine's coordinator passes them on). */
  const signal = (sig: NodeJS.Signals, to: () => number[]): void => {
    for (const pid of to()) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  const tops = (): number[] => shells.flatMap((s) => (s.pid ? childrenOf(s.pid) : []));
  const interrupt = (): void => signal('SIGINT', tops);
  // Past the bound: a graceful stop (SIGINT), a second SIGINT (both engines then stop at once), then SIGKILL.
  const stops = [
    setTimeout(interrupt, o.timeoutMs),
    setTimeout(interrupt, o.timeoutMs + 20_000),
    setTimeout(() => signal('SIGKILL', pids), o.timeoutMs + 40_000),
  ];
  const done = Promise.all(results).finally(() => stops.forEach((b) => clearTimeout(b)));
  return { pids, done, interrupt };
}

/** The second line of bash's `times`: children's user and system time, e.g. "0m2.345s 0m0.120s". */
function childCpu(file: string): number {
  try {
    const line = readFileSync(file, 'utf8').trim().split('\n')[1] ?? '';
    return line
      .split(/\s+/)
      .map((part) => /^(\d+)m([\d.]+)s$/.exec(part))
      .reduce((sum, m) => sum + (m ? Number(m[1]) * 60 + Number(m[2]) : 0), 0);
  } catch {
    return NaN;
  }
}

/** Reads a JSON file written by a handleSummary; undefined when the run did not write it. */
export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export type MetricValues = Record<string, Record<string, number>>;

/**
 * Merges the metric values of several generator instances: counts and rates add up exactly; for trends
 * only count, min and max merge exactly, so percentiles of a multi-instance run are the
 * count-weighted mean of the instances' (each instance saw an equal, interleaved share of users).
 */
export function mergeMetrics(parts: MetricValues[]): MetricValues {
  if (parts.length === 1) return parts[0] ?? {};
  const out: MetricValues = {};
  const names = new Set(parts.flatMap((p) => Object.keys(p)));
  for (const name of names) {
    const vs = parts.map((p) => p[name]).filter((v): v is Record<string, number> => v !== undefined);
    const m: Record<string, number> = {};
    const keys = new Set(vs.flatMap((v) => Object.keys(v)));
    const weight = (v: Record<string, number>): number => v['count'] ?? (v['passes'] ?? 0) + (v['fails'] ?? 0);
    const total = vs.reduce((s, v) => s + weight(v), 0);
    for (const k of keys) {
      const xs = vs.map((v) => v[k] ?? 0);
      if (k === 'count' || k === 'passes' || k === 'fails') m[k] = xs.reduce((a, b) => a + b, 0);
      else if (k === 'min') m[k] = Math.min(...xs);
      else if (k === 'max') m[k] = Math.max(...xs);
      else m[k] = total > 0 ? vs.reduce((s, v) => s + (v[k] ?? 0) * weight(v), 0) / total : (xs[0] ?? 0);
    }
    if (m['passes'] !== undefined && m['fails'] !== undefined && m['passes'] + m['fails'] > 0) m['rate'] = m['passes'] / (m['passes'] + m['fails']);
    out[name] = m;
  }
  return out;
}

/** The last lines of a file, for explaining a failed run. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// ---- any other generator (Artillery) ---------------------------------------------------------------

export interface TimedRun {
  /** Every process under the wrapper shell. */
  pids(): number[];
  done: Promise<RunResult>;
}

/** Runs a command under the same CPU-timing shell as the generators, with a hard bound (SIGINT, then SIGKILL). */
export function spawnTimed(o: { cmd: string; args: string[]; env: Record<string, string>; outDir: string; name: string; timeoutMs: number }): TimedRun {
  mkdirSync(o.outDir, { recursive: true });
  const base = join(o.outDir, o.name);
  const timesFile = `${base}.times`;
  const stdoutFile = `${base}.stdout`;
  const stderrFile = `${base}.stderr`;
  const shell = spawn('bash', ['-c', '"$@"; rc=$?; times > "$BENCH_TIMES_FILE"; exit $rc', 'bench-run', o.cmd, ...o.args], {
    cwd: ROOT,
    env: { ...process.env, ...o.env, BENCH_TIMES_FILE: timesFile },
    stdio: ['ignore', openSync(stdoutFile, 'w'), openSync(stderrFile, 'w')],
  });
  const pids = (): number[] => (shell.pid ? descendants(shell.pid).map((d) => d.pid) : []);
  const signal = (sig: NodeJS.Signals): void => {
    for (const pid of pids()) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  const soft = setTimeout(() => signal('SIGINT'), o.timeoutMs);
  const hard = setTimeout(() => signal('SIGKILL'), o.timeoutMs + 15_000);
  const done = new Promise<RunResult>((resolve) => {
    shell.once('exit', (code) => {
      clearTimeout(soft);
      clearTimeout(hard);
      resolve({ code: code ?? -1, cpuS: childCpu(timesFile), stdoutFile, stderrFile });
    });
  });
  return { pids, done };
}

/**
 * What every command that runs a suite shares (`wsgate validate`, `wsgate regression`, ...): the flags
 * they have in common, the cheap checks, the bundle and the engine (wsgate's own, or the user's k6),
 * the reference service, the lifetime of everything started for a run (closed on every path, Ctrl-C
 * included), one run with configuration only in its environment, and the exit code from the engine's
 * (both use k6's codes).
 *
 * Configuration reaches the engine only through its process environment (runtime.env): flags like
 * `-e` would put secrets in the process list.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Config } from '../lib/core/config.ts';
import { ConfigError } from '../lib/core/errors.ts';
import { jsonDialectFromFile } from '../lib/dialects/json.ts';
import { startTargetCluster } from '../reference-service/cluster.ts';
import { ALL_FAULT_NAMES, isFaultName, startTarget } from '../reference-service/service.ts';
import type { FaultName, RunningTarget, TargetTls } from '../reference-service/service.ts';
import { startDropRelay } from './drop-relay-server.ts';
import type { RunningRelay } from './drop-relay-server.ts';
import { K6FailedError, UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, loadBuilder, packageRoot, runStamp, say } from './io.ts';
import { engineFor, engineKind } from './engines.ts';
import type { Engine } from './engines.ts';
import { runK6 } from './run-k6.ts';
import type { K6Exit } from './run-k6.ts';

export type Vars = Record<string, string | undefined>;

/** The flags of every suite command; each command spreads these into its own parseArgs options. */
export const SUITE_OPTIONS = {
  env: { type: 'string' },
  'results-dir': { type: 'string' },
  'output-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'embedded-target': { type: 'boolean' },
  engine: { type: 'string' },
  fault: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The usage lines of {@link SUITE_OPTIONS}, so every command's --help says the same. */
export const SUITE_OPTIONS_USAGE = `  --env NAME             environment preset (default: $WSGATE_ENV, else local)
  --results-dir DIR      where the JSON and JUnit results go (default: $WSGATE_RESULTS_DIR, else ./results)
  --output-file FILE     also copy the JSON result to FILE
  --ca-file FILE         PEM CA certificate(s) to trust, for https/wss targets with a private CA
  --engine wsgate|k6     the engine that runs the suite (default: $WSGATE_ENGINE, else wsgate's own);
                         k6 means your k6 v2.2 at $WSGATE_K6 or on PATH`;

/** --fault values -> fault names; an unknown one is a usage error listing the valid ones. */
export function parseFaults(names: readonly string[] | undefined): FaultName[] {
  const faults: FaultName[] = [];
  for (const name of names ?? []) {
    if (!isFaultName(name)) throw new UsageError(`unknown fault "${name}"; choose one of ${ALL_FAULT_NAMES.join(', ')}`);
    faults.push(name);
  }
  return faults;
}

/**
 * Refuses flags that only mean something with --embedded-target when it is absent; `verb` is what the
 * command does to a deployed service ("validate", "test").
 */
export function requireEmbedded(embedded: boolean, given: Readonly<Record<string, unknown>>, verb: string): void {
  if (embedded) return;
  for (const [flag, value] of Object.entries(given)) {
    if (value !== undefined) {
      throw new UsageError(`--${flag} only applies to the embedded reference service; add --embedded-target, or drop --${flag} to ${verb} a deployed service`);
    }
  }
}

/** A fresh shared JWT secret for the embedded reference service; never printed. */
export function embeddedSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The variables configuration is read from: the caller's environment, the environment chosen by --env
 * (else WSGATE_ENV, else local) and, for the embedded service, its secret.
 */
export function suiteVars(env: NodeJS.ProcessEnv, envFlag: string | undefined, secret: string | undefined): Vars {
  const vars: Vars = { ...env, WSGATE_ENV: envFlag ?? env['WSGATE_ENV'] ?? 'local' };
  if (secret) vars['WSGATE_JWT_SECRET'] = secret;
  // Relative to where wsgate was started: k6's open() would resolve it against the bundle's directory.
  const dialectFile = vars['WSGATE_DIALECT_FILE'];
  if (dialectFile) vars['WSGATE_DIALECT_FILE'] = resolve(dialectFile);
  return vars;
}

export function readPem(flag: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${flag} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass the path of a PEM file`);
  }
  // "PRIVATE KEY" also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY".
  if (!text.includes(`-----BEGIN `) || !text.includes(`${kind}-----`)) {
    throw new ConfigError(`${flag} ${file} holds no PEM ${kind.toLowerCase()}; pass a PEM file (-----BEGIN ...${kind}-----)`);
  }
  return text;
}

/**
 * The json dialect's description, read and checked now: a bad or missing file is one sentence and
 * exit 2 before anything starts. The engine reads it again when it builds the dialect at init.
 */
export function checkDialectFile(config: Config): void {
  if (config.dialect === 'json') jsonDialectFromFile(config.dialectFile, (path) => readFileSync(path, 'utf8'));
}

/** Paths under the working directory print relative; anything else absolute. */
export function show(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function ensureDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`the ${what} ${dir} cannot be created (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable directory`);
  }
}

/** Where a run's files go, from the flags (checked, nothing created yet). */
export interface OutputPlan {
  resultsDir: string;
  outputFile: string | undefined;
  caFile: string | undefined;
}

export function outputPlan(values: { 'results-dir'?: string | undefined; 'output-file'?: string | undefined; 'ca-file'?: string | undefined }, env: NodeJS.ProcessEnv): OutputPlan {
  const caFile = values['ca-file'] === undefined ? undefined : resolve(values['ca-file']);
  if (caFile) readPem('--ca-file', caFile, 'CERTIFICATE');
  const outputFileArg = values['output-file'] ?? (env['WSGATE_OUTPUT_FILE'] || undefined);
  return {
    resultsDir: resolve(values['results-dir'] ?? (env['WSGATE_RESULTS_DIR'] || 'results')),
    outputFile: outputFileArg === undefined ? undefined : resolve(outputFileArg),
    caFile,
  };
}

/** One run, ready to start: the bundle, the engine and the result files it will write. */
export interface PreparedRun {
  suite: string;
  env: string;
  script: string;
  engine: Engine;
  stamp: string;
  plan: OutputPlan;
  results: { json: string; junit: string };
  /** `regression-prevention (env local)`, as every verdict line names the run. */
  label: string;
}

/** How a suite command is run by another command rather than by a user. */
export interface RunOptions {
  /** Rebuild stale bundles first (default true); false when the caller built once for many runs. */
  rebuild?: boolean;
  /** The --engine flag, if given (else WSGATE_ENGINE, else wsgate's engine). */
  engine?: string | undefined;
}

/**
 * The heavy preparation, after every cheap check: rebuilds stale bundles, picks the engine (finding
 * the user's k6 when asked for), and creates the directories the run writes into (k6 creates none).
 */
export async function prepareRun(suite: string, configEnv: string, plan: OutputPlan, env: NodeJS.ProcessEnv, io: Io, options: RunOptions = {}): Promise<PreparedRun> {
  const root = packageRoot();
  const builder = await loadBuilder(root);
  if (options.rebuild !== false && builder.isStale()) {
    say(io.stderr, 'sources changed since the last build; rebuilding the bundles');
    await builder.build();
  }
  const engine = await engineFor(engineKind(options.engine, env), root, env);
  const script = engine.bundle(root, suite);
  if (!existsSync(script)) {
    throw new K6FailedError(`the bundle ${show(script)} does not exist after the build; check that scenarios/${suite}.ts exists and run npm run build`);
  }
  ensureDir(plan.resultsDir, 'results directory');
  if (plan.outputFile) ensureDir(dirname(plan.outputFile), 'directory of --output-file');
  const stamp = runStamp();
  const base = join(plan.resultsDir, `${suite}-${configEnv}-${stamp}`);
  return { suite, env: configEnv, script, engine, stamp, plan, results: { json: `${base}.json`, junit: `${base}.junit.xml` }, label: `${suite} (env ${configEnv})` };
}

/**
 * Starts the reference service on loopback with one shared secret, accepting the config's origin;
 * with `workers` > 1 its backend runs in that many processes (reference-service/cluster.ts).
 */
export function startReferenceService(config: Config, secret: string, faults: readonly FaultName[], tls?: TargetTls, workers = 1): Promise<RunningTarget> {
  const options = {
    host: '127.0.0.1',
    authSecret: secret,
    backendSecret: secret,
    issuer: config.issuer,
    audience: config.audience,
    allowedOrigins: [...new Set([config.origin, 'http://localhost', 'http://127.0.0.1'])],
    faults: [...faults],
    // The heartbeat the preset expects of the service; the interval stays above the broken nginx's 3 s cut.
    heartbeatTimeoutS: config.heartbeatTimeoutMs / 1000,
    heartbeatIntervalS: Math.min(3.5, (0.7 * config.heartbeatTimeoutMs) / 1000),
    // rare_late_run completes its runs a second after the suite's deadline.
    lateRunMs: config.agentDeadlineMs + 1000,
    ...(tls ? { tls } : {}),
    ...(config.authPassword ? { authPassword: config.authPassword } : {}),
  };
  return workers > 1 ? startTargetCluster({ ...options, workers }) : startTarget(options);
}

/** `wsUrl` with its host and port replaced by the relay's `address` (path and query kept). */
export function relayedWsUrl(wsUrl: string, address: string): string {
  const url = new URL(wsUrl);
  url.host = address;
  return url.toString().replace(/\/$/, '');
}

/** Starts a drop relay in front of `wsUrl`, owned by the run, and points the suite's relay variables at it. */
export async function startRelay(scope: RunScope, vars: Vars, wsUrl: string): Promise<RunningRelay> {
  const relay = scope.own('drop relay', await startDropRelay({ upstream: wsUrl }));
  // On SIGINT/SIGTERM, k6's interrupted iterations close their black-holed sockets and would wait forever.
  const cut = (): void => void relay.cutClients();
  process.on('SIGINT', cut);
  process.on('SIGTERM', cut);
  scope.own('signal hook', { close: async () => void (process.off('SIGINT', cut), process.off('SIGTERM', cut)) });
  vars['WSGATE_DROP_RELAY_WS_URL'] = relayedWsUrl(wsUrl, relay.address);
  vars['WSGATE_DROP_RELAY_CONTROL_URL'] = relay.controlUrl;
  return relay;
}

/** Points the suite's three URLs at a service (or at the load balancer in front of it). */
export function pointAt(vars: Vars, urls: { wsUrl: string; httpUrl: string; authUrl: string }): void {
  vars['WSGATE_WS_URL'] = urls.wsUrl;
  vars['WSGATE_HTTP_URL'] = urls.httpUrl;
  vars['WSGATE_AUTH_URL'] = urls.authUrl;
}

/** Thrown by {@link RunScope.checkpoint} when a signal arrived before the engine started. */
class StoppedBeforeK6 extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}

/**
 * Everything started for one run (reference service, nginx, drop relay), closed in reverse order
 * however the run ends. SIGINT and SIGTERM are caught for the whole run, because nginx is a process of
 * its own that Node's default "die at once" would leave running: before k6 starts a signal stops the
 * run at the next {@link checkpoint}; while k6 runs, run-k6.ts forwards it to k6 (k6 then writes its
 * partial summary); during the cleanup it is ignored so the cleanup finishes.
 */
export class RunScope {
  private readonly owned: { what: string; close: () => Promise<void> }[] = [];
  private signal: NodeJS.Signals | undefined;
  private readonly onInt = (): void => {
    this.signal ??= 'SIGINT';
  };
  private readonly onTerm = (): void => {
    this.signal ??= 'SIGTERM';
  };

  constructor() {
    process.on('SIGINT', this.onInt);
    process.on('SIGTERM', this.onTerm);
  }

  /** Registers something just started, to be closed when the run ends; returns it. */
  own<T extends { close(): Promise<void> }>(what: string, thing: T): T {
    this.owned.push({ what, close: () => thing.close() });
    return thing;
  }

  /** Ends the run (exit 130) if a signal arrived while the last step was under way. */
  checkpoint(): void {
    if (this.signal) throw new StoppedBeforeK6(this.signal);
  }

  /** Closes everything owned, newest first; a failure to close is reported and does not stop the rest. */
  async close(io: Io): Promise<void> {
    for (const { what, close } of this.owned.reverse()) {
      try {
        await close();
      } catch (err) {
        say(io.stderr, `could not close the ${what} (${err instanceof Error ? err.message : String(err)}); it may still be running`);
      }
    }
    this.owned.length = 0;
    process.off('SIGINT', this.onInt);
    process.off('SIGTERM', this.onTerm);
  }
}

/**
 * Runs `body` with a {@link RunScope} and closes it afterwards on every path. A signal before k6
 * started becomes exit 130 with one line saying nothing was run.
 */
export async function withRunScope(run: PreparedRun, io: Io, body: (scope: RunScope) => Promise<number>): Promise<number> {
  const scope = new RunScope();
  try {
    return await body(scope);
  } catch (err) {
    if (!(err instanceof StoppedBeforeK6)) throw err;
    say(io.stdout, `INTERRUPTED ${run.label}: ${err.signal} arrived before the run started, so nothing was run`);
    return EXIT.INTERRUPTED;
  } finally {
    await scope.close(io);
  }
}

/** The engine's environment: the configuration plus where to write, never on its command line. */
export function engineEnvironment(run: PreparedRun, vars: Vars, env: NodeJS.ProcessEnv): Vars {
  const out: Vars = {
    ...vars,
    WSGATE_RESULTS_DIR: run.plan.resultsDir,
    WSGATE_RUN_STAMP: run.stamp,
    WSGATE_OUTPUT_FILE: run.plan.outputFile,
    ...run.engine.extraEnv(run.plan.caFile, env),
  };
  if (run.plan.outputFile === undefined) delete out['WSGATE_OUTPUT_FILE'];
  return out;
}

/**
 * Starts the engine on the prepared bundle with `vars` as its configuration; `engineArgs` go before
 * the bundle (e.g. --execution-segment). Resolves when the engine has exited.
 */
export async function runSuite(run: PreparedRun, vars: Vars, env: NodeJS.ProcessEnv, io: Io, engineArgs: readonly string[] = []): Promise<K6Exit> {
  try {
    // k6 redraws a progress block every second, which in a CI log or a captured stream is a block per
    // second: anything but a terminal gets --quiet. The engine's progress is one line either way.
    const tty = io.stdout === process.stdout && process.stdout.isTTY;
    const quiet = run.engine.kind === 'k6' && !tty ? ['--quiet'] : [];
    return await runK6(run.engine.command, [...run.engine.baseArgs, ...quiet, ...engineArgs, run.script], engineEnvironment(run, vars, env), io);
  } catch (err) {
    throw new K6FailedError(`the ${run.engine.label} could not be started (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * The engine's exit (k6's codes on both engines) -> wsgate's exit code and final line (`wsgate: PASS
 * <label> — results: ...`). `explainFail` may print lines before the final one when the verdict is a fail.
 */
export function verdict(exit: K6Exit, run: PreparedRun, io: Io, explainFail?: () => void): number {
  const { results, label } = run;
  const engine = run.engine.kind === 'k6' ? 'k6' : 'the engine';
  const written = [results.json, results.junit].filter((f) => existsSync(f)).map(show);
  const files = written.length ? `results: ${written.join(', ')}` : `${engine} wrote no results (expected ${show(results.json)})`;
  if (exit.interrupted || exit.code === 105 || exit.signal) {
    const how = exit.signal ? `${engine} was killed by ${exit.signal}` : `${engine} was interrupted`;
    say(io.stdout, `INTERRUPTED ${label}: ${how}, so there is no verdict — partial ${files}`);
    return EXIT.INTERRUPTED;
  }
  switch (exit.code) {
    case 0: {
      // Thresholds held, but a suite none of whose scenarios could run here measured nothing: no verdict.
      const na = nothingApplicable(results.json);
      if (na !== undefined) {
        say(io.stdout, `ERROR ${label}: nothing in this suite could run here (${na}); no verdict — ${files}`);
        return EXIT.ERROR;
      }
      say(io.stdout, `PASS ${label} — ${files}`);
      return EXIT.PASS;
    }
    case 99:
    case 110:
      explainFail?.();
      say(io.stdout, `FAIL ${label} — ${files}`);
      return EXIT.FAIL;
    default: {
      const why: Record<number, string> = {
        100: 'setup() timed out',
        101: 'teardown() timed out',
        104: `${engine} rejected the test options`,
        107: `the script threw an exception (see the output above)`,
        108: 'the test aborted (its reason is in the output above)',
      };
      say(io.stdout, `ERROR ${label}: ${engine} exited with code ${exit.code}, ${why[exit.code ?? -1] ?? 'an unexpected code'}; no verdict — ${files}`);
      return EXIT.ERROR;
    }
  }
}

/** When every scenario of the result is "not applicable", their reasons; otherwise undefined. */
function nothingApplicable(resultJson: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(resultJson, 'utf8')) as { scenarios?: { verdict?: string; not_applicable?: string }[] };
    const scenarios = r.scenarios ?? [];
    if (scenarios.length === 0 || scenarios.some((sc) => sc.verdict !== 'not applicable')) return undefined;
    return [...new Set(scenarios.map((sc) => sc.not_applicable ?? ''))].join('; ');
  } catch {
    return undefined;
  }
}

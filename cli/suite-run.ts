/**
 * What every command that runs a suite shares (`wsgate validate`, `regression`, `multi-user`,
 * `monitor`): one skeleton ({@link SuiteCommand}, {@link runSuiteCommand}) through which each of them
 * runs, declaring only what differs, and its pieces: the flags they have in common, the cheap checks,
 * the bundle and the engine (wsgate's own, or the user's k6), the reference service and what stands in
 * front of it, the lifetime of everything started for a run (closed on every path, Ctrl-C included),
 * one run with configuration only in its environment, and the exit code from the engine's (both use
 * k6's codes).
 *
 * Configuration reaches the engine only through its process environment (runtime.env): flags like
 * `-e` would put secrets in the process list.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../lib/core/config.ts';
import { loadConfig } from '../lib/core/config.ts';
import { ConfigError } from '../lib/core/errors.ts';
import { jsonDialectFromFile } from '../lib/dialects/json.ts';
import { startTargetCluster } from '../reference-service/cluster.ts';
import { ALL_FAULT_NAMES, isFaultName, startTarget } from '../reference-service/service.ts';
import type { FaultName, RunningTarget, TargetTls } from '../reference-service/service.ts';
import { startDropRelay } from './drop-relay-server.ts';
import type { RunningRelay } from './drop-relay-server.ts';
import { parseJitterMs } from './drop-relay.ts';
import { K6FailedError, UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, loadBuilder, packageRoot, parseOptions, runStamp, say } from './io.ts';
import { preflight } from './preflight.ts';
import { engineFor, engineKind } from './engines.ts';
import type { Engine } from './engines.ts';
import { runK6 } from './run-k6.ts';
import type { K6Exit } from './run-k6.ts';

export type Vars = Record<string, string | undefined>;

/** The flags of every suite command; each command spreads these into its own parseArgs options. */
const SUITE_OPTIONS = {
  env: { type: 'string' },
  'results-dir': { type: 'string' },
  'output-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'embedded-target': { type: 'boolean' },
  engine: { type: 'string' },
  fault: { type: 'string', multiple: true },
  'network-jitter': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The usage lines of {@link SUITE_OPTIONS}, so every command's --help says the same. */
export const SUITE_OPTIONS_USAGE = `  --env NAME             environment preset (default: $WSGATE_ENV, else local)
  --results-dir DIR      where the JSON and JUnit results go (default: $WSGATE_RESULTS_DIR, else ./results)
  --output-file FILE     also copy the JSON result to FILE
  --ca-file FILE         PEM CA certificate(s) to trust, for https/wss targets with a private CA
  --engine wsgate|k6     the engine that runs the suite (default: $WSGATE_ENGINE, else wsgate's own);
                         k6 means your k6 v2.2 at $WSGATE_K6 or on PATH`;

/** The usage lines of --network-jitter, the same in every suite command that has it. */
export const NETWORK_JITTER_USAGE = `  --network-jitter MS    with --embedded-target: put a relay in front of the service that delays every
                         chunk of every connection (WebSocket, HTTP, auth) by a random 0..MS ms in
                         both directions, bytes kept in order (an unsteady network; default none)`;

/** --network-jitter in milliseconds (0: none); a bad value is a usage error. */
function parseNetworkJitter(value: string | undefined): number {
  return value === undefined ? 0 : parseJitterMs('--network-jitter', value);
}

/** --tls-cert and --tls-key: the embedded service serves https/wss (validate, regression). */
export const TLS_OPTIONS = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

/** The certificate and key of {@link TLS_OPTIONS}, read and checked; both or neither. */
export function parseTls(values: { 'tls-cert'?: string | undefined; 'tls-key'?: string | undefined }): TargetTls | undefined {
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`--${cert === undefined ? 'tls-key' : 'tls-cert'} was given alone; pass both --tls-cert and --tls-key, or neither`);
  }
  return cert !== undefined && key !== undefined ? { cert: readPem('--tls-cert', cert, 'CERTIFICATE'), key: readPem('--tls-key', key, 'PRIVATE KEY') } : undefined;
}

/** --fault values -> fault names; an unknown one is a usage error listing the valid ones. */
function parseFaults(names: readonly string[] | undefined): FaultName[] {
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
function requireEmbedded(embedded: boolean, given: Readonly<Record<string, unknown>>, verb: string): void {
  if (embedded) return;
  for (const [flag, value] of Object.entries(given)) {
    if (value !== undefined) {
      throw new UsageError(`--${flag} only applies to the embedded reference service; add --embedded-target, or drop --${flag} to ${verb} a deployed service`);
    }
  }
}

/** A fresh shared JWT secret for the embedded reference service; never printed. */
function embeddedSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The variables configuration is read from: the caller's environment, the environment chosen by --env
 * (else WSGATE_ENV, else local) and, for the embedded service, its secret.
 */
function suiteVars(env: NodeJS.ProcessEnv, envFlag: string | undefined, secret: string | undefined): Vars {
  const vars: Vars = { ...env, WSGATE_ENV: envFlag ?? env['WSGATE_ENV'] ?? 'local' };
  if (secret) vars['WSGATE_JWT_SECRET'] = secret;
  // Relative to where wsgate was started: k6's open() would resolve it against the bundle's directory.
  const dialectFile = vars['WSGATE_DIALECT_FILE'];
  if (dialectFile) vars['WSGATE_DIALECT_FILE'] = resolve(dialectFile);
  return vars;
}

function readPem(flag: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
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
function checkDialectFile(config: Config): void {
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

/**
 * The output plan from the flags. `outputFileFromEnv` false: --output-file is not a copy of the JSON
 * result (monitor's timeline), so WSGATE_OUTPUT_FILE does not stand in for it.
 */
export function outputPlan(
  values: { 'results-dir'?: string | undefined; 'output-file'?: string | undefined; 'ca-file'?: string | undefined },
  env: NodeJS.ProcessEnv,
  { outputFileFromEnv = true } = {},
): OutputPlan {
  const caFile = values['ca-file'] === undefined ? undefined : resolve(values['ca-file']);
  if (caFile) readPem('--ca-file', caFile, 'CERTIFICATE');
  const outputFileArg = values['output-file'] ?? (outputFileFromEnv ? env['WSGATE_OUTPUT_FILE'] || undefined : undefined);
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
async function prepareRun(suite: string, configEnv: string, plan: OutputPlan, env: NodeJS.ProcessEnv, io: Io, options: RunOptions = {}): Promise<PreparedRun> {
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

/** What a command asks of the embedded reference service beyond the configuration and faults. */
interface EmbeddedService {
  /** Serve https/wss with this certificate and key. */
  readonly tls?: TargetTls | undefined;
  /** The backend's worker processes (default 1: in this process). */
  readonly workers?: number | undefined;
  /** Serve the admin endpoint with this bearer token (faults switched at run time). */
  readonly adminToken?: string | undefined;
}

/**
 * Starts the reference service on loopback with one shared secret, accepting the config's origin;
 * with `workers` > 1 its backend runs in that many processes (reference-service/cluster.ts).
 */
function startReferenceService(config: Config, secret: string, faults: readonly FaultName[], { tls, workers = 1, adminToken }: EmbeddedService = {}): Promise<RunningTarget> {
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
    ...(adminToken ? { admin: { token: adminToken } } : {}),
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

/** The suite's three URLs of a service, or of whatever is in front of it. */
export interface ServiceUrls {
  wsUrl: string;
  httpUrl: string;
  authUrl: string;
}

/**
 * Puts a jittering relay (0..`jitterMs` ms per chunk, order kept) in front of every listener behind
 * `urls` (one per distinct host:port: the WebSocket and HTTP side usually share one, auth has its
 * own), owned by the run; returns the URLs through the relays, for {@link pointAt}.
 */
async function startJitter(scope: RunScope, urls: ServiceUrls, jitterMs: number): Promise<ServiceUrls> {
  const relays = new Map<string, RunningRelay>();
  const through = async (url: string): Promise<string> => {
    const hostPort = new URL(url).host;
    let relay = relays.get(hostPort);
    if (!relay) {
      relay = scope.own('network jitter relay', await startDropRelay({ upstream: url, jitterMs }));
      relays.set(hostPort, relay);
    }
    return relayedWsUrl(url, relay.address);
  };
  return { wsUrl: await through(urls.wsUrl), httpUrl: await through(urls.httpUrl), authUrl: await through(urls.authUrl) };
}

/** Points the suite's three URLs at a service (or at the load balancer in front of it). */
function pointAt(vars: Vars, urls: ServiceUrls): void {
  vars['WSGATE_WS_URL'] = urls.wsUrl;
  vars['WSGATE_HTTP_URL'] = urls.httpUrl;
  vars['WSGATE_AUTH_URL'] = urls.authUrl;
}

/** Thrown by {@link RunScope.checkpoint} when a signal arrived before the engine started. */
export class StoppedBeforeRun extends Error {
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
  private received: NodeJS.Signals | undefined;
  private readonly waiting: (() => void)[] = [];
  private readonly onInt = (): void => this.note('SIGINT');
  private readonly onTerm = (): void => this.note('SIGTERM');

  constructor() {
    process.on('SIGINT', this.onInt);
    process.on('SIGTERM', this.onTerm);
  }

  private note(signal: NodeJS.Signals): void {
    this.received ??= signal;
    for (const fn of this.waiting.splice(0)) fn();
  }

  /** The first signal that arrived during the run, if any. */
  get signal(): NodeJS.Signals | undefined {
    return this.received;
  }

  /** Calls `fn` at the next signal (e.g. to cut a wait short during the cleanup). */
  onNextSignal(fn: () => void): void {
    this.waiting.push(fn);
  }

  /** Registers something just started, to be closed when the run ends; returns it. */
  own<T extends { close(): Promise<void> }>(what: string, thing: T): T {
    this.owned.push({ what, close: () => thing.close() });
    return thing;
  }

  /** Ends the run (exit 130) if a signal arrived while the last step was under way. */
  checkpoint(): void {
    if (this.received) throw new StoppedBeforeRun(this.received);
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
    this.waiting.length = 0;
    process.off('SIGINT', this.onInt);
    process.off('SIGTERM', this.onTerm);
  }
}

/**
 * Runs `body` with a {@link RunScope} and closes it afterwards on every path. A signal before k6
 * started becomes exit 130 with one line saying nothing was run.
 */
async function withRunScope(run: PreparedRun, io: Io, body: (scope: RunScope) => Promise<number>): Promise<number> {
  const scope = new RunScope();
  try {
    return await body(scope);
  } catch (err) {
    if (!(err instanceof StoppedBeforeRun)) throw err;
    say(io.stdout, `INTERRUPTED ${run.label}: ${err.signal} arrived before the run started, so nothing was run`);
    return EXIT.INTERRUPTED;
  } finally {
    await scope.close(io);
  }
}

/**
 * The engine's environment: the configuration plus where to write, never on its command line; the
 * `withheld` variables (credentials only wsgate uses) are left out.
 */
function engineEnvironment(run: PreparedRun, vars: Vars, env: NodeJS.ProcessEnv, withheld: readonly string[] = []): Vars {
  const out: Vars = {
    ...vars,
    WSGATE_RESULTS_DIR: run.plan.resultsDir,
    WSGATE_RUN_STAMP: run.stamp,
    WSGATE_OUTPUT_FILE: run.plan.outputFile,
    ...run.engine.extraEnv(run.plan.caFile, env),
  };
  if (run.plan.outputFile === undefined) delete out['WSGATE_OUTPUT_FILE'];
  for (const name of withheld) delete out[name];
  return out;
}

/**
 * Starts the engine on the prepared bundle with `vars` as its configuration (less `withheld`);
 * `engineArgs` go before the bundle (e.g. --execution-segment). Resolves when the engine has exited.
 */
export async function runSuite(run: PreparedRun, vars: Vars, env: NodeJS.ProcessEnv, io: Io, engineArgs: readonly string[] = [], withheld: readonly string[] = []): Promise<K6Exit> {
  try {
    // k6 redraws a progress block every second, which in a CI log or a captured stream is a block per
    // second: anything but a terminal gets --quiet. The engine's progress is one line either way.
    const tty = io.stdout === process.stdout && process.stdout.isTTY;
    const quiet = run.engine.kind === 'k6' && !tty && !engineArgs.includes('--quiet') ? ['--quiet'] : [];
    return await runK6(run.engine.command, [...run.engine.baseArgs, ...quiet, ...engineArgs, run.script], engineEnvironment(run, vars, env, withheld), io);
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
      say(io.stdout, `ERROR ${label}: ${engine} exited with code ${exit.code}, ${exitReason(exit.code, engine)}; no verdict — ${files}`);
      return EXIT.ERROR;
    }
  }
}

/** What an engine exit code other than pass, fail and interrupted means (k6's codes on both engines). */
export function exitReason(code: number | null, engine: string): string {
  const why: Record<number, string> = {
    100: 'setup() timed out',
    101: 'teardown() timed out',
    104: `${engine} rejected the test options`,
    107: `the script threw an exception (see the output above)`,
    108: 'the test aborted (its reason is in the output above)',
  };
  return why[code ?? -1] ?? 'an unexpected code';
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

// ---------------------------------------------------------------------------------------------------
// The skeleton of every suite command.

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** One flag's parsed value, as node:util's parseArgs gives it. */
type FlagValue<T> = T extends { type: 'boolean'; multiple: true } ? boolean[] : T extends { type: 'boolean' } ? boolean : T extends { multiple: true } ? string[] : string;
type Flags<O extends OptionsConfig> = { readonly [K in keyof O]?: FlagValue<O[K]> | undefined };

/** The parsed flags of a suite command: {@link SUITE_OPTIONS} and its own. */
type SuiteValues<O extends OptionsConfig> = Flags<typeof SUITE_OPTIONS> & Flags<O>;

/** What the shared part made of the command line, before the command's own checks. */
export interface SuiteArgs<O extends OptionsConfig> {
  readonly values: SuiteValues<O>;
  readonly env: NodeJS.ProcessEnv;
  readonly io: Io;
  readonly embedded: boolean;
  readonly faults: readonly FaultName[];
  /** --network-jitter in ms; 0 for none. */
  readonly jitterMs: number;
  /** The embedded service's fresh secret (never printed); undefined against a deployed service. */
  readonly secret: string | undefined;
  /** The variables the suite reads its configuration from; a command adds its flags' variables. */
  readonly vars: Vars;
}

/** What a command's own cheap checks made of its flags: at least the configuration. */
export interface SuitePlan {
  readonly config: Config;
}

/** One run under way, handed to the command's hooks. */
export interface SuiteRun<O extends OptionsConfig, P extends SuitePlan> extends SuiteArgs<O> {
  readonly plan: P;
  readonly run: PreparedRun;
  readonly scope: RunScope;
  /** The configuration; after {@link start}, pointed at the embedded service (or what is in front of it). */
  config: Config;
  /** The embedded reference service, once started. */
  target: RunningTarget | undefined;
  /** What is tested, in words: "the embedded reference service (faults: ...) behind nginx (healthy)", or "the deployed service". */
  what: string;
  /** Starts what the run needs: the embedded service and what stands in front of it, or the command's own for a deployed service. */
  start(): Promise<void>;
}

/**
 * A suite command, declared: its name and suite, its own flags and their checks, and its hooks. The
 * skeleton ({@link runSuiteCommand}) does the rest the same way for every command: flags, embedded-only
 * flags refused without --embedded-target, configuration, output files, engine choice, pre-flight,
 * bundle, the embedded service (with nginx, jitter and drop relay as declared), signals, run, verdict.
 */
export interface SuiteCommand<O extends OptionsConfig, P extends SuitePlan> {
  /** `wsgate <name>`, as error messages name it. */
  readonly name: string;
  /** The scenario bundle it runs (scenarios/<suite>.ts). */
  readonly suite: string;
  readonly usage: string;
  /** Its flags beyond {@link SUITE_OPTIONS}. */
  readonly options: O;
  /** What it does to a deployed service, in the refusal of an embedded-only flag: "validate", "test", "monitor". */
  readonly verb: string;
  /** Its own flags that only mean something with --embedded-target (--fault and --network-jitter are everyone's). */
  embeddedOnly?(values: SuiteValues<O>): Record<string, unknown>;
  /** Every cheap check of its own flags: sets their variables, reads the configuration. Starts nothing, no network. */
  plan(args: SuiteArgs<O>): P;
  /** Where its files go, when not as the shared flags say ({@link outputPlan}). */
  output?(args: SuiteArgs<O>, plan: P): OutputPlan;
  /** What it asks of the embedded reference service (TLS, workers, admin endpoint). */
  service?(plan: P): EmbeddedService;
  /** What it starts in front of the embedded service (nginx), owned by the run, and its words for {@link SuiteRun.what}. */
  front?(run: SuiteRun<O, P>, target: RunningTarget): Promise<{ urls: ServiceUrls; note: string }>;
  /** Whether the embedded run gets a drop relay in front (the suite black-holes or drops connections through it). */
  dropRelay?(plan: P): boolean;
  /** Against a deployed service: what it starts before the run (regression's drop relay). */
  deployed?(run: SuiteRun<O, P>): Promise<void>;
  /** The lines on stderr that say what is about to be tested (the default run says them after start). */
  describe?(run: SuiteRun<O, P>): readonly string[];
  /** Runs the engine and returns the exit code; default: one run and its verdict line. */
  execute?(run: SuiteRun<O, P>): Promise<number>;
  /** Lines printed before the verdict line when it is a fail (the default execute). */
  explainFail?(run: SuiteRun<O, P>): void;
  /** Replaces start, describe and execute, for a command that keeps something open around all three (monitor's timeline). */
  run?(run: SuiteRun<O, P>): Promise<number>;
  /** Variables the engine is never given: credentials only wsgate uses. */
  readonly withheld?: readonly string[];
}

/** Declares a suite command (the types of its values follow from its options). */
export function suiteCommand<const O extends OptionsConfig, P extends SuitePlan>(command: SuiteCommand<O, P>): SuiteCommand<O, P> {
  return command;
}

/** The embedded service in words, as every command's describe line says it. */
function embeddedWhat(faults: readonly FaultName[], jitterMs: number, workers: number, frontNote: string): string {
  return (
    `the embedded reference service${workers > 1 ? ` (${workers} workers)` : ''}${faults.length ? ` (faults: ${faults.join(', ')})` : ''}` +
    `${frontNote}${jitterMs ? ` through ${jitterMs} ms of network jitter` : ''}`
  );
}

/**
 * The embedded service, then what the command puts in front of it, then the jitter relays (the
 * client's unsteady network is in front of everything), then the drop relay in front of all that;
 * the suite is pointed at the outermost. A signal stops the run between any two.
 */
async function startEmbedded<O extends OptionsConfig, P extends SuitePlan>(command: SuiteCommand<O, P>, run: SuiteRun<O, P>, secret: string): Promise<void> {
  const { scope, vars } = run;
  const service = command.service?.(run.plan) ?? {};
  const target = scope.own('reference service', await startReferenceService(run.config, secret, run.faults, service));
  run.target = target;
  scope.checkpoint();
  const front = command.front ? await command.front(run, target) : { urls: target, note: '' };
  scope.checkpoint();
  const urls = run.jitterMs > 0 ? await startJitter(scope, front.urls, run.jitterMs) : front.urls;
  scope.checkpoint();
  pointAt(vars, urls);
  if (command.dropRelay?.(run.plan)) {
    await startRelay(scope, vars, urls.wsUrl);
    scope.checkpoint();
  }
  run.config = loadConfig(vars);
  run.what = embeddedWhat(run.faults, run.jitterMs, service.workers ?? 1, front.note);
}

/** The shared flags and every cheap check, the command's included; nothing started, no network. */
function parseSuiteArgs<O extends OptionsConfig, P extends SuitePlan>(command: SuiteCommand<O, P>, values: SuiteValues<O>, env: NodeJS.ProcessEnv, io: Io): { args: SuiteArgs<O>; plan: P } {
  const embedded = values['embedded-target'] === true;
  const faults = parseFaults(values.fault);
  requireEmbedded(embedded, { fault: values.fault, 'network-jitter': values['network-jitter'], ...command.embeddedOnly?.(values) }, command.verb);
  const jitterMs = parseNetworkJitter(values['network-jitter']);
  // With the embedded target, its secret is the one the suite mints with.
  const secret = embedded ? embeddedSecret() : undefined;
  const vars = suiteVars(env, values.env, secret);
  if (embedded) {
    // Whatever relay the shell names, the embedded run uses its own.
    delete vars['WSGATE_DROP_RELAY_WS_URL'];
    delete vars['WSGATE_DROP_RELAY_CONTROL_URL'];
  }
  const args: SuiteArgs<O> = { values, env, io, embedded, faults, jitterMs, secret, vars };
  const plan = command.plan(args);
  checkDialectFile(plan.config);
  return { args, plan };
}

/**
 * Runs a suite command on `argv`; resolves with the exit code (EXIT in io.ts). Cheap checks first, so a
 * mistake costs a sentence and not a run: arguments, configuration, files, engine choice, reachability;
 * then the bundles, the engine, the embedded target if asked for, and one run whose exit code becomes
 * wsgate's. `options` is for callers that run it many times (wsgate matrix).
 */
export async function runSuiteCommand<O extends OptionsConfig, P extends SuitePlan>(
  command: SuiteCommand<O, P>,
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: Io,
  options: RunOptions = {},
): Promise<number> {
  const values = parseOptions(argv, { ...SUITE_OPTIONS, ...command.options }, command.name) as SuiteValues<O>;
  if (values.help) {
    io.stdout.write(command.usage);
    return EXIT.PASS;
  }
  const { args, plan } = parseSuiteArgs(command, values, env, io);
  const output = command.output ? command.output(args, plan) : outputPlan(values, env);
  engineKind(values.engine, env); // a bad --engine or WSGATE_ENGINE is a usage error before any network
  if (!args.embedded) {
    for (const note of await preflight(plan.config, env)) say(io.stderr, note);
  }

  const prepared = await prepareRun(command.suite, plan.config.env, output, env, io, { engine: values.engine, ...options });
  return withRunScope(prepared, io, async (scope) => {
    const run: SuiteRun<O, P> = {
      ...args,
      plan,
      run: prepared,
      scope,
      config: plan.config,
      target: undefined,
      what: 'the deployed service',
      start: () => (args.embedded && args.secret ? startEmbedded(command, run, args.secret) : (command.deployed?.(run) ?? Promise.resolve())),
    };
    if (command.run) return command.run(run);
    await run.start();
    for (const line of command.describe?.(run) ?? []) say(io.stderr, line);
    if (command.execute) return command.execute(run);
    const exit = await runSuite(prepared, run.vars, env, io, [], command.withheld);
    return verdict(exit, prepared, io, command.explainFail && (() => command.explainFail?.(run)));
  });
}

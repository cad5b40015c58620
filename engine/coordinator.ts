/**
 * `wsgate run`: the engine's coordinator. It loads the bundle for its options, runs setup(), starts
 * one worker process per share of the run (execution segments, k6's semantics), merges what the
 * workers report, judges thresholds on the merged data (abortOnFail every 2 s, all at the end), runs
 * teardown() and handleSummary(), and exits with k6's codes:
 *   0 passed · 99 thresholds crossed · 100 setup timed out · 101 teardown timed out ·
 *   104 invalid options · 105 stopped by a signal · 107 script exception · 108 aborted by the script.
 *
 * First SIGINT/SIGTERM: workers start no new iteration and interrupt running ones after their
 * gracefulStop; teardown and handleSummary still run (exit 105). Second: workers are killed and the
 * coordinator exits at once, writing nothing. Nothing is left running either way.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { FlushPoint, RegistrySnapshot, Tags } from './contracts.ts';
import { flushPoint } from './flush.ts';
import { Host, TestAbortedError } from './host.ts';
import type { VuContext } from './host.ts';
import type { FromWorker, InitMessage, WorkerStatus } from './ipc.ts';
import { parseDuration } from './metrics/duration.ts';
import { Registry, mergeIntervals } from './metrics/registry.ts';
import type { IntervalSnapshot } from './metrics/registry.ts';
import { buildSummaryData } from './metrics/summary.ts';
import { Thresholds } from './metrics/thresholds.ts';
import type { ThresholdResults } from './metrics/thresholds.ts';
import { PrometheusOutput } from './output/prometheus.ts';
import { sliceFor } from './local-ips.ts';
import { Progress } from './progress.ts';
import { renderReport } from './report/html.ts';
import { loadScript, whereThrown } from './script.ts';
import type { Script } from './script.ts';
import { planScenarios, scenarioLengthMs } from './scenarios.ts';
import { checkSegment, validateScenario } from './schedule.ts';
import { renderTextSummary } from './text-summary.ts';
import { redactorFor } from '../lib/core/redact.ts';
import type { ThresholdVerdict } from './text-summary.ts';

export const EXIT = {
  OK: 0,
  THRESHOLDS: 99,
  SETUP_TIMEOUT: 100,
  TEARDOWN_TIMEOUT: 101,
  INVALID_OPTIONS: 104,
  INTERRUPTED: 105,
  SCRIPT_EXCEPTION: 107,
  ABORTED: 108,
} as const;

export interface RunOptions {
  script: string;
  /** Worker processes on this machine (default: one per core). */
  workers: number;
  /** This machine's share of a run split across machines (k6 --execution-segment). */
  segment: string | undefined;
  sequence: string | undefined;
  jsonOut: string | undefined;
  /** Push to Prometheus remote write (k6's --out experimental-prometheus-rw, configured by K6_PROMETHEUS_RW_*). */
  prometheus: boolean;
  /** Self-contained HTML report written at the end (WSGATE_REPORT or --report). */
  report: string | undefined;
  tags: Tags;
  /** Source addresses (k6's --local-ips), split between the workers. */
  localIps: string[];
  quiet: boolean;
  summary: boolean;
  env: Record<string, string | undefined>;
  /** The engine's entry (dist/node/engine.mjs), forked once per worker. */
  entry: string;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Invalid options: one sentence, exit 104 (k6's code for the same). */
class InvalidOptionsError extends Error {
  readonly code = 'ERR_INVALID_OPTIONS';
}

interface WorkerHandle {
  child: ChildProcess;
  latest: RegistrySnapshot | undefined;
  status: WorkerStatus;
  done: boolean;
  exited: Promise<number | null>;
}

type Say = (line: string) => void;

/** What the bundle and its options give a run once they are checked. */
interface Prepared {
  script: Script;
  plans: ReturnType<typeof planScenarios>;
  thresholds: Thresholds;
  prometheus: PrometheusOutput | undefined;
  /** Threshold keys (metrics and submetrics) every registry keeps apart. */
  submetrics: string[];
  /** The coordinator's own registry: setup() and teardown() record here. */
  own: Registry;
  /** The runtime host behind setup() and teardown(), on `own`. */
  host: Host;
}

/** Runs the bundle `o.script` as `wsgate run` does and resolves to the exit code (EXIT). */
export async function runTest(o: RunOptions): Promise<number> {
  // Script errors and abort reasons can quote a server: redacted like every line scripts print.
  const redact = redactorFor(o.env);
  const say: Say = (line) => o.stderr.write(`wsgate engine: ${redact(line)}\n`);
  const testTags: Tags = { ...o.tags };
  let abortReason: string | undefined;
  const run = await prepare(o, testTags, say, (reason) => (abortReason ??= reason));
  if (typeof run === 'number') return run;
  const { prometheus } = run;

  // Workers load the bundle while setup() runs here.
  const fleet = new Fleet(o, say, (i) => initMessage(o, run, testTags, i));
  const { workers } = fleet;

  try {
    const ready = await Promise.all(workers.map((w) => waitReady(w)));
    const fatal = ready.find((r) => r !== undefined);
    if (fatal) {
      fleet.killAll();
      say(fatal.message);
      return fatal.exitCode;
    }

    const setup = await runSetup(run, testTags, o.env, say);
    if (typeof setup === 'number') {
      fleet.killAll();
      return setup;
    }

    // Start every worker on one clock.
    const testStart = Date.now() + 50;
    for (const w of workers) w.child.send({ type: 'start', testStartEpochMs: testStart, setupData: setup.data });
    const live = new Live(o, run, fleet, testStart, say);
    for (const w of workers) {
      w.child.on('message', (m: FromWorker) => {
        if (m.type === 'flush' || m.type === 'done') live.received(w, m);
        else if (m.type === 'abort') {
          if (abortReason === undefined) {
            abortReason = m.reason;
            say(`test aborted by the script: ${m.reason}`);
          }
          fleet.stop();
        }
      });
    }

    const timer = setInterval(() => live.tick(), TICK_MS);
    const codes = await Promise.all(workers.map((w) => w.exited));
    clearInterval(timer);
    live.end();
    const crashed = workers.filter((w, i) => !w.done && codes[i] !== 0);
    if (crashed.length > 0 && !fleet.interrupted) {
      say(`${crashed.length} worker process(es) ended without finishing (exit ${crashed.map((w) => w.child.exitCode ?? w.child.signalCode).join(', ')}); the results below cover only what was reported`);
    }

    // teardown(), unless setup never ran to the end.
    if (!(await runTeardown(run, testTags, o.env, setup.data, say))) return EXIT.TEARDOWN_TIMEOUT;

    const final = live.merged().snapshot();
    const crossed = writeResults(o, run, final, live, Boolean(abortReason) || fleet.interrupted, say);
    await prometheus?.stop(final);
    if (abortReason !== undefined) return EXIT.ABORTED;
    if (live.thresholdAbort !== undefined) return EXIT.THRESHOLDS;
    if (fleet.interrupted) return EXIT.INTERRUPTED;
    if (crashed.length > 0) return EXIT.SCRIPT_EXCEPTION;
    return crossed > 0 ? EXIT.THRESHOLDS : EXIT.OK;
  } finally {
    fleet.dispose();
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Loads the bundle and checks its options (scenarios, thresholds, outputs) before anything runs;
 * the exit code when the run cannot start. `testTags` gets the script's tags.
 */
async function prepare(o: RunOptions, testTags: Tags, say: Say, onAbort: (reason: string) => void): Promise<Prepared | number> {
  // The bundle declares its metrics while it loads, into this registry; the run's registry (with the
  // submetrics the thresholds name) is made after, and takes every declaration over.
  const init = new Registry({ submetrics: [], series: false });
  new Host({ env: o.env, registry: init, testTags, json: undefined, onAbort }).install();
  let script: Script;
  try {
    script = await loadScript(resolve(o.script));
  } catch (err) {
    say(messageOf(err));
    return EXIT.SCRIPT_EXCEPTION;
  }
  Object.assign(testTags, script.options.tags ?? {}, o.tags);

  // Options: scenarios and thresholds are checked before anything runs.
  let thresholds: Thresholds;
  let plans: ReturnType<typeof planScenarios>;
  try {
    plans = planScenarios(script.options);
    for (const p of plans) {
      validateScenario(p.name, p.config);
      const execName = p.config.exec ?? 'default';
      if (!script.fn(execName)) throw new InvalidOptionsError(`scenario ${p.name} runs "${execName}", which the script does not export as a function; export it or fix the scenario's exec`);
    }
    checkSegment(o.segment, o.sequence);
    thresholds = new Thresholds(script.options.thresholds ?? {});
  } catch (err) {
    say(`invalid options: ${messageOf(err)}`);
    return EXIT.INVALID_OPTIONS;
  }
  let prometheus: PrometheusOutput | undefined;
  try {
    prometheus = o.prometheus ? PrometheusOutput.fromEnv(o.env, say, testTags) : undefined;
  } catch (err) {
    say(messageOf(err));
    return EXIT.INVALID_OPTIONS;
  }
  const submetrics = thresholds.submetricKeys();
  const own = new Registry({ submetrics, series: prometheus !== undefined });
  for (const [name, sink] of Object.entries(init.snapshot().sinks)) if (!name.includes('{')) own.declare(name, sink.type, sink.isTime);
  try {
    thresholds.validate(own);
  } catch (err) {
    say(`invalid options: ${messageOf(err)}`);
    return EXIT.INVALID_OPTIONS;
  }
  const host = new Host({ env: o.env, registry: own, testTags, json: undefined, onAbort });
  host.install();
  return { script, plans, thresholds, submetrics, prometheus, own, host };
}

/** What worker `index` is told to load and run: the bundle, its share of the run, its outputs. */
function initMessage(o: RunOptions, run: Prepared, testTags: Tags, index: number): InitMessage {
  return {
    type: 'init',
    script: resolve(o.script),
    env: o.env,
    testTags,
    segment: o.segment ?? '',
    sequence: o.sequence ?? '',
    workerIndex: index,
    workerCount: o.workers,
    localIps: sliceFor(o.localIps, index, o.workers),
    submetrics: run.submetrics,
    series: run.prometheus !== undefined,
    jsonOut: o.jsonOut ? resolve(o.jsonOut) : undefined,
  };
}

/** setup(), with k6's timeout: its data (for every worker), or the exit code when it failed. */
async function runSetup(run: Prepared, testTags: Tags, env: Record<string, string | undefined>, say: Say): Promise<{ data: unknown } | number> {
  const { script, host } = run;
  if (!script.setup) return { data: undefined };
  const outcome = await withTimeout(host.als.run(contextFor('setup', testTags, env), async () => script.setup?.(undefined)), parseDuration(script.options.setupTimeout ?? '60s'));
  if (outcome.timedOut) {
    say(`setup() did not finish within setupTimeout (${script.options.setupTimeout ?? '60s'}); raise it in the options or make setup faster`);
    return EXIT.SETUP_TIMEOUT;
  }
  if (outcome.error !== undefined) {
    if (outcome.error instanceof TestAbortedError) {
      say(`test aborted in setup(): ${outcome.error.reason}`);
      return EXIT.ABORTED;
    }
    say(`setup() threw: ${errorText(outcome.error)}`);
    return EXIT.SCRIPT_EXCEPTION;
  }
  return { data: JSON.parse(JSON.stringify(outcome.value ?? null)) as unknown };
}

/** teardown(), with its timeout; false when it timed out (an error in it is only said). */
async function runTeardown(run: Prepared, testTags: Tags, env: Record<string, string | undefined>, setupData: unknown, say: Say): Promise<boolean> {
  const { script, host } = run;
  if (!script.teardown) return true;
  const outcome = await withTimeout(host.als.run(contextFor('teardown', testTags, env), async () => script.teardown?.(setupData)), parseDuration(script.options.teardownTimeout ?? '60s'));
  if (outcome.timedOut) {
    say(`teardown() did not finish within teardownTimeout (${script.options.teardownTimeout ?? '60s'})`);
    return false;
  }
  if (outcome.error !== undefined && !(outcome.error instanceof TestAbortedError)) say(`teardown() threw: ${errorText(outcome.error)}`);
  return true;
}

/**
 * The run's worker processes and what signals do to them. First SIGINT/SIGTERM: no new iterations,
 * running ones interrupted; second: every worker killed and the coordinator gone. Nothing outlives
 * the coordinator ('exit' kills what is left).
 */
class Fleet {
  readonly workers: WorkerHandle[];
  /** A first signal came: teardown and the summary still run, the exit code is 105. */
  interrupted = false;
  private signals = 0;
  private readonly stderr: NodeJS.WritableStream;

  constructor(
    o: RunOptions,
    private readonly say: Say,
    init: (index: number) => InitMessage,
  ) {
    this.workers = Array.from({ length: o.workers }, (_, i) => startWorker(o, init(i)));
    this.stderr = o.stderr;
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.killAll);
  }

  /** Workers start no new iteration and interrupt running ones after their gracefulStop. */
  stop(): void {
    for (const w of this.workers) if (!w.done && w.child.connected) w.child.send({ type: 'stop' });
  }

  readonly killAll = (): void => {
    for (const w of this.workers) w.child.kill('SIGKILL');
  };

  private readonly onSignal = (): void => {
    this.signals++;
    if (this.signals === 1) {
      this.interrupted = true;
      this.say('stopping gracefully: no new iterations and running ones interrupted (as k6 does); teardown and the summary still run (send the signal again to stop at once)');
      this.stop();
    } else {
      this.killAll();
      this.stderr.write('wsgate engine: stopped at once by a second signal; nothing was written\n');
      process.exit(EXIT.INTERRUPTED);
    }
  };

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.killAll);
    this.killAll();
  }
}

/** How often the coordinator merges what the workers report (they flush once a second). */
const TICK_MS = 1000;
/** How often abortOnFail thresholds are judged on the merged data while the test runs. */
const THRESHOLD_EVERY_MS = 2000;

/**
 * What the workers report, merged once a second (TICK_MS): the progress line, Prometheus, the
 * report's points, and thresholds with abortOnFail every THRESHOLD_EVERY_MS.
 */
class Live {
  readonly points: FlushPoint[] = [];
  /** The abortOnFail thresholds that stopped the run early, if any. */
  thresholdAbort: string | undefined;
  private intervals: IntervalSnapshot[] = [];
  private lastTick: number;
  private lastThresholdCheck = 0;
  private readonly progress: Progress;
  private readonly maxMs: number;

  constructor(
    o: RunOptions,
    private readonly run: Prepared,
    private readonly fleet: Fleet,
    readonly testStart: number,
    private readonly say: Say,
  ) {
    this.lastTick = testStart;
    this.progress = new Progress(o.stderr, !o.quiet);
    this.maxMs = Math.max(0, ...run.plans.map((p) => scenarioLengthMs(p.config)));
  }

  received(w: WorkerHandle, m: Extract<FromWorker, { type: 'flush' | 'done' }>): void {
    w.latest = m.snapshot;
    w.status = m.status;
    this.intervals.push(m.interval);
    if (m.type === 'done') w.done = true;
  }

  /** The coordinator's and every worker's latest snapshot, merged into a fresh registry. */
  merged(): Registry {
    const into = new Registry({ submetrics: this.run.submetrics, series: this.run.prometheus !== undefined });
    into.merge(this.run.own.snapshot());
    for (const w of this.fleet.workers) if (w.latest) into.merge(w.latest);
    return into;
  }

  tick(): void {
    const { own, prometheus, thresholds } = this.run;
    const workers = this.fleet.workers;
    const now = Date.now();
    const elapsed = now - this.testStart;
    const snap = this.merged().snapshot();
    const point = flushPoint(snap, mergeIntervals([own.drainInterval(), ...this.intervals]), now, elapsed, now - this.lastTick, prometheus !== undefined);
    this.intervals = [];
    this.lastTick = now;
    const openSockets = workers.reduce((n, w) => n + w.status.openSockets, 0);
    const activeVus = workers.reduce((n, w) => n + w.status.activeVus, 0);
    point.total['wsgate_connections_open'] = { type: 'gauge', isTime: false, values: { value: openSockets } };
    point.total['vus'] = { type: 'gauge', isTime: false, values: { value: activeVus } };
    this.points.push(point);
    prometheus?.push(point.series ?? [], now);
    const checks = snap.sinks['checks'];
    this.progress.update({
      elapsedMs: elapsed,
      maxMs: this.maxMs || undefined,
      vus: activeVus,
      sockets: openSockets,
      iterations: workers.reduce((n, w) => n + w.status.iterations, 0),
      checksFailed: (checks?.total ?? 0) - (checks?.passes ?? 0),
      checksTotal: checks?.total ?? 0,
    });
    if (now - this.lastThresholdCheck >= THRESHOLD_EVERY_MS && this.thresholdAbort === undefined) {
      this.lastThresholdCheck = now;
      const failing = thresholds.aborting(thresholds.evaluate(snap, elapsed, { final: false }), elapsed);
      if (failing.length > 0) {
        this.thresholdAbort = failing.map((f) => `${f.metric}: ${f.expression}`).join(', ');
        this.say(`thresholds crossed with abortOnFail (${this.thresholdAbort}); stopping the test early`);
        this.fleet.stop();
      }
    }
  }

  /** The last tick, once every worker has exited. */
  end(): void {
    this.tick();
    this.progress.end();
  }
}

/** Thresholds judged on the final data; the summary and the report written. Returns how many thresholds were crossed. */
function writeResults(o: RunOptions, run: Prepared, final: RegistrySnapshot, live: Live, noVerdict: boolean, say: Say): number {
  const durationMs = Date.now() - live.testStart;
  const results = run.thresholds.evaluate(final, durationMs);
  const verdicts = flatten(results);
  const crossed = verdicts.filter((v) => v.ok === false).length;
  const summaryData = buildSummaryData(final, results, {
    testRunDurationMs: durationMs,
    summaryTrendStats: run.script.options.summaryTrendStats ?? ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'],
    isStdOutTTY: Boolean(o.stdout.isTTY),
    isStdErrTTY: Boolean(o.stderr.isTTY),
  });
  if (o.summary) writeSummary(run.script, summaryData, verdicts, o, say);
  if (o.report) {
    writeFileChecked(o.report, renderReport({
      title: `wsgate run ${o.script}`,
      suite: String(o.env['WSGATE_SUITE'] ?? o.script),
      env: String(o.env['WSGATE_ENV'] ?? ''),
      startedAt: live.testStart,
      durationMs,
      points: live.points,
      summary: summaryData,
      thresholdResults: verdicts.map((v) => ({ metric: v.metric, expression: v.expression, ok: v.ok, noData: v.noData, ...(v.observed === undefined ? {} : { observed: v.observed }) })),
      verdict: noVerdict ? 'no verdict' : crossed > 0 ? 'fail' : 'pass',
    }), say);
  }
  return crossed;
}

/** Nested threshold results as one list, in the options' order. */
function flatten(results: ThresholdResults): ThresholdVerdict[] {
  const out: ThresholdVerdict[] = [];
  for (const [metric, perExpression] of Object.entries(results)) {
    for (const [expression, r] of Object.entries(perExpression)) out.push({ metric, expression, ok: r.ok, noData: r.noData, observed: r.observed });
  }
  return out;
}

function startWorker(o: RunOptions, init: InitMessage): WorkerHandle {
  // Workers share the coordinator's stdio (their script errors print as they happen) and get their
  // own process group, so a terminal's Ctrl-C reaches only the coordinator, which decides.
  const child = fork(o.entry, ['__worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env, detached: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.send(init);
  return { child, latest: undefined, status: { openSockets: 0, activeVus: 0, iterations: 0 }, done: false, exited };
}

function waitReady(w: WorkerHandle): Promise<{ message: string; exitCode: number } | undefined> {
  return new Promise((resolve) => {
    const on = (m: FromWorker) => {
      if (m.type === 'ready') {
        w.child.off('message', on);
        resolve(undefined);
      } else if (m.type === 'fatal') {
        w.child.off('message', on);
        resolve({ message: m.message, exitCode: m.exitCode });
      }
    };
    w.child.on('message', on);
    void w.exited.then((code) => resolve({ message: `a worker process exited (code ${code}) before it was ready`, exitCode: EXIT.SCRIPT_EXCEPTION }));
  });
}

function contextFor(name: string, tags: Tags, env: Record<string, string | undefined>): VuContext {
  return { vu: { idInTest: 0, iterationInScenario: 0 }, scenario: '', scenarioStartTime: Date.now(), iterationInTest: 0, tags: { ...tags, group: `::${name}` }, env, resources: new Set() };
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; timedOut: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ timedOut: true }>((r) => (timer = setTimeout(() => r({ timedOut: true }), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value, timedOut: false }), (error: unknown) => ({ error, timedOut: false })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function errorText(err: unknown): string {
  return `${err instanceof Error ? err.message : String(err)}${whereThrown(err)}`;
}

/** handleSummary()'s {path: content} (k6's contract: "stdout"/"stderr" keys print), or the text summary. */
function writeSummary(script: Script, data: unknown, verdicts: ThresholdVerdict[], o: RunOptions, say: (l: string) => void): void {
  if (!script.handleSummary) {
    o.stdout.write(renderTextSummary(data, verdicts));
    return;
  }
  let files: unknown;
  try {
    files = script.handleSummary(data);
  } catch (err) {
    say(`handleSummary() threw: ${errorText(err)}; printing the default summary instead`);
    o.stdout.write(renderTextSummary(data, verdicts));
    return;
  }
  if (typeof files !== 'object' || files === null) return;
  for (const [path, content] of Object.entries(files as Record<string, unknown>)) {
    const text = typeof content === 'string' ? content : JSON.stringify(content);
    if (path === 'stdout') o.stdout.write(text);
    else if (path === 'stderr') o.stderr.write(text);
    else writeFileChecked(path, text, say);
  }
}

function writeFileChecked(path: string, text: string, say: (l: string) => void): void {
  try {
    mkdirSync(dirname(resolve(path)), { recursive: true });
    writeFileSync(path, text);
  } catch (err) {
    say(`could not write ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

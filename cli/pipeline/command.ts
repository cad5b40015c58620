/**
 * `wsgate pre` and `wsgate post`: the deployment pipeline's hooks. Each runs the deployment validation
 * and the regression suite (through `wsgate validate` and `wsgate regression`, so every flag, check
 * and exit code means the same), then judges the run against the rollback policy. `pre` saves the
 * figures as the environment's baseline; `post` compares with it, writes the deployment report and
 * exits with a code the pipeline acts on:
 *
 *   0 proceed   1 hold (gate failed, no rollback trigger)   5 rollback recommended
 *   2 usage/config, 3 unreachable, 4 no verdict, 130 interrupted: could not run, no recommendation
 *
 * Everything of one run goes to one directory, results/<pre|post>-<env>-<time>/: each suite's JSON and
 * JUnit, the HTML reports, pipeline.json, pipeline.junit.xml and deployment_report.md. With
 * --decision-file the outcome is also one word in a file (cli/pipeline/decision-file.ts).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../lib/core/errors.ts';
import type { SuiteResult } from '../../lib/core/summary.ts';
import { ALL_FAULT_NAMES } from '../../reference-service/service.ts';
import { UsageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { EXIT, parseOptions, runStamp, say } from '../io.ts';
import { regression } from '../regression.ts';
import { show } from '../suite-run.ts';
import { validate } from '../validate.ts';
import { assess } from './assess.ts';
import type { Assessment } from './assess.ts';
import { loadBaseline, saveBaseline } from './baseline.ts';
import type { Baseline } from './baseline.ts';
import { NO_DASHBOARD, dashboardVars } from './dashboard.ts';
import { decisionWord, writeDecision } from './decision-file.ts';
import { makeRunDir, writeOut } from './files.ts';
import { readMonitorTimeline } from './monitor-evidence.ts';
import type { MonitorEvidence } from './monitor-evidence.ts';
import { loadPolicy } from './policy.ts';
import type { Policy } from './policy.ts';
import { EXIT_MEANING, renderPipelineJUnit, renderReport } from './report.ts';
import type { ReportFile } from './report.ts';

const VALIDATION_SUITE = 'deployment-validation';
const REGRESSION_SUITE = 'regression-prevention';
const REPORT_NAME = 'deployment_report.md';

const EXIT_TABLE = `Exit codes:
  0    proceed: every check, regression test and rollback trigger held${'\n'}       (pre: and the baseline was saved)
  1    hold: the gate failed (a check, threshold or baseline tolerance) but no rollback trigger fired;
       pre: the environment fails before the deploy, and the previous baseline is kept
  5    rollback recommended (post only): a rollback trigger of the policy fired
  2    usage or configuration error (bad flag, bad policy, no baseline); nothing was run
  3    the target did not answer the pre-flight check; nothing was run
  4    no verdict: k6 unavailable, script error or aborted run
  130  interrupted`;

const COMMON_USAGE = `  --env NAME             environment preset (default: $WSGATE_ENV, else local)
  --results-dir DIR      where the run's directory goes (default: $WSGATE_RESULTS_DIR, else ./results)
  --baseline-dir DIR     where baselines are kept, one <env>.json each (default: <results-dir>/baselines)
  --policy FILE          the rollback policy (default: $WSGATE_ROLLBACK_POLICY, else thresholds/rollback-policy.json)
  --report FILE          also write the Markdown deployment report here (it is always written into the
                         run's directory as ${REPORT_NAME}); links in it are relative to FILE
  --validation-only      run the deployment validation alone, without the regression suite
  --test NAME[,NAME]     run only these regression tests; repeatable (see wsgate regression --help)
  --critical-only        run only the critical regression tests
  --decision-file FILE   also write the outcome as one word to FILE (replaced atomically): proceed, hold,
                         rollback or could-not-run, the meaning of the exit code; it says could-not-run
                         from the start until the run decides, for hooks that see only zero or non-zero
  --lb CONFIG            with --embedded-target: load balancer in front for the regression suite:
                         healthy (default), broken or none
  --no-dashboard         do not write the HTML reports (the engine's report, or k6's dashboard export)
  --ca-file FILE         PEM CA certificate(s) to trust, for https/wss targets with a private CA
  --engine wsgate|k6     the engine both suites run on (default: $WSGATE_ENGINE, else wsgate's own)
  --embedded-target      run against the reference service started in-process on loopback (one per suite)
  --fault NAME           with --embedded-target: play a regression; repeatable. One of:
                         ${ALL_FAULT_NAMES.join(', ')}
  -h, --help             print this help`;

export const PRE_USAGE = `Usage: wsgate pre --env NAME [options]

Before a deploy: runs the deployment validation and the regression suite against the environment as
it is, and saves their figures as its baseline (<baseline-dir>/<env>.json, replaced atomically) when
everything passes. A failing environment keeps its previous baseline.

Options:
${COMMON_USAGE}

${EXIT_TABLE}
`;

export const POST_USAGE = `Usage: wsgate post --env NAME [--report deployment_report.md] [options]

After a deploy: runs the same suites, compares them with the baseline wsgate pre saved (success rates,
event latency percentiles, agent event completion, each check and regression test) within the
tolerances of the rollback policy, applies its rollback triggers, writes the deployment report and
exits with what the pipeline should do.

Rollback triggers (thresholds/rollback-policy.json): connection success below 70%, more than 2
critical regression tests failing, agent event delivery below 80%, any user isolation violation,
monitoring reporting degraded health for more than 10 minutes (needs --monitor-timeline).

Options:
${COMMON_USAGE}
  --monitor-timeline F   a wsgate monitor timeline (JSON Lines) to judge the degraded-health trigger by
  --allow-missing-baseline
                         judge without a baseline instead of stopping with exit 2 when there is none

${EXIT_TABLE}
`;

const OPTIONS = {
  env: { type: 'string' },
  'results-dir': { type: 'string' },
  'baseline-dir': { type: 'string' },
  policy: { type: 'string' },
  report: { type: 'string' },
  'decision-file': { type: 'string' },
  'validation-only': { type: 'boolean' },
  test: { type: 'string', multiple: true },
  'critical-only': { type: 'boolean' },
  lb: { type: 'string' },
  'no-dashboard': { type: 'boolean' },
  'ca-file': { type: 'string' },
  engine: { type: 'string' },
  'embedded-target': { type: 'boolean' },
  fault: { type: 'string', multiple: true },
  'monitor-timeline': { type: 'string' },
  'allow-missing-baseline': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Command = 'pre' | 'post';
type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>;

interface SuiteOutcome {
  suite: string;
  code: number;
  result: SuiteResult | null;
  files: ReportFile[];
}

/** Everything decided before a suite runs: the cheap things that can fail in a sentence instead of after minutes. */
interface RunPlan {
  command: Command;
  envName: string;
  policy: Policy;
  baselineDir: string;
  found: { path: string; baseline: Baseline } | undefined;
  monitor: MonitorEvidence | undefined;
  reportCopy: string | undefined;
  startedAt: Date;
  runDir: string;
}

/** The suites the run made, with what they left; `notes` are the things that did not happen as asked. */
interface SuiteRuns {
  expected: string[];
  outcomes: SuiteOutcome[];
  notes: string[];
}

function exitFor(command: Command, a: Assessment): number {
  if (a.decision === 'proceed') return EXIT.PASS;
  if (a.decision === 'rollback' && command === 'post') return EXIT.ROLLBACK;
  return EXIT.FAIL;
}

/** The result files a suite run left in the run directory (named <suite>-<env>-<stamp>.*). */
function suiteFiles(dir: string, suite: string): { json?: string; junit?: string } {
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${suite}-`)).sort() : [];
  const json = names.filter((f) => f.endsWith('.json')).pop();
  const junit = names.filter((f) => f.endsWith('.junit.xml')).pop();
  return { ...(json ? { json: join(dir, json) } : {}), ...(junit ? { junit: join(dir, junit) } : {}) };
}

function readResult(file: string | undefined): SuiteResult | null {
  if (!file) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as SuiteResult;
    return r.wsgate_result_version === 1 && Array.isArray(r.scenarios) ? r : null;
  } catch {
    return null;
  }
}

/** Flags that parse but do not go together. */
function checkFlags(command: Command, values: Values): void {
  if (command === 'pre') {
    for (const flag of ['monitor-timeline', 'allow-missing-baseline'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} only applies to wsgate post`);
    }
  }
  if (values['validation-only'] && (values.test !== undefined || values['critical-only'] || values.lb !== undefined)) {
    throw new UsageError('--validation-only runs no regression test; drop --test, --critical-only and --lb, or drop --validation-only');
  }
}

/** The cheap things first: the policy, the baseline, the timeline, the directories. */
function planRun(command: Command, values: Values, env: NodeJS.ProcessEnv): RunPlan {
  const envName = values.env ?? (env['WSGATE_ENV'] || 'local');
  const policyPath = values.policy ?? (env['WSGATE_ROLLBACK_POLICY'] || undefined);
  const policy = loadPolicy(envName, policyPath === undefined ? undefined : resolve(policyPath));
  const resultsDir = resolve(values['results-dir'] ?? (env['WSGATE_RESULTS_DIR'] || 'results'));
  const baselineDir = resolve(values['baseline-dir'] ?? join(resultsDir, 'baselines'));
  const found = command === 'post' ? loadBaseline(baselineDir, envName) : undefined;
  if (command === 'post' && !found && !values['allow-missing-baseline']) {
    throw new ConfigError(
      `there is no baseline for env ${envName} in ${show(baselineDir)}; run wsgate pre --env ${envName} before the deploy (with the same --baseline-dir), or pass --allow-missing-baseline to judge without one`,
    );
  }
  const monitor = values['monitor-timeline'] ? readMonitorTimeline(resolve(values['monitor-timeline'])) : undefined;
  if (monitor?.env && monitor.env !== envName) {
    throw new ConfigError(`--monitor-timeline ${values['monitor-timeline']} monitored env ${monitor.env}, not ${envName}; pass the timeline of this environment`);
  }
  const reportCopy = values.report === undefined ? undefined : resolve(values.report);
  const startedAt = new Date();
  const runDir = makeRunDir(resultsDir, `${command}-${envName}-${runStamp(startedAt)}`);
  return { command, envName, policy, baselineDir, found, monitor, reportCopy, startedAt, runDir };
}

/** The suites, one after the other, through the same commands a person would run. */
function suiteSteps(plan: RunPlan, values: Values) {
  const shared = ['--env', plan.envName, '--results-dir', plan.runDir];
  if (values['ca-file']) shared.push('--ca-file', values['ca-file']);
  if (values.engine !== undefined) shared.push('--engine', values.engine);
  if (values['embedded-target']) shared.push('--embedded-target');
  for (const f of values.fault ?? []) shared.push('--fault', f);
  const steps: { suite: string; run: (argv: string[], env: NodeJS.ProcessEnv, io: Io) => Promise<number>; argv: string[] }[] = [
    { suite: VALIDATION_SUITE, run: validate, argv: shared },
  ];
  if (!values['validation-only']) {
    const extra: string[] = [];
    for (const t of values.test ?? []) extra.push('--test', t);
    if (values['critical-only']) extra.push('--critical-only');
    if (values.lb !== undefined) extra.push('--lb', values.lb);
    steps.push({ suite: REGRESSION_SUITE, run: regression, argv: [...shared, ...extra] });
  }
  return steps;
}

/** Runs the suites; a number when one could not run (unreachable, no verdict, interrupted): no recommendation either way. */
async function runSuites(plan: RunPlan, values: Values, env: NodeJS.ProcessEnv, io: Io): Promise<SuiteRuns | number> {
  const { command, envName, runDir } = plan;
  const steps = suiteSteps(plan, values);
  const runs: SuiteRuns = { expected: steps.map((s) => s.suite), outcomes: [], notes: [] };
  for (const s of steps) {
    const dashboard = join(runDir, `${s.suite}.html`);
    const suiteEnv = { ...env, ...(values['no-dashboard'] ? NO_DASHBOARD : dashboardVars(dashboard, env)) };
    say(io.stderr, `${command} (env ${envName}): running ${s.suite}`);
    const code = await s.run(s.argv, suiteEnv, io);
    if (code !== EXIT.PASS && code !== EXIT.FAIL) {
      say(io.stdout, `NO RECOMMENDATION ${command} (env ${envName}): ${s.suite} could not run (exit ${code}: ${EXIT_MEANING[code] ?? 'see wsgate help'}); nothing was judged — ${show(runDir)}`);
      return code;
    }
    const files = suiteFiles(runDir, s.suite);
    const linked: ReportFile[] = [];
    if (files.json) linked.push({ label: `${s.suite} result (JSON)`, path: files.json });
    if (files.junit) linked.push({ label: `${s.suite} JUnit`, path: files.junit });
    if (existsSync(dashboard)) linked.push({ label: `${s.suite} report (HTML)`, path: dashboard });
    else if (!values['no-dashboard']) runs.notes.push(`no HTML report was written for ${s.suite} (k6 skips its dashboard export for runs shorter than two periods).`);
    runs.outcomes.push({ suite: s.suite, code, result: readResult(files.json), files: linked });
  }
  return runs;
}

const resultOf = (runs: SuiteRuns, suite: string): SuiteResult | null => runs.outcomes.find((o) => o.suite === suite)?.result ?? null;

/** pre: saves the baseline when the environment passed; returns the note that says what became of it. */
function keepBaseline(plan: RunPlan, assessment: Assessment, validation: SuiteResult | null, regressionResult: SuiteResult | null): string {
  const { baselineDir, envName } = plan;
  if (assessment.decision === 'proceed' && validation) {
    const baseline: Baseline = { wsgate_baseline_version: 1, env: envName, saved_at: new Date().toISOString(), source: show(plan.runDir), validation, regression: regressionResult };
    return `baseline saved to ${show(saveBaseline(baselineDir, baseline))} for wsgate post --env ${envName}.`;
  }
  return `baseline not saved: the environment fails before the deploy${existsSync(join(baselineDir, `${envName}.json`)) ? `; the previous one in ${show(baselineDir)} is kept` : ''}.`;
}

/** pipeline.json, pipeline.junit.xml and the report in the run directory (and the --report copy); returns the report's path to show. */
function writeRunFiles(plan: RunPlan, runs: SuiteRuns, assessment: Assessment, code: number): string {
  const { found, monitor, runDir, startedAt } = plan;
  const validation = resultOf(runs, VALIDATION_SUITE);
  const regressionResult = resultOf(runs, REGRESSION_SUITE);
  const files: ReportFile[] = runs.outcomes.flatMap((o) => o.files);
  const jsonPath = join(runDir, 'pipeline.json');
  const junitPath = join(runDir, 'pipeline.junit.xml');
  const reportPath = join(runDir, REPORT_NAME);
  files.push({ label: 'decision (JSON)', path: jsonPath }, { label: 'rollback policy and baseline checks (JUnit)', path: junitPath });
  if (found) files.push({ label: 'baseline', path: found.path });
  if (monitor) files.push({ label: 'monitor timeline', path: monitor.file });
  const target = validation?.target ?? regressionResult?.target ?? {};
  const ctx = {
    assessment,
    exitCode: code,
    startedAt,
    finishedAt: new Date(),
    policyFile: plan.policy.file,
    target,
    validation,
    regression: regressionResult,
    baseline: found ? { path: show(found.path), savedAt: found.baseline.saved_at, source: found.baseline.source, validation: found.baseline.validation, regression: found.baseline.regression } : undefined,
    files,
    notes: runs.notes,
  };
  writeOut(jsonPath, JSON.stringify({ wsgate_pipeline_version: 1, ...assessment, exit_code: code, exit_meaning: EXIT_MEANING[code], started_at: startedAt.toISOString(), finished_at: ctx.finishedAt.toISOString(), target, notes: runs.notes, files: files.map((f) => ({ label: f.label, path: show(f.path) })) }, null, 2) + '\n');
  writeOut(junitPath, renderPipelineJUnit(assessment));
  writeOut(reportPath, renderReport(ctx, reportPath));
  if (plan.reportCopy) writeOut(plan.reportCopy, renderReport(ctx, plan.reportCopy));
  return plan.reportCopy ?? reportPath;
}

/** The reasons, the notes, and the headline last (the line a log tail shows). */
function announce(plan: RunPlan, assessment: Assessment, notes: string[], report: string, io: Io): void {
  const { command, envName } = plan;
  const headline = { proceed: command === 'pre' ? 'READY' : 'PROCEED', hold: command === 'pre' ? 'DO NOT DEPLOY' : 'HOLD', rollback: command === 'pre' ? 'DO NOT DEPLOY' : 'ROLLBACK RECOMMENDED' }[assessment.decision];
  for (const r of assessment.reasons) say(io.stdout, `${command}: ${r}`);
  for (const n of notes) say(io.stdout, `${command}: ${n}`);
  say(io.stdout, `${headline} ${command} (env ${envName}) — report: ${show(report)}; results: ${show(plan.runDir)}`);
}

/** Plans, runs, judges and records one pre or post run; resolves with its exit code. */
async function gate(command: Command, values: Values, env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  checkFlags(command, values);
  const plan = planRun(command, values, env);
  const runs = await runSuites(plan, values, env, io);
  if (typeof runs === 'number') return runs;
  const validation = resultOf(runs, VALIDATION_SUITE);
  const regressionResult = resultOf(runs, REGRESSION_SUITE);
  const { found } = plan;
  const assessment = assess({
    command,
    env: plan.envName,
    policy: plan.policy,
    validation,
    regression: regressionResult,
    expected: runs.expected,
    baseline: found ? { validation: found.baseline.validation, regression: found.baseline.regression } : undefined,
    monitor: plan.monitor,
  });
  const code = exitFor(command, assessment);
  if (command === 'pre') runs.notes.unshift(keepBaseline(plan, assessment, validation, regressionResult));
  const report = writeRunFiles(plan, runs, assessment, code);
  announce(plan, assessment, runs.notes, report, io);
  return code;
}

/** Runs `wsgate pre` or `wsgate post`; resolves with the exit code. */
export async function pipeline(command: Command, argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const values = parseOptions(argv, OPTIONS, command);
  if (values.help) {
    io.stdout.write(command === 'pre' ? PRE_USAGE : POST_USAGE);
    return EXIT.PASS;
  }
  // Before anything can fail: from here on the file never holds a previous run's word. A thrown error
  // (exit 2, 3 or 4 in cli/main.ts) leaves could-not-run, which is what it means.
  const decisionFile = values['decision-file'] === undefined ? undefined : resolve(values['decision-file']);
  if (decisionFile) writeDecision(decisionFile, 'could-not-run');
  const code = await gate(command, values, env, io);
  if (decisionFile) writeDecision(decisionFile, decisionWord(code));
  return code;
}

/**
 * Every shipped pipeline manifest, run the way its platform runs it, against the reference service:
 * the manifests' own command lines (parsed from the YAML, never copied here), `wsgate` resolving to
 * this checkout (as in deploy/Dockerfile's image, and `npx wsgate` after `npm ci`), the service
 * configured like staging on loopback and the staging preset pointed at it through wsgate's
 * environment overrides (harness.ts). `wsgate pre` runs against the healthy service; then the
 * "deployed" version is a new service, healthy or with a fault, and `wsgate post` judges it:
 *
 *   - the GitHub Actions workflow (actions.ts runs its jobs): pre job, deploy, post job ->
 *     decision proceed (healthy), hold (token_refresh_broken: one regression test fails, no trigger) or
 *     rollback (isolation_leak: a trigger fires), and the rollback job runs for rollback only;
 *   - the Argo Rollouts AnalysisTemplates (their Jobs' containers, judged as the Job provider and
 *     failureLimit judge them): healthy, the analysis succeeds; handshake_403, it fails;
 *   - the Flagger Canary (flagger.ts plays Flagger's loop; the webhooks run through `bash -c`, as the
 *     load tester runs them): healthy, promoted with no failed check; a rollback recommendation rolls
 *     back at the next tick through the rollback webhook; a hold pauses the canary and the rollout
 *     check runs again, and failed checks (the hold, then a target that went away) roll back at the
 *     threshold;
 *   - the k6-operator TestRun and its merge Job, with the k6 at WSGATE_K6 (skipped without one).
 *
 * Each pre command line runs once; the outcomes after it run side by side, each against a service of
 * its own, at most four wsgate runs at a time. The rollback-policy and report details of a post run
 * are asserted here too (test/cli/pipeline.e2e.test.ts keeps what these runs do not cover).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FaultName, RunningTarget } from '../../reference-service/service.ts';
import { chromiumOrSkip, colouredPixelsPerChart, openOffline } from '../helpers/chromium.ts';
import { k6Binary, k6Skip } from '../helpers/k6.ts';
import { runJob } from './actions.ts';
import type { JobResult, WorkflowRun } from './actions.ts';
import { CanaryAnalysis } from './flagger.ts';
import type { Tick, Webhook } from './flagger.ts';
import { REPO, SECRETS, at, buildIfStale, copyDir, scratch, expand, limiter, manifest, pointedAt, processEnv, remount, runProgram, shimDir, startStaging, testPolicy } from './harness.ts';
import type { Obj, Ran } from './harness.ts';

/** A JWT (header.payload.): none may reach a report, result or log. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
const HOLD_FAULT: FaultName = 'token_refresh_broken';
const WSGATE_RUN_TIMEOUT_MS = 180_000;

const slot = limiter(4);
const services = new Set<RunningTarget>();
after(async () => {
  await Promise.all([...services].map((s) => s.close()));
});

let shims = '';
let policy = '';

/** A deployment of the service: healthy, or with `faults`. */
async function deploy(faults: FaultName[] = []): Promise<RunningTarget> {
  const target = await startStaging(faults);
  services.add(target);
  return target;
}

/** The environment of a process that reaches `target`: PATH with the shims, HOME, the preset pointed at it, then `vars`. */
const envFor = (target: RunningTarget, vars: Record<string, string | undefined> = {}) => processEnv(shims, { ...pointedAt(target, policy), ...vars });

/** What deploy/Dockerfile's image adds: its entrypoint and its ENV lines (the wsgate stage's, which the load tester's repeats). */
function image(): { entrypoint: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(join(REPO, 'deploy', 'Dockerfile'), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  const env = Object.fromEntries([...dockerfile.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  return { entrypoint, env };
}

/** The data of the ConfigMaps among `objs`, by name. */
function configMaps(objs: Obj[]): Record<string, Record<string, string>> {
  return Object.fromEntries(objs.filter((o) => o['kind'] === 'ConfigMap').map((o) => [String(at(o, 'metadata', 'name')), (o['data'] ?? {}) as Record<string, string>]));
}

/** A container's environment from its envFrom (ConfigMaps given, the Secret is {@link SECRETS}) and env (fieldRefs from `fields`). */
function containerEnv(container: Obj, maps: Record<string, Record<string, string>>, fields: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of (container['envFrom'] ?? []) as Obj[]) {
    const cm = at(from, 'configMapRef', 'name');
    if (cm !== undefined) Object.assign(env, maps[String(cm)] ?? assert.fail(`ConfigMap ${String(cm)} is not in the manifest`));
    if (at(from, 'secretRef', 'name') === 'wsgate-secrets') Object.assign(env, SECRETS);
  }
  for (const e of (container['env'] ?? []) as Obj[]) {
    const field = at(e, 'valueFrom', 'fieldRef', 'fieldPath');
    env[String(e['name'])] = field !== undefined ? (fields[String(field)] ?? assert.fail(`fieldRef ${String(field)}`)) : expand(String(e['value'] ?? ''), env);
  }
  return env;
}

/**
 * mountPath -> the directory standing in for the volume: `sources` by PersistentVolumeClaim or
 * ConfigMap name, a fresh directory for an emptyDir; subPathExpr expanded with `vars`.
 */
function mountsOf(container: Obj, volumes: Obj[], sources: Record<string, string>, vars: Record<string, string> = {}): Record<string, string> {
  const mounts: Record<string, string> = {};
  for (const m of (container['volumeMounts'] ?? []) as Obj[]) {
    const volume = volumes.find((v) => v['name'] === m['name']) ?? assert.fail(`volume ${String(m['name'])}`);
    const source = at(volume, 'persistentVolumeClaim', 'claimName') ?? at(volume, 'configMap', 'name');
    let dir = source !== undefined ? (sources[String(source)] ?? assert.fail(`${String(source)} has no directory here`)) : volume['emptyDir'] !== undefined ? scratch('emptydir-') : assert.fail(`volume ${String(m['name'])} kind`);
    if (m['subPathExpr'] !== undefined) dir = join(dir, expand(String(m['subPathExpr']), vars));
    mkdirSync(dir, { recursive: true });
    mounts[String(m['mountPath'])] = dir;
  }
  return mounts;
}

const remountAll = (env: Record<string, string>, mounts: Record<string, string>) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, remount(v, mounts)]));

function runDirOf(results: string, command: string): string {
  const dirs = existsSync(results) ? readdirSync(results).filter((d) => d.startsWith(`${command}-staging-`)) : [];
  assert.equal(dirs.length, 1, `one ${command} run directory in ${results}: ${dirs.join(', ')}`);
  return join(results, dirs[0] ?? '');
}

function allText(dir: string): string {
  return readdirSync(dir).map((f) => join(dir, f)).filter((p) => statSync(p).isFile()).map((p) => readFileSync(p, 'utf8')).join('\n');
}

// ---- GitHub Actions ------------------------------------------------------------------------------

interface WorkflowOutcome {
  pre: JobResult;
  deploy: JobResult;
  soak: JobResult;
  after: Record<'proceed' | 'hold' | 'rollback', { post: JobResult; rollback: JobResult }>;
}

/** A manual dispatch of the workflow for staging, without the monitor step (a whole minute at least). */
async function workflowScenario(): Promise<WorkflowOutcome> {
  const workflow = manifest('.github/workflows/deployment-gate.yml')[0] ?? {};
  const dispatch = (target: RunningTarget, artifacts: Map<string, string>): WorkflowRun => ({
    workflow,
    github: { event_name: 'workflow_dispatch' },
    inputs: { environment: 'staging', monitor_minutes: '0' },
    secrets: { ...SECRETS },
    runnerEnv: envFor(target),
    artifacts,
  });
  const artifacts = new Map<string, string>();
  const live = dispatch(await deploy(), artifacts);
  const pre = await slot(() => runJob(live, 'pre', {}));
  const deployed = await runJob(live, 'deploy', { pre });
  const soak = await runJob(live, 'nightly-soak', {});
  const variants = { proceed: [], hold: [HOLD_FAULT], rollback: ['isolation_leak'] } satisfies Record<string, FaultName[]>;
  const after = await Promise.all(
    Object.entries(variants).map(async ([name, faults]) => {
      const run = dispatch(await deploy(faults), new Map(artifacts));
      const post = await slot(() => runJob(run, 'post', { deploy: deployed }));
      return [name, { post, rollback: await runJob(run, 'rollback', { post }) }] as const;
    }),
  );
  return { pre, deploy: deployed, soak, after: Object.fromEntries(after) as WorkflowOutcome['after'] };
}

// ---- Argo Rollouts -------------------------------------------------------------------------------

interface AnalysisRun {
  phase: 'Successful' | 'Failed';
  jobs: Ran[];
  claims: Record<string, string>;
}

/**
 * One AnalysisRun of a template: its metric's Job, `count` times, each a Successful measurement when the
 * container exits 0, else Failed (Argo's Job provider); the metric fails once failed measurements
 * exceed failureLimit, which aborts the rollout.
 */
async function analysisRun(templateName: string, target: RunningTarget, claims: Record<string, string>): Promise<AnalysisRun> {
  const template = manifest('deploy/argo-rollouts/analysis-template.yaml').find((o) => o['kind'] === 'AnalysisTemplate' && at(o, 'metadata', 'name') === templateName) ?? assert.fail(templateName);
  // The Rollout passes env=staging (the template's header); the template's own default says the same.
  const args = Object.fromEntries(((at(template, 'spec', 'args') ?? []) as Obj[]).map((a) => [String(a['name']), String(a['value'])]));
  const metric = (at(template, 'spec', 'metrics', 0) ?? {}) as Obj;
  const pod = at(metric, 'provider', 'job', 'spec', 'template', 'spec') as Obj;
  const container = at(pod, 'containers', 0) as Obj;
  const mounts = mountsOf(container, (pod['volumes'] ?? []) as Obj[], claims);
  const { entrypoint, env: imageEnv } = image();
  const argv = [...entrypoint, ...((container['args'] ?? []) as string[])].map((a) => remount(a.replace(/\{\{args\.(\w+)\}\}/g, (_, n: string) => args[n] ?? assert.fail(`arg ${n}`)), mounts));
  const env = envFor(target, remountAll({ ...imageEnv, ...containerEnv(container, {}) }, mounts));
  const jobs: Ran[] = [];
  for (let i = 0; i < Number(metric['count'] ?? 1); i++) jobs.push(await slot(() => runProgram(argv[0] ?? '', argv.slice(1), { env, timeoutMs: WSGATE_RUN_TIMEOUT_MS })));
  const failed = jobs.filter((j) => j.code !== 0).length;
  return { phase: failed > Number(metric['failureLimit'] ?? 0) ? 'Failed' : 'Successful', jobs, claims };
}

interface ArgoOutcome {
  pre: AnalysisRun;
  post: Record<'healthy' | 'handshake_403', AnalysisRun>;
}

async function argoScenario(): Promise<ArgoOutcome> {
  const claims = { 'wsgate-baselines': scratch('argo-baselines-'), 'wsgate-analysis-results': scratch('argo-results-') };
  const pre = await analysisRun('wsgate-pre', await deploy(), claims);
  const post = async (faults: FaultName[]) => analysisRun('wsgate-post', await deploy(faults), { 'wsgate-baselines': copyDir(claims['wsgate-baselines'], 'argo-baselines-'), 'wsgate-analysis-results': scratch('argo-results-') });
  const [healthy, broken] = await Promise.all([post([]), post(['handshake_403'])]);
  return { pre, post: { healthy, handshake_403: broken } };
}

// ---- Flagger -------------------------------------------------------------------------------------

/** What one webhook call did: its exit code and output, and the decision file after it. */
interface HookCall {
  webhook: string;
  type: string;
  code: number | null;
  out: string;
  decision: string | undefined;
}

/** The load tester in one world: its volumes, the deployment its wsgate runs reach, what its webhooks did. */
interface LoadTester {
  target: RunningTarget;
  mounts: Record<string, string>;
  calls: HookCall[];
  call: (hook: Webhook) => Promise<boolean>;
  decision: () => string | undefined;
}

const CANARY = 'deploy/flagger/canary.yaml';

function loadTester(target: RunningTarget, claims: Record<string, string>): LoadTester {
  const objs = manifest(CANARY);
  const deployment = objs.find((o) => o['kind'] === 'Deployment' && at(o, 'metadata', 'name') === 'wsgate-loadtester') ?? assert.fail('the load tester Deployment');
  const pod = at(deployment, 'spec', 'template', 'spec') as Obj;
  const container = at(pod, 'containers', 0) as Obj;
  const mounts = mountsOf(container, (pod['volumes'] ?? []) as Obj[], claims);
  const decisionFile = /--decision-file ([^\s"]+)/.exec(JSON.stringify(objs))?.[1] ?? assert.fail('a decision file');
  const lt: LoadTester = {
    target,
    mounts,
    calls: [],
    decision: () => {
      const f = remount(decisionFile, mounts);
      return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
    },
    // The load tester's bash task: `bash -c CMD`, 2xx when it exits 0.
    call: async (hook) => {
      const env = envFor(lt.target, remountAll({ ...image().env, ...containerEnv(container, {}) }, mounts));
      const r = await slot(() => runProgram('bash', ['-c', remount(hook.cmd, mounts)], { env, timeoutMs: WSGATE_RUN_TIMEOUT_MS }));
      lt.calls.push({ webhook: hook.name, type: hook.type, code: r.code, out: r.out, decision: lt.decision() });
      return r.code === 0;
    },
  };
  return lt;
}

interface Branch {
  analysis: CanaryAnalysis;
  lt: LoadTester;
}

interface FlaggerOutcome {
  start: Branch;
  proceed: Branch;
  rollback: Branch;
  hold: Branch;
}

/** Ticks until the canary is promoted or rolled back (bounded). */
async function finish(b: Branch): Promise<Branch> {
  for (let i = 0; i < 10 && b.analysis.phase !== 'Succeeded' && b.analysis.phase !== 'Failed'; i++) await b.analysis.tick();
  return b;
}

/**
 * A new revision of the canary: Flagger moves it to Progressing, runs wsgate pre before traffic moves,
 * then shifts the first step of traffic. From there the analysis forks: what the rollout checks see is
 * the new version, healthy, recommending a rollback, or held and then unreachable.
 */
async function flaggerScenario(): Promise<FlaggerOutcome> {
  const canary = manifest(CANARY).find((o) => o['kind'] === 'Canary') ?? assert.fail('a Canary');
  const lt = loadTester(await deploy(), { 'wsgate-baselines': scratch('flagger-baselines-') });
  const analysis = new CanaryAnalysis(canary, lt.call);
  await analysis.tick(true);
  await analysis.tick();
  const start = { analysis, lt };
  const fork = async (faults: FaultName[]): Promise<Branch> => {
    const branch = loadTester(await deploy(faults), { 'wsgate-baselines': copyDir(lt.mounts['/baselines'] ?? '', 'flagger-baselines-') });
    // The load tester's /results (an emptyDir) as it stood: pre's run and the decision file it wrote.
    cpSync(lt.mounts['/results'] ?? '', branch.mounts['/results'] ?? '', { recursive: true });
    return { analysis: analysis.branch(branch.call), lt: branch };
  };
  const [proceed, rollback, hold] = await Promise.all([
    fork([]).then(finish),
    fork(['handshake_403']).then(finish),
    fork([HOLD_FAULT]).then(async (b) => {
      await b.analysis.tick();
      // The deployment goes away: wsgate post cannot reach it (exit 3) at the next checks.
      await b.lt.target.close();
      return finish(b);
    }),
  ]);
  return { start, proceed, rollback, hold };
}

/** The ticks after the fork, with the calls each made. */
const since = (b: Branch, from: number): Tick[] => b.analysis.ticks.slice(from);
const rolloutCalls = (b: Branch) => b.lt.calls.filter((c) => c.type === 'rollout');

// ---- the tests -----------------------------------------------------------------------------------

interface Scenarios {
  workflow: Promise<WorkflowOutcome>;
  argo: Promise<ArgoOutcome>;
  flagger: Promise<FlaggerOutcome>;
}
let started: Scenarios | undefined;

/** The three manifests' runs, started side by side when the first test needs one (each test awaits its own, which reports its failure). */
function scenarios(): Scenarios {
  if (!started) {
    started = { workflow: workflowScenario(), argo: argoScenario(), flagger: flaggerScenario() };
    for (const p of Object.values(started)) (p as Promise<unknown>).catch(() => undefined);
  }
  return started;
}

describe('the shipped pipeline manifests, run against the reference service', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    await buildIfStale();
    shims = shimDir();
    policy = testPolicy(scratch('policy-'));
  });
  // Whatever is still running ends (each command has a timeout) before the services are closed.
  after(async () => {
    if (started) await Promise.allSettled(Object.values(started));
  });

  test('every PersistentVolumeClaim a manifest mounts is defined beside it', () => {
    const pairs = [['deploy/argo-rollouts/analysis-template.yaml'], ['deploy/flagger/canary.yaml'], ['deploy/kubernetes/indexed-job.yaml', 'deploy/kubernetes/merge-job.yaml'], ['deploy/k6-operator/testrun.yaml', 'deploy/k6-operator/merge-job.yaml']];
    for (const files of pairs) {
      const text = files.map((f) => JSON.stringify(manifest(f))).join('\n');
      const defined = new Set(files.flatMap((f) => manifest(f)).filter((o) => o['kind'] === 'PersistentVolumeClaim').map((o) => String(at(o, 'metadata', 'name'))));
      for (const [, claim] of text.matchAll(/"claimName":"([^"]+)"/g)) assert.ok(defined.has(claim ?? ''), `${files.join(' + ')}: claim ${claim} is defined there`);
    }
  });

  test('GitHub Actions, pre job: wsgate pre passes, saves the baseline atomically and uploads it; deploy runs; the nightly soak is not part of a dispatch', async () => {
    const { pre, deploy: deployed, soak } = await scenarios().workflow;
    const gate = pre.steps.find((s) => s.name === 'wsgate pre (baseline)');
    assert.equal(gate?.outcome, 'success', gate?.log);
    assert.match(gate?.log ?? '', /wsgate: READY pre \(env staging\)/);
    assert.equal(pre.result, 'success', JSON.stringify(pre.steps.map((s) => [s.name, s.outcome])));
    assert.deepEqual(readdirSync(join(pre.workspace, 'baselines')), ['staging.json'], 'no temporary file left beside the baseline');
    const baseline = JSON.parse(readFileSync(join(pre.workspace, 'baselines', 'staging.json'), 'utf8')) as { wsgate_baseline_version: number; env: string; validation: { verdict: string }; regression: { verdict: string; scenarios: unknown[] } };
    assert.equal(baseline.wsgate_baseline_version, 1);
    assert.equal(baseline.env, 'staging');
    assert.equal(baseline.validation.verdict, 'pass');
    assert.equal(baseline.regression.verdict, 'pass');
    assert.equal(baseline.regression.scenarios.length, 7);
    assert.match(pre.summary, /^# Pre-deployment report: staging — READY TO DEPLOY$/m, 'the report is the step summary');
    assert.equal(deployed.result, 'success');
    assert.equal(soak.result, 'skipped');
  });

  test('GitHub Actions, post job against the healthy deployment: decision proceed (exit 0), the job passes, no rollback job; its HTML reports render offline', async (t) => {
    const { post, rollback } = (await scenarios().workflow).after.proceed;
    const gate = post.steps.find((s) => s.name === 'wsgate post (compare, report, decide)');
    assert.deepEqual(post.outputs, { decision: 'proceed', exit_code: '0' }, gate?.log);
    assert.equal(post.steps.find((s) => s.name === 'wsgate monitor (health after the deploy)')?.outcome, 'skipped', 'monitor_minutes 0 skips the monitor');
    assert.equal(post.result, 'success');
    assert.equal(rollback.result, 'skipped');
    const report = readFileSync(join(post.workspace, 'deployment_report.md'), 'utf8');
    assert.match(report.split('\n')[0] ?? '', /^# Post-deployment report: staging — PROCEED$/);
    assert.match(report, /\| event latency p\(95\) \| [\d.]+ ms \| [\d.]+ ms \| [-+][\d.]+ ms \| .* \| yes \|/);
    assert.doesNotMatch(report, /\*\*YES\*\*/);
    assert.ok(post.summary.startsWith(report), 'the report is the step summary');
    const dir = runDirOf(join(post.workspace, 'results'), 'post');
    assert.match(readFileSync(join(dir, 'pipeline.junit.xml'), 'utf8'), /failures="0"/);
    assert.doesNotMatch(allText(dir) + (gate?.log ?? ''), JWT);
    const bin = chromiumOrSkip(t);
    if (bin) for (const suite of ['deployment-validation', 'regression-prevention']) await renderEngineReport(bin, join(dir, `${suite}.html`), suite);
  });

  test('GitHub Actions, post job with token_refresh_broken deployed: decision hold (exit 1), the job fails, no rollback job', async () => {
    const { post, rollback } = (await scenarios().workflow).after.hold;
    assert.deepEqual(post.outputs, { decision: 'hold', exit_code: '1' }, post.steps.map((s) => s.log).join('\n'));
    assert.equal(post.result, 'failure');
    assert.equal(post.steps.at(-1)?.outcome, 'failure', 'the last step fails the job: wsgate did not say proceed');
    assert.match(readFileSync(join(post.workspace, 'deployment_report.md'), 'utf8').split('\n')[0] ?? '', /^# Post-deployment report: staging — HOLD$/);
    assert.equal(rollback.result, 'skipped');
  });

  test('GitHub Actions, post job with isolation_leak deployed: decision rollback (exit 5), a report that names the trigger, and the rollback job runs', async () => {
    const { post, rollback } = (await scenarios().workflow).after.rollback;
    const gate = post.steps.find((s) => s.name === 'wsgate post (compare, report, decide)');
    assert.deepEqual(post.outputs, { decision: 'rollback', exit_code: '5' }, gate?.log);
    assert.equal(post.result, 'failure');
    assert.equal(rollback.result, 'success');
    assert.match(rollback.steps[0]?.log ?? '', /rolling back staging, as wsgate post recommended/);
    assert.match(gate?.log ?? '', /wsgate: ROLLBACK RECOMMENDED post \(env staging\)/);
    assert.match(gate?.log ?? '', /rollback trigger: any user isolation violation \(observed \d+ seen/);
    const report = readFileSync(join(post.workspace, 'deployment_report.md'), 'utf8');
    const lines = report.split('\n');
    assert.match(lines[0] ?? '', /^# Post-deployment report: staging — ROLLBACK RECOMMENDED$/, 'verdict first');
    assert.match(lines[2] ?? '', /^\*\*Roll back this deployment\.\*\* 1 rollback trigger fired: any user isolation violation \(\d+ seen/, 'recommendation second');
    assert.match(report, /Exit code \*\*5\*\* \(rollback recommended\)/);
    assert.match(report, /\| any user isolation violation \| [1-9]\d* seen[^|]*\| \*\*YES\*\* \|/);
    assert.match(report, /\| connection success below 70% \| 100\.0% \(\d+ of \d+\) \| no \|/);
    assert.match(report, /\| multi_user_isolation_regression \| yes \| \*\*FAIL\*\* \|/);
    assert.match(report, /## Compared with the baseline/);
    assert.match(report, /multi_user_isolation_regression: "user receives nothing meant for other users or rooms": pass → fail/);
    assert.match(report, /Now: \d+ isolation violations, so share = 1\./);
    assert.match(report, /Revenue at risk = 10,000 USD x 1\.0000 = 10,000 USD per month\./);
    // Links are relative to the report and lead to files that exist.
    const links = [...report.matchAll(/\]\(([^)]+)\)/g)].map((m) => decodeURI(m[1] ?? ''));
    assert.ok(links.some((l) => l.endsWith('deployment-validation.html')), 'links the HTML report');
    for (const l of links) assert.ok(existsSync(join(post.workspace, l)), `link ${l} resolves`);
    const dir = runDirOf(join(post.workspace, 'results'), 'post');
    const decision = JSON.parse(readFileSync(join(dir, 'pipeline.json'), 'utf8')) as { decision: string; exit_code: number; triggers: { id: string; fired: boolean }[] };
    assert.equal(decision.decision, 'rollback');
    assert.equal(decision.exit_code, 5);
    assert.deepEqual(decision.triggers.filter((x) => x.fired).map((x) => x.id), ['isolation_violations']);
    assert.match(readFileSync(join(dir, 'pipeline.junit.xml'), 'utf8'), /<testcase classname="wsgate\.post\.rollback_policy" name="no rollback: any user isolation violation">\n\s+<failure /);
    assert.doesNotMatch(allText(dir) + (gate?.log ?? '') + post.summary, JWT, 'no token anywhere');
  });

  test('Argo Rollouts: the pre and post analyses succeed against the healthy deployment; with handshake_403 the post Job fails, and failureLimit 0 fails the analysis', async () => {
    const { pre, post } = await scenarios().argo;
    assert.equal(pre.phase, 'Successful', pre.jobs[0]?.out);
    assert.match(pre.jobs[0]?.out ?? '', /wsgate: READY pre \(env staging\)/);
    assert.ok(existsSync(join(pre.claims['wsgate-baselines'] ?? '', 'staging.json')), 'the baseline is on the shared volume');
    assert.equal(post.healthy.phase, 'Successful', post.healthy.jobs[0]?.out);
    assert.ok(existsSync(join(post.healthy.claims['wsgate-analysis-results'] ?? '', 'deployment_report.md')), 'the report is on the results volume');
    assert.equal(post.handshake_403.jobs[0]?.code, 5, post.handshake_403.jobs[0]?.out);
    assert.equal(post.handshake_403.phase, 'Failed');
  });

  test('Flagger: a new revision runs wsgate pre before any traffic moves, then takes the first step', async () => {
    const { start } = await scenarios().flagger;
    const [first, second] = start.analysis.ticks;
    assert.equal(first?.event, 'new revision detected');
    assert.deepEqual(second?.calls.map((c) => [c.type, c.ok]), [['rollback', false], ['pre-rollout', true]], start.lt.calls.map((c) => c.out).join('\n'));
    assert.equal(second?.canaryWeight, 25);
    assert.equal(start.lt.calls.find((c) => c.type === 'pre-rollout')?.decision, 'proceed');
  });

  test('Flagger: the healthy deployment is promoted with no failed check, and the decision file is removed', async () => {
    const { proceed } = await scenarios().flagger;
    assert.equal(proceed.analysis.phase, 'Succeeded', JSON.stringify(proceed.analysis.ticks));
    assert.equal(proceed.analysis.failedChecks, 0);
    assert.deepEqual(rolloutCalls(proceed).map((c) => [c.code, c.decision]), [[0, 'proceed'], [0, 'proceed']], rolloutCalls(proceed).map((c) => c.out).join('\n'));
    assert.deepEqual(since(proceed, 2).map((x) => x.event), ['advanced to 50', 'promoting', 'all traffic to the primary', 'promoted']);
    assert.equal(proceed.lt.decision(), undefined, 'post-rollout removed the decision');
  });

  test('Flagger: a rollback recommendation (handshake_403) rolls back at the next tick through the rollback webhook, below the threshold', async () => {
    const { rollback } = await scenarios().flagger;
    const [check, next] = since(rollback, 2);
    assert.deepEqual(rolloutCalls(rollback).map((c) => [c.code, c.decision]), [[5, 'rollback']], rolloutCalls(rollback)[0]?.out);
    assert.equal(check?.event, 'halted: rollout check failed');
    assert.deepEqual(next?.calls.map((c) => [c.type, c.ok]), [['rollback', true], ['post-rollout', true]]);
    assert.equal(next?.event, 'rolled back: rollback webhook');
    assert.ok(rollback.analysis.failedChecks < rollback.analysis.threshold, `${rollback.analysis.failedChecks} failed check(s), threshold ${rollback.analysis.threshold}`);
    assert.equal(rollback.analysis.phase, 'Failed');
    assert.equal(rollback.lt.decision(), undefined, 'post-rollout removed the decision');
  });

  test('Flagger: a hold pauses the canary and the check runs again; failed checks (the hold, then an unreachable target) roll back at the threshold', async () => {
    const { hold } = await scenarios().flagger;
    const ticks = since(hold, 2);
    const threshold = hold.analysis.threshold;
    assert.ok(threshold > 1, 'a hold alone never rolls back');
    assert.deepEqual(ticks[1]?.calls.map((c) => c.type), ['rollback', 'rollout'], 'the tick after a hold runs the check again');
    assert.deepEqual(rolloutCalls(hold).map((c) => [c.code, c.decision]), [[1, 'hold'], ...Array.from({ length: threshold - 1 }, () => [3, 'could-not-run'])], rolloutCalls(hold).map((c) => c.out).join('\n'));
    // Each failed check pauses the canary at its weight; the rollback webhook does not fire on hold.
    for (const [i, x] of ticks.slice(0, threshold).entries()) {
      assert.equal(x.event, 'halted: rollout check failed');
      assert.deepEqual([x.canaryWeight, x.failedChecks, x.phase], [25, i + 1, 'Progressing']);
      assert.deepEqual(x.calls.map((c) => [c.type, c.ok]), [['rollback', false], ['rollout', false]]);
    }
    assert.equal(ticks[threshold]?.event, 'rolled back: failed checks threshold');
    assert.equal(ticks.length, threshold + 1);
    assert.equal(hold.analysis.phase, 'Failed');
    assert.equal(hold.lt.decision(), undefined, 'post-rollout removed the decision');
  });
});

/**
 * The engine's report in Chromium: it must load without network or errors, name the run, and say
 * (data-charts-drawn) that every chart it holds has drawn, each with coloured pixels.
 */
async function renderEngineReport(bin: string, html: string, suite: string): Promise<void> {
  const raw = readFileSync(html, 'utf8');
  assert.doesNotMatch(raw, JWT, 'no token in the report');
  const charts = raw.match(/data-chart>/g)?.length ?? 0;
  assert.ok(charts >= 3, `${suite}: the load chart, latencies and throughput (${charts} charts)`);
  const { page, errors, network, close } = await openOffline(bin, html);
  try {
    await page.waitForSelector('body[data-charts-drawn]', { timeout: 15_000 });
    assert.equal(await page.getAttribute('body', 'data-charts-drawn'), String(charts), `${suite}: every chart drew`);
    const text = await page.evaluate<string>('document.body.innerText');
    assert.ok(text.includes(suite), `${suite}: the report names its suite`);
    for (const metric of suite === 'deployment-validation' ? ['wsgate_connection_success', 'wsgate_event_latency'] : ['wsgate_event_latency']) {
      assert.ok(text.includes(metric), `${suite}: the report shows ${metric}`);
    }
    const coloured = await colouredPixelsPerChart(page);
    assert.equal(coloured.length, charts);
    for (const [i, n] of coloured.entries()) assert.ok(n > 0, `${suite}: chart ${i} has no coloured pixel: axes without a series`);
    assert.deepEqual(errors, [], `${suite}: no page errors`);
    assert.deepEqual(network, [], `${suite}: no network request`);
    assert.doesNotMatch(await page.content(), JWT, 'no token in the rendered report');
  } finally {
    await close();
  }
}

// ---- k6-operator ---------------------------------------------------------------------------------

/** A TCP port on 127.0.0.1 free a moment ago, for a runner's REST API. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * The TestRun as k6-operator v1.6 runs it: `parallelism` runner pods, each `k6 run --quiet` with its
 * execution segment, the spec's arguments, the script from the ConfigMap (mounted at /test/), its
 * REST API address and --paused, and instance/testrun tags (pkg/resources/jobs/runner.go); the starter
 * resumes them all once every one is up (here: PATCH /v1/status on loopback instead of 0.0.0.0). Then
 * the merge Job's `sh -c` command on their samples. Resolves with the merge Job's run.
 */
async function runTestRun(target: RunningTarget): Promise<Ran> {
  const k6 = k6Binary();
  const objs = [...manifest('deploy/k6-operator/testrun.yaml'), ...manifest('deploy/k6-operator/merge-job.yaml')];
  const maps = configMaps(objs);
  const testRun = objs.find((o) => o['kind'] === 'TestRun') ?? assert.fail('a TestRun');
  const name = String(at(testRun, 'metadata', 'name'));
  const spec = testRun['spec'] as Obj;
  const n = Number(spec['parallelism']);
  const runner = spec['runner'] as Obj;
  const results = scratch('k6-operator-results-');
  const claims = { [String(at(objs.find((o) => o['kind'] === 'PersistentVolumeClaim'), 'metadata', 'name'))]: results };
  const script = `${join(REPO, 'dist')}/${String(at(spec, 'script', 'configMap', 'file'))}`;
  const sequence = ['0', ...Array.from({ length: n - 1 }, (_, i) => `${i + 1}/${n}`), '1'];
  const runners = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const index = i + 1;
      const pod = `${name}-${index}`;
      const mounts = mountsOf(runner, (runner['volumes'] ?? []) as Obj[], claims, { POD_NAME: pod });
      const port = await freePort();
      const args = ['run', '--quiet', `--execution-segment=${sequence[i]}:${sequence[i + 1]}`, `--execution-segment-sequence=${sequence.join(',')}`, ...String(spec['arguments'] ?? '').split(/\s+/).filter(Boolean), script, `--address=127.0.0.1:${port}`, '--paused', '--tag', `instance_id=${index}`, '--tag', `testrun_name=${name}`].map((a) => remount(a, mounts));
      const env = envFor(target, remountAll(containerEnv(runner, maps, { 'metadata.name': pod }), mounts));
      return { port, run: runProgram(k6, args, { env, timeoutMs: WSGATE_RUN_TIMEOUT_MS }) };
    }),
  );
  // The starter: every runner's API answers, then each is resumed.
  const api = (port: number, init?: RequestInit) => fetch(`http://127.0.0.1:${port}/v1/status`, init);
  for (const r of runners) {
    for (let tries = 0; ; tries++) {
      if (await api(r.port).then((x) => x.ok, () => false)) break;
      assert.ok(tries < 200, `runner on port ${r.port} never answered`);
      await new Promise((x) => setTimeout(x, 100));
    }
  }
  await Promise.all(runners.map((r) => api(r.port, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { type: 'status', id: 'default', attributes: { paused: false } } }) })));
  for (const [i, r] of (await Promise.all(runners.map((x) => x.run))).entries()) assert.ok(r.code === 0 || r.code === 99, `runner ${i + 1} reached a verdict of its own segment (exit ${r.code}):\n${r.out}`);
  const job = objs.find((o) => o['kind'] === 'Job') ?? assert.fail('the merge Job');
  const pod = at(job, 'spec', 'template', 'spec') as Obj;
  const container = at(pod, 'containers', 0) as Obj;
  // The wsgate-bundles ConfigMap was made from dist/ (the TestRun's header).
  const mounts = mountsOf(container, (pod['volumes'] ?? []) as Obj[], { ...claims, [String(at(spec, 'script', 'configMap', 'name'))]: join(REPO, 'dist') });
  const command = (container['command'] ?? []) as string[];
  // The merge image is wsgate's with a k6 added (it reads a k6 bundle's thresholds with `k6 inspect`).
  const env = envFor(target, { ...remountAll(containerEnv(container, maps), mounts), WSGATE_K6: k6 });
  return runProgram(command[0] ?? '', [...command.slice(1, -1), remount(command.at(-1) ?? '', mounts)], { env, timeoutMs: WSGATE_RUN_TIMEOUT_MS });
}

describe('deploy/k6-operator: the TestRun on k6 runners, judged by the merge Job', { timeout: 5 * 60_000, skip: k6Skip() }, () => {
  before(async () => {
    await buildIfStale();
    shims ||= shimDir();
    policy ||= testPolicy(scratch('policy-'));
  });

  test('healthy: the merged run passes (exit 0)', async () => {
    const merged = await runTestRun(await deploy());
    assert.equal(merged.code, 0, merged.out);
    assert.match(merged.out, /PASS merged deployment-validation \(env staging, 2 instances/);
  });

  test('handshake_403: the merged run fails (exit 1)', async () => {
    const merged = await runTestRun(await deploy(['handshake_403']));
    assert.equal(merged.code, 1, merged.out);
    assert.match(merged.out, /FAIL merged deployment-validation/);
  });
});

/**
 * The pipeline files are valid:
 * - the GitHub Actions workflow passes actionlint (its own validator: syntax, expressions, action inputs
 *   where it knows them, job needs, shell scripts when shellcheck is present), and its policy holds:
 *   every action pinned by a full commit SHA with the release named, read-only permissions except the
 *   one job that publishes check runs, secrets only in step environments, a nightly schedule;
 * - Kubernetes objects pass the validators generated from the Kubernetes OpenAPI (kubernetes-models) and
 *   from the Argo Rollouts CRDs (@kubernetes-models/argo-rollouts): types and required fields;
 * - k6-operator's TestRun and Flagger's Canary have no such package here, nor can their Go API types be
 *   compiled (the module proxy here has no k6-operator, and no Argo Rollouts that builds with this Go):
 *   their structure is checked against the fields of k6-operator v1.6.0 api/v1alpha1/testrun_types.go
 *   and Flagger pkg/apis/flagger/v1beta1/canary.go (required fields present, no field they do not have),
 *   and the Kubernetes objects inside them (env, volumes, mounts) go through kubernetes-models;
 * - every wsgate command line in them is accepted by wsgate's own argument parser (in a shell line, each
 *   command of it that is wsgate).
 * What they do when they run is tested in test/deploy/: indexed-job.test.ts and pipelines.test.ts run
 * their command lines against the reference service.
 *
 * actionlint: $WSGATE_ACTIONLINT, PATH, ~/go/bin, wsgate's tools cache (test/helpers/tools.ts), or
 * `go install` of a pinned version into that cache when Go is there; with CI=true a missing actionlint
 * fails, elsewhere the test is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { AnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, EnvFromSource, EnvVar, PersistentVolumeClaim, PodSecurityContext, ResourceRequirements, SecurityContext, Service, Volume, VolumeMount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { main } from '../../cli/main.ts';
import { capture } from './helpers.ts';
import { toolsCacheDir } from '../helpers/tools.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const WORKFLOW = join(REPO, '.github', 'workflows', 'deployment-gate.yml');
const ACTIONLINT_VERSION = 'v1.7.12';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown, where: string): Obj => {
  assert.ok(isObj(v), `${where} is an object`);
  return v;
};

function docs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d, i) => {
    assert.deepEqual(d.errors, [], `${file} document ${i + 1} parses`);
    return obj(d.toJS(), `${file} document ${i + 1}`);
  });
}

function onlyKeys(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) assert.ok(allowed.includes(k), `${where}.${k} is not a field of ${where} (allowed: ${allowed.join(', ')})`);
}

/** wsgate's parser accepts the arguments: the command with --help appended prints help and exits 0. */
async function acceptedByWsgate(args: string[], where: string): Promise<void> {
  const c = capture();
  const code = await main([...args, '--help'], {}, c.io);
  assert.equal(code, 0, `${where}: wsgate ${args.join(' ')} is rejected: ${c.err()}`);
}

function findActionlint(): { bin?: string; why?: string } {
  const candidates = [process.env['WSGATE_ACTIONLINT'], 'actionlint', join(homedir(), 'go', 'bin', 'actionlint'), join(toolsCacheDir(), 'actionlint')];
  for (const c of candidates) {
    if (!c) continue;
    if (spawnSync(c, ['-version'], { encoding: 'utf8' }).status === 0) return { bin: c };
  }
  const gobin = toolsCacheDir();
  const r = spawnSync('go', ['install', `github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}`], { encoding: 'utf8', env: { ...process.env, GOBIN: gobin, GOFLAGS: '-mod=mod' }, timeout: 300_000 });
  if (r.status === 0 && existsSync(join(gobin, 'actionlint'))) return { bin: join(gobin, 'actionlint') };
  return { why: `actionlint is not installed and \`go install github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}\` failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()}` };
}

describe('the GitHub Actions workflow', () => {
  test('passes actionlint', (t) => {
    const { bin, why } = findActionlint();
    if (!bin) {
      if (process.env['CI'] === 'true') assert.fail(why);
      t.skip(why);
      return;
    }
    const r = spawnSync(bin, ['-no-color', WORKFLOW], { encoding: 'utf8', cwd: REPO });
    assert.equal(r.status, 0, `actionlint found problems:\n${r.stdout}${r.stderr}`);
  });

  const wf = docs(WORKFLOW)[0] ?? {};
  const text = readFileSync(WORKFLOW, 'utf8');
  const jobs = obj(wf['jobs'], 'jobs');

  test('pins every action by a full commit SHA and names its release', () => {
    const uses = [...text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)];
    assert.ok(uses.length >= 10, 'actions are used');
    for (const [, ref, rest] of uses) {
      assert.match(ref ?? '', /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${ref} is pinned by a 40-hex commit SHA`);
      assert.match(rest ?? '', /^\s+# v\d+\.\d+\.\d+$/, `${ref} names its release in a comment`);
    }
    // One SHA per action everywhere it is used.
    const byAction = new Map<string, Set<string>>();
    for (const [, ref] of uses) {
      const [action, sha] = (ref ?? '').split('@');
      byAction.set(action ?? '', (byAction.get(action ?? '') ?? new Set()).add(sha ?? ''));
    }
    for (const [action, shas] of byAction) assert.equal(shas.size, 1, `${action} is pinned to one commit`);
  });

  test('grants least privilege', () => {
    assert.deepEqual(wf['permissions'], { contents: 'read' }, 'workflow-wide: contents read only');
    for (const [name, job] of Object.entries(jobs)) {
      const perms = obj(job, name)['permissions'];
      if (perms === undefined) continue;
      for (const [scope, level] of Object.entries(obj(perms, `${name}.permissions`))) {
        if (level === 'write') assert.ok(name === 'post' && scope === 'checks', `${name} may write ${scope}: only post may write checks`);
      }
    }
    assert.deepEqual(obj(jobs['post'], 'post')['permissions'], { contents: 'read', checks: 'write' });
    for (const m of text.matchAll(/actions\/checkout@\S+[^\n]*\n\s+with:\n\s+persist-credentials: (\S+)/g)) assert.equal(m[1], 'false', 'checkout does not keep the token');
    assert.equal([...text.matchAll(/actions\/checkout@/g)].length, [...text.matchAll(/persist-credentials: false/g)].length);
  });

  test('keeps secrets out of scripts, runs pre and post around the deploy, publishes JUnit and reports, and has a nightly soak', async () => {
    for (const [name, job] of Object.entries(jobs)) {
      for (const step of (obj(job, name)['steps'] as Obj[] | undefined) ?? []) {
        assert.doesNotMatch(String(step['run'] ?? ''), /\$\{\{\s*(secrets|inputs|github\.event)\./, `${name}: no secret or input expanded inside a script (use env)`);
      }
    }
    const on = obj(wf['on'], 'on');
    assert.match(String((on['schedule'] as Obj[])[0]?.['cron']), /^\d+ \d+ \* \* \*$/, 'a nightly schedule');
    assert.deepEqual(obj(jobs['deploy'], 'deploy')['needs'], 'pre');
    assert.deepEqual(obj(jobs['post'], 'post')['needs'], 'deploy');
    assert.ok(String(obj(jobs['nightly-soak'], 'nightly-soak')['if']).includes("'schedule'"));
    const steps = JSON.stringify(obj(jobs['post'], 'post')['steps']);
    for (const needle of ['wsgate post', 'deployment_report.md', 'mikepenz/action-junit-report@', 'actions/upload-artifact@', 'actions/download-artifact@', 'GITHUB_STEP_SUMMARY', '5) decision=rollback']) {
      assert.ok(steps.includes(needle), `post job: ${needle}`);
    }
    // The wsgate command lines of the workflow are ones wsgate accepts (flag names and arity).
    const checked: string[] = [];
    for (const m of text.matchAll(/npx wsgate ([a-z0-9-]+)((?: --?[a-z-]+(?: (?:"[^"]*"|[^\s-"][^\s]*))?)*)/g)) {
      const args = [m[1] ?? '', ...(m[2] ?? '').trim().split(/\s+/).filter(Boolean).map((a) => a.replace(/^"|"$/g, '').replace(/\$\{?\w+\}?m?/g, '1m').replace(/^1m$/, 'staging'))];
      await acceptedByWsgate(args, 'workflow');
      checked.push(args[0] ?? '');
    }
    assert.deepEqual([...new Set(checked)].sort(), ['monitor', 'post', 'pre', 'regression']);
  });

  test('runs the gate on the engine: no step builds, fetches or caches k6 (k6 is AGPL; wsgate never ships it)', () => {
    // No step runs, installs or caches anything named k6, and no action it uses is one: the suites need Node alone.
    const steps = Object.values(((parse(text) ?? {}) as { jobs?: Record<string, { steps?: { run?: string; uses?: string; with?: unknown }[] }> }).jobs ?? {}).flatMap((j) => j.steps ?? []);
    assert.ok(steps.length > 5, `the workflow has steps (${steps.length})`);
    for (const step of steps) assert.doesNotMatch(`${step.run ?? ''} ${step.uses ?? ''} ${JSON.stringify(step.with ?? {})}`, /k6/i, JSON.stringify(step));
    assert.doesNotMatch(text, /K6_CACHE/, 'the workflow keeps no k6 cache');
  });
});

/** k6-operator v1.6.0 api/v1alpha1/testrun_types.go: TestRunSpec, K6Script, K6Configmap, Pod json names. */
const TESTRUN_SPEC = ['script', 'parallelism', 'separate', 'arguments', 'args', 'ports', 'initializer', 'starter', 'runner', 'quiet', 'paused', 'scuttle', 'cleanup', 'testRunId', 'token'];
const K6_SCRIPT = ['volumeClaim', 'configMap', 'localFile'];
const K6_POD = ['disabled', 'affinity', 'automountServiceAccountToken', 'env', 'image', 'imagePullSecrets', 'imagePullPolicy', 'metadata', 'nodeSelector', 'tolerations', 'topologySpreadConstraints', 'resources', 'serviceAccountName', 'securityContext', 'containerSecurityContext', 'envFrom', 'readinessProbe', 'livenessProbe', 'initContainers', 'volumes', 'volumeMounts', 'priorityClassName', 'schedulerName'];
/** Flagger pkg/apis/flagger/v1beta1/canary.go: CanarySpec (the fields used), CanaryAnalysis, CanaryWebhook, HookType values. */
const CANARY_SPEC = ['provider', 'metricsServer', 'targetRef', 'autoscalerRef', 'ingressRef', 'routeRef', 'upstreamRef', 'service', 'analysis', 'canaryAnalysis', 'progressDeadlineSeconds', 'skipAnalysis', 'revertOnDeletion', 'suspend'];
const CANARY_ANALYSIS = ['interval', 'iterations', 'mirror', 'mirrorWeight', 'maxWeight', 'stepWeight', 'stepWeights', 'stepWeightPromotion', 'threshold', 'primaryReadyThreshold', 'canaryReadyThreshold', 'alerts', 'metrics', 'webhooks', 'match', 'sessionAffinity'];
const WEBHOOK = ['type', 'name', 'url', 'muteAlert', 'timeout', 'metadata', 'retries', 'disableTLS'];
const HOOK_TYPES = ['rollout', 'pre-rollout', 'post-rollout', 'confirm-rollout', 'confirm-promotion', 'event', 'rollback'];

function validateCore(o: Obj, where: string): void {
  const kind = o['kind'];
  const models: Record<string, (d: Obj) => { validate(): void }> = {
    ConfigMap: (d) => new ConfigMap(d as never),
    PersistentVolumeClaim: (d) => new PersistentVolumeClaim(d as never),
    Job: (d) => new Job(d as never),
    Deployment: (d) => new Deployment(d as never),
    Service: (d) => new Service(d as never),
  };
  const make = models[String(kind)];
  assert.ok(make, `${where}: a validator for kind ${String(kind)}`);
  assert.doesNotThrow(() => make(o).validate(), `${where} (${String(kind)}) is valid`);
}

/** The Kubernetes objects a k6-operator Pod template holds, through the Kubernetes schemas. */
function validatePodParts(p: Obj, where: string): void {
  const each = <T>(list: unknown, make: (d: Obj) => { validate(): void }, what: string) => {
    for (const [i, d] of ((list as Obj[] | undefined) ?? []).entries()) assert.doesNotThrow(() => make(d).validate(), `${where}.${what}[${i}] is valid`);
  };
  each(p['env'], (d) => new EnvVar(d as never), 'env');
  each(p['envFrom'], (d) => new EnvFromSource(d as never), 'envFrom');
  each(p['volumes'], (d) => new Volume(d as never), 'volumes');
  each(p['volumeMounts'], (d) => new VolumeMount(d as never), 'volumeMounts');
  if (p['securityContext']) assert.doesNotThrow(() => new PodSecurityContext(p['securityContext'] as never).validate(), `${where}.securityContext`);
  if (p['containerSecurityContext']) assert.doesNotThrow(() => new SecurityContext(p['containerSecurityContext'] as never).validate(), `${where}.containerSecurityContext`);
  if (p['resources']) assert.doesNotThrow(() => new ResourceRequirements(p['resources'] as never).validate(), `${where}.resources`);
}

describe('the Kubernetes manifests in deploy/', () => {
  test('k6-operator: a TestRun with parallelism, the bundle from a ConfigMap, env from a Secret, samples per runner; the merge Job', async () => {
    const objs = [...docs(join(REPO, 'deploy', 'k6-operator', 'testrun.yaml')), ...docs(join(REPO, 'deploy', 'k6-operator', 'merge-job.yaml'))];
    const testRun = objs.find((o) => o['kind'] === 'TestRun');
    assert.ok(testRun, 'a TestRun');
    assert.equal(testRun['apiVersion'], 'k6.io/v1alpha1');
    assert.match(String(obj(testRun['metadata'], 'metadata')['name']), /^[a-z0-9-]+$/);
    const spec = obj(testRun['spec'], 'TestRun.spec');
    onlyKeys(spec, TESTRUN_SPEC, 'TestRun.spec');
    assert.ok(Number.isInteger(spec['parallelism']) && (spec['parallelism'] as number) >= 2, 'spec.parallelism (required) of 2 or more');
    const script = obj(spec['script'], 'spec.script (required)');
    onlyKeys(script, K6_SCRIPT, 'spec.script');
    const cm = obj(script['configMap'], 'spec.script.configMap');
    onlyKeys(cm, ['name', 'file'], 'spec.script.configMap');
    assert.equal(typeof cm['name'], 'string', 'spec.script.configMap.name (required)');
    assert.ok(existsSync(join(REPO, 'scenarios', String(cm['file']).replace(/\.js$/, '.ts'))), `${String(cm['file'])} is a wsgate bundle`);
    assert.match(String(spec['arguments']), /--out json=\/results\/samples\.json/);
    const runner = obj(spec['runner'], 'spec.runner');
    onlyKeys(runner, K6_POD, 'spec.runner');
    validatePodParts(runner, 'spec.runner');
    assert.match(String(runner['image']), /k6:2\.2\./, 'runners run the k6 the bundles need');
    assert.ok(JSON.stringify(runner['envFrom']).includes('"secretRef":{"name":"wsgate-secrets"}'), 'env from a Secret');
    assert.ok((runner['volumeMounts'] as Obj[]).some((m) => m['subPathExpr'] === '$(POD_NAME)'), 'each runner writes its own directory');
    for (const o of objs.filter((x) => x['kind'] !== 'TestRun')) validateCore(o, 'deploy/k6-operator');
    const job = objs.find((o) => o['kind'] === 'Job') as Obj;
    const cmd = String((((obj(obj(obj(job['spec'], 'spec')['template'], 'template')['spec'], 'spec')['containers'] as Obj[])[0] ?? {})['command'] as string[]).at(-1));
    assert.match(cmd, /wsgate merge --bundle \/scripts\/deployment-validation\.js .*\/results\/\*\/samples\.json$/);
    await acceptedByWsgate(['merge', '--bundle', 'x.js', '--env', 'staging', '--results-dir', '/results/merged'], 'merge job');
    // No secret value is written in a manifest.
    assert.ok(!objs.some((o) => o['kind'] === 'Secret'), 'the Secret is created by the operator (kubectl create secret), not committed');
  });

  test('Argo Rollouts: AnalysisTemplates (Job provider) running wsgate pre and post, valid against the CRD schema', async () => {
    const objs = docs(join(REPO, 'deploy', 'argo-rollouts', 'analysis-template.yaml'));
    const templates = objs.filter((o) => o['kind'] === 'AnalysisTemplate');
    assert.deepEqual(templates.map((t) => obj(t['metadata'], 'metadata')['name']), ['wsgate-pre', 'wsgate-post']);
    for (const t of templates) {
      assert.doesNotThrow(() => new AnalysisTemplate(t as never).validate(), 'AnalysisTemplate is valid');
      const metric = ((obj(t['spec'], 'spec')['metrics'] as Obj[])[0] ?? {}) as Obj;
      onlyKeys(obj(metric['provider'], 'provider'), ['job'], 'metric.provider');
      const job = obj(obj(metric['provider'], 'provider')['job'], 'provider.job');
      onlyKeys(job, ['metadata', 'spec'], 'provider.job');
      // The embedded Job spec through the Kubernetes Job schema.
      assert.doesNotThrow(() => new Job({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'x' }, spec: job['spec'] } as never).validate(), 'provider.job.spec is a valid JobSpec');
      const jobSpec = obj(job['spec'], 'job.spec');
      assert.equal(jobSpec['backoffLimit'], 0, 'one try: the exit code is the verdict');
      const pod = obj(obj(jobSpec['template'], 'template')['spec'], 'pod');
      assert.equal(pod['restartPolicy'], 'Never');
      const args = ((pod['containers'] as Obj[])[0]?.['args'] as string[]).map((a) => a.replace('{{args.env}}', 'staging'));
      await acceptedByWsgate(args, `AnalysisTemplate ${String(obj(t['metadata'], 'metadata')['name'])}`);
      assert.equal(metric['failureLimit'], 0);
    }
    for (const o of objs.filter((x) => x['kind'] !== 'AnalysisTemplate')) validateCore(o, 'deploy/argo-rollouts');
  });

  test('Flagger: a Canary whose webhooks run wsgate pre and post through the load tester, a rollback webhook on their decision file', async () => {
    const objs = docs(join(REPO, 'deploy', 'flagger', 'canary.yaml'));
    const canary = objs.find((o) => o['kind'] === 'Canary');
    assert.ok(canary);
    assert.equal(canary['apiVersion'], 'flagger.app/v1beta1');
    const spec = obj(canary['spec'], 'Canary.spec');
    onlyKeys(spec, CANARY_SPEC, 'Canary.spec');
    for (const k of ['apiVersion', 'kind', 'name']) assert.equal(typeof obj(spec['targetRef'], 'targetRef')[k], 'string', `targetRef.${k} (required)`);
    assert.ok(Number.isInteger(obj(spec['service'], 'service')['port']), 'service.port (required)');
    const analysis = obj(spec['analysis'], 'analysis');
    onlyKeys(analysis, CANARY_ANALYSIS, 'Canary.spec.analysis');
    assert.equal(typeof analysis['interval'], 'string', 'analysis.interval (required)');
    assert.ok(Number.isInteger(analysis['threshold']), 'analysis.threshold (required)');
    // More than one failed check before a rollback: a hold pauses, a rollback comes from the rollback webhook.
    assert.ok((analysis['threshold'] as number) > 1, `analysis.threshold ${String(analysis['threshold'])}: with 1, every hold rolls back`);
    const hooks = analysis['webhooks'] as Obj[];
    assert.deepEqual(hooks.map((h) => h['type']), ['rollback', 'pre-rollout', 'rollout', 'post-rollout']);
    const wsgateLines = new Map<string, string[]>();
    for (const h of hooks) {
      onlyKeys(h, WEBHOOK, 'webhook');
      assert.ok(HOOK_TYPES.includes(String(h['type'])));
      for (const k of ['name', 'url']) assert.equal(typeof h[k], 'string', `webhook.${k} (required)`);
      assert.equal(h['retries'], undefined, 'a retried webhook would run wsgate twice in one tick');
      const md = obj(h['metadata'], 'webhook.metadata');
      assert.equal(md['type'], 'bash');
      // The cmd is a shell line: each command of it that is wsgate must be one wsgate accepts.
      const lines = String(md['cmd']).split(/\s*(?:&&|\|\||;)\s*/).filter((c) => /^wsgate /.test(c));
      for (const line of lines) await acceptedByWsgate(line.replace(/^wsgate /, '').split(' '), `webhook ${String(h['name'])}`);
      wsgateLines.set(String(h['type']), lines);
    }
    const decisionFile = (type: string) => /--decision-file (\S+)/.exec(wsgateLines.get(type)?.[0] ?? '')?.[1];
    assert.match(wsgateLines.get('pre-rollout')?.[0] ?? '', /^wsgate pre /);
    assert.match(wsgateLines.get('rollout')?.[0] ?? '', /^wsgate post /);
    const file = decisionFile('rollout');
    assert.ok(file, 'wsgate post writes a decision file');
    assert.equal(decisionFile('pre-rollout'), file, 'pre writes the same file');
    const cmd = (type: string) => String(obj(hooks.find((h) => h['type'] === type)?.['metadata'], type)['cmd']);
    assert.ok(cmd('rollback').includes(file) && cmd('rollback').includes('rollback'), 'the rollback webhook reads the word rollback from it');
    assert.ok(cmd('post-rollout').includes(`rm -f ${file}`), 'the post-rollout webhook removes it, so the next canary never reads it');
    for (const o of objs.filter((x) => x['kind'] !== 'Canary')) validateCore(o, 'deploy/flagger');
  });

  test('every manifest file is covered: its structure here, and it runs against the reference service in test/deploy/', () => {
    const files = readdirSync(join(REPO, 'deploy'), { recursive: true }).map(String).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, [
      'argo-rollouts/analysis-template.yaml',
      'flagger/canary.yaml',
      'k6-operator/merge-job.yaml',
      'k6-operator/testrun.yaml',
      'kubernetes/indexed-job.yaml',
      'kubernetes/merge-job.yaml',
    ]);
    assert.ok(existsSync(join(REPO, 'test', 'deploy', 'indexed-job.test.ts')), 'the Indexed Job and its merge Job run in their own test');
    // The workflow, Argo Rollouts, Flagger and k6-operator manifests run in test/deploy/pipelines.test.ts, which names each.
    const runs = readFileSync(join(REPO, 'test', 'deploy', 'pipelines.test.ts'), 'utf8');
    for (const f of ['.github/workflows/deployment-gate.yml', ...files.filter((f) => !f.startsWith('kubernetes/')).map((f) => `deploy/${f}`)]) assert.ok(runs.includes(`'${f}'`), `test/deploy/pipelines.test.ts runs ${f}`);
  });
});

/**
 * deploy/kubernetes: the Indexed Job that splits a run over pods by completion index, and the Job that
 * merges their samples. The objects pass the validators generated from the Kubernetes OpenAPI
 * (kubernetes-models); then the containers' own command lines run here, as Kubernetes would run them
 * (each pod's $(JOB_COMPLETION_INDEX) expanded, /results a scratch directory, the image's
 * /opt/wsgate this checkout), against the reference service: healthy, the merged verdict passes;
 * with a fault, it fails.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, PersistentVolumeClaim } from 'kubernetes-models/v1';
import { startTarget } from '../../reference-service/service.ts';
import type { FaultName } from '../../reference-service/service.ts';
import { REPO, at, buildIfStale, expand, manifest, runProgram, scratch } from './harness.ts';
import type { Obj, Ran } from './harness.ts';

const SECRET = 'indexed-job-test-secret-0123456789abcdef';

const docs = (file: string): Obj[] => manifest(`deploy/kubernetes/${file}`);

interface Container {
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string }[];
}

const wsgate = (args: string[], env: NodeJS.ProcessEnv): Promise<Ran> => runProgram(process.execPath, [join(REPO, 'bin', 'wsgate.mjs'), ...args], { env });

/** The environment a pod gets: PATH and HOME, the ConfigMap (pointed here), and the Secret. */
function podEnv(config: Obj, urls: { wsUrl: string; httpUrl: string; authUrl: string }): NodeJS.ProcessEnv {
  const data = (config['data'] ?? {}) as Record<string, string>;
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    ...data,
    WSGATE_ENV: 'local',
    WSGATE_WS_URL: urls.wsUrl,
    WSGATE_HTTP_URL: urls.httpUrl,
    WSGATE_AUTH_URL: urls.authUrl,
    WSGATE_JWT_SECRET: SECRET,
  };
}

async function runTheJobs(faults: FaultName[]): Promise<{ merged: Ran; pods: number }> {
  const [config, , job] = docs('indexed-job.yaml');
  const [merge] = docs('merge-job.yaml');
  const results = scratch('indexed-job-');
  const target = await startTarget({ host: '127.0.0.1', authSecret: SECRET, backendSecret: SECRET, faults });
  try {
    const env = podEnv(config ?? {}, target);
    const completions = Number(at(job, 'spec', 'completions'));
    const container = at(job, 'spec', 'template', 'spec', 'containers', 0) as Container;
    // The pods run at once, as parallelism = completions says.
    const pods = await Promise.all(
      Array.from({ length: completions }, (_, index) => {
        const vars = { JOB_COMPLETION_INDEX: String(index) };
        const podVars = { ...env };
        for (const e of container.env ?? []) podVars[e.name] = expand(e.value ?? '', vars).replace(/^\/results/, results);
        const args = (container.args ?? []).map((a) => expand(a, vars).replace(/\/results\//, `${results}/`));
        return wsgate(args, podVars);
      }),
    );
    for (const [i, p] of pods.entries()) assert.ok(p.code === 0 || p.code === 1, `pod ${i} reached a verdict of its own segment (exit ${p.code}):\n${p.out}`);
    const mergeContainer = at(merge, 'spec', 'template', 'spec', 'containers', 0) as Container;
    const script = (mergeContainer.command ?? []).at(-1) ?? '';
    const argv = script
      .replace(/^exec wsgate /, '')
      .replaceAll('/opt/wsgate/', `${REPO}/`)
      .replaceAll('/results/', `${results}/`)
      .replace('"$WSGATE_ENV"', 'local')
      .split(' ');
    const globbed = argv.flatMap((a) => (a.endsWith('samples-*.json') ? readdirSync(results).filter((f) => /^samples-\d+\.json$/.test(f)).map((f) => join(results, f)) : [a]));
    return { merged: await wsgate(globbed, env), pods: completions };
  } finally {
    await target.close();
  }
}

describe('deploy/kubernetes: an Indexed Job whose completion index picks the execution segment, and the merge Job', () => {
  test('the objects pass the Kubernetes schemas, and the Job is Indexed with completions = parallelism = the --instance count', () => {
    for (const o of [...docs('indexed-job.yaml'), ...docs('merge-job.yaml')]) {
      const kind = String(o['kind']);
      const model = kind === 'Job' ? new Job(o as never) : kind === 'ConfigMap' ? new ConfigMap(o as never) : new PersistentVolumeClaim(o as never);
      model.validate();
    }
    const job = docs('indexed-job.yaml')[2];
    assert.equal(at(job, 'spec', 'completionMode'), 'Indexed');
    const n = Number(at(job, 'spec', 'completions'));
    assert.equal(Number(at(job, 'spec', 'parallelism')), n);
    const args = (at(job, 'spec', 'template', 'spec', 'containers', 0, 'args') ?? []) as string[];
    assert.equal(args[args.indexOf('--instance') + 1], `$(JOB_COMPLETION_INDEX)/${n}`);
  });

  test('run as Kubernetes would: healthy service -> each pod judges its segment, the merged run passes (exit 0)', { timeout: 120_000 }, async () => {
    await buildIfStale();
    const { merged, pods } = await runTheJobs([]);
    assert.equal(merged.code, 0, merged.out);
    assert.match(merged.out, new RegExp(`PASS merged deployment-validation \\(env local, ${pods} instances`));
  });

  test('run as Kubernetes would: with handshake_403 the merged run fails (exit 1)', { timeout: 120_000 }, async () => {
    const { merged } = await runTheJobs(['handshake_403']);
    assert.equal(merged.code, 1, merged.out);
    assert.match(merged.out, /FAIL merged deployment-validation/);
  });
});

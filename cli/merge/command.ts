/**
 * `wsgate merge`: the verdict of one run split over several k6 instances (execution segments, or the
 * k6-operator's parallel runners). Each instance judges its thresholds alone, and alone it can be wrong
 * both ways: an instance whose segment got none of a scenario's VUs fails `count>0`, and a p(95) or a
 * rate is not the mean of the instances' p(95)s or rates. So this reads every instance's samples
 * (`--out json=FILE`), re-aggregates them (aggregate.ts), judges the bundle's own thresholds on the
 * union (thresholds.ts) and writes wsgate's usual JSON, JUnit and text through lib/core/summary.ts.
 *
 * The thresholds come from the bundle itself: `k6 inspect --include-system-env-vars BUNDLE` with the
 * same environment the instances ran with (the suites pick their thresholds and scenarios from it),
 * or from a saved copy of that output (--options).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../lib/core/config.ts';
import { redactUrl } from '../../lib/core/url.ts';
import { ConfigError } from '../../lib/core/errors.ts';
import { buildResult, renderJUnit, renderText } from '../../lib/core/summary.ts';
import type { K6SummaryData, SuiteResult } from '../../lib/core/summary.ts';
import { K6FailedError, UsageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { EXIT, argumentError, packageRoot, runStamp, say } from '../io.ts';
import { findK6 } from '../engines.ts';
import { show } from '../suite-run.ts';
import { Aggregation, addFile } from './aggregate.ts';
import type { MergeInput } from './aggregate.ts';
import { ThresholdSyntaxError } from './thresholds.ts';

export const MERGE_USAGE = `Usage: wsgate merge (--bundle FILE | --options FILE --suite NAME) [--env NAME] [options] SAMPLES...

Judges one test run that several k6 instances shared (k6 --execution-segment, or a k6-operator TestRun
with parallelism) from all their samples at once, as one k6 process would have: every metric is
re-aggregated over the union (counters summed, rates' passes and fails counted, trend percentiles over
every value), every threshold of the bundle is judged on that, and checks are rebuilt from the check
samples. Each instance's own verdict is printed too, for comparison; only the merged one counts.

SAMPLES are the instances' JSON outputs in k6's schema (wsgate run or k6 run with --out json=FILE;
.gz accepted).

Options:
  --bundle FILE          the bundle the instances ran: an engine bundle (dist/engine/<suite>.mjs, read
                         by the engine) or a k6 bundle (dist/<suite>.js, read by your k6's \`k6 inspect
                         --include-system-env-vars\`), under this environment, which must be the one the
                         instances ran with
  --options FILE         instead of --bundle: a saved \`k6 inspect --include-system-env-vars\` output
  --suite NAME           the suite name for the results (default: the bundle's file name)
  --env NAME             environment preset (default: $WSGATE_ENV, else local)
  --results-dir DIR      where the merged JSON and JUnit go (default: $WSGATE_RESULTS_DIR, else ./results)
  --output-file FILE     also copy the merged JSON result to FILE
  -h, --help             print this help

Exit codes: 0 the merged run passes, 1 it fails, 2 usage or configuration error, 4 no verdict
(unreadable samples, the bundle could not be inspected, no sample at all).
`;

const OPTIONS = {
  bundle: { type: 'string' },
  options: { type: 'string' },
  suite: { type: 'string' },
  env: { type: 'string' },
  'results-dir': { type: 'string' },
  'output-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The parts of k6's options (as `k6 inspect` prints them) that merging needs. */
export interface BundleOptions extends MergeInput {
  scenarios: string[];
}

function parseInspectOutput(text: string, origin: string): BundleOptions {
  let doc: { thresholds?: unknown; scenarios?: unknown; summaryTrendStats?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new ConfigError(`${origin} is not the JSON k6 inspect prints`);
  }
  const thresholds = (doc.thresholds ?? {}) as MergeInput['thresholds'];
  if (typeof thresholds !== 'object' || Array.isArray(thresholds)) throw new ConfigError(`${origin}: thresholds is not an object`);
  const scenarios = typeof doc.scenarios === 'object' && doc.scenarios !== null ? Object.keys(doc.scenarios) : [];
  const stats = Array.isArray(doc.summaryTrendStats) ? (doc.summaryTrendStats as string[]) : undefined;
  return { thresholds, scenarios, summaryTrendStats: stats };
}

/**
 * The bundle's options under `vars`: an engine bundle (.mjs) is read by the engine (`engine.mjs
 * inspect`), a k6 bundle by the user's k6 (`k6 inspect --include-system-env-vars`).
 */
export async function inspectBundle(bundle: string, vars: Record<string, string | undefined>): Promise<BundleOptions> {
  const [cmd, args] = bundle.endsWith('.mjs')
    ? [process.execPath, [join(packageRoot(), 'dist', 'node', 'engine.mjs'), 'inspect', bundle]]
    : [findK6(vars), ['inspect', '--include-system-env-vars', bundle]];
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(cmd, args, { env: vars as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', fail);
    child.once('close', (c) => done({ code: c, stdout: out, stderr: err }));
  });
  if (code !== 0) {
    const line = stderr.split('\n').find((l) => /level=error|error/i.test(l)) ?? stderr.split('\n')[0] ?? '';
    throw new K6FailedError(`inspecting ${show(bundle)} exited with ${code}: ${line.trim().slice(0, 300)}`);
  }
  return parseInspectOutput(stdout, `the options of ${show(bundle)}`);
}

export interface Merged {
  result: SuiteResult;
  data: K6SummaryData;
  /** Each instance judged alone, as k6 did. */
  instances: { file: string; result: SuiteResult; samples: number }[];
  samples: number;
  badLines: number;
}

/** Merges the instances' sample files and judges them as one run. */
export async function mergeRuns(files: readonly string[], opts: BundleOptions, meta: { suite: string; env: string; target: Record<string, string> }): Promise<Merged> {
  const all = new Aggregation(opts);
  const instances: Merged['instances'] = [];
  const finishedAt = new Date();
  for (const file of files) {
    const own = new Aggregation(opts);
    await addFile(own, file);
    await addFile(all, file);
    instances.push({ file, samples: own.samples, result: buildResult(own.summary(), { ...meta, scenarios: opts.scenarios, finishedAt }) });
  }
  const data = all.summary();
  return { result: buildResult(data, { ...meta, scenarios: opts.scenarios, finishedAt }), data, instances, samples: all.samples, badLines: all.badLines };
}

function targetOf(vars: Record<string, string | undefined>): Record<string, string> {
  try {
    const c = loadConfig(vars);
    return { ws_url: redactUrl(c.wsUrl), http_url: redactUrl(c.httpUrl), auth_url: redactUrl(c.authUrl) };
  } catch {
    return {};
  }
}

/** Runs `wsgate merge <argv...>`; resolves with the exit code. */
export async function merge(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true }));
  } catch (err) {
    throw argumentError(err, 'merge');
  }
  if (values.help) {
    io.stdout.write(MERGE_USAGE);
    return EXIT.PASS;
  }
  if ((values.bundle === undefined) === (values.options === undefined)) throw new UsageError('pass either --bundle (the k6 bundle the instances ran) or --options (a saved k6 inspect output), one of the two');
  if (values.options !== undefined && values.suite === undefined) throw new UsageError('--options needs --suite NAME (the suite the instances ran, e.g. deployment-validation)');
  if (positionals.length === 0) throw new UsageError('name the instances\' sample files (k6 run --out json=FILE), one or more');
  const files = positionals.map((f) => resolve(f));
  for (const f of files) if (!existsSync(f)) throw new ConfigError(`the sample file ${f} does not exist`);
  const envName = values.env ?? (env['WSGATE_ENV'] || 'local');
  const vars = { ...env, WSGATE_ENV: envName };
  const suite = values.suite ?? basename(values.bundle ?? '').replace(/\.m?js$/, '');

  let opts: BundleOptions;
  if (values.options !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(values.options), 'utf8');
    } catch (err) {
      throw new ConfigError(`--options ${values.options} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    opts = parseInspectOutput(text, `--options ${values.options}`);
  } else {
    const bundle = resolve(values.bundle ?? '');
    if (!existsSync(bundle)) throw new ConfigError(`the bundle ${bundle} does not exist; run wsgate build, or pass the bundle the instances ran`);
    opts = await inspectBundle(bundle, vars);
  }
  if (Object.keys(opts.thresholds).length === 0) say(io.stderr, `the bundle defines no thresholds under this environment; every merged run passes (was the environment the instances ran with given?)`);

  let merged: Merged;
  try {
    merged = await mergeRuns(files, opts, { suite, env: envName, target: targetOf(vars) });
  } catch (err) {
    if (err instanceof ThresholdSyntaxError) throw new ConfigError(err.message);
    throw new K6FailedError(`the sample files cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (merged.samples === 0) {
    say(io.stdout, `ERROR merged ${suite} (env ${envName}): no sample in ${files.length} file${files.length > 1 ? 's' : ''}; no verdict`);
    return EXIT.ERROR;
  }

  const resultsDir = resolve(values['results-dir'] ?? (env['WSGATE_RESULTS_DIR'] || 'results'));
  const base = join(resultsDir, `${suite}-${envName}-${runStamp()}.merged`);
  try {
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(`${base}.json`, JSON.stringify(merged.result, null, 2) + '\n');
    writeFileSync(`${base}.junit.xml`, renderJUnit(merged.result));
    if (values['output-file']) writeFileSync(resolve(values['output-file']), JSON.stringify(merged.result, null, 2) + '\n');
  } catch (err) {
    throw new ConfigError(`the merged results cannot be written to ${resultsDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable --results-dir`);
  }
  for (const [i, inst] of merged.instances.entries()) {
    const failed = inst.result.thresholds.concat(inst.result.scenarios.flatMap((s) => s.thresholds)).filter((t) => !t.ok).length;
    say(io.stdout, `instance ${i + 1} (${show(inst.file)}, ${inst.samples} samples) judged alone: ${inst.result.verdict.toUpperCase()}${failed ? ` (${failed} thresholds crossed)` : ''}`);
  }
  if (merged.badLines) say(io.stderr, `${merged.badLines} lines of the sample files were not k6 samples and were skipped`);
  io.stdout.write(renderText(merged.result, [`${show(base)}.json`, `${show(base)}.junit.xml`]));
  const word = merged.result.verdict === 'pass' ? 'PASS' : 'FAIL';
  say(io.stdout, `${word} merged ${suite} (env ${envName}, ${files.length} instances, ${merged.samples} samples) — results: ${show(base)}.json, ${show(base)}.junit.xml`);
  return merged.result.verdict === 'pass' ? EXIT.PASS : EXIT.FAIL;
}

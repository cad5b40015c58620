/**
 * `wsgate run <suite|file>`: one run on an engine, like `k6 run`, with the engine's flags passed
 * through. A suite name runs its bundle from dist/; a .mjs file is taken as an engine bundle; a .ts
 * or .js scenario source is bundled for the engine first (esbuild, into a temporary file).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { engineFor, engineKind } from './engines.ts';
import { ConfigError } from '../lib/core/errors.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, loadBuilder, packageRoot, parseOptionsAndArgs, say } from './io.ts';
import { MAX_INSTANCES, segments } from './instances.ts';
import { runK6 } from './run-k6.ts';

export const RUN_USAGE = `Usage: wsgate run [options] <suite | bundle.mjs | scenario.ts>

Runs one test on an engine and exits with the CLI's codes. A suite name (deployment-validation,
regression-prevention, multi-user, monitoring) runs its bundle with configuration from the WSGATE_*
environment; a .mjs file is an engine bundle; a .ts or .js file is bundled for the engine first.

Options:
  --engine wsgate|k6               default: $WSGATE_ENGINE, else wsgate's own; k6 means your k6 v2.2
                                   ($WSGATE_K6 or PATH) and a suite's k6 bundle (dist/<suite>.js)
  --workers N                      worker processes (engine; default: one per core)
  --out json=FILE                  every sample as a line of k6's JSON output schema
  --out experimental-prometheus-rw live metrics to Prometheus remote write (K6_PROMETHEUS_RW_*)
  --tag NAME=VALUE                 a tag on every sample (repeatable)
  --execution-segment S            this machine's share of a run split across machines, e.g. 0:1/2
  --execution-segment-sequence Q   the whole split, e.g. 0,1/2,1
  --instance I/N                   shorthand for both: instance I (0-based) of N equal shares, e.g. a
                                   Kubernetes Indexed Job's $(JOB_COMPLETION_INDEX)/4
  --report FILE                    a self-contained HTML report (engine; also $WSGATE_REPORT)
  --quiet                          no progress line
  -h, --help                       print this help

Exit codes: 0 thresholds held, 1 a threshold was crossed, 2 usage error, 4 no verdict (script error,
aborted, invalid options, k6 unavailable), 130 interrupted.
`;

const SUITES = ['deployment-validation', 'regression-prevention', 'multi-user', 'monitoring'];

const OPTIONS = {
  engine: { type: 'string' },
  workers: { type: 'string' },
  out: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  'execution-segment': { type: 'string' },
  'execution-segment-sequence': { type: 'string' },
  instance: { type: 'string' },
  report: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `2/4` -> the third of four equal execution segments (k6's syntax), with their sequence. */
function instanceShare(value: string): { segment: string; sequence: string } {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || count > MAX_INSTANCES || index >= count) {
    throw new UsageError(`--instance is "${value}"; give INDEX/COUNT with 0 <= INDEX < COUNT <= ${MAX_INSTANCES}, e.g. 0/4 (a Kubernetes Indexed Job passes $(JOB_COMPLETION_INDEX)/4)`);
  }
  const share = segments(count)[index];
  if (!share) throw new UsageError(`--instance is "${value}", which names no share`);
  return share;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const { values, positionals } = parseOptionsAndArgs(argv, OPTIONS, 'run');
  if (values.help) {
    io.stdout.write(RUN_USAGE);
    return EXIT.PASS;
  }
  if (positionals.length !== 1) throw new UsageError(`wsgate run takes one suite or file, got ${positionals.length}; e.g. wsgate run deployment-validation`);
  const what = positionals[0] ?? '';
  const root = packageRoot();
  const builder = await loadBuilder(root);
  if (builder.isStale()) await builder.build();
  const kind = engineKind(values.engine, env);
  // A flag mistake is a usage error before k6 is looked for.
  if (kind === 'k6' && (values.workers !== undefined || values.report !== undefined)) {
    throw new UsageError('--workers and --report belong to the wsgate engine; drop them with --engine k6');
  }
  const engine = await engineFor(kind, root, env);
  let script: string;
  let scratch: string | undefined;
  if (SUITES.includes(what)) script = engine.bundle(root, what);
  else {
    script = resolve(what);
    if (!existsSync(script)) throw new ConfigError(`${what} is neither a suite (${SUITES.join(', ')}) nor an existing file; name a suite or give the path of a scenario`);
    if (engine.kind === 'wsgate' && !script.endsWith('.mjs')) {
      scratch = mkdtempSync(join(tmpdir(), 'wsgate-run-'));
      const out = join(scratch, 'bundle.mjs');
      await builder.bundleEngine(script, out);
      script = out;
    }
  }
  if (values.instance !== undefined) {
    if (values['execution-segment'] !== undefined || values['execution-segment-sequence'] !== undefined) {
      throw new UsageError('--instance already sets the execution segment and its sequence; drop --execution-segment/--execution-segment-sequence, or --instance');
    }
    const share = instanceShare(values.instance);
    values['execution-segment'] = share.segment;
    values['execution-segment-sequence'] = share.sequence;
  }
  const args = [
    ...engine.baseArgs,
    ...(values.workers !== undefined ? ['--workers', values.workers] : []),
    ...(values.out ?? []).flatMap((o) => ['--out', o]),
    ...(values.tag ?? []).flatMap((t) => ['--tag', t]),
    ...(values['execution-segment'] !== undefined ? ['--execution-segment', values['execution-segment']] : []),
    ...(values['execution-segment-sequence'] !== undefined ? ['--execution-segment-sequence', values['execution-segment-sequence']] : []),
    ...(values.report !== undefined ? ['--report', values.report] : []),
    ...(values.quiet ? ['--quiet'] : []),
    script,
  ];
  try {
    const exit = await runK6(engine.command, args, { ...env, ...engine.extraEnv(undefined, env) }, io);
    if (exit.interrupted || exit.code === 105 || exit.signal) return EXIT.INTERRUPTED;
    if (exit.code === 0) return EXIT.PASS;
    if (exit.code === 99 || exit.code === 110) {
      say(io.stdout, `FAIL ${what}: thresholds were crossed`);
      return EXIT.FAIL;
    }
    say(io.stdout, `ERROR ${what}: the ${engine.label} exited with code ${exit.code}; no verdict`);
    return EXIT.ERROR;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

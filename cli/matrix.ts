/**
 * `wsgate matrix`: proves the regression suite on this machine. It runs `wsgate regression
 * --embedded-target` (the same function, in this process) against nine setups: the healthy service,
 * each of the seven faults, and the broken nginx; and tabulates which tests failed. The gate is sound
 * when the healthy row passes every test and every setup is caught by the test(s) whose
 * `reproducedBy` names it (lib/regressions.ts). A fault also failing another test is cross-talk: shown,
 * marked, not an error.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { REGRESSIONS } from '../lib/regressions.ts';
import type { SuiteResult } from '../lib/summary.ts';
import { findNginx } from '../reference-service/nginx.ts';
import { FAULT_NAMES } from '../reference-service/service.ts';
import type { FaultName } from '../reference-service/service.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, loadBuilder, packageRoot, parseOptions, runStamp, say } from './io.ts';
import { engineFor, engineKind } from './engines.ts';
import { SUITE, regression } from './regression.ts';
import { show } from './suite-run.ts';

/**
 * Setups run at once. Each has its own service, nginx, relay and k6 on random ports; two at a time on
 * 2 cores took the matrix from 96 s to 49 s with identical cells (measured 2026-11-24; 128 s to 65 s
 * before the suite got 4 s shorter).
 */
export const DEFAULT_CONCURRENCY = 2;

/** --repeat's upper bound: ten matrices are about eleven minutes here already. */
const MAX_REPEAT = 10;

export const MATRIX_USAGE = `Usage: wsgate matrix [--concurrency N] [--repeat N] [--results-dir DIR] [--doc FILE] [--engine wsgate|k6]

Proves the regression suite on this machine: runs wsgate regression --env local --embedded-target
against nine setups (the healthy service behind a healthy nginx; each of the seven faults behind a
healthy nginx; a healthy service behind the broken nginx) and prints one row per setup, one column
per test. Exit 0 when the healthy row passes every test and every setup fails the test(s) that guard
against it; 1 when a fault went unnoticed or the healthy service failed a test; 4 when a setup gave
no verdict; 2 usage; 130 interrupted. A setup also failing other tests (cross-talk) is marked, not
an error.

Options:
  --concurrency N        setups run at once (default ${DEFAULT_CONCURRENCY}; each uses about one core while it runs)
  --repeat N             run every setup N times (default 1); a cell whose runs disagree shows how
                         many runs gave its worst mark, e.g. pass! 2/3 (a flaky test, made visible)
  --results-dir DIR      each run's results and log go to DIR/<setup>/[<run>/] (default: results/matrix-<time>)
  --doc FILE             also write the table, legend, command, date and machine as Markdown to FILE
  --engine wsgate|k6     the engine every setup runs on (default: $WSGATE_ENGINE, else wsgate's own)
  -h, --help             print this help

Configuration comes from the local preset only: WSGATE_* variables of the shell are ignored, except
WSGATE_ENGINE, WSGATE_K6 and WSGATE_NGINX.
`;

const OPTIONS = {
  concurrency: { type: 'string' },
  repeat: { type: 'string' },
  'results-dir': { type: 'string' },
  doc: { type: 'string' },
  engine: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface MatrixSetup {
  /** Row name; also what `reproducedBy` calls the setup (a fault name, or nginx:broken). */
  name: string;
  faults: FaultName[];
  lb: 'healthy' | 'broken';
}

export const SETUPS: readonly MatrixSetup[] = [
  { name: 'healthy', faults: [], lb: 'healthy' },
  ...FAULT_NAMES.map((f): MatrixSetup => ({ name: f, faults: [f], lb: 'healthy' })),
  { name: 'nginx:broken', faults: [], lb: 'broken' },
];

/** The tests that must fail under `setup`: those whose reproducedBy names it (none for healthy). */
export function ownTests(setup: MatrixSetup): string[] {
  return REGRESSIONS.filter((r) => r.reproducedBy.includes(setup.name)).map((r) => r.name);
}

export interface MatrixRow {
  setup: MatrixSetup;
  /** wsgate regression's exit code. */
  exit: number;
  seconds: number;
  /** Each test's verdict from the JSON result; missing when the run wrote none. */
  verdicts: Record<string, 'pass' | 'fail' | undefined>;
  /** k6's `FAILED <test>: <check> (observed: ...)` lines, first per test. */
  observed: Record<string, string>;
  /** Suite-wide thresholds the run failed, e.g. `wsgate_isolation_violations count==0 (observed count 93)`. */
  suiteFailures: string[];
  /** The run's captured output. */
  log: string;
}

export interface Cell {
  mark: string;
  /** The cell breaks the matrix's promise (a missed fault, a false alarm, no verdict). */
  error: boolean;
  crossTalk: boolean;
}

/** One cell: the setup's verdict on one test, against what it should be. */
export function cellOf(setup: MatrixSetup, test: string, verdict: 'pass' | 'fail' | undefined): Cell {
  if (verdict === undefined) return { mark: '—', error: true, crossTalk: false };
  const own = ownTests(setup).includes(test);
  if (setup.name === 'healthy') return verdict === 'pass' ? { mark: 'pass', error: false, crossTalk: false } : { mark: 'FAIL!', error: true, crossTalk: false };
  if (own) return verdict === 'fail' ? { mark: 'FAIL', error: false, crossTalk: false } : { mark: 'pass!', error: true, crossTalk: false };
  return verdict === 'pass' ? { mark: 'pass', error: false, crossTalk: false } : { mark: 'FAIL*', error: false, crossTalk: true };
}

const short = (test: string): string => test.replace(/_regression$/, '');

/** Runs of the same setup, in SETUPS order. */
function bySetup(rows: readonly MatrixRow[]): MatrixRow[][] {
  return SETUPS.map((s) => rows.filter((r) => r.setup.name === s.name)).filter((g) => g.length > 0);
}

/** Worst first: the order in which a cell that differs between runs names its marks. */
const SEVERITY = ['—', 'pass!', 'FAIL!', 'FAIL*', 'FAIL', 'pass'];

/**
 * One cell over several runs of a setup: the mark when every run agrees, else the worst mark and how
 * many runs had it (`pass! 2/3`: two of three runs missed the fault).
 */
function groupMark(runs: readonly MatrixRow[], test: string): string {
  const marks = runs.map((r) => cellOf(r.setup, test, r.verdicts[test]).mark);
  if (marks.every((m) => m === marks[0])) return marks[0] ?? '—';
  const worst = SEVERITY.find((m) => marks.includes(m)) ?? '—';
  return `${worst} ${marks.filter((m) => m === worst).length}/${marks.length}`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The table as padded Markdown (readable in a terminal and in the docs alike); one row per setup. */
export function renderTable(rows: readonly MatrixRow[]): string {
  const header = ['setup', ...REGRESSIONS.map((r) => short(r.name)), 'exit', 'time'];
  const body = bySetup(rows).map((runs) => {
    const setup = (runs[0] as MatrixRow).setup;
    return [
      setup.name === 'healthy' || setup.name === 'nginx:broken' ? setup.name : `fault ${setup.name}`,
      ...REGRESSIONS.map((r) => groupMark(runs, r.name)),
      [...new Set(runs.map((r) => r.exit))].join('/'),
      `${median(runs.map((r) => r.seconds)).toFixed(1)} s`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

export const LEGEND = `- \`pass\`: the test passed, as it should.
- \`FAIL\`: the test failed under its own setup (its \`reproducedBy\` in lib/regressions.ts): the fault was caught.
- \`FAIL*\`: cross-talk, the setup also failed a test that does not guard against it; expected for
  breakages that hit several questions at once, and not an error.
- \`pass!\`: a test passed under its own setup: the fault went unnoticed (an error).
- \`FAIL!\`: a test failed against the healthy service: a false alarm (an error).
- \`—\`: the run gave no verdict for the test (an error).
- \`MARK k/n\` (with --repeat): the runs of the setup disagreed; k of the n runs gave MARK, the worst of them.
- Columns are the tests without their \`_regression\` suffix; \`exit\` is wsgate regression's exit code, \`time\` its median wall time.`;

/** The matrix's exit code: 4 when a setup gave no verdict, 1 when a cell is an error, else 0. */
export function matrixExit(rows: readonly MatrixRow[]): number {
  if (rows.some((r) => r.exit !== EXIT.PASS && r.exit !== EXIT.FAIL)) return EXIT.ERROR;
  const errors = rows.some((row) => REGRESSIONS.some((r) => cellOf(row.setup, r.name, row.verdicts[r.name]).error));
  return errors ? EXIT.FAIL : EXIT.PASS;
}

/** A stream that keeps what is written to it. */
function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

/** The shell's environment without wsgate configuration (the matrix is defined on the local preset). */
function matrixEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep = new Set(['WSGATE_ENGINE', 'WSGATE_K6', 'WSGATE_NGINX', 'WSGATE_DEBUG']);
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('WSGATE_') || keep.has(k)));
}

/** k6 logs `FAILED <test>: <check> (observed: ...)` through console.warn, inside its own log format. */
function failedLines(log: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of log.matchAll(/FAILED (\w+): (.*?)(?:" source=console|\n)/g)) {
    const test = m[1] as string;
    out[test] ??= `${m[2] ?? ''}`.replace(/\\"/g, '"');
  }
  return out;
}

async function runSetup(setup: MatrixSetup, dir: string, env: NodeJS.ProcessEnv, engine: string): Promise<MatrixRow> {
  mkdirSync(dir, { recursive: true });
  const out = sink();
  const started = performance.now();
  const args = ['--env', 'local', '--embedded-target', '--engine', engine, '--lb', setup.lb, '--results-dir', dir, ...setup.faults.flatMap((f) => ['--fault', f])];
  let exit: number;
  try {
    // Built once by matrix(): every row runs the same bundles, and rows never rebuild side by side.
    exit = await regression(args, env, { stdout: out.stream, stderr: out.stream }, { rebuild: false });
  } catch (err) {
    // main() would turn this into one sentence; here the row records it and the matrix goes on.
    out.stream.write(`wsgate: ${err instanceof Error ? err.message : String(err)}\n`);
    exit = EXIT.ERROR;
  }
  const seconds = (performance.now() - started) / 1000;
  const log = out.text();
  writeFileSync(join(dir, 'wsgate.log'), `$ wsgate regression ${args.join(' ')}\n${log}`);
  const verdicts: MatrixRow['verdicts'] = {};
  const suiteFailures: string[] = [];
  const json = readdirSync(dir).find((f) => f.startsWith(`${SUITE}-local-`) && f.endsWith('.json'));
  if (json) {
    try {
      const result = JSON.parse(readFileSync(join(dir, json), 'utf8')) as SuiteResult;
      for (const s of result.scenarios) verdicts[s.name] = s.verdict === 'not applicable' ? undefined : s.verdict;
      for (const t of result.thresholds.filter((x) => !x.ok)) {
        const used = Object.entries(t.observed).filter(([k]) => t.expression.includes(k));
        suiteFailures.push(`${t.metric} ${t.expression} (observed ${used.map(([k, v]) => `${k} ${v}`).join(', ')})`);
      }
    } catch {
      // an unreadable result is a row without verdicts
    }
  }
  return { setup, exit, seconds, verdicts, observed: failedLines(log), suiteFailures, log };
}

function nginxVersion(env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolveVersion) => {
    let bin: string;
    try {
      bin = findNginx(undefined, env);
    } catch {
      return resolveVersion('nginx unknown');
    }
    execFile(bin, ['-v'], { timeout: 5000 }, (_err, stdout, stderr) => resolveVersion(/nginx\/[\d.]+/.exec(`${stdout}${stderr}`)?.[0] ?? 'nginx unknown'));
  });
}

interface DocMeta {
  date: string;
  machine: string;
  command: string;
  repeat: number;
  concurrency: number;
  seconds: number;
  exit: number;
}

function renderDoc(rows: readonly MatrixRow[], meta: DocMeta): string {
  const caught = bySetup(rows)
    .filter((runs) => (runs[0] as MatrixRow).setup.name !== 'healthy')
    .map((runs) => {
      const setup = (runs[0] as MatrixRow).setup;
      const seen = ownTests(setup)
        .map((t) => {
          const missed = runs.filter((r) => r.verdicts[t] === 'pass');
          const caughtBy = runs.find((r) => r.verdicts[t] === 'fail');
          const parts: string[] = [];
          if (caughtBy) parts.push(caughtBy.observed[t] ?? '(no FAILED line)');
          if (missed.length) {
            const also = [...new Set(missed.flatMap((r) => r.suiteFailures))];
            parts.push(
              `MISSED in ${missed.length} of ${runs.length} run(s): the test passed${also.length ? `, and the run failed only on the suite-wide ${also.join(', ')}` : ''}`,
            );
          }
          return `\`${t}\`: ${parts.join('; ')}`;
        })
        .join('; ');
      return `- **${setup.name}** → ${seen}`;
    })
    .join('\n');
  const runsEach = meta.repeat > 1 ? ` Each setup ran ${meta.repeat} times; a cell shows every run's mark when they agree.` : '';
  return `# Fault matrix

Does every regression test catch the breakage it guards against, and pass when nothing is broken?
Each row is a run of \`wsgate regression --env local --embedded-target\` (all seven tests) against
one setup: the healthy reference service behind a healthy nginx, each of the seven faults
(\`--fault NAME\`, nginx healthy in front), and a healthy service behind the broken nginx
(\`--lb broken\`, idle WebSockets cut after 3 s). Each column is one test.${runsEach}

${renderTable(rows)}
Verdict: ${meta.exit === EXIT.PASS ? 'sound (exit 0): the healthy row passes everything and every setup is caught by its own test' : `NOT sound (exit ${meta.exit}): see the cells marked ! and the MISSED lines below`}.

Legend:

${LEGEND}

What each setup's own test observed (k6's first \`FAILED\` line for it):

${caught}

Produced by \`${meta.command}\` on ${meta.date}: ${meta.machine};
${SETUPS.length} setups${meta.repeat > 1 ? ` × ${meta.repeat} runs` : ''}, ${meta.concurrency} at a time, ${meta.seconds.toFixed(0)} s in all.
\`npm test\` runs the matrix once (test/cli/matrix.e2e.test.ts); \`npm run matrix\` rewrites this file.
`;
}

/** Runs `wsgate matrix <argv...>`; resolves with the exit code. */
export async function matrix(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const values = parseOptions(argv, OPTIONS, 'matrix');
  if (values.help) {
    io.stdout.write(MATRIX_USAGE);
    return EXIT.PASS;
  }
  const concurrency = values.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > SETUPS.length) {
    throw new UsageError(`--concurrency is "${values.concurrency}"; it must be a whole number from 1 to ${SETUPS.length}`);
  }
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) {
    throw new UsageError(`--repeat is "${values.repeat}"; it must be a whole number from 1 to ${MAX_REPEAT}`);
  }
  const root = resolve(values['results-dir'] ?? join(env['WSGATE_RESULTS_DIR'] || 'results', `matrix-${runStamp()}`));
  const doc = values.doc === undefined ? undefined : resolve(values.doc);
  const runEnv = matrixEnv(env);

  // Build and pick the engine once, before the setups run side by side.
  const builder = await loadBuilder(packageRoot());
  if (builder.isStale()) {
    say(io.stderr, 'sources changed since the last build; rebuilding the bundles');
    await builder.build();
  }
  const engine = await engineFor(engineKind(values.engine, runEnv), packageRoot(), runEnv);
  const jobs = Array.from({ length: repeat }, (_, run) => SETUPS.map((setup) => ({ setup, run: run + 1 }))).flat();
  const times = repeat > 1 ? ` × ${repeat} runs` : '';
  say(io.stderr, `matrix: ${SETUPS.length} setups${times}, ${concurrency} at a time, on the ${engine.label}; logs and results in ${show(root)}/<setup>/${repeat > 1 ? '<run>/' : ''}`);

  let stopped = false;
  const onSignal = (): void => {
    stopped = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  const rows: (MatrixRow | undefined)[] = new Array(jobs.length).fill(undefined);
  let next = 0;
  let done = 0;
  try {
    const worker = async (): Promise<void> => {
      while (!stopped && next < jobs.length) {
        const i = next++;
        const { setup, run } = jobs[i] as { setup: MatrixSetup; run: number };
        const dir = join(root, setup.name.replace(':', '-'), repeat > 1 ? String(run) : '');
        const row = await runSetup(setup, dir, runEnv, engine.kind);
        rows[i] = row;
        done++;
        const failed = REGRESSIONS.filter((r) => row.verdicts[r.name] === 'fail').map((r) => r.name);
        const wrong = REGRESSIONS.filter((r) => cellOf(setup, r.name, row.verdicts[r.name]).error).map((r) => r.name);
        say(
          io.stderr,
          `matrix ${done}/${jobs.length} ${setup.name}${repeat > 1 ? ` (run ${run})` : ''}: exit ${row.exit} in ${row.seconds.toFixed(1)} s, failed: ${failed.join(', ') || 'none'}${wrong.length ? ` — WRONG: ${wrong.join(', ')}` : ''}`,
        );
        if (row.exit === EXIT.INTERRUPTED) stopped = true;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  const finished = rows.filter((r): r is MatrixRow => r !== undefined);
  io.stdout.write(renderTable(finished));
  if (stopped) {
    say(io.stdout, `INTERRUPTED fault matrix after ${finished.length} of ${jobs.length} runs; no verdict`);
    return EXIT.INTERRUPTED;
  }
  const exit = matrixExit(finished);
  // A matrix without a verdict (exit 4) never replaces a document that has one.
  if (doc && exit !== EXIT.ERROR) {
    const machine = `${cpus().length} cores, Node ${process.version}, ${engine.label}, ${await nginxVersion(runEnv)}`;
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    mkdirSync(dirname(doc), { recursive: true });
    const flags = [values.concurrency === undefined ? '' : `--concurrency ${concurrency}`, repeat > 1 ? `--repeat ${repeat}` : '', `--doc ${values.doc}`];
    const command = `node bin/wsgate.mjs matrix ${flags.filter(Boolean).join(' ')}`;
    writeFileSync(doc, renderDoc(finished, { date, machine, command, repeat, concurrency, seconds, exit }));
  }
  const crossTalk = [
    ...new Set(finished.flatMap((row) => REGRESSIONS.filter((r) => cellOf(row.setup, r.name, row.verdicts[r.name]).crossTalk).map((r) => `${row.setup.name}→${short(r.name)}`))),
  ];
  if (crossTalk.length) say(io.stdout, `cross-talk (marked FAIL*, not an error): ${crossTalk.join(', ')}`);
  const summary: Record<number, string> = {
    [EXIT.PASS]: 'PASS fault matrix: the healthy service passes every test and every setup is caught by its own test',
    [EXIT.FAIL]: 'FAIL fault matrix: a fault went unnoticed or the healthy service failed a test (cells marked ! above)',
    [EXIT.ERROR]: `ERROR fault matrix: a setup gave no verdict (see its wsgate.log under ${show(root)})`,
  };
  say(io.stdout, `${summary[exit]} — ${SETUPS.length} setups${times} in ${seconds.toFixed(0)} s${doc && exit !== EXIT.ERROR ? `; written to ${show(doc)}` : ''}`);
  return exit;
}

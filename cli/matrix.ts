/**
 * `wsgate matrix`: proves the gate on this machine, in two tables.
 *
 * The regression suite: `wsgate regression --embedded-target` (the same function, in this process)
 * against ten setups: the healthy service, each of the seven regressions' faults, no_reaping (a
 * service that never reaps a client that vanished), and the broken nginx; one column per test. It is
 * sound when the healthy row passes every test and every setup is caught by the test(s) whose
 * `reproducedBy` names it (lib/core/regressions.ts). A fault also failing another test is cross-talk:
 * shown, marked, not an error.
 *
 * Validation (`npm start`): `wsgate validate --env local --embedded-target` against the healthy
 * service and every fault (the seven, the rare family at 3%, slow_handshake, duplicate_final_event,
 * no_reaping); one column per validation scenario, the suite thresholds that failed, and the verdict.
 * It is sound when the healthy row passes and every fault fails the run, in every repeat; a fault
 * whose question validation does not ask (OUTSIDE_VALIDATION) is shown, not required.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { REGRESSIONS } from '../lib/core/regressions.ts';
import type { SuiteResult, ThresholdResult } from '../lib/core/summary.ts';
import { findNginx } from '../reference-service/nginx.ts';
import { FAULT_NAMES, VALIDATION_FAULT_NAMES } from '../reference-service/service.ts';
import type { FaultName } from '../reference-service/service.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, loadBuilder, packageRoot, parseOptions, runStamp, say } from './io.ts';
import { engineFor, engineKind } from './engines.ts';
import { SUITE, regression } from './regression.ts';
import { show } from './suite-run.ts';
import { SCENARIO as VALIDATION_SUITE, validate } from './validate.ts';

/**
 * Setups run at once. Each has its own service, nginx, relay and k6 on random ports; two at a time on
 * 2 cores took the matrix from 96 s to 49 s with identical cells (measured 2026-11-24; 128 s to 65 s
 * before the suite got 4 s shorter).
 */
const DEFAULT_CONCURRENCY = 2;

/** --repeat's upper bound: one matrix of both tables is about four minutes here already. */
const MAX_REPEAT = 10;

const TABLES = ['regression', 'validation'] as const;
type Table = (typeof TABLES)[number];

export const MATRIX_USAGE = `Usage: wsgate matrix [--concurrency N] [--repeat N] [--table regression|validation] [--results-dir DIR] [--doc FILE] [--engine wsgate|k6]

Proves the gate on this machine, in two tables:
- the regression suite: wsgate regression --env local --embedded-target against ten setups (the
  healthy service behind a healthy nginx; each of the seven regressions' faults and no_reaping behind
  a healthy nginx; a healthy service behind the broken nginx), one row per setup, one column per test;
- validation (what npm start runs): wsgate validate --env local --embedded-target against the healthy
  service and every fault (the seven, the rare family, slow_handshake, duplicate_final_event,
  no_reaping), one row per setup, one column per validation scenario, and its verdict.
Exit 0 when the healthy rows pass, every regression setup fails the test(s) that guard against it and
validation fails under every fault it must catch; 1 when a fault went unnoticed or the healthy service
failed; 4 when a run gave no verdict; 2 usage; 130 interrupted. A setup also failing other tests
(cross-talk) is marked, not an error.

Options:
  --concurrency N        runs at once (default ${DEFAULT_CONCURRENCY}; each uses about one core while it runs)
  --repeat N             run every setup N times (default 1); a cell whose runs disagree shows how
                         many runs gave its worst mark, e.g. pass! 2/3 (a flaky test, made visible)
  --table NAME           only one table: regression or validation (default: both)
  --results-dir DIR      each run's results and log go to DIR/<setup>/[<run>/] (regression) and
                         DIR/validation/<setup>/[<run>/] (default: results/matrix-<time>)
  --doc FILE             also write the tables, legends, command, date and machine as Markdown to FILE
  --engine wsgate|k6     the engine every setup runs on (default: $WSGATE_ENGINE, else wsgate's own)
  -h, --help             print this help

Configuration comes from the local preset only: WSGATE_* variables of the shell are ignored, except
WSGATE_ENGINE, WSGATE_K6 and WSGATE_NGINX.
`;

const OPTIONS = {
  concurrency: { type: 'string' },
  repeat: { type: 'string' },
  table: { type: 'string' },
  'results-dir': { type: 'string' },
  doc: { type: 'string' },
  engine: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface MatrixSetup {
  /** Row name; also what `reproducedBy` calls the setup (a fault name, or nginx:broken). */
  name: string;
  faults: FaultName[];
  /** The nginx in front (regression); validation runs without one. */
  lb: 'healthy' | 'broken' | 'none';
}

/** The regression table's setups: the seven regressions' faults and no_reaping, the leak test's too. */
export const SETUPS: readonly MatrixSetup[] = [
  { name: 'healthy', faults: [], lb: 'healthy' },
  ...[...FAULT_NAMES, 'no_reaping' as const].map((f): MatrixSetup => ({ name: f, faults: [f], lb: 'healthy' })),
  { name: 'nginx:broken', faults: [], lb: 'broken' },
];

/** The validation table's setups: the healthy service and every fault, with no nginx (validate has none). */
export const VALIDATION_SETUPS: readonly MatrixSetup[] = [
  { name: 'healthy', faults: [], lb: 'none' },
  ...[...FAULT_NAMES, ...VALIDATION_FAULT_NAMES].map((f): MatrixSetup => ({ name: f, faults: [f], lb: 'none' })),
];

/** Faults whose question validation does not ask, and who does: their row is shown, a pass is no miss. */
export const OUTSIDE_VALIDATION: Readonly<Record<string, string>> = {
  token_refresh_broken: 'validation holds no connection past a token expiry; auth_token_refresh_regression guards it',
};

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
  /** Per test, the thresholds of its own it failed (besides its checks), e.g. the isolation count it owns. */
  testThresholds?: Record<string, string[]>;
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

const LEGEND = `- \`pass\`: the test passed, as it should.
- \`FAIL\`: the test failed under its own setup (its \`reproducedBy\` in lib/core/regressions.ts): the fault was caught.
- \`FAIL*\`: cross-talk, the setup also failed a test that does not guard against it; expected for
  breakages that hit several questions at once, and not an error.
- \`pass!\`: a test passed under its own setup: the fault went unnoticed (an error).
- \`FAIL!\`: a test failed against the healthy service: a false alarm (an error).
- \`—\`: the run gave no verdict for the test (an error).
- \`MARK k/n\` (with --repeat): the runs of the setup disagreed; k of the n runs gave MARK, the worst of them.
- Columns are the tests without their \`_regression\` suffix; \`exit\` is wsgate regression's exit code, \`time\` its median wall time.`;

/** The matrix's exit code: 4 when a run gave no verdict, 1 when a cell is an error, else 0. */
export function matrixExit(rows: readonly MatrixRow[], validations: readonly ValidationRow[] = []): number {
  if ([...rows, ...validations].some((r) => r.exit !== EXIT.PASS && r.exit !== EXIT.FAIL)) return EXIT.ERROR;
  const errors =
    rows.some((row) => REGRESSIONS.some((r) => cellOf(row.setup, r.name, row.verdicts[r.name]).error)) ||
    validations.some((row) => validationVerdict(row).error);
  return errors ? EXIT.FAIL : EXIT.PASS;
}

// ---- The validation table -------------------------------------------------------------------

export interface ValidationRow {
  setup: MatrixSetup;
  /** wsgate validate's exit code. */
  exit: number;
  seconds: number;
  /** Each validation scenario's verdict from the JSON result ('n/a' when not applicable); missing without a result. */
  verdicts: Record<string, 'pass' | 'fail' | 'n/a' | undefined>;
  /** Per failed scenario, its failed checks with counts: `"agent run delivers ..." 10 of 300`. */
  failedChecks: Record<string, string[]>;
  /** Suite-wide thresholds the run failed, with what was observed. */
  failedThresholds: string[];
  /** The engine's first `FAILED <scenario>: <check> (observed: ...)` line per scenario. */
  observed: Record<string, string>;
  log: string;
}

/**
 * A validation run's verdict against what it should be: the healthy service must pass (`FAIL!`
 * otherwise), a fault must fail the run (`caught`; `MISSED!` when it passed), unless validation does
 * not ask its question (OUTSIDE_VALIDATION: `pass` is fine then). `—`: the run gave no verdict.
 */
export function validationVerdict(row: ValidationRow): Cell {
  const verdicts = Object.keys(row.verdicts).length > 0;
  if (!verdicts || (row.exit !== EXIT.PASS && row.exit !== EXIT.FAIL)) return { mark: '—', error: true, crossTalk: false };
  const failed = row.exit === EXIT.FAIL;
  if (row.setup.name === 'healthy') return failed ? { mark: 'FAIL!', error: true, crossTalk: false } : { mark: 'pass', error: false, crossTalk: false };
  if (failed) return { mark: 'caught', error: false, crossTalk: false };
  return OUTSIDE_VALIDATION[row.setup.name] !== undefined ? { mark: 'pass', error: false, crossTalk: false } : { mark: 'MISSED!', error: true, crossTalk: false };
}

/** One scenario's cell: its verdict; a failure on the healthy service is a false alarm. */
function validationCell(row: ValidationRow, scenario: string): string {
  const v = row.verdicts[scenario];
  if (v === undefined) return '—';
  if (v === 'fail') return row.setup.name === 'healthy' ? 'FAIL!' : 'FAIL';
  return v;
}

/** Worst first, for validation cells whose runs disagree. */
const VALIDATION_SEVERITY = ['—', 'MISSED!', 'FAIL!', 'caught', 'FAIL', 'n/a', 'pass'];

function agreed(marks: readonly string[], severity: readonly string[]): string {
  if (marks.every((m) => m === marks[0])) return marks[0] ?? '—';
  const worst = severity.find((m) => marks.includes(m)) ?? '—';
  return `${worst} ${marks.filter((m) => m === worst).length}/${marks.length}`;
}

/** `wsgate_greeting_latency p(95)<1000 (observed ...)` -> `greeting_latency`. */
const thresholdMetric = (t: string): string => (t.split(' ')[0] ?? t).replace(/^wsgate_/, '');

/** The validation table as padded Markdown: one row per setup, one column per scenario, then the verdict. */
export function renderValidationTable(rows: readonly ValidationRow[]): string {
  const scenarios: string[] = [];
  for (const r of rows) for (const s of Object.keys(r.verdicts)) if (!scenarios.includes(s)) scenarios.push(s);
  const header = ['setup', ...scenarios, 'thresholds failed', 'verdict', 'exit', 'time'];
  const groups = VALIDATION_SETUPS.map((s) => rows.filter((r) => r.setup.name === s.name)).filter((g) => g.length > 0);
  const body = groups.map((runs) => {
    const setup = (runs[0] as ValidationRow).setup;
    const thresholds = [...new Set(runs.flatMap((r) => r.failedThresholds.map(thresholdMetric)))];
    return [
      setup.name === 'healthy' ? 'healthy' : `fault ${setup.name}`,
      ...scenarios.map((sc) => agreed(runs.map((r) => validationCell(r, sc)), VALIDATION_SEVERITY)),
      thresholds.length ? thresholds.join(', ') : 'none',
      agreed(runs.map((r) => validationVerdict(r).mark), VALIDATION_SEVERITY),
      [...new Set(runs.map((r) => r.exit))].join('/'),
      `${median(runs.map((r) => r.seconds)).toFixed(1)} s`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

const VALIDATION_LEGEND = `- \`caught\`: validation failed under the fault, as it must; the scenario columns and the failed
  thresholds say where it was seen.
- \`MISSED!\`: validation passed under a fault it must catch (an error).
- \`FAIL!\`: the healthy service failed validation, or one of its scenarios: a false alarm (an error).
- \`pass\` on a fault's row: only for faults whose question validation does not ask (${Object.keys(OUTSIDE_VALIDATION).join(', ')}).
- \`FAIL\` / \`pass\` / \`n/a\` in a scenario column: that scenario's verdict; \`—\`: the run gave no verdict (an error).
- \`thresholds failed\`: the suite-wide thresholds the run crossed (latency, rates, isolation), without the \`wsgate_\` prefix.
- \`MARK k/n\` (with --repeat): the runs of the setup disagreed; k of the n runs gave MARK, the worst of them.`;

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

type SuiteCommandFn = typeof regression;

/**
 * One row's command (`wsgate <name> --env local --embedded-target ...`) in this process, its output
 * captured and kept in `dir`/wsgate.log; resolves with its exit code, wall time and log.
 */
async function runRowCommand(name: string, command: SuiteCommandFn, args: string[], dir: string, env: NodeJS.ProcessEnv): Promise<{ exit: number; seconds: number; log: string }> {
  mkdirSync(dir, { recursive: true });
  const out = sink();
  const started = performance.now();
  let exit: number;
  try {
    // Built once by matrix(): every row runs the same bundles, and rows never rebuild side by side.
    exit = await command(args, env, { stdout: out.stream, stderr: out.stream }, { rebuild: false });
  } catch (err) {
    // main() would turn this into one sentence; here the row records it and the matrix goes on.
    out.stream.write(`wsgate: ${err instanceof Error ? err.message : String(err)}\n`);
    exit = EXIT.ERROR;
  }
  const seconds = (performance.now() - started) / 1000;
  const log = out.text();
  writeFileSync(join(dir, 'wsgate.log'), `$ wsgate ${name} ${args.join(' ')}\n${log}`);
  return { exit, seconds, log };
}

async function runSetup(setup: MatrixSetup, dir: string, env: NodeJS.ProcessEnv, engine: string): Promise<MatrixRow> {
  const args = ['--env', 'local', '--embedded-target', '--engine', engine, '--lb', setup.lb, '--results-dir', dir, ...setup.faults.flatMap((f) => ['--fault', f])];
  const { exit, seconds, log } = await runRowCommand('regression', regression, args, dir, env);
  const verdicts: MatrixRow['verdicts'] = {};
  const suiteFailures: string[] = [];
  const testThresholds: Record<string, string[]> = {};
  const json = readdirSync(dir).find((f) => f.startsWith(`${SUITE}-local-`) && f.endsWith('.json'));
  if (json) {
    try {
      const result = JSON.parse(readFileSync(join(dir, json), 'utf8')) as SuiteResult;
      for (const s of result.scenarios) {
        verdicts[s.name] = s.verdict === 'not applicable' ? undefined : s.verdict;
        const own = s.thresholds.filter((t) => !t.ok && !CHECK_THRESHOLD.test(t.metric)).map(describeFailed);
        if (own.length) testThresholds[s.name] = own;
      }
      for (const t of result.thresholds.filter((x) => !x.ok)) suiteFailures.push(describeFailed(t));
    } catch {
      // an unreadable result is a row without verdicts
    }
  }
  return { setup, exit, seconds, verdicts, observed: failedLines(log), suiteFailures, testThresholds, log };
}

/** The two thresholds every scenario has; a failure of theirs is said by the failed checks. */
const CHECK_THRESHOLD = /^(checks|wsgate_checks_run)\{/;

/** `metric expression (observed stat value, ...)`, with the statistics the expression judges. */
function describeFailed(t: ThresholdResult): string {
  const used = Object.entries(t.observed).filter(([k]) => t.expression.includes(k));
  const round = (v: number): number => Math.round(v * 100) / 100;
  return `${t.metric} ${t.expression} (observed ${used.map(([k, v]) => `${k} ${round(v)}`).join(', ')})`;
}

/** One run of `wsgate validate --env local --embedded-target` against `setup`, in this process. */
async function runValidation(setup: MatrixSetup, dir: string, env: NodeJS.ProcessEnv, engine: string): Promise<ValidationRow> {
  const args = ['--env', 'local', '--embedded-target', '--engine', engine, '--results-dir', dir, ...setup.faults.flatMap((f) => ['--fault', f])];
  const { exit, seconds, log } = await runRowCommand('validate', validate, args, dir, env);
  const row: ValidationRow = { setup, exit, seconds, verdicts: {}, failedChecks: {}, failedThresholds: [], observed: failedLines(log), log };
  const json = readdirSync(dir).find((f) => f.startsWith(`${VALIDATION_SUITE}-local-`) && f.endsWith('.json'));
  if (json) {
    try {
      const result = JSON.parse(readFileSync(join(dir, json), 'utf8')) as SuiteResult;
      for (const s of result.scenarios) {
        row.verdicts[s.name] = s.verdict === 'not applicable' ? 'n/a' : s.verdict;
        const failed = s.checks.filter((c) => !c.ok).map((c) => `"${c.name}" ${c.fails} of ${c.passes + c.fails}`);
        const crossed = s.thresholds.filter((t) => !t.ok && !CHECK_THRESHOLD.test(t.metric)).map(describeFailed);
        if (failed.length + crossed.length > 0) row.failedChecks[s.name] = [...failed, ...crossed];
      }
      row.failedThresholds = result.thresholds.filter((x) => !x.ok).map(describeFailed);
    } catch {
      // an unreadable result is a row without verdicts
    }
  }
  return row;
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
  runs: number;
}

/** What each regression setup's own test observed, or that it missed. */
function regressionObservations(rows: readonly MatrixRow[]): string {
  return bySetup(rows)
    .filter((runs) => (runs[0] as MatrixRow).setup.name !== 'healthy')
    .map((runs) => {
      const setup = (runs[0] as MatrixRow).setup;
      const seen = ownTests(setup)
        .map((t) => {
          const missed = runs.filter((r) => r.verdicts[t] === 'pass');
          const caughtBy = runs.find((r) => r.verdicts[t] === 'fail');
          const parts: string[] = [];
          if (caughtBy) parts.push(caughtBy.observed[t] ?? (caughtBy.testThresholds?.[t] ? `threshold ${caughtBy.testThresholds[t]?.join('; ')}` : '(no FAILED line)'));
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
}

/** What caught each fault in validation: the failed checks with their counts, the first FAILED line, the crossed thresholds. */
function validationObservations(rows: readonly ValidationRow[]): string {
  return VALIDATION_SETUPS.filter((s) => s.name !== 'healthy')
    .map((s) => rows.filter((r) => r.setup.name === s.name))
    .filter((runs) => runs.length > 0)
    .map((runs) => {
      const setup = (runs[0] as ValidationRow).setup;
      const caught = runs.filter((r) => r.exit === EXIT.FAIL);
      const missed = runs.length - caught.length;
      const first = caught[0];
      const outside = OUTSIDE_VALIDATION[setup.name];
      if (!first) return `- **${setup.name}** → ${outside ? `not caught, as expected: ${outside}` : `MISSED in all ${runs.length} run(s)`}`;
      const where = Object.entries(first.failedChecks).map(([scenario, checks]) => {
        const line = first.observed[scenario];
        // One failed check: its first observation; several: the first FAILED line, which names its check.
        const seen = line === undefined ? '' : checks.length === 1 ? ` (first: ${line.replace(/^.*?\(observed: /, '').replace(/\)$/, '')})` : ` (first FAILED: ${line})`;
        return `${scenario}: ${checks.join('; ')}${seen}`;
      });
      const thresholds = first.failedThresholds.length ? [`thresholds ${first.failedThresholds.join('; ')}`] : [];
      const tally = runs.length > 1 ? ` [caught in ${caught.length} of ${runs.length} runs${missed ? `, MISSED in ${missed}` : ''}; counts from the first]` : '';
      return `- **${setup.name}** → ${[...where, ...thresholds].join('; ') || 'failed (no failed check recorded)'}${tally}`;
    })
    .join('\n');
}

function renderDoc(rows: readonly MatrixRow[], validations: readonly ValidationRow[], meta: DocMeta): string {
  const runsEach = meta.repeat > 1 ? ` Each setup ran ${meta.repeat} times; a cell shows every run's mark when they agree.` : '';
  const verdict =
    meta.exit === EXIT.PASS
      ? 'sound (exit 0): the healthy rows pass everything, every regression setup is caught by its own test, and validation fails under every fault it must catch'
      : `NOT sound (exit ${meta.exit}): see the cells marked ! and the MISSED lines below`;
  const regressionPart = rows.length
    ? `## The regression suite

Each row is a run of \`wsgate regression --env local --embedded-target\` (all seven tests) against
one setup: the healthy reference service behind a healthy nginx, each of the seven regressions'
faults and \`no_reaping\` (\`--fault NAME\`, nginx healthy in front), and a healthy service behind the
broken nginx (\`--lb broken\`, idle WebSockets cut after 3 s). Each column is one test.${runsEach}

${renderTable(rows)}
Legend:

${LEGEND}

What each setup's own test observed (the first \`FAILED\` line for it):

${regressionObservations(rows)}
`
    : '';
  const validationPart = validations.length
    ? `## Validation (\`npm start\`)

Each row is a run of \`wsgate validate --env local --embedded-target\`, what \`npm start\` runs (about
300 agent runs and 300 connections, each a check of its own, so a fault in 1% of them is caught with
95% confidence; latency thresholds; a drop relay through which the health check black-holes a client),
against the healthy reference service and each fault: the seven regressions', the rare family (each
hits one agent run, connection or agent event in 33, about 3%, at a random place: above the 1% floor,
so a miss is a defect, not bad luck), \`slow_handshake\` (every handshake answered 3 s late),
\`duplicate_final_event\` (every run's \`agent_completed\` sent twice) and \`no_reaping\` (the server
never pings and never reaps a client that vanished without a packet). Each scenario column is a
scenario's verdict.${runsEach}

${renderValidationTable(validations)}
Legend:

${VALIDATION_LEGEND}

What caught each fault (failed checks with how many of their trials failed, the first \`FAILED\` line, crossed thresholds):

${validationObservations(validations)}
`
    : '';
  return `# Fault matrix

Does every test catch the breakage it guards against, and pass when nothing is broken? Two tables: the
regression suite (\`wsgate regression\`) against the seven staging regressions and a service that
never reaps vanished clients, and validation (\`wsgate validate\`, what \`npm start\` runs) against
every fault the reference service can play.

Verdict: ${verdict}.

${regressionPart}
${validationPart}
Produced by \`${meta.command}\` on ${meta.date}: ${meta.machine};
${meta.runs} runs (${rows.length} regression, ${validations.length} validation), ${meta.concurrency} at a time, ${meta.seconds.toFixed(0)} s wall time in all.
\`npm test\` runs the matrix once (test/cli/matrix.e2e.test.ts); \`npm run matrix\` rewrites this file.
`;
}

interface Job {
  table: Table;
  setup: MatrixSetup;
  run: number;
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
  if (values.table !== undefined && !(TABLES as readonly string[]).includes(values.table)) {
    throw new UsageError(`--table is "${values.table}"; choose ${TABLES.join(' or ')}, or leave it out for both`);
  }
  const tables: readonly Table[] = values.table === undefined ? TABLES : [values.table as Table];
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
  const jobs: Job[] = [];
  for (let run = 1; run <= repeat; run++) {
    if (tables.includes('regression')) for (const setup of SETUPS) jobs.push({ table: 'regression', setup, run });
    if (tables.includes('validation')) for (const setup of VALIDATION_SETUPS) jobs.push({ table: 'validation', setup, run });
  }
  // Longest first, so that the two lanes finish together: slow_handshake's validation (~35 s), then
  // the regression runs (~14 s), then the other validations (~7 s).
  const weight = (j: Job): number => (j.table === 'validation' && j.setup.name === 'slow_handshake' ? 0 : j.table === 'regression' ? 1 : 2);
  jobs.sort((a, b) => weight(a) - weight(b));
  const times = repeat > 1 ? ` × ${repeat} runs` : '';
  const counts = tables.map((t) => `${t === 'regression' ? SETUPS.length : VALIDATION_SETUPS.length} ${t} setups`).join(' and ');
  say(io.stderr, `matrix: ${counts}${times}, ${concurrency} at a time, on the ${engine.label}; logs and results in ${show(root)}/[validation/]<setup>/${repeat > 1 ? '<run>/' : ''}`);

  let stopped = false;
  const onSignal = (): void => {
    stopped = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  const results: (MatrixRow | ValidationRow | undefined)[] = new Array(jobs.length).fill(undefined);
  let next = 0;
  let done = 0;
  try {
    const worker = async (): Promise<void> => {
      while (!stopped && next < jobs.length) {
        const i = next++;
        const { table, setup, run } = jobs[i] as Job;
        const name = setup.name.replace(':', '-');
        const dir = table === 'regression' ? join(root, name, repeat > 1 ? String(run) : '') : join(root, 'validation', name, repeat > 1 ? String(run) : '');
        let line: string;
        let exit: number;
        if (table === 'regression') {
          const row = await runSetup(setup, dir, runEnv, engine.kind);
          results[i] = row;
          exit = row.exit;
          const failed = REGRESSIONS.filter((r) => row.verdicts[r.name] === 'fail').map((r) => r.name);
          const wrong = REGRESSIONS.filter((r) => cellOf(setup, r.name, row.verdicts[r.name]).error).map((r) => r.name);
          line = `exit ${row.exit} in ${row.seconds.toFixed(1)} s, failed: ${failed.join(', ') || 'none'}${wrong.length ? ` — WRONG: ${wrong.join(', ')}` : ''}`;
        } else {
          const row = await runValidation(setup, dir, runEnv, engine.kind);
          results[i] = row;
          exit = row.exit;
          const v = validationVerdict(row);
          const failed = Object.entries(row.verdicts).filter(([, x]) => x === 'fail').map(([n]) => n);
          const thresholds = [...new Set(row.failedThresholds.map(thresholdMetric))];
          line = `exit ${row.exit} in ${row.seconds.toFixed(1)} s, ${v.mark}${failed.length + thresholds.length ? ` (${[...failed, ...thresholds].join(', ')})` : ''}${v.error ? ' — WRONG' : ''}`;
        }
        done++;
        say(io.stderr, `matrix ${done}/${jobs.length} ${table} ${setup.name}${repeat > 1 ? ` (run ${run})` : ''}: ${line}`);
        if (exit === EXIT.INTERRUPTED) stopped = true;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  // Back in SETUPS order (the jobs ran longest first).
  const finished = results.filter((r): r is MatrixRow => r !== undefined && 'suiteFailures' in r);
  const validations = results.filter((r): r is ValidationRow => r !== undefined && 'failedChecks' in r);
  if (finished.length) io.stdout.write(`regression suite:\n${renderTable(finished)}`);
  if (validations.length) io.stdout.write(`${finished.length ? '\n' : ''}validation (npm start):\n${renderValidationTable(validations)}`);
  if (stopped) {
    say(io.stdout, `INTERRUPTED fault matrix after ${finished.length + validations.length} of ${jobs.length} runs; no verdict`);
    return EXIT.INTERRUPTED;
  }
  const exit = matrixExit(finished, validations);
  // A matrix without a verdict (exit 4) never replaces a document that has one.
  if (doc && exit !== EXIT.ERROR) {
    const machine = `${cpus().length} cores, Node ${process.version}, ${engine.label}, ${await nginxVersion(runEnv)}`;
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    mkdirSync(dirname(doc), { recursive: true });
    const flags = [
      values.concurrency === undefined ? '' : `--concurrency ${concurrency}`,
      repeat > 1 ? `--repeat ${repeat}` : '',
      values.table === undefined ? '' : `--table ${values.table}`,
      `--doc ${values.doc}`,
    ];
    const command = `node bin/wsgate.mjs matrix ${flags.filter(Boolean).join(' ')}`;
    writeFileSync(doc, renderDoc(finished, validations, { date, machine, command, repeat, concurrency, seconds, exit, runs: jobs.length }));
  }
  const crossTalk = [
    ...new Set(finished.flatMap((row) => REGRESSIONS.filter((r) => cellOf(row.setup, r.name, row.verdicts[r.name]).crossTalk).map((r) => `${row.setup.name}→${short(r.name)}`))),
  ];
  if (crossTalk.length) say(io.stdout, `cross-talk (marked FAIL*, not an error): ${crossTalk.join(', ')}`);
  const summary: Record<number, string> = {
    [EXIT.PASS]: 'PASS fault matrix: the healthy service passes everything, every regression setup is caught by its own test, and validation catches every fault it must',
    [EXIT.FAIL]: 'FAIL fault matrix: a fault went unnoticed or the healthy service failed (cells marked ! above)',
    [EXIT.ERROR]: `ERROR fault matrix: a run gave no verdict (see its wsgate.log under ${show(root)})`,
  };
  say(io.stdout, `${summary[exit]} — ${jobs.length} runs (${counts}${times}) in ${seconds.toFixed(0)} s${doc && exit !== EXIT.ERROR ? `; written to ${show(doc)}` : ''}`);
  return exit;
}

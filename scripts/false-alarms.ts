/**
 * False alarms: runs every suite command against the healthy embedded service N times (default 20),
 * once over loopback as it is and once through injected network jitter (`--network-jitter`, default
 * 20 ms), and prints per suite and condition how many passed, the failed runs' FAILED lines, and the
 * wall times (median, min, max). A benchmark that prints figures (docs/benchmarks.md), not a test: it
 * is not part of `npm test`.
 *
 *   npm run bench:false-alarms [-- --runs N] [-- --engine wsgate|k6] [-- --suites validate,monitor]
 *                              [-- --jitter-ms MS] [-- --conditions clean,jitter]
 *
 * Each run is the real command a user types (`node bin/wsgate.mjs <suite> --env local
 * --embedded-target ...`), so the wall time includes Node's start, the build check, the service (and
 * for the regression suite nginx and the drop relay) and the engine: wsgate's own by default, k6 with
 * --engine k6 (or WSGATE_ENGINE=k6), which is the k6 WSGATE_K6 names (wsgate never builds one). The
 * monitor runs 20 s in windows of 10 s, so two whole windows are judged. Runs take turns (each round
 * runs every suite in every condition once), so a slow spell of the machine is spread over all of
 * them. A failed run keeps its results directory with the command's whole output in output.log. The
 * last line is the figures as JSON. Exit 0 when every run passed, 1 otherwise.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'wsgate.mjs');

/** Each suite command as the benchmark runs it, after `--env local --embedded-target`. */
const SUITES: Record<string, readonly string[]> = {
  validate: ['validate'],
  regression: ['regression'],
  'multi-user': ['multi-user'],
  monitor: ['monitor', '--duration', '20s', '--window', '10s'],
};
const CONDITIONS = ['clean', 'jitter'] as const;
type Condition = (typeof CONDITIONS)[number];

function usage(message: string): never {
  process.stderr.write(`false-alarms: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    engine: { type: 'string' },
    suites: { type: 'string', default: Object.keys(SUITES).join(',') },
    'jitter-ms': { type: 'string', default: '20' },
    conditions: { type: 'string', default: CONDITIONS.join(',') },
  },
  strict: true,
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) usage(`--runs is "${values.runs}"; give a whole number of runs, e.g. 20`);
const suites = values.suites.split(',').filter(Boolean);
for (const s of suites) if (!(s in SUITES)) usage(`--suites names "${s}"; choose from ${Object.keys(SUITES).join(', ')}`);
if (suites.length === 0) usage(`--suites is empty; choose from ${Object.keys(SUITES).join(', ')}`);
const jitterMs = /^\d+$/.test(values['jitter-ms']) ? Number(values['jitter-ms']) : Number.NaN;
if (!(jitterMs >= 1)) usage(`--jitter-ms is "${values['jitter-ms']}"; give whole milliseconds from 1, e.g. 20 (leave the jitter condition out with --conditions clean)`);
const conditions = values.conditions.split(',').filter(Boolean) as Condition[];
for (const c of conditions) if (!CONDITIONS.includes(c)) usage(`--conditions names "${c}"; choose from ${CONDITIONS.join(', ')}`);
if (conditions.length === 0) usage(`--conditions is empty; choose from ${CONDITIONS.join(', ')}`);

/** The shell's environment without wsgate configuration (the local preset, as a user gets it), except the engine's and nginx. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WSGATE_') || ['WSGATE_ENGINE', 'WSGATE_K6', 'WSGATE_NGINX'].includes(k)));
const engine = values.engine ?? (env['WSGATE_ENGINE'] || 'wsgate');
if (engine !== 'wsgate' && engine !== 'k6') usage(`--engine is "${engine}"; use wsgate (the default) or k6`);

function commandOf(suite: string, condition: Condition): string[] {
  return [...(SUITES[suite] ?? []), '--engine', engine, '--env', 'local', '--embedded-target', ...(condition === 'jitter' ? ['--network-jitter', String(jitterMs)] : [])];
}

interface Run {
  suite: string;
  condition: Condition;
  exit: number | null;
  seconds: number;
  /** What the output says went wrong: the engine's FAILED lines, failed regressions, alerts, the final line. */
  failed: string[];
  dir: string;
}

/** Lines of a failed run's output worth printing: what was observed, not the whole log. */
function failureLines(log: string): string[] {
  const lines: string[] = [];
  for (const m of log.matchAll(/FAILED (\w+: .*?)(?:" source=console|\n)/g)) lines.push(`FAILED ${(m[1] ?? '').replace(/\\"/g, '"')}`);
  for (const line of log.split('\n')) {
    // Failed regressions, crossed thresholds and evidence, monitor alerts, and the final line.
    if (/^(failed |\s+FAIL |.*\bALERT\b|.*ROLLBACK RECOMMENDED|wsgate: (FAIL|ERROR|INTERRUPTED)|.*✗)/.test(line)) lines.push(line.trim());
  }
  return [...new Set(lines)];
}

function once(suite: string, condition: Condition, dir: string): Promise<Run> {
  mkdirSync(dir, { recursive: true });
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...commandOf(suite, condition), '--results-dir', dir], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    child.on('error', reject);
    child.on('close', (exit) => {
      const seconds = (performance.now() - started) / 1000;
      writeFileSync(join(dir, 'output.log'), log);
      resolve({ suite, condition, exit, seconds, failed: exit === 0 ? [] : failureLines(log), dir });
    });
  });
}

/** CPU ticks: this process's reaped children (every run, its engine workers and nginx included), and the whole machine. */
function cpuTicks(): { ours: number; machine: number; total: number } {
  const self = readFileSync('/proc/self/stat', 'utf8');
  const fields = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
  // After the command name: state is field 3, so utime..cstime (14-17) are at 11..14 here.
  const ours = (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0);
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return { ours, machine: total - idle, total };
}

function stats(times: number[]): { median: number; min: number; max: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0 };
}

const root = mkdtempSync(join(tmpdir(), 'wsgate-false-alarms-'));
const label = (c: Condition): string => (c === 'jitter' ? `jitter ${jitterMs} ms` : 'clean');
process.stdout.write(
  `false alarms: ${runs} runs each of ${suites.join(', ')} (--engine ${engine} --env local --embedded-target, healthy service), ` +
    `conditions: ${conditions.map(label).join(', ')}; results of failed runs kept under ${root}\n`,
);
const before = cpuTicks();
const startedAt = performance.now();
const results: Run[] = [];
for (let i = 1; i <= runs; i++) {
  for (const suite of suites) {
    for (const condition of conditions) {
      const r = await once(suite, condition, join(root, `${suite}-${condition}-${i}`));
      results.push(r);
      const verdict = r.exit === 0 ? 'PASS' : r.exit === 1 ? 'FAIL' : `exit ${r.exit}`;
      process.stdout.write(`run ${String(i).padStart(2)} ${suite.padEnd(10)} ${label(condition).padEnd(12)} ${verdict.padEnd(6)} ${r.seconds.toFixed(1).padStart(5)} s${r.exit === 0 ? '' : ` (kept in ${r.dir})`}\n`);
      for (const line of r.failed) process.stdout.write(`    ${line}\n`);
      if (r.exit === 0) rmSync(r.dir, { recursive: true, force: true });
    }
  }
}
const after = cpuTicks();
const wallS = (performance.now() - startedAt) / 1000;

const rows = suites.flatMap((suite) =>
  conditions.map((condition) => {
    const mine = results.filter((r) => r.suite === suite && r.condition === condition);
    const passed = mine.filter((r) => r.exit === 0).length;
    const t = stats(mine.map((r) => r.seconds));
    return {
      suite,
      condition: condition === 'jitter' ? `jitter_${jitterMs}ms` : 'clean',
      command: `wsgate ${commandOf(suite, condition).join(' ')}`,
      runs: mine.length,
      passed,
      false_alarms: mine.length - passed,
      median_s: Number(t.median.toFixed(1)),
      min_s: Number(t.min.toFixed(1)),
      max_s: Number(t.max.toFixed(1)),
      failed: mine.filter((r) => r.exit !== 0).map((r) => ({ dir: r.dir, exit: r.exit, lines: r.failed })),
    };
  }),
);
process.stdout.write('\n');
for (const r of rows) {
  process.stdout.write(
    `${r.suite.padEnd(10)} ${r.condition.padEnd(14)} passed ${r.passed}/${r.runs}, false alarms ${r.false_alarms}; wall median ${r.median_s.toFixed(1)} s (min ${r.min_s.toFixed(1)}, max ${r.max_s.toFixed(1)})\n`,
  );
  for (const f of r.failed) for (const line of f.lines) process.stdout.write(`    ${line}\n`);
}
// The machine's busy time that was not this benchmark's: other work sharing the CPU (a fraction of all cores).
const totalTicks = after.total - before.total;
const otherShare = totalTicks > 0 ? Math.max(0, after.machine - before.machine - (after.ours - before.ours)) / totalTicks : 0;
const oursShare = totalTicks > 0 ? (after.ours - before.ours) / totalTicks : 0;
const passed = results.filter((r) => r.exit === 0).length;
process.stdout.write(
  `passed ${passed}/${results.length} in ${(wallS / 60).toFixed(1)} min; the benchmark used ${(oursShare * 100).toFixed(0)}% of the machine, ` +
    `other processes ${(otherShare * 100).toFixed(0)}%; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}\n`,
);
process.stdout.write(
  JSON.stringify({
    bench: 'false-alarms',
    engine,
    runs,
    jitter_ms: jitterMs,
    total: results.length,
    passed,
    false_alarms: results.length - passed,
    wall_min: Number((wallS / 60).toFixed(1)),
    cpu_share_bench: Number(oursShare.toFixed(2)),
    cpu_share_other: Number(otherShare.toFixed(2)),
    cores: cpus().length,
    node: process.version,
    suites: rows.map(({ failed, ...row }) => ({ ...row, failed_dirs: failed.map((f) => f.dir) })),
  }) + '\n',
);
if (passed === results.length) rmSync(root, { recursive: true, force: true });
process.exitCode = passed === results.length ? 0 : 1;

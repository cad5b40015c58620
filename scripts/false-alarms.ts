/**
 * False alarms: runs the whole regression suite against the healthy embedded service N times in a
 * row (default 10) and prints how many passed, each run's wall time and the median. A benchmark that
 * prints figures (docs/benchmarks.md), not a test: it is not part of `npm test`.
 *
 *   npm run bench:false-alarms [-- --runs N] [-- --engine wsgate|k6]
 *
 * Each run is the real command a user types, `node bin/wsgate.mjs regression --env local
 * --embedded-target`, so the wall time includes Node's start, the build check, the service, nginx,
 * the drop relay and the engine: wsgate's own by default, k6 with --engine k6 (or WSGATE_ENGINE=k6),
 * which is the k6 WSGATE_K6 names (wsgate never builds one). A failed run prints its FAILED lines (what
 * was observed) and keeps its results directory. The last line is the figures as JSON. Exit 0 when
 * every run passed, 1 otherwise.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'bin', 'wsgate.mjs');

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, engine: { type: 'string' } }, strict: true });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`false-alarms: --runs is "${values.runs}"; give a whole number of runs, e.g. 10\n`);
  process.exit(2);
}

/** The shell's environment without wsgate configuration (the local preset, as a user gets it), except the engine's and nginx. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WSGATE_') || ['WSGATE_ENGINE', 'WSGATE_K6', 'WSGATE_NGINX'].includes(k)));
const engine = values.engine ?? (env['WSGATE_ENGINE'] || 'wsgate');
if (engine !== 'wsgate' && engine !== 'k6') {
  process.stderr.write(`false-alarms: --engine is "${engine}"; use wsgate (the default) or k6\n`);
  process.exit(2);
}

interface Run {
  exit: number | null;
  seconds: number;
  failed: string[];
  observed: string[];
  dir: string;
}

function once(dir: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'regression', '--engine', engine, '--env', 'local', '--embedded-target', '--results-dir', dir], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    child.on('error', reject);
    child.on('close', (exit) => {
      const seconds = (performance.now() - started) / 1000;
      const json = readdirSync(dir).find((f) => f.startsWith('regression-prevention-local-') && f.endsWith('.json'));
      const scenarios = json ? (JSON.parse(readFileSync(join(dir, json), 'utf8')) as { scenarios: { name: string; verdict: string }[] }).scenarios : [];
      const observed = [...log.matchAll(/FAILED (\w+: .*?)(?:" source=console|\n)/g)].map((m) => (m[1] ?? '').replace(/\\"/g, '"'));
      resolve({ exit, seconds, failed: scenarios.filter((s) => s.verdict !== 'pass').map((s) => s.name), observed, dir });
    });
  });
}

const root = mkdtempSync(join(tmpdir(), 'wsgate-false-alarms-'));
process.stdout.write(`false alarms: ${runs} runs of wsgate regression --engine ${engine} --env local --embedded-target (healthy service, nginx healthy), one after another\n`);
const results: Run[] = [];
for (let i = 1; i <= runs; i++) {
  const dir = join(root, `run-${i}`);
  const r = await once(dir);
  results.push(r);
  const verdict = r.exit === 0 ? 'PASS' : r.exit === 1 ? 'FAIL' : `exit ${r.exit}`;
  process.stdout.write(`run ${String(i).padStart(2)}: ${verdict.padEnd(6)} ${r.seconds.toFixed(1)} s${r.failed.length ? ` — failed: ${r.failed.join(', ')} (results kept in ${dir})` : ''}\n`);
  for (const line of r.observed) process.stdout.write(`         FAILED ${line}\n`);
  if (r.exit === 0) rmSync(dir, { recursive: true, force: true });
}

const times = results.map((r) => r.seconds).sort((a, b) => a - b);
const mid = Math.floor(times.length / 2);
const median = times.length % 2 ? (times[mid] ?? 0) : ((times[mid - 1] ?? 0) + (times[mid] ?? 0)) / 2;
const passed = results.filter((r) => r.exit === 0).length;
process.stdout.write(
  `passed ${passed}/${runs}; wall time median ${median.toFixed(1)} s (min ${(times[0] ?? 0).toFixed(1)} s, max ${(times.at(-1) ?? 0).toFixed(1)} s); ` +
    `${cpus().length} cores, Node ${process.version}\n`,
);
process.stdout.write(
  JSON.stringify({
    bench: 'false-alarms',
    engine,
    runs,
    passed,
    false_alarms: runs - passed,
    median_s: Number(median.toFixed(1)),
    min_s: Number((times[0] ?? 0).toFixed(1)),
    max_s: Number((times.at(-1) ?? 0).toFixed(1)),
    node: process.version,
  }) + '\n',
);
if (passed === runs) rmSync(root, { recursive: true, force: true });
process.exitCode = passed === runs ? 0 : 1;

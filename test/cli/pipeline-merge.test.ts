/**
 * Distributed runs: the same bundle run once as one process and once split over two processes with
 * execution segments (0:1/2 and 1/2:1), against the same reference service. Judged alone, a segment
 * can disagree with the whole (a segment without a scenario's only VU fails its count>0); the
 * instances' samples merged by wsgate merge give the single run's verdict, threshold by threshold.
 * Once against the healthy service (all pass) and once with handshake_403 (some thresholds fail: the
 * failing set must be the same).
 *
 * Also: merging the single run's own samples reproduces the run's own end-of-test numbers (k6's
 * exactly; the engine's within its histogram's documented precision), which pins the aggregation to
 * k6's definitions.
 *
 * On wsgate's engine (dist/engine/deployment-validation.mjs, its JSON output and `engine.mjs inspect`);
 * with WSGATE_K6 set, once more on k6 (dist/deployment-validation.js, `k6 inspect`), skipped with one
 * line otherwise.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { segments } from '../../cli/instances.ts';
import { inspectBundle, mergeRuns } from '../../cli/merge/command.ts';
import type { Merged } from '../../cli/merge/command.ts';
import type { SuiteResult } from '../../lib/core/summary.ts';
import { startTarget } from '../../reference-service/service.ts';
import type { FaultName } from '../../reference-service/service.ts';
import { k6Skip, runEngine, runK6 } from '../helpers/k6.ts';
import type { ProcRun } from '../helpers/k6.ts';
import { main } from '../../cli/main.ts';
import { capture, tempDir } from './helpers.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'merge-test-secret-0123456789abcdefghijklmnopqrstuv';

interface Case {
  single: { run: ProcRun; result: SuiteResult; samples: string };
  parts: { run: ProcRun; result: SuiteResult; samples: string }[];
  env: Record<string, string>;
}

type Kind = 'wsgate' | 'k6';

/** Each engine's bundle of the suite, and how one instance of it is run. */
const ENGINES: Record<Kind, { bundle: string; run: (bundle: string, env: Record<string, string>, args: string[]) => Promise<ProcRun> }> = {
  // One worker each: an instance is one process, as a k6 instance is (three run at once on two cores).
  wsgate: { bundle: join(REPO, 'dist', 'engine', 'deployment-validation.mjs'), run: (bundle, env, args) => runEngine(bundle, env, ['--workers', '1', ...args]) },
  k6: { bundle: join(REPO, 'dist', 'deployment-validation.js'), run: runK6 },
};

function suiteResult(dir: string): SuiteResult {
  const f = readdirSync(dir).find((x) => /^deployment-validation-local-.*Z\.json$/.test(x));
  assert.ok(f, `the run wrote its result into ${dir}: ${readdirSync(dir).join(', ')}`);
  return JSON.parse(readFileSync(join(dir, f), 'utf8')) as SuiteResult;
}

/** Every threshold (suite-wide and per scenario) -> ok. */
function verdicts(r: SuiteResult): Record<string, boolean> {
  const all = [...r.thresholds, ...r.scenarios.flatMap((s) => s.thresholds)];
  return Object.fromEntries(all.map((t) => [`${t.metric} ${t.expression}`, t.ok]).sort(([a], [b]) => String(a).localeCompare(String(b))));
}

async function runCase(kind: Kind, work: string, name: string, faults: FaultName[]): Promise<Case> {
  const target = await startTarget({ host: '127.0.0.1', authSecret: SECRET, backendSecret: SECRET, faults });
  try {
    const env = {
      WSGATE_ENV: 'local',
      WSGATE_WS_URL: target.wsUrl,
      WSGATE_HTTP_URL: target.httpUrl,
      WSGATE_AUTH_URL: target.authUrl,
      WSGATE_JWT_SECRET: SECRET,
      WSGATE_IDLE_HOLD_S: '2',
      K6_NO_USAGE_REPORT: 'true',
    };
    const one = async (label: string, args: string[]) => {
      const dir = join(work, `${kind}-${name}-${label}`);
      const samples = join(dir, 'samples.json');
      mkdirSync(dir, { recursive: true }); // neither engine creates it
      const run = await ENGINES[kind].run(ENGINES[kind].bundle, { ...env, WSGATE_RESULTS_DIR: dir }, ['--out', `json=${samples}`, ...args]);
      return { run, result: suiteResult(dir), samples };
    };
    const split = segments(2);
    // The single run first, alone: validation's health step compares the service's connection count
    // before, during and after its own connections, so another run beside it would move the count.
    // The two segments are one run split in two, and run side by side as the machines would.
    const single = await one('single', []);
    const parts = await Promise.all(split.map((s, i) => one(`segment-${i + 1}`, ['--execution-segment', s.segment, '--execution-segment-sequence', s.sequence])));
    return { single, parts, env };
  } finally {
    await target.close();
  }
}

/**
 * How far the run's own figure may be from the merge's exact one. k6 keeps every sample: exact. The
 * engine keeps trends in an HDR histogram of values rounded to 1/1000 (engine/metrics/sinks.ts): min,
 * max, count, rates and counters are exact, avg within 0.0005, a percentile within half a bucket (at
 * most 1/1024 of the value, 0.0005 at the bottom) plus that rounding.
 */
function tolerance(kind: Kind, stat: string, v: number): number {
  const exact = 1e-9 * Math.max(1, Math.abs(v));
  if (kind === 'k6' || ['count', 'min', 'max', 'rate', 'passes', 'fails', 'value'].includes(stat)) return exact;
  if (stat === 'avg') return 0.0005 + exact;
  return Math.max(0.001, Math.abs(v) / 1024) + exact;
}

function mergeSuite(kind: Kind): void {
  const BUNDLE = ENGINES[kind].bundle;
  const engine = kind === 'k6' ? 'k6' : 'the engine';
  const work = tempDir('wsgate-merge-');
  const cases: Record<string, Case> = {};
  const merged: Record<string, { parts: Merged; single: Merged }> = {};

  before(async () => {
    // Each case has a service of its own, so the two may run side by side.
    const [healthy, broken] = await Promise.all([runCase(kind, work, 'healthy', []), runCase(kind, work, 'handshake_403', ['handshake_403'])]);
    cases['healthy'] = healthy;
    cases['handshake_403'] = broken;
    for (const [name, c] of Object.entries(cases)) {
      // The thresholds and scenarios as the bundle defines them under the instances' environment.
      const opts = await inspectBundle(BUNDLE, { ...process.env, ...c.env });
      const meta = { suite: 'deployment-validation', env: 'local', target: {} };
      merged[name] = {
        parts: await mergeRuns(c.parts.map((p) => p.samples), opts, meta),
        single: await mergeRuns([c.single.samples], opts, meta),
      };
    }
  });

  test('healthy: one process passes; the two segments alone disagree; merged they pass, threshold by threshold', () => {
    const c = cases['healthy']!;
    const m = merged['healthy']!;
    assert.equal(c.single.run.code, 0, c.single.run.stderr);
    assert.equal(c.single.result.verdict, 'pass');
    // Alone, the segment that got none of a one-VU scenario crosses that scenario's count>0 (exit 99).
    assert.ok(c.parts.some((p) => p.run.code === 99 && p.result.verdict === 'fail'), 'some segment alone fails');
    assert.equal(m.parts.result.verdict, 'pass');
    assert.deepEqual(verdicts(m.parts.result), verdicts(c.single.result));
    assert.ok(Object.keys(verdicts(c.single.result)).length >= 17, 'every threshold compared');
  });

  test('handshake_403: the same thresholds fail merged as in one process', () => {
    const c = cases['handshake_403']!;
    const m = merged['handshake_403']!;
    assert.equal(c.single.run.code, 99, c.single.run.stderr);
    assert.equal(c.single.result.verdict, 'fail');
    assert.equal(m.parts.result.verdict, 'fail');
    const failing = (r: SuiteResult) => Object.entries(verdicts(r)).filter(([, ok]) => !ok).map(([k]) => k);
    assert.ok(failing(c.single.result).includes('wsgate_connection_success rate>0.95'), failing(c.single.result).join(', '));
    assert.deepEqual(failing(m.parts.result), failing(c.single.result));
    assert.deepEqual(verdicts(m.parts.result), verdicts(c.single.result));
    // Scenario verdicts too (checks rebuilt from the check samples).
    const scen = (r: SuiteResult) => Object.fromEntries(r.scenarios.map((s) => [s.name, s.verdict]));
    assert.deepEqual(scen(m.parts.result), scen(c.single.result));
  });

  test('merged segments hold every sample: check and rate counts add up to the single run\'s', () => {
    for (const name of Object.keys(cases)) {
      const c = cases[name]!;
      const m = merged[name]!.parts.result;
      const checks = (r: SuiteResult) => r.scenarios.flatMap((s) => s.checks).reduce((n, x) => n + x.passes + x.fails, 0);
      assert.equal(checks(m), checks(c.single.result), `${name}: checks`);
      for (const metric of ['wsgate_connection_success', 'wsgate_agent_event_completion']) {
        const total = (r: SuiteResult) => (r.metrics[metric]?.['passes'] ?? 0) + (r.metrics[metric]?.['fails'] ?? 0);
        assert.equal(total(m), total(c.single.result), `${name}: ${metric}`);
        assert.equal(total(m), c.parts.reduce((n, p) => n + total(p.result), 0), `${name}: ${metric} is the instances' sum`);
      }
    }
  });

  test('wsgate merge (the command) prints each instance alone and the merged verdict, and exits with it', async () => {
    for (const [name, code] of [['healthy', 0], ['handshake_403', 1]] as const) {
      const c = cases[name]!;
      const out = capture();
      const dir = join(work, `${kind}-${name}-merged`);
      const exit = await main(['merge', '--bundle', BUNDLE, '--env', 'local', '--results-dir', dir, ...c.parts.map((p) => p.samples)], { ...process.env, ...c.env }, out.io);
      assert.equal(exit, code, out.all());
      assert.match(out.out(), /wsgate: instance 1 \(.*, \d+ samples\) judged alone: (PASS|FAIL)/);
      assert.match(out.out(), new RegExp(`wsgate: ${code === 0 ? 'PASS' : 'FAIL'} merged deployment-validation \\(env local, 2 instances, \\d+ samples\\)`));
      const written = readdirSync(dir).filter((f) => f.endsWith('.merged.json'));
      assert.equal(written.length, 1);
      assert.deepEqual(verdicts(JSON.parse(readFileSync(join(dir, written[0]!), 'utf8')) as SuiteResult), verdicts(c.single.result));
      assert.doesNotMatch(out.all(), new RegExp(SECRET));
    }
  });

  test(`merging one process's samples reproduces ${engine}'s own end-of-test numbers${kind === 'k6' ? ' exactly' : ' (within its precision)'}`, () => {
    for (const name of Object.keys(cases)) {
      const own = cases[name]!.single.result;
      const again = merged[name]!.single.result;
      for (const [metric, values] of Object.entries(own.metrics)) {
        for (const [stat, v] of Object.entries(values)) {
          if (stat === 'rate' && 'count' in values) continue; // a counter's per-second rate depends on the run's clock, not the samples
          const got = again.metrics[metric]?.[stat];
          assert.ok(got !== undefined && Math.abs(got - v) <= tolerance(kind, stat, v), `${name}: ${metric} ${stat}: ${engine} ${v}, merged ${got}`);
        }
      }
      assert.deepEqual(verdicts(again), verdicts(own));
    }
  });
}

describe("a run split over two engine processes, merged, has the single run's verdict", { timeout: 5 * 60_000 }, () => mergeSuite('wsgate'));

describe("a run split over two k6 processes (the k6 at WSGATE_K6), merged, has the single run's verdict", { timeout: 5 * 60_000, skip: k6Skip() }, () => mergeSuite('k6'));

/**
 * End to end through the real CLI on wsgate's own engine (or WSGATE_ENGINE's) and the embedded
 * reference service: `validate --report` (a single-run deployment report; the exit code stays
 * validate's), and `post` without a baseline (exit 2 before anything runs). With WSGATE_K6 set,
 * `validate --engine k6 --report` exports k6's web dashboard, which must render in headless Chromium
 * (skipped with one line otherwise).
 *
 * `wsgate pre` then `wsgate post` (proceed, hold, rollback), their reports, baselines and decisions,
 * and the engine's HTML reports rendered in Chromium are tested where the pipelines run them:
 * test/deploy/pipelines.test.ts runs every shipped pipeline manifest against the reference service.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { EXIT } from '../../cli/main.ts';
import { CHROMIUM_FLAGS, chromiumOrSkip } from '../helpers/chromium.ts';
import { k6Skip } from '../helpers/k6.ts';
import { STACK_FRAME, cleanEnv as scrubbed, runCli, tempDir } from './helpers.ts';
import type { CliRun } from './helpers.ts';

/** A JWT (header.payload.): none may reach a report, result or log. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/** The scrubbed environment (no WSGATE_* but the engine's, no k6 dashboard settings), idle hold cut to 2 s. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = scrubbed([], { WSGATE_IDLE_HOLD_S: '2' });
  for (const k of Object.keys(env)) if (k.startsWith('K6_WEB_DASHBOARD')) delete env[k];
  return env;
}

const cli = (args: string[]): Promise<CliRun> => runCli(args, cleanEnv());

describe('wsgate validate --report, and wsgate post without a baseline', { timeout: 5 * 60_000 }, () => {
  test('validate --report writes a single-run report; the exit code stays validate\'s', async () => {
    const results = join(tempDir('wsgate-pipeline-e2e-'), 'validate');
    const run = await cli(['validate', '--env', 'local', '--embedded-target', '--fault', 'isolation_leak', '--results-dir', results, '--report', join(results, 'report.md')]);
    assert.equal(run.code, EXIT.FAIL, run.out + run.err);
    const report = readFileSync(join(results, 'report.md'), 'utf8');
    assert.match(report.split('\n')[0] ?? '', /^# Deployment validation report: local — FAIL, ROLLBACK RECOMMENDED$/);
    assert.match(report, /Exit code \*\*1\*\*/);
    assert.match(report, /\| multi_user_isolation \|/);
    assert.ok(readdirSync(results).some((f) => /^deployment-validation-local-.*\.html$/.test(f)), 'HTML report written beside the result');
  });

  test('post without a baseline stops with exit 2 before running anything', async () => {
    const work = tempDir('wsgate-pipeline-e2e-');
    const run = await cli(['post', '--env', 'local', '--embedded-target', '--results-dir', join(work, 'none'), '--baseline-dir', join(work, 'no-baselines')]);
    assert.equal(run.code, EXIT.USAGE);
    assert.match(run.err, /^wsgate: there is no baseline for env local in .*; run wsgate pre --env local before the deploy/m);
    assert.doesNotMatch(run.out + run.err, STACK_FRAME);
    assert.equal(existsSync(join(work, 'none')), false, 'nothing was run');
  });
});

/** k6's web dashboard export in Chromium: its script unpacks the data, draws the charts, shows our metrics. */
function renderK6Dashboard(bin: string, html: string): void {
  const raw = readFileSync(html, 'utf8');
  // The data is packed inside the page: only a page whose script ran shows our metric names.
  assert.doesNotMatch(raw, /wsgate_connection_success/);
  const profile = tempDir('wsgate-chromium-');
  const flags = [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--virtual-time-budget=5000'];
  const dom = spawnSync(bin, [...flags, '--dump-dom', pathToFileURL(html).href], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(dom.status, 0, dom.stderr);
  assert.match(dom.stdout, /<title>k6 report<\/title>/);
  for (const metric of ['wsgate_connection_success', 'wsgate_agent_event_completion', 'wsgate_event_latency']) assert.match(dom.stdout, new RegExp(metric), `rendered ${metric}`);
  assert.ok((dom.stdout.match(/<canvas/g) ?? []).length >= 5, 'charts drawn');
  assert.doesNotMatch(dom.stdout, JWT, 'no token in the rendered dashboard');
  const png = join(profile, 'shot.png');
  const shot = spawnSync(bin, [...flags, '--window-size=1280,900', `--screenshot=${png}`, pathToFileURL(html).href], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(shot.status, 0, shot.stderr);
  assert.ok(statSync(png).size > 20_000, 'a screenshot with content, not a blank page');
}

describe('wsgate validate --engine k6 --report: k6 exports its web dashboard, and it renders', { timeout: 5 * 60_000, skip: k6Skip() }, () => {
  test("exit 1 for isolation_leak, the report links k6's dashboard export, which Chromium renders", async (t) => {
    const work = tempDir('wsgate-pipeline-k6-');
    const results = join(work, 'validate');
    const run = await cli(['validate', '--engine', 'k6', '--env', 'local', '--embedded-target', '--fault', 'isolation_leak', '--results-dir', results, '--report', join(results, 'report.md')]);
    assert.equal(run.code, EXIT.FAIL, run.out + run.err);
    assert.match(run.err, /on the k6 v2\.2\.\d+ \(/);
    const report = readFileSync(join(results, 'report.md'), 'utf8');
    assert.match(report.split('\n')[0] ?? '', /^# Deployment validation report: local — FAIL, ROLLBACK RECOMMENDED$/);
    const html = readdirSync(results).find((f) => /^deployment-validation-local-.*\.html$/.test(f));
    assert.ok(html, `k6's dashboard exported beside the result: ${readdirSync(results).join(', ')}`);
    assert.ok(report.includes(html), 'the report links it');
    assert.doesNotMatch(run.out + run.err, JWT);
    const bin = chromiumOrSkip(t);
    if (bin) renderK6Dashboard(bin, join(results, html));
  });
});

/**
 * End to end: `wsgate pre` then `wsgate post` through the real CLI on wsgate's own engine (or
 * WSGATE_ENGINE's) and the embedded reference service. The fault is switched on between them: pre runs
 * the healthy service and saves the baseline; post with --fault isolation_leak must recommend a
 * rollback (exit 5) and name the isolation violations; post without the fault must say proceed (exit
 * 0). Also `validate --report`, and the engine's HTML report (engine/report/html.ts) rendered by a
 * headless Chromium (Debian's chromium, driven by playwright-core): every chart drawn, offline. With
 * WSGATE_K6 set, `validate --engine k6 --report` exports k6's web dashboard instead, and that renders
 * too (skipped with one line otherwise).
 *
 * Kept short: the local preset's idle hold is cut to 2 s and the regression suite runs two critical
 * tests, without nginx (the trigger logic is what is under test; the suites have their own tests). The
 * test policy widens the latency tolerance, because the runs share two CPUs with each other.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, test } from 'node:test';
import { chromium as playwright } from 'playwright-core';
import { EXIT } from '../../cli/main.ts';
import { k6Skip } from '../helpers/k6.ts';
import { DEFAULT_ENGINE, REPO, STACK_FRAME, cleanEnv as scrubbed, runCli, tempDir } from './helpers.ts';
import type { CliRun } from './helpers.ts';
const TESTS = 'multi_user_isolation_regression,agent_events_missing_regression';
/** A JWT (header.payload.): none may reach a report, result or log. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/** The scrubbed environment (no WSGATE_* but the engine's, no k6 dashboard settings), idle hold cut to 2 s. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = scrubbed([], { WSGATE_IDLE_HOLD_S: '2' });
  for (const k of Object.keys(env)) if (k.startsWith('K6_WEB_DASHBOARD')) delete env[k];
  return env;
}

const cli = (args: string[]): Promise<CliRun> => runCli(args, cleanEnv());

function runDir(results: string, command: string): string {
  const dirs = readdirSync(results).filter((d) => d.startsWith(`${command}-local-`));
  assert.equal(dirs.length, 1, `one ${command} run directory in ${results}: ${dirs.join(', ')}`);
  return join(results, dirs[0] ?? '');
}

function allText(dir: string): string {
  let text = '';
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isFile()) text += readFileSync(p, 'utf8');
  }
  return text;
}

/** Finds Debian's chromium; in CI a missing one fails, elsewhere the render tests are skipped. */
function chromium(): string | undefined {
  const onPath = (name: string): string[] => (isAbsolute(name) ? [name] : (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name)));
  for (const bin of [process.env['WSGATE_CHROMIUM'], 'chromium', 'chromium-browser', '/usr/bin/chromium'].filter(Boolean).flatMap((b) => onPath(b as string))) {
    if (!existsSync(bin)) continue;
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    // An absolute path: playwright-core launches nothing else.
    if (r.status === 0) return bin;
  }
  return undefined;
}

/** Skips the test (one line) when there is no chromium, except under CI=true, where it fails. */
function chromiumOrSkip(t: { skip(message: string): void }): string | undefined {
  const bin = chromium();
  if (bin) return bin;
  if (process.env['CI'] === 'true') assert.fail("chromium is not installed; .ci/run installs Debian's chromium package");
  t.skip('chromium is not installed (apt-get install chromium); CI=true makes this a failure');
  return undefined;
}

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('wsgate pre/post against the embedded service, with a fault switched on between them', { timeout: 10 * 60_000 }, () => {
  const work = tempDir('wsgate-pipeline-e2e-');
  const baselines = join(work, 'baselines');
  const policy = join(work, 'policy.json');
  const runs: Record<string, { results: string; run: CliRun }> = {};

  before(async () => {
    const doc = JSON.parse(readFileSync(join(REPO, 'thresholds', 'rollback-policy.json'), 'utf8')) as { baseline: Record<string, unknown> };
    doc.baseline['event_latency_min_increase_ms'] = 2000;
    writeFileSync(policy, JSON.stringify(doc));
    const common = (name: string) => ['--env', 'local', '--embedded-target', '--results-dir', join(work, name), '--baseline-dir', baselines, '--policy', policy];
    const suites = ['--test', TESTS, '--lb', 'none'];
    runs['pre'] = { results: join(work, 'pre'), run: await cli(['pre', ...common('pre'), ...suites]) };
    // The two post runs and a single validate --report, side by side (own ports, own directories).
    const [bad, good, single] = await Promise.all([
      cli(['post', ...common('post-fault'), ...suites, '--fault', 'isolation_leak', '--report', join(work, 'report-fault', 'deployment_report.md')]),
      cli(['post', ...common('post-ok'), ...suites, '--report', join(work, 'deployment_report.md')]),
      cli(['validate', '--env', 'local', '--embedded-target', '--fault', 'isolation_leak', '--results-dir', join(work, 'validate'), '--report', join(work, 'validate', 'report.md')]),
    ]);
    runs['post-fault'] = { results: join(work, 'post-fault'), run: bad };
    runs['post-ok'] = { results: join(work, 'post-ok'), run: good };
    runs['validate'] = { results: join(work, 'validate'), run: single };
  });

  test('pre passes and saves the baseline atomically', () => {
    const { run } = runs['pre']!;
    assert.equal(run.code, EXIT.PASS, run.out + run.err);
    assert.match(run.out, /wsgate: READY pre \(env local\)/);
    const baseline = JSON.parse(readFileSync(join(baselines, 'local.json'), 'utf8')) as { wsgate_baseline_version: number; env: string; validation: { verdict: string }; regression: { scenarios: { name: string }[] } };
    assert.equal(baseline.wsgate_baseline_version, 1);
    assert.equal(baseline.env, 'local');
    assert.equal(baseline.validation.verdict, 'pass');
    assert.deepEqual(baseline.regression.scenarios.map((s) => s.name), TESTS.split(','));
    assert.deepEqual(readdirSync(baselines), ['local.json'], 'no temporary file left beside the baseline');
  });

  test('post with isolation_leak switched on recommends a rollback (exit 5) and names the isolation violations', () => {
    const { run, results } = runs['post-fault']!;
    assert.equal(run.code, EXIT.ROLLBACK, run.out + run.err);
    assert.equal(EXIT.ROLLBACK, 5);
    assert.match(run.out, /wsgate: ROLLBACK RECOMMENDED post \(env local\)/);
    assert.match(run.out, /rollback trigger: any user isolation violation \(observed \d+ seen/);
    const report = readFileSync(join(work, 'report-fault', 'deployment_report.md'), 'utf8');
    const lines = report.split('\n');
    assert.match(lines[0] ?? '', /^# Post-deployment report: local — ROLLBACK RECOMMENDED$/, 'verdict first');
    assert.match(lines[2] ?? '', /^\*\*Roll back this deployment\.\*\* 1 rollback trigger fired: any user isolation violation \(\d+ seen/, 'recommendation second');
    assert.match(report, /Exit code \*\*5\*\* \(rollback recommended\)/);
    assert.match(report, /\| any user isolation violation \| [1-9]\d* seen[^|]*\| \*\*YES\*\* \|/);
    assert.match(report, /\| connection success below 70% \| 100\.0% \(\d+ of \d+\) \| no \|/);
    assert.match(report, /\| multi_user_isolation_regression \| yes \| \*\*FAIL\*\* \|/);
    assert.match(report, /## Compared with the baseline/);
    assert.match(report, /multi_user_isolation_regression: "user receives nothing meant for other users or rooms": pass → fail/);
    assert.match(report, /Now: \d+ isolation violations, so share = 1\./);
    assert.match(report, /Revenue at risk = 10,000 USD x 1\.0000 = 10,000 USD per month\./);
    // Links are relative to the copy's own directory and lead to files that exist.
    const links = [...report.matchAll(/\]\(([^)]+)\)/g)].map((m) => decodeURI(m[1] ?? ''));
    assert.ok(links.some((l) => l.endsWith('deployment-validation.html')), 'links the HTML report');
    for (const l of links) assert.ok(existsSync(join(work, 'report-fault', l)), `link ${l} resolves`);
    const dir = runDir(results, 'post');
    const decision = JSON.parse(readFileSync(join(dir, 'pipeline.json'), 'utf8')) as { decision: string; exit_code: number; triggers: { id: string; fired: boolean }[] };
    assert.equal(decision.decision, 'rollback');
    assert.equal(decision.exit_code, 5);
    assert.deepEqual(decision.triggers.filter((t) => t.fired).map((t) => t.id), ['isolation_violations']);
    const junit = readFileSync(join(dir, 'pipeline.junit.xml'), 'utf8');
    assert.match(junit, /<testcase classname="wsgate\.post\.rollback_policy" name="no rollback: any user isolation violation">\n\s+<failure /);
    assert.doesNotMatch(allText(dir) + run.out + run.err, JWT, 'no token anywhere');
  });

  test('post without the fault says proceed (exit 0)', () => {
    const { run, results } = runs['post-ok']!;
    assert.equal(run.code, EXIT.PASS, run.out + run.err);
    assert.match(run.out, /wsgate: PROCEED post \(env local\)/);
    const report = readFileSync(join(work, 'deployment_report.md'), 'utf8');
    assert.match(report.split('\n')[0] ?? '', /^# Post-deployment report: local — PROCEED$/);
    assert.match(report, /\| event latency p\(95\) \| [\d.]+ ms \| [\d.]+ ms \| [-+][\d.]+ ms \| .* \| yes \|/);
    assert.doesNotMatch(report, /\*\*YES\*\*/);
    const junit = readFileSync(join(runDir(results, 'post'), 'pipeline.junit.xml'), 'utf8');
    assert.match(junit, /failures="0"/);
    assert.doesNotMatch(allText(runDir(results, 'post')) + run.out + run.err, JWT);
  });

  test('validate --report writes a single-run report; the exit code stays validate\'s', () => {
    const { run, results } = runs['validate']!;
    assert.equal(run.code, EXIT.FAIL, run.out + run.err);
    const report = readFileSync(join(results, 'report.md'), 'utf8');
    assert.match(report.split('\n')[0] ?? '', /^# Deployment validation report: local — FAIL, ROLLBACK RECOMMENDED$/);
    assert.match(report, /Exit code \*\*1\*\*/);
    assert.match(report, /\| multi_user_isolation \|/);
    assert.ok(readdirSync(results).some((f) => /^deployment-validation-local-.*\.html$/.test(f)), 'HTML report written beside the result');
  });

  test('post without a baseline stops with exit 2 before running anything', async () => {
    const run = await cli(['post', '--env', 'local', '--embedded-target', '--results-dir', join(work, 'none'), '--baseline-dir', join(work, 'no-baselines')]);
    assert.equal(run.code, EXIT.USAGE);
    assert.match(run.err, /^wsgate: there is no baseline for env local in .*; run wsgate pre --env local before the deploy/m);
    assert.doesNotMatch(run.out + run.err, STACK_FRAME);
    assert.equal(existsSync(join(work, 'none')), false, 'nothing was run');
  });

  test(`the ${DEFAULT_ENGINE === 'k6' ? "k6 dashboard" : "engine's HTML report"} renders in headless Chromium: every chart drawn, offline, no token`, async (t) => {
    const bin = chromiumOrSkip(t);
    if (!bin) return;
    const dir = runDir(runs['post-ok']!.results, 'post');
    for (const suite of ['deployment-validation', 'regression-prevention']) {
      const html = join(dir, `${suite}.html`);
      assert.ok(existsSync(html), `${suite}.html in ${dir}: ${readdirSync(dir).join(', ')}`);
      if (DEFAULT_ENGINE === 'k6') renderK6Dashboard(bin, html);
      else await renderEngineReport(bin, html, suite);
    }
  });
});

/**
 * The engine's report in Chromium: it must load without network or errors, name the run, and say
 * (data-charts-drawn) that every chart it holds has drawn, each with coloured pixels.
 */
async function renderEngineReport(bin: string, html: string, suite: string): Promise<void> {
  const raw = readFileSync(html, 'utf8');
  assert.doesNotMatch(raw, JWT, 'no token in the report');
  const charts = raw.match(/data-chart>/g)?.length ?? 0;
  assert.ok(charts >= 3, `${suite}: the load chart, latencies and throughput (${charts} charts)`);
  const browser = await playwright.launch({ executablePath: bin, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    const network: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`);
    });
    await page.route('**', (r) => {
      const url = r.request().url();
      if (url.startsWith('file:')) return r.continue();
      network.push(url);
      return r.abort();
    });
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('body[data-charts-drawn]', { timeout: 15_000 });
    assert.equal(await page.getAttribute('body', 'data-charts-drawn'), String(charts), `${suite}: every chart drew`);
    const text = await page.evaluate<string>('document.body.innerText');
    assert.ok(text.includes(suite), `${suite}: the report names its suite`);
    for (const metric of suite === 'deployment-validation' ? ['wsgate_connection_success', 'wsgate_event_latency'] : ['wsgate_event_latency']) {
      assert.ok(text.includes(metric), `${suite}: the report shows ${metric}`);
    }
    // Pixels in the series' colours (axes and grid are grey) in each chart's canvas: a series was
    // drawn, not only the axes. (How many depends on how many flushes a short run has.)
    const coloured = await page.evaluate<number[]>(`Array.from(document.querySelectorAll('[data-chart]'), (el) => {
      const canvas = el.querySelector('canvas');
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 60) n++;
      return n;
    })`);
    assert.equal(coloured.length, charts);
    for (const [i, n] of coloured.entries()) assert.ok(n > 0, `${suite}: chart ${i} has no coloured pixel: axes without a series`);
    assert.deepEqual(errors, [], `${suite}: no page errors`);
    assert.deepEqual(network, [], `${suite}: no network request`);
    assert.doesNotMatch(await page.content(), JWT, 'no token in the rendered report');
  } finally {
    await browser.close();
  }
}

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

/**
 * The engine end to end, as a process: exit codes (k6's), setup data, handleSummary, the identity of
 * VUs sharing one event loop, merged percentiles across workers, k6's JSON output, Ctrl-C. Probes in
 * test/engine/probes/ are bundled exactly like the scenarios (build.mjs bundleEngine).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleEngine } from '../../build.mjs';
import { startTarget } from '../../reference-service/service.ts';
import type { RunningTarget } from '../../reference-service/service.ts';
import { LiveProcess, REPO, buildIfStale, runProcess } from '../helpers/wsgate-process.ts';
import type { CliRun } from '../helpers/wsgate-process.ts';

const ENGINE = join(REPO, 'dist', 'node', 'engine.mjs');
const dir = mkdtempSync(join(tmpdir(), 'wsgate-engine-e2e-'));

/** The engine's `run` with ARGS, with only PATH and `env` in its environment. */
function startEngine(args: string[], env: Record<string, string> = {}): LiveProcess {
  return new LiveProcess('the engine', process.execPath, [ENGINE, 'run', ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
}

const engine = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => startEngine(args, env).result();

/** Processes whose command line mentions `marker` (the engine's workers carry the bundle path). */
async function processesWith(marker: string): Promise<string[]> {
  const { out } = await runProcess('ps', ['-eo', 'pid,args']);
  return out.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}

let identity: string;
let verdicts: string;
let files: string;
let target: RunningTarget;

before(async () => {
  await buildIfStale();
  identity = join(dir, 'identity.mjs');
  verdicts = join(dir, 'verdicts.mjs');
  await bundleEngine(join(REPO, 'test/engine/probes/identity.ts'), identity);
  await bundleEngine(join(REPO, 'test/engine/probes/verdicts.ts'), verdicts);
  files = join(dir, 'files.mjs');
  await bundleEngine(join(REPO, 'test/engine/probes/files.ts'), files);
  target = await startTarget({ host: '127.0.0.1', authSecret: 'engine-e2e-secret-0123456789abcdef', backendSecret: 'engine-e2e-secret-0123456789abcdef', faults: [] });
});

after(async () => {
  await target?.close();
});

describe('the engine as a process', () => {
  test('two VUs on one event loop keep their own identity through awaits, timers and socket callbacks, and share no user ids', async () => {
    for (const workers of ['1', '2']) {
      const r = await engine(['--quiet', '--workers', workers, identity], { PROBE_WS_URL: target.wsUrl });
      assert.equal(r.code, 0, `--workers ${workers}\n${r.out}\n${r.err}`);
      assert.match(r.out, /pass\s+probe_socket_callbacks: count==6/);
      assert.match(r.out, /pass\s+checks: rate==1/);
    }
  });

  test('a worker stays under its open-files limit: sockets that do not fit are refused with one sentence, not EMFILE', async () => {
    const summary = join(dir, 'files-summary.json');
    // ulimit -n 256 for the engine and its worker; 400 sockets asked for at once.
    const r = await runProcess('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${ENGINE}" run --quiet --workers 1 --summary-mode=disabled --out json=${summary} "${files}"`], {
      env: { PATH: process.env['PATH'] ?? '', PROBE_WS_URL: target.wsUrl, PROBE_SOCKETS: '400' },
    });
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /EMFILE/);
    const count = (metric: string) =>
      readFileSync(summary, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; metric: string; data: { value?: number } }).filter((l) => l.type === 'Point' && l.metric === metric).reduce((n, l) => n + (l.data.value ?? 0), 0);
    const opened = count('probe_opened');
    const refused = count('probe_refused_at_limit');
    assert.equal(opened + refused, 400, `opened ${opened}, refused ${refused}`);
    assert.ok(refused > 0 && opened > 100 && opened < 256, `opened ${opened}, refused ${refused}`);
  });

  test('exit codes follow k6: 0 pass, 99 threshold crossed, 104 invalid options, 107 script exception, 108 aborted', async () => {
    const cases: [string, number, RegExp][] = [
      ['pass', 0, /^$/],
      ['cross', 99, /^$/],
      ['badopt', 104, /invalid options: threshold "rate>0\.5" on probe_latency uses rate, which a trend metric does not have/],
      ['throw', 107, /threw while loading: probe: thrown while loading/],
      ['abort', 108, /test aborted in setup\(\): probe: the target is not ready/],
    ];
    for (const [mode, code, says] of cases) {
      const file = join(dir, `verdict-${mode}.json`);
      const r = await engine(['--quiet', verdicts], { PROBE_MODE: mode, PROBE_SUMMARY: file });
      assert.equal(r.code, code, `${mode}\n${r.out}\n${r.err}`);
      assert.match(r.err, says, mode);
      if (code === 0 || code === 99) {
        const data = JSON.parse(readFileSync(file, 'utf8')) as { metrics: Record<string, { thresholds?: Record<string, { ok: boolean }> }> };
        const t = data.metrics['probe_latency']?.thresholds ?? {};
        assert.deepEqual(Object.values(t).map((x) => x.ok), [code === 0], `${mode}: the summary's threshold verdict matches the exit code`);
      }
      assert.doesNotMatch(r.err, /^\s+at /m, `${mode}: no stack trace`);
    }
  });

  test('a trend split over 1, 2 and 3 workers gives the same p(99), p(90), max and count as one process (merged HDR histograms)', async () => {
    const summaries = [];
    for (const workers of ['1', '2', '3']) {
      const file = join(dir, `summary-${workers}.json`);
      const r = await engine(['--quiet', '--workers', workers, verdicts], { PROBE_MODE: 'pass', PROBE_SUMMARY: file });
      assert.equal(r.code, 0, r.err);
      const data = JSON.parse(readFileSync(file, 'utf8')) as { metrics: Record<string, { values: Record<string, number> }> };
      summaries.push(data.metrics['probe_latency']?.values);
    }
    assert.equal(summaries[0]?.['count'], 200);
    for (const s of summaries.slice(1)) {
      for (const k of ['count', 'p(90)', 'p(95)', 'max', 'min', 'avg', 'med']) assert.equal(s?.[k], summaries[0]?.[k], k);
    }
  });

  test('--out json writes k6\'s JSON output schema: a Metric line before each metric\'s Points', async () => {
    const file = join(dir, 'samples.json');
    const r = await engine(['--quiet', '--workers', '2', '--out', `json=${file}`, verdicts], { PROBE_MODE: 'pass', PROBE_SUMMARY: '' });
    assert.equal(r.code, 0, r.err);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; metric: string; data: { time?: string; value?: number; tags?: Record<string, string>; type?: string } });
    const points = lines.filter((l) => l.type === 'Point' && l.metric === 'probe_latency');
    assert.equal(points.length, 200);
    assert.ok(points.every((p) => typeof p.data.value === 'number' && !Number.isNaN(Date.parse(p.data.time ?? '')) && p.data.tags?.['scenario'] === 'each'));
    const decl = lines.find((l) => l.type === 'Metric' && l.metric === 'probe_latency');
    assert.equal(decl?.data.type, 'trend');
  });

  test('first Ctrl-C interrupts the iterations at once (k6 cancels them), still runs teardown and writes the summary (exit 105); no worker is left running', async () => {
    const file = join(dir, 'interrupted.json');
    const running = startEngine(['--quiet', '--workers', '2', verdicts], { PROBE_MODE: 'long', PROBE_SUMMARY: file });
    await new Promise((r) => setTimeout(r, 2500));
    running.kill('SIGINT');
    const stoppedAt = Date.now();
    const r = await running.result();
    assert.equal(r.code, 105, r.err);
    assert.match(r.err, /stopping gracefully/);
    // 60 s of constant-vus with 1.5 s iterations and a 3 s teardown: interrupted, the run ends in ~3 s.
    assert.ok(Date.now() - stoppedAt < 6000, `ended ${Date.now() - stoppedAt} ms after the signal`);
    assert.ok(existsSync(file), 'handleSummary ran after the interrupt');
    assert.deepEqual(await processesWith(verdicts), []);
  });

  test('a second Ctrl-C (here during the slow teardown) stops at once and writes nothing', async () => {
    const file = join(dir, 'killed.json');
    const running = startEngine(['--quiet', verdicts], { PROBE_MODE: 'long', PROBE_SUMMARY: file });
    await new Promise((r) => setTimeout(r, 2000));
    running.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 1000));
    running.kill('SIGINT');
    const r = await running.result();
    assert.equal(r.code, 105, r.err);
    assert.match(r.err, /stopped at once by a second signal; nothing was written/);
    assert.equal(existsSync(file), false);
    assert.deepEqual(await processesWith(verdicts), []);
  });
});

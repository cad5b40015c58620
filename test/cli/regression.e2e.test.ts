/**
 * End to end: the real CLI (`node bin/wsgate.mjs regression`) on the real bundle, on wsgate's own
 * engine (or WSGATE_ENGINE's), against the embedded reference service behind nginx, asserting exit
 * codes, which scenarios ran (from the JSON result) and what a failure says. Each run selects as few
 * tests as its assertion needs, to keep `npm test` short. With WSGATE_K6 set, a selection and a caught
 * fault run once more with --engine k6 (skipped with one line otherwise).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { EXIT } from '../../cli/main.ts';
import { REGRESSIONS, REGRESSION_NAMES } from '../../lib/core/regressions.ts';
import { k6Skip } from '../helpers/k6.ts';
import { nginxSkip } from '../helpers/nginx.ts';
import { cleanEnv, lastLine, resultFiles, runCli, tempDir } from './helpers.ts';

const skip = nginxSkip();

/** Runs `wsgate regression ARGS` with the caller's nginx (WSGATE_NGINX) and engine choice kept. */
const cli = (args: string[]) => runCli(['regression', ...args], cleanEnv(['WSGATE_NGINX']));

interface Result {
  verdict: string;
  scenarios: { name: string; verdict: string }[];
}

function result(dir: string): Result {
  return JSON.parse(readFileSync(resultFiles(dir, 'regression-prevention', 'local').json, 'utf8')) as Result;
}

describe('wsgate regression --embedded-target, end to end', { concurrency: true, timeout: 10 * 60_000, skip }, () => {
  test('--critical-only runs exactly the five critical tests, and they pass', async () => {
    const dir = tempDir('wsgate-e2e-reg-');
    const r = await cli(['--env', 'local', '--embedded-target', '--critical-only', '--results-dir', dir]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    const res = result(dir);
    const critical = REGRESSIONS.filter((x) => x.critical).map((x) => x.name);
    assert.equal(critical.length, 5);
    assert.deepEqual(res.scenarios.map((s) => s.name), critical);
    assert.ok(res.scenarios.every((s) => s.verdict === 'pass'), JSON.stringify(res.scenarios));
    assert.match(lastLine(r.out), /^wsgate: PASS regression-prevention \(env local\) — results: /);
  });

  test('--test a,b runs exactly those two', async () => {
    const dir = tempDir('wsgate-e2e-reg-');
    const picked = ['websocket_403_handshake_regression', 'connection_leak_regression'];
    const r = await cli(['--env', 'local', '--embedded-target', '--test', picked.join(','), '--results-dir', dir]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    assert.deepEqual(result(dir).scenarios.map((s) => s.name), picked);
  });

  test('an unknown test name: exit 2, one sentence listing the valid names, nothing run', async () => {
    const dir = tempDir('wsgate-e2e-reg-');
    const r = await cli(['--env', 'local', '--embedded-target', '--test', 'websocket_403_regression', '--results-dir', dir]);
    assert.equal(r.code, EXIT.USAGE);
    assert.equal(r.out, '');
    // a rebuild notice may come first when sources changed since the last build
    assert.equal(lastLine(r.err), `wsgate: unknown regression test "websocket_403_regression"; valid names are ${REGRESSION_NAMES.join(', ')}`);
    assert.deepEqual(readdirSync(dir), [], 'nothing was run');
  });

  test('a failure names the regression and what was observed (isolation_leak)', async () => {
    const dir = tempDir('wsgate-e2e-reg-');
    const r = await cli(['--env', 'local', '--embedded-target', '--fault', 'isolation_leak', '--test', 'multi_user_isolation_regression', '--results-dir', dir]);
    assert.equal(r.code, EXIT.FAIL, r.out + r.err);
    const all = r.out + r.err;
    assert.match(all, /FAILED multi_user_isolation_regression: user receives nothing meant for other users or rooms \(observed: user wsgate-cohort-\S+ received \d+ foreign message\(s\), first \w+ (of run \S+ )?belonging to wsgate-cohort-/);
    // The isolation test also answers for violations any session of the run saw (lib/core/summary.ts owners).
    assert.match(
      r.out,
      /^wsgate: failed multi_user_isolation_regression \(guards: users received other users' events\): "user receives nothing meant for other users or rooms" \(\d+ of \d+ failed\); threshold wsgate_isolation_violations count==0 \(observed: count [1-9]\d*\)$/m,
    );
    assert.match(r.out, /^wsgate: failed regressions: multi_user_isolation_regression$/m);
    assert.match(lastLine(r.out), /^wsgate: FAIL regression-prevention \(env local\) — results: /);
    assert.deepEqual(
      result(dir).scenarios.map((s) => [s.name, s.verdict]),
      [['multi_user_isolation_regression', 'fail']],
    );
  });
});

describe('wsgate regression --engine k6, end to end with the k6 at WSGATE_K6', { concurrency: true, timeout: 10 * 60_000, skip: skip || k6Skip() }, () => {
  test('--test a,b runs exactly those two on k6, and they pass', async () => {
    const dir = tempDir('wsgate-e2e-reg-k6-');
    const picked = ['websocket_403_handshake_regression', 'connection_leak_regression'];
    const r = await cli(['--engine', 'k6', '--env', 'local', '--embedded-target', '--test', picked.join(','), '--results-dir', dir]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    assert.match(r.err, /on the k6 v2\.2\.\d+ \(/);
    assert.deepEqual(result(dir).scenarios.map((s) => [s.name, s.verdict]), picked.map((n) => [n, 'pass']));
  });

  test('isolation_leak is caught on k6 too: exit 1, the regression named', async () => {
    const dir = tempDir('wsgate-e2e-reg-k6-');
    const r = await cli(['--engine', 'k6', '--env', 'local', '--embedded-target', '--fault', 'isolation_leak', '--test', 'multi_user_isolation_regression', '--results-dir', dir]);
    assert.equal(r.code, EXIT.FAIL, r.out + r.err);
    assert.match(r.out, /^wsgate: failed regressions: multi_user_isolation_regression$/m);
    assert.deepEqual(result(dir).scenarios.map((s) => [s.name, s.verdict]), [['multi_user_isolation_regression', 'fail']]);
  });
});

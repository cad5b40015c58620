/**
 * End to end: `wsgate regression --env staging` against the embedded reference service configured
 * like staging: wss (a self-signed certificate for 127.0.0.1, trusted with --ca-file), tokens from the
 * auth service with the test user's password (token source "auth", WSGATE_AUTH_PASSWORD), and no
 * shared secret handed to the suite (WSGATE_JWT_SECRET unset, and the embedded service's own secret
 * kept from it). The run must reach a verdict, with the tests that cannot run there listed as not
 * applicable (console, JSON, JUnit skipped) and every other test passing on the healthy service.
 *
 * --lb none: nginx in front would serve plain ws, not wss. WSGATE_IDLE_HOLD_S=5 shortens the staging
 * preset's 75 s idle hold (load_balancer_timeout_regression) so the run stays short (about a minute,
 * most of it the staging preset's agent deadlines and leak settle time); nothing else of the preset
 * is changed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT } from '../../cli/main.ts';
import { REGRESSION_NAMES } from '../../lib/core/regressions.ts';
import { opensslMissing, selfSignedCertFiles, skipUnlessCi } from '../helpers/tools.ts';
import { cleanEnv, lastLine, resultFiles, runCli, tempDir } from './helpers.ts';

const skip = skipUnlessCi(opensslMissing());

const REFRESH = 'auth_token_refresh_regression';
const LEAK = 'connection_leak_regression';
const PASSWORD = 'staging-like-test-user-password';

interface Result {
  verdict: string;
  scenarios: { name: string; verdict: string; not_applicable?: string }[];
}

test('regression --env staging against the embedded service configured like staging reaches a verdict, listing what cannot run as not applicable', { timeout: 5 * 60_000, skip }, async () => {
  const dir = tempDir('wsgate-e2e-reg-staging-');
  const { cert, key } = selfSignedCertFiles(dir);
  const results = join(dir, 'results');
  // cleanEnv drops every WSGATE_* of the caller's shell: WSGATE_JWT_SECRET in particular is unset.
  const env = cleanEnv([], { WSGATE_AUTH_PASSWORD: PASSWORD, WSGATE_IDLE_HOLD_S: '5' });
  assert.equal(env['WSGATE_JWT_SECRET'], undefined);
  const r = await runCli(
    ['regression', '--env', 'staging', '--embedded-target', '--lb', 'none', '--tls-cert', cert, '--tls-key', key, '--ca-file', cert, '--results-dir', results],
    env,
  );
  const all = r.out + r.err;

  // A verdict: pass or fail, not usage/config (2), unreachable (3) or error (4).
  assert.ok(r.code === EXIT.PASS || r.code === EXIT.FAIL, `exit ${r.code}\n${all}`);
  assert.match(r.err, /testing env staging: all 7 regression tests against the embedded reference service at wss:\/\/127\.0\.0\.1:\d+\/ws/);
  assert.ok(!all.includes(PASSWORD), 'the password is never printed');

  const { json, junit } = resultFiles(results, 'regression-prevention', 'staging');
  const result = JSON.parse(readFileSync(json, 'utf8')) as Result;
  assert.deepEqual(result.scenarios.map((s) => s.name), REGRESSION_NAMES);
  const byName = new Map(result.scenarios.map((s) => [s.name, s]));

  // No shared secret reached the suite: the refresh test, which mints its own tokens, cannot run.
  const refresh = byName.get(REFRESH);
  assert.equal(refresh?.verdict, 'not applicable', JSON.stringify(refresh));
  assert.match(refresh?.not_applicable ?? '', /WSGATE_JWT_SECRET/);

  // The leak test: a drop relay in front of the embedded wss service passes TLS through, and the
  // certificate covers 127.0.0.1, so it runs and passes; were it left without a relay it would be
  // not applicable with that reason.
  const leak = byName.get(LEAK);
  assert.ok(
    leak?.verdict === 'pass' || (leak?.verdict === 'not applicable' && /relay/.test(leak.not_applicable ?? '')),
    JSON.stringify(leak),
  );

  // Everything else runs and passes on the healthy service; so the verdict is a pass.
  const notApplicable = result.scenarios.filter((s) => s.verdict === 'not applicable');
  for (const s of result.scenarios) {
    if (s.verdict !== 'not applicable') assert.equal(s.verdict, 'pass', `${s.name}: ${JSON.stringify(s)}\n${all}`);
  }
  assert.ok(notApplicable.every((s) => s.name === REFRESH || s.name === LEAK), JSON.stringify(notApplicable));
  assert.equal(result.verdict, 'pass');
  assert.equal(r.code, EXIT.PASS, all);
  assert.equal(lastLine(r.out), `wsgate: PASS regression-prevention (env staging) — results: ${json}, ${junit}`);

  // The console lists each not-applicable test with its reason.
  for (const s of notApplicable) {
    assert.ok(s.not_applicable, `${s.name} has a reason`);
    const line = r.out.split('\n').find((l) => l.includes(s.name));
    assert.ok(line !== undefined, `${s.name} is on the console:\n${r.out}`);
    assert.match(line, /n\/a/);
    assert.ok(line.includes(`not applicable: ${s.not_applicable}`), `${s.name}'s line gives its reason: ${line}`);
  }

  // The JUnit marks exactly those skipped, with the reason, and has no failures.
  const xml = readFileSync(junit, 'utf8');
  assert.match(xml, /<testsuites [^>]*failures="0"/);
  assert.match(xml, new RegExp(`<testsuites [^>]*skipped="${notApplicable.length}"`));
  for (const s of result.scenarios) {
    const suite = new RegExp(`<testsuite name="${s.name}"[^>]*skipped="(\\d+)"[^>]*>([\\s\\S]*?)</testsuite>`).exec(xml);
    assert.ok(suite, `${s.name} is in the JUnit`);
    if (s.verdict === 'not applicable') {
      assert.notEqual(suite[1], '0', `${s.name} is skipped in the JUnit`);
      assert.match(suite[2] ?? '', /<skipped message="not applicable: [^"]*"/);
    } else {
      assert.equal(suite[1], '0', `${s.name} is not skipped in the JUnit`);
    }
  }
  assert.match(xml, new RegExp(`<testsuite name="${REFRESH}"[^>]*>[\\s\\S]*?<skipped message="not applicable: [^"]*WSGATE_JWT_SECRET`));
});

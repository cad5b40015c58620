// jose inside the real k6: signing, verifying, refusing a foreign secret and an expired token all
// work with lib/polyfills.ts imported first, and fail without it. k6 only: the engine runs on Node,
// whose WebCrypto and globals jose uses as they are. Skipped with one line without WSGATE_K6.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleK6 } from '../../build.mjs';
import { k6Skip, runK6 } from '../helpers/k6.ts';

const dir = mkdtempSync(join(tmpdir(), 'wsgate-jose-'));
const here = new URL('.', import.meta.url).pathname;
const skip = k6Skip();

const CHECKS = [
  'jose signs an HS256 token in k6',
  'jose verifies its own token in k6',
  'decodeJwt reads the subject',
  'a token verified with another secret is refused',
  'an expired token is refused with ERR_JWT_EXPIRED',
];

/** Runs a probe and returns each check's passes and fails, from its handleSummary (not k6's text). */
async function checksOf(probe: string): Promise<{ code: number; checks: Record<string, { passes: number; fails: number }>; out: string }> {
  const out = join(dir, `${probe}.js`);
  const summary = join(dir, `${probe}.summary.json`);
  await bundleK6(join(here, `${probe}.ts`), out);
  const run = await runK6(out, { PROBE_SUMMARY: summary });
  const list = JSON.parse(readFileSync(summary, 'utf8')) as { name: string; passes: number; fails: number }[];
  return { code: run.code, checks: Object.fromEntries(list.map((c) => [c.name, { passes: c.passes, fails: c.fails }])), out: run.stdout + run.stderr };
}

test('jose signs and verifies inside k6 with the polyfills', { skip }, async () => {
  const { code, checks, out } = await checksOf('jose-probe');
  assert.equal(code, 0, out);
  for (const name of CHECKS) assert.deepEqual(checks[name], { passes: 1, fails: 0 }, name);
});

test('without the polyfills jose cannot sign inside k6 (the polyfills are load-bearing)', { skip }, async () => {
  const { code, checks, out } = await checksOf('jose-probe-bare');
  assert.equal(code, 99, out);
  // Signing is what needs them (structuredClone, btoa); everything after a failed signature fails too.
  assert.deepEqual(checks['jose signs an HS256 token in k6'], { passes: 0, fails: 1 });
  assert.deepEqual(checks['jose verifies its own token in k6'], { passes: 0, fails: 1 });
});

test('jose verifies the tokens signed with k6\'s native HMAC (the fast path for many users)', { skip }, async () => {
  const out = join(dir, 'native.js');
  await bundleK6(join(here, 'native-mint-probe.ts'), out);
  const run = await runK6(out, {}, ['--summary-mode=full']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /checks_succeeded\.*: 100\.00% 4 out of 4/, run.stdout);
});

// jose inside the real k6: signing, verifying, refusing a foreign secret and an expired token all
// work with lib/polyfills.ts imported first, and fail without it. k6 only: the engine runs on Node,
// whose WebCrypto and globals jose uses as they are. Skipped with one line without WSGATE_K6.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleK6 } from '../../build.mjs';
import { k6Skip, runK6 } from '../helpers/k6.ts';

const dir = mkdtempSync(join(tmpdir(), 'wsgate-jose-'));
const here = new URL('.', import.meta.url).pathname;
const skip = k6Skip();

test('jose signs and verifies inside k6 with the polyfills', { skip }, async () => {
  const out = join(dir, 'probe.js');
  await bundleK6(join(here, 'jose-probe.ts'), out);
  const run = await runK6(out, {}, ['--summary-mode=full']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const name of ['jose signs', 'jose verifies', 'decodeJwt reads', 'another secret is refused', 'ERR_JWT_EXPIRED']) {
    assert.match(run.stdout, new RegExp(`✓ [^\\n]*${name}`), `check "${name}" did not pass:\n${run.stdout}`);
  }
});

test('without the polyfills jose fails inside k6 (the polyfills are load-bearing)', { skip }, async () => {
  const out = join(dir, 'bare.js');
  await bundleK6(join(here, 'jose-probe-bare.ts'), out);
  const run = await runK6(out, {}, ['--summary-mode=full']);
  assert.equal(run.code, 99, run.stdout + run.stderr);
});

test('jose verifies the tokens signed with k6\'s native HMAC (the fast path for many users)', { skip }, async () => {
  const out = join(dir, 'native.js');
  await bundleK6(join(here, 'native-mint-probe.ts'), out);
  const run = await runK6(out, {}, ['--summary-mode=full']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /checks_succeeded\.*: 100\.00% 5 out of 5/, run.stdout);
});

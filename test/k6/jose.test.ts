// jose inside the real k6: signing, verifying, refusing a foreign secret and an expired token all
// work with lib/polyfills.ts imported first, and fail without it; and the tokens signed inside k6
// (by jose on the polyfills, and by lib/tokens.ts with k6's native HMAC) verify outside k6 too, in
// Node's jose. k6 only: the engine runs on Node, whose WebCrypto and globals jose uses as they are.
// Skipped with one line without WSGATE_K6. Each probe's checks and setup data are read from its
// handleSummary (test/k6/k6-probe-helpers.ts), never from k6's human summary.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { jwtVerify } from 'jose';
import { bundleK6 } from '../../build.mjs';
import { loadConfig } from '../../lib/core/config.ts';
import { k6Skip, runK6 } from '../helpers/k6.ts';
import type { ProbeSummary } from './k6-probe-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'wsgate-jose-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const here = new URL('.', import.meta.url).pathname;
const skip = k6Skip();

/** The probes' secrets (test/k6/jose-body.ts, test/k6/native-mint-probe.ts). */
const JOSE_SECRET = new TextEncoder().encode('k6-jose-probe-secret-of-at-least-32-bytes');
const NATIVE_SECRET = 'native-mint-probe-secret-of-at-least-32b';

const SIGNS = 'jose signs an HS256 token in k6';
const CHECKS = [
  SIGNS,
  'jose verifies its own token in k6',
  'decodeJwt reads the subject',
  'a token verified with another secret is refused',
  'an expired token is refused with ERR_JWT_EXPIRED',
];

interface Probe {
  code: number;
  /** Each check's passes and fails, by name. */
  checks: Record<string, { passes: number; fails: number }>;
  setup: Record<string, string>;
  out: string;
}

/** Bundles and runs a probe on the k6 at WSGATE_K6; its checks and setup data from its handleSummary. */
async function probe(name: string): Promise<Probe> {
  const out = join(dir, `${name}.js`);
  const summary = join(dir, `${name}.summary.json`);
  await bundleK6(join(here, `${name}.ts`), out);
  const run = await runK6(out, { PROBE_SUMMARY: summary });
  const data = JSON.parse(readFileSync(summary, 'utf8')) as ProbeSummary;
  return {
    code: run.code,
    checks: Object.fromEntries(data.checks.map((c) => [c.name, { passes: c.passes, fails: c.fails }])),
    setup: (data.setup ?? {}) as Record<string, string>,
    out: run.stdout + run.stderr,
  };
}

test('jose signs and verifies inside k6 with the polyfills, and its token verifies in Node too', { skip }, async () => {
  const { code, checks, setup, out } = await probe('jose-probe');
  assert.equal(code, 0, out);
  assert.deepEqual(Object.keys(checks).sort(), [...CHECKS].sort());
  for (const name of CHECKS) assert.deepEqual(checks[name], { passes: 1, fails: 0 }, name);
  assert.equal(setup['signing'], 'ok');
  const { payload, protectedHeader } = await jwtVerify(setup['token'] ?? '', JOSE_SECRET, { algorithms: ['HS256'], issuer: 'iss', audience: 'aud' });
  assert.deepEqual(protectedHeader, { alg: 'HS256' });
  assert.equal(payload.sub, 'u1');
  assert.equal(payload['scope'], 'chat');
  assert.equal(Number(payload.exp) - Number(payload.iat), 600);
});

test('without the polyfills jose cannot sign inside k6 (the polyfills are load-bearing)', { skip }, async () => {
  const { code, checks, setup, out } = await probe('jose-probe-bare');
  // The checks threshold (rate==1) is crossed: k6's exit code 99.
  assert.equal(code, 99, out);
  // Signing is what needs them: it fails for want of a global k6 lacks (new SignJWT() calls
  // structuredClone, signing calls btoa), and so does everything after a failed signature.
  assert.deepEqual(checks[SIGNS], { passes: 0, fails: 1 });
  assert.deepEqual(checks['jose verifies its own token in k6'], { passes: 0, fails: 1 });
  assert.match(setup['signing'] ?? '', /^ReferenceError: (structuredClone|btoa) is not defined/);
  assert.equal(setup['token'], '');
});

test("jose verifies the tokens signed with k6's native HMAC (the fast path for many users), and so does Node", { skip }, async () => {
  const { code, checks, setup, out } = await probe('native-mint-probe');
  assert.equal(code, 0, out);
  for (const name of [
    'jose verifies a natively signed token',
    'the native token carries sub, iss, aud, iat, exp (60 s later) and a jti',
    'a token signed with another secret is refused',
    'jose verifies a token signed with a byte secret',
  ]) {
    assert.deepEqual(checks[name], { passes: 1, fails: 0 }, name);
  }
  assert.equal(Object.keys(checks).length, 4, JSON.stringify(checks));
  // Outside k6: Node's jose, the probe's secret, the claims the configuration names.
  const config = loadConfig({ WSGATE_JWT_SECRET: NATIVE_SECRET });
  const { payload, protectedHeader } = await jwtVerify(setup['token'] ?? '', new TextEncoder().encode(NATIVE_SECRET), { algorithms: ['HS256'], issuer: config.issuer, audience: config.audience });
  assert.equal(protectedHeader.alg, 'HS256');
  assert.equal(payload.sub, 'u42');
  assert.equal(Number(payload.exp) - Number(payload.iat), 60);
  assert.match(String(payload.jti), /\S{8,}/);
  await assert.rejects(jwtVerify(setup['token'] ?? '', new TextEncoder().encode(`${NATIVE_SECRET}-not`), { algorithms: ['HS256'] }), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});

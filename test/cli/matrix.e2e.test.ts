/**
 * The fault matrix end to end (`node bin/wsgate.mjs matrix`): nine real regression runs with the real
 * k6 against the embedded service behind nginx, two at a time (about 50 s on 2 cores). The suite is
 * sound only if the healthy service passes every test and every fault is caught by its own test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { ensureK6 } from '../../cli/k6-runtime.ts';
import { EXIT } from '../../cli/main.ts';
import { REGRESSION_NAMES } from '../../lib/regressions.ts';
import { findNginx } from '../../target/nginx.ts';
import { STACK_FRAME, tempDir } from './helpers.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'wsgate.mjs');

let nginxMissing = false;
try {
  findNginx();
} catch {
  nginxMissing = true;
}
const skip = nginxMissing && process.env['CI'] !== 'true' ? 'nginx is not installed (this test fails instead when CI=true)' : false;

before(
  async () => {
    const k6 = await ensureK6({ env: process.env, log: (l) => process.stderr.write(`wsgate (test setup): ${l}\n`) });
    process.stderr.write(`matrix e2e uses k6 ${k6.version} (${k6.source}) at ${k6.path}\n`);
  },
  { timeout: 20 * 60_000 },
);

test('wsgate matrix: exit 0, the healthy row passes every test, every fault caught by its own test', { skip, timeout: 10 * 60_000 }, async () => {
  const dir = tempDir('wsgate-e2e-matrix-');
  const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'matrix', '--results-dir', dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
  assert.doesNotMatch(r.out + r.err, STACK_FRAME);
  // On failure the message is the printed table: which setup missed or false-alarmed, per test.
  assert.equal(r.code, EXIT.PASS, `${r.out}\n${r.err}`);
  const rows = r.out.split('\n').filter((l) => l.startsWith('| '));
  assert.equal(rows.length, 1 + 9, r.out);
  const healthy = rows.find((l) => l.startsWith('| healthy '))?.split('|').map((c) => c.trim()).slice(2, 2 + REGRESSION_NAMES.length);
  assert.deepEqual(healthy, REGRESSION_NAMES.map(() => 'pass'), r.out);
  // no missed fault, no false alarm, no run without a verdict, in any cell
  assert.doesNotMatch(rows.join('\n'), /pass!|FAIL!|\| — /, r.out);
  assert.match(r.out.trimEnd().split('\n').at(-1) ?? '', /^wsgate: PASS fault matrix: /);
  // The healthy row as the JSON result says it, not only as printed.
  const healthyDir = join(dir, 'healthy');
  const json = readdirSync(healthyDir).find((f) => /^regression-prevention-local-.*\.json$/.test(f)) ?? '';
  const result = JSON.parse(readFileSync(join(healthyDir, json), 'utf8')) as { verdict: string; scenarios: { name: string; verdict: string }[] };
  assert.equal(result.verdict, 'pass');
  assert.deepEqual(result.scenarios.map((s) => [s.name, s.verdict]), REGRESSION_NAMES.map((n) => [n, 'pass']));
});

/**
 * The fault matrix end to end (`node bin/wsgate.mjs matrix`): ten real regression runs on wsgate's own
 * engine (or WSGATE_ENGINE's) against the embedded service behind nginx, and nineteen validation runs
 * (what npm start runs) against the healthy service and every fault, two at a time. Sound only if the
 * healthy service passes everything, every fault is caught by its own regression test, and validation
 * catches every fault it must (the rare family, slow_handshake, duplicate_final_event, no_reaping among them). With
 * WSGATE_K6 set, the k6 bundles are held to the same standard with --engine k6 (skipped with one line
 * otherwise).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT } from '../../cli/main.ts';
import { REGRESSION_NAMES } from '../../lib/core/regressions.ts';
import { SETUPS, VALIDATION_SETUPS } from '../../cli/matrix.ts';
import { VALIDATION_FAULT_NAMES } from '../../reference-service/service.ts';
import { k6Skip } from '../helpers/k6.ts';
import { nginxSkip } from '../helpers/nginx.ts';
import { DEFAULT_ENGINE, cleanEnv, runCli, tempDir } from './helpers.ts';

const skip = nginxSkip();

async function matrix(engine: 'wsgate' | 'k6', flags: string[]): Promise<void> {
  const dir = tempDir('wsgate-e2e-matrix-');
  const r = await runCli(['matrix', ...flags, '--results-dir', dir], cleanEnv(['WSGATE_NGINX']));
  // On failure the message is the printed table: which setup missed or false-alarmed, per test.
  assert.equal(r.code, EXIT.PASS, `${r.out}\n${r.err}`);
  assert.match(r.err, engine === 'k6' ? /on the k6 v2\.2\.\d+ \(/ : /on the wsgate engine/);
  const rows = r.out.split('\n').filter((l) => l.startsWith('| '));
  // Two tables: the regression suite (header + 10 setups), validation (header + healthy and every fault).
  assert.equal(rows.length, 1 + SETUPS.length + 1 + VALIDATION_SETUPS.length, r.out);
  const healthy = rows.find((l) => l.startsWith('| healthy '))?.split('|').map((c) => c.trim()).slice(2, 2 + REGRESSION_NAMES.length);
  assert.deepEqual(healthy, REGRESSION_NAMES.map(() => 'pass'), r.out);
  // no missed fault, no false alarm, no run without a verdict, in any cell of either table
  assert.doesNotMatch(rows.join('\n'), /pass!|FAIL!|MISSED!|\| — /, r.out);
  // validation catches each of its faults (the rare family at 3%, slow_handshake, duplicate_final_event, no_reaping)
  for (const name of VALIDATION_FAULT_NAMES) assert.ok(rows.some((l) => new RegExp(`^\\| fault ${name} .*\\| caught +\\|`).test(l)), `validation caught ${name}\n${r.out}`);
  assert.match(r.out.trimEnd().split('\n').at(-1) ?? '', /^wsgate: PASS fault matrix: /);
  // The healthy row as the JSON result says it, not only as printed.
  const healthyDir = join(dir, 'healthy');
  const json = readdirSync(healthyDir).find((f) => /^regression-prevention-local-.*\.json$/.test(f)) ?? '';
  const result = JSON.parse(readFileSync(join(healthyDir, json), 'utf8')) as { verdict: string; scenarios: { name: string; verdict: string }[] };
  assert.equal(result.verdict, 'pass');
  assert.deepEqual(result.scenarios.map((s) => [s.name, s.verdict]), REGRESSION_NAMES.map((n) => [n, 'pass']));
  // And validation's healthy run: a pass with the black-holed client reaped (wsgate_reap_seconds recorded).
  const validationDir = join(dir, 'validation', 'healthy');
  const vjson = readdirSync(validationDir).find((f) => /^deployment-validation-local-.*\.json$/.test(f)) ?? '';
  const vresult = JSON.parse(readFileSync(join(validationDir, vjson), 'utf8')) as { verdict: string; metrics: Record<string, Record<string, number>> };
  assert.equal(vresult.verdict, 'pass');
  assert.ok((vresult.metrics['wsgate_reap_seconds']?.['count'] ?? 0) > 0, JSON.stringify(vresult.metrics['wsgate_reap_seconds']));
}

test('wsgate matrix: exit 0, the healthy row passes every test, every fault caught by its own test', { skip, timeout: 10 * 60_000 }, () => matrix(DEFAULT_ENGINE, []));

test('wsgate matrix --engine k6 (the k6 at WSGATE_K6): the same standard for the k6 bundles', { skip: skip || k6Skip(), timeout: 10 * 60_000 }, () => matrix('k6', ['--engine', 'k6']));

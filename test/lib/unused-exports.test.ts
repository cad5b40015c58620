/**
 * Nothing is exported that nobody imports: knip (pinned in devDependencies, `npm run lint:exports`)
 * follows the imports from the entry points that knip.jsonc names (the CLI, the engine, the reference
 * service, the scenarios, scripts, benchmarks and tests) and lists the exports, types, files and
 * dependencies none of them reaches. An export that only its own module uses is made local instead.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const KNIP = join(REPO, 'node_modules', 'knip', 'bin', 'knip.js');

/** knip's compact report of `cwd` and its exit code (0: nothing unused, 1: something is). */
function knip(cwd: string): Promise<{ code: number; report: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [KNIP, '--no-progress', '--reporter', 'compact'], { cwd, timeout: 60_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      if (code !== 0 && code !== 1) reject(new Error(`knip failed (${error?.message ?? ''}): ${stderr}`));
      else resolve({ code, report: `${stdout}${stderr}`.trim() });
    });
  });
}

test('knip finds no unused export, type, file or dependency in the repository', async () => {
  const { code, report } = await knip(REPO);
  assert.equal(code, 0, `knip found what nobody uses; delete it, or drop its export when its own module uses it:\n${report}`);
});

test('knip reports an export that only its own module uses, and one nobody uses', async (t) => {
  // The rule the repository is held to, shown on a project small enough to read.
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-knip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fixture', private: true, type: 'module' }));
  writeFileSync(join(dir, 'knip.json'), JSON.stringify({ entry: ['main.ts'], project: ['**/*.ts'] }));
  writeFileSync(join(dir, 'main.ts'), "import { used } from './lib.ts';\nconsole.log(used());\n");
  writeFileSync(join(dir, 'lib.ts'), 'export function used(): number {\n  return onlyHere();\n}\nexport function onlyHere(): number {\n  return 1;\n}\nexport const nobody = 2;\n');
  const { code, report } = await knip(dir);
  assert.equal(code, 1, report);
  assert.match(report, /^lib\.ts: onlyHere, nobody$/m);
});

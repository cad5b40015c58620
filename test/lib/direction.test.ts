/**
 * Dependencies point one way (docs/architecture.md). Read from the sources' import lines, so a new
 * import that breaks the direction fails here with the file and the line:
 * - lib/core/ and lib/dialects/ are pure: they import only each other, the environment presets and
 *   the runtime port's types; never #runtime, never a Node module, never a package that needs either;
 * - what runs outside a suite (cli/, engine/, reference-service/, third-party/, scripts/) takes from
 *   lib/ only those pure folders and the port's types (the engine also implements the host that
 *   lib/runtime/engine.ts defines);
 * - lib/ and scenarios/ never import the CLI, the engine or the reference service.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO, dir))) {
    const path = join(dir, name);
    if (statSync(join(REPO, path)).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

interface Import {
  file: string;
  line: number;
  /** Repository-relative path for a relative import; the specifier itself otherwise. */
  target: string;
}

function imports(file: string): Import[] {
  const out: Import[] = [];
  readFileSync(join(REPO, file), 'utf8')
    .split('\n')
    .forEach((text, i) => {
      for (const m of text.matchAll(/(?:^\s*(?:import|export)\b[^'"]*?\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'([^']+)'/g)) {
        const spec = m[1] ?? '';
        out.push({ file, line: i + 1, target: spec.startsWith('.') ? relative(REPO, resolve(REPO, dirname(file), spec)) : spec });
      }
    });
  return out;
}

const PURE = ['lib/core/', 'lib/dialects/'];
const PORT_TYPES = ['lib/runtime/port.ts', 'lib/runtime/options.ts'];
const isPure = (path: string): boolean => PURE.some((p) => path.startsWith(p));

function offending(files: string[], allowed: (i: Import) => boolean): string[] {
  return files.flatMap(imports).filter((i) => !allowed(i)).map((i) => `${i.file}:${i.line} imports ${i.target}`);
}

test('lib/core and lib/dialects are pure: no runtime, no Node, nothing above them', () => {
  const files = PURE.flatMap((p) => sources(p.slice(0, -1)));
  assert.ok(files.length > 10, `found the pure modules (${files.length})`);
  const bad = offending(files, (i) => isPure(i.target) || PORT_TYPES.includes(i.target) || i.target.startsWith('config/'));
  assert.deepEqual(bad, [], 'a pure module imports something runtime-bound or above it');
});

test('the CLI, the engine, the reference service and scripts take only pure modules from lib', () => {
  const files = ['cli', 'engine', 'reference-service', 'third-party', 'scripts'].flatMap(sources);
  const bad = offending(files, (i) => {
    if (i.target === '#runtime' || i.target.startsWith('k6')) return false;
    if (!i.target.startsWith('lib/')) return true;
    if (isPure(i.target) || PORT_TYPES.includes(i.target)) return true;
    // The engine is the host that the engine runtime's bundle talks to: it shares the host's contract.
    return i.file.startsWith('engine/') && i.target === 'lib/runtime/engine.ts';
  });
  assert.deepEqual(bad, [], 'a module outside the suites imports a runtime-bound lib module');
});

test('lib and scenarios never import the CLI, the engine or the reference service', () => {
  const files = ['lib', 'scenarios'].flatMap(sources);
  const bad = offending(files, (i) => !/^(cli|engine|reference-service|third-party|scripts|test|bench)\//.test(i.target));
  assert.deepEqual(bad, []);
});

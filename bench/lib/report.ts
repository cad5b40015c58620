/**
 * How every benchmark prints: the machine, code and generators it ran on, figures as aligned lines,
 * one verdict line against its goal, then the same record as one JSON line (always the last line a
 * benchmark prints) and in results/bench-<name>.json, which `npm run bench` gathers into its summary.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT } from './harness.ts';
import type { Generators } from './harness.ts';

export interface Outcome {
  bench: string;
  /** met, not met, reported (no numeric goal), or skipped (with the reason in `verdict`). */
  status: 'met' | 'not met' | 'reported' | 'skipped';
  /** One line: the goal and how far from it. */
  verdict: string;
  figures: Record<string, unknown>;
}

export function machine(gens?: Generators): Record<string, string> {
  const sh = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const dirty = sh('git', ['status', '--porcelain', '--', 'lib', 'scenarios', 'target', 'cli', 'engine']);
  return {
    cpu: `${cpus().length} x ${cpus()[0]?.model.trim() ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `Linux ${kernel}`,
    node: process.version,
    engine: `wsgate engine, Node ${process.version}`,
    k6: gens?.k6 ? (/k6 (v\S+ \([^)]*\))/.exec(sh(gens.k6.command, ['version']))?.[1] ?? '?') : 'not run (WSGATE_K6 is not set)',
    commit: `${sh('git', ['rev-parse', '--short', 'HEAD'])}${dirty ? ' + uncommitted changes in lib/scenarios/reference-service/cli/engine' : ''}`,
    date: new Date().toISOString(),
  };
}

export const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;
export const kbPer = (kb: number, n: number): string => `${(kb / Math.max(1, n)).toFixed(1)} KB`;
export const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
export const fixed = (x: number | undefined, d = 1): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

export function header(title: string, what: string, m: Record<string, string>): void {
  console.log(`\n== ${title} ==`);
  console.log(what);
  console.log(`machine: ${m['cpu']}, ${m['memory']}, ${m['kernel']}, node ${m['node']}; generators: ${m['engine']}; k6 ${m['k6']}; code ${m['commit']}; ${m['date']}`);
}

/** Prints rows of label/value pairs as an aligned block. */
export function rows(lines: [string, ...string[]][]): void {
  const widths: number[] = [];
  for (const l of lines) l.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  for (const l of lines) console.log('  ' + l.map((c, i) => (i === 0 ? c.padEnd(widths[0] ?? 0) : c.padStart(widths[i] ?? 0))).join('   '));
}

/** Prints the verdict line, then the record as one JSON line (the benchmark's last), and saves it. */
export function verdict(o: Outcome): Outcome {
  console.log(`VERDICT ${o.bench}: ${o.status.toUpperCase()} - ${o.verdict}`);
  mkdirSync(join(ROOT, 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'results', `bench-${o.bench}.json`), JSON.stringify(o, null, 2) + '\n');
  console.log(JSON.stringify(o));
  return o;
}

/** Runs a benchmark's main when its file is the entry point (`node --import tsx bench/x.ts`). */
export async function standalone(url: string, main: (argv: string[]) => Promise<Outcome>): Promise<void> {
  if (process.argv[1] === undefined || pathToFileURL(process.argv[1]).href !== url) return;
  try {
    await main(process.argv.slice(2));
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.error(`bench: ${reason}`);
    // The last line stays JSON, so whatever reads it learns that the benchmark did not run to the end.
    console.log(JSON.stringify({ bench: basename(fileURLToPath(url), '.ts'), status: 'not met', verdict: `did not run to the end: ${reason}`, figures: {} }));
    process.exitCode = 1;
  }
}

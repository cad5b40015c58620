/**
 * `npm run bench`: the five benchmarks one after the other (never in parallel: they measure the same
 * two cores), each printing its figures and verdict, then a summary, whose last line is JSON. Not part
 * of `npm test`: these print figures, they do not pass or fail a build. They run on wsgate's engine;
 * with WSGATE_K6 naming a k6 v2.2, each also runs its k6 variant (about twice as long), otherwise each
 * says in one line that the k6 figures are skipped.
 *
 *   npm run bench [-- --only accuracy,overhead]
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { main as accuracy } from './accuracy.ts';
import { main as connections } from './connections.ts';
import { main as overhead } from './overhead.ts';
import { main as peer } from './peer.ts';
import { main as throughput } from './throughput.ts';
import type { Outcome } from './lib/report.ts';

const BENCHES: [string, (argv: string[]) => Promise<Outcome>][] = [
  ['connections', connections],
  ['throughput', throughput],
  ['overhead', overhead],
  ['peer', peer],
  ['accuracy', accuracy],
];

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = values.only?.split(',');
const started = Date.now();
const outcomes: Outcome[] = [];
for (const [name, run] of BENCHES) {
  if (only && !only.includes(name)) continue;
  try {
    outcomes.push(await run([]));
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    console.error(`bench ${name}: ${reason}`);
    outcomes.push({ bench: name, status: 'not met', verdict: `did not run to the end: ${reason}`, figures: {} });
  }
}
console.log(`\n== summary (${((Date.now() - started) / 60000).toFixed(1)} min) ==`);
for (const o of outcomes) console.log(`  ${o.bench.padEnd(12)} ${o.status.toUpperCase().padEnd(8)} ${o.verdict}`);
console.log('  figures: results/bench-<name>.json');

// The same summary as the Markdown rows docs/benchmarks.md keeps, with the command, date and machine.
const date = new Date().toISOString().slice(0, 10);
const machine = `${cpus().length} vCPU ${cpus()[0]?.model.trim() ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
console.log(`\n| benchmark | goal met | verdict | command | date | machine |\n| --- | --- | --- | --- | --- | --- |`);
for (const o of outcomes) {
  console.log(`| ${o.bench} | ${o.status} | ${o.verdict.replace(/\|/g, '\\|')} | \`npm run bench:${o.bench}\` | ${date} | ${machine} |`);
}
console.log(JSON.stringify({ bench: 'all', minutes: Number(((Date.now() - started) / 60000).toFixed(1)), k6: process.env['WSGATE_K6'] ? 'run' : 'skipped', outcomes: outcomes.map(({ bench, status, verdict }) => ({ bench, status, verdict })) }));

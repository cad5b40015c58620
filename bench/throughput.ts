/**
 * Benchmark 2, throughput: agent runs and agent events per second through wsgate's multi-user
 * scenario (agent_execution), at rising load, with the latency wsgate reports (p50/p95/p99 of
 * wsgate_event_latency, all five event types) and the generator's CPU per 1,000 events, on wsgate's
 * engine, and on k6 too when WSGATE_K6 names one (skipped with one line otherwise).
 * The plan starts one run per user every 400 ms, so the offered load is users x 2.5 runs/s (x5 events).
 * No numeric goal is set for throughput: the verdict names the highest load held with every run
 * complete and p99 within the agent deadline, per generator.
 *
 *   npm run bench:throughput [-- --levels 250,500,1000 --runs 20]
 */
import { parseArgs } from 'node:util';
import { newSecret, prepare, scratch, startService } from './lib/harness.ts';
import { fixed, header, machine, rows, standalone, verdict } from './lib/report.ts';
import type { Outcome } from './lib/report.ts';
import { MS_PER_MESSAGE, connectedRate, measure, noise } from './lib/workloads.ts';
import type { Measured, Workload } from './lib/workloads.ts';

/** The local preset's agent deadline (config/environments.json): a run slower than this fails. */
const DEADLINE_MS = 5000;

export async function main(argv: string[]): Promise<Outcome> {
  const { values } = parseArgs({ args: argv, options: { levels: { type: 'string' }, runs: { type: 'string' } } });
  const levels = (values.levels ?? '250,500,1000').split(',').map(Number);
  const runs = Number(values.runs ?? 20);
  const gens = await prepare();
  const m = machine(gens);
  header(
    'throughput: agent runs and events per second, latency, generator CPU per 1,000 events',
    `wsgate multi-user agent_execution on ${gens.all.map((g) => g.name).join(' and ')}, ${runs} runs per user (one per ${MS_PER_MESSAGE} ms), 100 users per VU, service step delay 10 ms (a run's five events span 50 ms)`,
    m,
  );
  const table: [string, ...string[]][] = [['generator', 'users', 'runs/s offered', 'runs/s done', 'events/s', 'complete', 'p50 ms', 'p95 ms', 'p99 ms', 'gen CPU-s/1k events (window)', '(whole run)', 'service CPU-s']];
  const figures: Record<string, unknown>[] = [];
  const best: Record<string, { users: number; eventsPerS: number; runsPerS: number } | undefined> = {};
  for (const gen of gens.all) for (const users of levels) {
    const secret = newSecret();
    const service = await startService({ secret });
    let r: Measured;
    try {
      const w: Workload = { kind: 'agents', users, perVu: 100, rampPerS: 1000, runs, holdS: 3 };
      r = await measure('wsgate', w, { gen, service, secret, outDir: scratch(`throughput-${gen.kind}-${users}`) });
    } finally {
      await service.stop();
    }
    const n = noise(r);
    if (n) console.log(`${n} (${gen.name}, ${users} users)`);
    const windowS = (runs * MS_PER_MESSAGE) / 1000;
    const done = r.metrics['wsgate_agent_event_completion'] ?? {};
    const lat = r.metrics['wsgate_event_latency'] ?? {};
    const events = lat['count'] ?? 0;
    const completed = done['passes'] ?? 0;
    const planned = users * runs;
    const completeRate = completed / planned;
    const f = {
      generator: gen.name,
      users,
      connected: connectedRate(r).passes,
      runsPlanned: planned,
      runsCompleted: completed,
      runsPerSOffered: planned / windowS,
      runsPerS: completed / windowS,
      eventsPerS: events / windowS,
      p50: lat['med'],
      p95: lat['p(95)'],
      p99: lat['p(99)'],
      genCpuPer1kEventsWindow: (r.genCpuWindowS / events) * 1000,
      genCpuPer1kEventsTotal: (r.genCpuS / events) * 1000,
      genCpuS: r.genCpuS,
      serviceCpuS: r.serviceCpuS,
      othersCpuS: r.othersCpuS,
      codes: r.codes,
    };
    figures.push(f);
    table.push([
      gen.name,
      String(users),
      f.runsPerSOffered.toFixed(0),
      f.runsPerS.toFixed(0),
      f.eventsPerS.toFixed(0),
      `${(completeRate * 100).toFixed(2)}%`,
      fixed(f.p50, 0),
      fixed(f.p95, 0),
      fixed(f.p99, 0),
      fixed(f.genCpuPer1kEventsWindow, 3),
      fixed(f.genCpuPer1kEventsTotal, 3),
      fixed(f.serviceCpuS, 1),
    ]);
    if (r.failure && completeRate < 0.999) console.log(`  ${gen.name}, ${users} users: ${r.failure}`);
    const top = best[gen.name];
    if (completeRate >= 0.999 && (f.p99 ?? Infinity) <= DEADLINE_MS && (!top || f.eventsPerS > top.eventsPerS)) best[gen.name] = { users, eventsPerS: f.eventsPerS, runsPerS: f.runsPerS };
  }
  rows(table);
  console.log('  window = from the first send to 2 s after the last (sampled); whole run includes connecting and minting');
  const held = (name: string): string => {
    const b = best[name];
    return b ? `${b.runsPerS.toFixed(0)} runs/s, ${b.eventsPerS.toFixed(0)} events/s (${b.users} users)` : 'no tested load held';
  };
  return verdict({
    bench: 'throughput',
    status: 'reported',
    verdict: `no numeric goal set; highest load held (>= 99.9% of runs complete, p99 <= ${DEADLINE_MS} ms): ${gens.all.map((g) => `${g.name} ${held(g.name)}`).join('; ')}${gens.k6 ? '' : '; k6 not run (WSGATE_K6 is not set)'}`,
    figures: { machine: m, levels: figures },
  });
}

await standalone(import.meta.url, main);

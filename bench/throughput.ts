/**
 * Benchmark 2, throughput: agent runs and agent events per second through wsgate's multi-user
 * scenario (agent_execution), at rising load, with the latency wsgate reports (p50/p95/p99 of
 * wsgate_event_latency, all five event types) and the generator's CPU per 1,000 events.
 * The plan starts one run per user every 400 ms, so the offered load is users x 2.5 runs/s (x5 events).
 * No numeric goal is set for throughput: the verdict names the highest load held with every run
 * complete and p99 within the agent deadline.
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
  const k6 = await prepare();
  const m = machine(k6);
  header(
    'throughput: agent runs and events per second, latency, generator CPU per 1,000 events',
    `wsgate multi-user agent_execution, ${runs} runs per user (one per ${MS_PER_MESSAGE} ms), 100 users per VU, service step delay 10 ms (a run's five events span 50 ms)`,
    m,
  );
  const table: [string, ...string[]][] = [['users', 'runs/s offered', 'runs/s done', 'events/s', 'complete', 'p50 ms', 'p95 ms', 'p99 ms', 'k6 CPU-s/1k events (window)', '(whole run)', 'service CPU-s']];
  const figures: Record<string, unknown>[] = [];
  let best: { users: number; eventsPerS: number; runsPerS: number } | undefined;
  for (const users of levels) {
    const secret = newSecret();
    const service = await startService({ secret });
    let r: Measured;
    try {
      const w: Workload = { kind: 'agents', users, perVu: 100, rampPerS: 1000, runs, holdS: 3 };
      r = await measure('wsgate', w, { k6, service, secret, outDir: scratch(`throughput-${users}`) });
    } finally {
      await service.stop();
    }
    const n = noise(r);
    if (n) console.log(`${n} (${users} users)`);
    const windowS = (runs * MS_PER_MESSAGE) / 1000;
    const done = r.metrics['wsgate_agent_event_completion'] ?? {};
    const lat = r.metrics['wsgate_event_latency'] ?? {};
    const events = lat['count'] ?? 0;
    const completed = done['passes'] ?? 0;
    const planned = users * runs;
    const completeRate = completed / planned;
    const f = {
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
      k6CpuPer1kEventsWindow: (r.k6CpuWindowS / events) * 1000,
      k6CpuPer1kEventsTotal: (r.k6CpuS / events) * 1000,
      k6CpuS: r.k6CpuS,
      serviceCpuS: r.serviceCpuS,
      othersCpuS: r.othersCpuS,
      codes: r.codes,
    };
    figures.push(f);
    table.push([
      String(users),
      f.runsPerSOffered.toFixed(0),
      f.runsPerS.toFixed(0),
      f.eventsPerS.toFixed(0),
      `${(completeRate * 100).toFixed(2)}%`,
      fixed(f.p50, 0),
      fixed(f.p95, 0),
      fixed(f.p99, 0),
      fixed(f.k6CpuPer1kEventsWindow, 3),
      fixed(f.k6CpuPer1kEventsTotal, 3),
      fixed(f.serviceCpuS, 1),
    ]);
    if (r.failure && completeRate < 0.999) console.log(`  ${users} users: ${r.failure}`);
    if (completeRate >= 0.999 && (f.p99 ?? Infinity) <= DEADLINE_MS && (!best || f.eventsPerS > best.eventsPerS)) best = { users, eventsPerS: f.eventsPerS, runsPerS: f.runsPerS };
  }
  rows(table);
  console.log('  window = from the first send to 2 s after the last (sampled); whole run includes connecting and minting');
  return verdict({
    bench: 'throughput',
    status: 'reported',
    verdict: best
      ? `no numeric goal set; highest load held (>= 99.9% of runs complete, p99 <= ${DEADLINE_MS} ms): ${best.runsPerS.toFixed(0)} runs/s, ${best.eventsPerS.toFixed(0)} events/s (${best.users} users)`
      : `no tested load completed >= 99.9% of runs with p99 <= ${DEADLINE_MS} ms`,
    figures: { machine: m, levels: figures },
  });
}

await standalone(import.meta.url, main);
